"""Verify the ledger: every row against its digest, the numbering, and the chain of batches."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from socialrating.ledger.append import epoch_us
from socialrating.ledger.digests import (
    GENESIS,
    as_hex,
    batch_digest,
    payload_digest_sql,
    row_digest_sql,
    rows_digest,
    stored,
)
from socialrating.ledger.store import Store

LIMIT = 100  # findings listed per check; the count is always complete


@dataclass(frozen=True, order=True)
class Finding:
    """One break in the ledger: the entry (or the first entry of the batch) and what is wrong."""

    entry_id: int
    batch_id: int | None
    reason: str

    def __str__(self) -> str:
        batch = f" (batch {self.batch_id})" if self.batch_id is not None else ""
        return f"entry {self.entry_id}{batch}: {self.reason}"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``verify``: what was checked and every break found, first first."""

    entries: int
    batches: int
    head: str
    findings: list[Finding] = field(default_factory=list)
    expected_head: str | None = None
    head_found: bool | None = None

    @property
    def ok(self) -> bool:
        """No entry or batch is broken, and the expected head (if given) is in the ledger."""
        return not self.findings and self.head_found is not False

    @property
    def head_problem(self) -> str | None:
        """What it means that the expected head is missing, or None."""
        if self.head_found is not False:
            return None
        return (
            f"the head digest {self.expected_head} is not in this ledger ({self.entries:,} "
            f"entries in {self.batches:,} batches, head {self.head[:16]}): if it was published "
            "from this ledger, batches were deleted from its end or the chain was rewritten; "
            "otherwise it is another ledger's digest or mistyped"
        )

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "batches": self.batches,
            "head": self.head,
            "first_broken": None if self.first is None else self.first.entry_id,
            "expected_head": self.expected_head,
            "head_found": self.head_found,
            "head_problem": self.head_problem,
            "findings": [
                {"entry_id": f.entry_id, "batch_id": f.batch_id, "reason": f.reason}
                for f in self.findings
            ],
        }


def verify_ledger(store: Store, expected_head: str | None = None) -> VerifyReport:
    """Check every entry and batch; name the first broken entry.

    ``expected_head`` is a head digest (or a prefix of one) published earlier (``verify``
    prints it): the ledger must still contain a batch with that digest, else the report
    says so in ``head_found`` and ``head_problem`` (no entry is named: the ledger cannot
    tell a deleted end from a digest that was never its own). Without it, deleting whole
    batches from the end, records and batch rows together, leaves a chain that is intact
    in itself.

    Detects a row whose content was edited (its digests no longer match), a row whose
    digests were rewritten to match an edit (its batch's digest no longer matches), a
    deleted row (a gap in the numbering or a batch short of rows), an inserted row (a
    number used twice or outside every batch), and any break in the chain of batches.
    """
    findings: list[Finding] = []
    payload = stored(payload_digest_sql())
    row = stored(row_digest_sql(payload=as_hex("payload_digest")))
    edited = store.rows(
        f"""SELECT entry_id, batch_id,
                   payload_digest <> {payload} AS payload_bad
            FROM entries
            WHERE payload_digest <> {payload} OR row_digest <> {row}
            ORDER BY entry_id LIMIT {LIMIT}"""
    )
    for entry_id, batch_id, payload_bad in edited:
        what = "its content" if payload_bad else "its number, batch or arrival time"
        findings.append(Finding(entry_id, batch_id, f"edited: {what} no longer matches its digest"))
    for entry_id, n in store.rows(
        f"SELECT entry_id, count(*) FROM entries GROUP BY entry_id HAVING count(*) > 1 "
        f"ORDER BY entry_id LIMIT {LIMIT}"
    ):
        findings.append(Finding(entry_id, None, f"inserted: entry number used {n} times"))
    for (missing,) in store.rows(
        f"""SELECT e.entry_id + 1 FROM entries e
            ANTI JOIN entries n ON n.entry_id = e.entry_id + 1
            WHERE e.entry_id < (SELECT max(entry_id) FROM entries)
            UNION SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entry_id = 1)
                             AND EXISTS (SELECT 1 FROM entries)
            -- a gap check alone misses the ledger's last entries; each batch names its range
            -- (bounded, so that a forged range cannot make verify enumerate billions).
            UNION SELECT g.entry_id FROM (
                SELECT unnest(generate_series(greatest(first_entry, 1), least(last_entry,
                       (SELECT coalesce(max(entry_id), 0) + 1 FROM entries)))) AS entry_id
                FROM batches WHERE first_entry IS NOT NULL
            ) g ANTI JOIN entries e ON e.entry_id = g.entry_id
            ORDER BY 1 LIMIT {LIMIT}"""
    ):
        findings.append(Finding(missing, None, "deleted: this entry is missing"))
    for entry_id, batch_id in store.rows(
        f"""SELECT e.entry_id, e.batch_id FROM entries e LEFT JOIN batches b USING (batch_id)
            WHERE b.batch_id IS NULL OR e.entry_id NOT BETWEEN b.first_entry AND b.last_entry
            ORDER BY e.entry_id LIMIT {LIMIT}"""
    ):
        findings.append(
            Finding(entry_id, batch_id, "inserted: outside the entries its batch holds")
        )
    findings = _in_order(store, findings, _check_batches(store))
    head = store.scalar("SELECT digest FROM batches ORDER BY batch_id DESC LIMIT 1") or GENESIS
    head_found = None
    if expected_head:
        head_found = (
            store.one(
                "SELECT batch_id FROM batches WHERE starts_with(digest, ?)",
                [expected_head.lower()],
            )
            is not None
        )
    return VerifyReport(
        entries=int(store.scalar("SELECT count(*) FROM entries")),
        batches=int(store.scalar("SELECT count(*) FROM batches")),
        head=head,
        findings=findings,
        expected_head=expected_head,
        head_found=head_found,
    )


def _in_order(store: Store, precise: list[Finding], batch_wide: list[Finding]) -> list[Finding]:
    """Findings by batch; within a batch, the entries named precisely before the batch's own.

    A batch-wide finding names the batch's first entry, which may well be intact: when a
    later entry of the same batch is known to be edited, deleted or inserted, that entry
    is the first broken one.
    """
    firsts = [
        int(f)
        for (f,) in store.rows(
            "SELECT first_entry FROM batches WHERE first_entry IS NOT NULL ORDER BY first_entry"
        )
    ]

    def key(f: Finding, wide: int) -> tuple[int, int, Finding]:
        return (bisect_right(firsts, f.entry_id), wide, f)

    keyed = [key(f, 0) for f in precise] + [key(f, 1) for f in batch_wide]
    return [f for _, _, f in sorted(keyed)]


def _check_batches(store: Store) -> list[Finding]:
    findings: list[Finding] = []
    prev = GENESIS
    counts = dict(store.rows("SELECT batch_id, count(*) FROM entries GROUP BY batch_id"))
    batches = store.rows(
        "SELECT batch_id, institution_id, source, rows, first_entry, last_entry, arrived_at, "
        "rows_digest, prev_digest, digest FROM batches ORDER BY batch_id"
    )
    seen = 0  # the last entry of the batches so far: a batch of no entries is named by it
    for expected_id, row in enumerate(batches, start=1):
        (
            batch_id,
            institution_id,
            source,
            n,
            first_entry,
            last,
            arrived,
            stored_rows,
            stored_prev,
            digest,
        ) = row
        first = seen if first_entry is None else first_entry
        seen = max(seen, last or 0)
        if batch_id != expected_id:
            findings.append(
                Finding(first, batch_id, f"batch numbering broken: expected batch {expected_id}")
            )
        if stored_prev != prev:
            findings.append(
                Finding(first, batch_id, "chain broken: does not follow the batch before")
            )
        if counts.get(batch_id, 0) != n:
            findings.append(
                Finding(
                    first,
                    batch_id,
                    f"batch holds {counts.get(batch_id, 0)} entries, its digest says {n}",
                )
            )
        digests = store.arrow(
            "SELECT row_digest FROM entries WHERE batch_id = ? ORDER BY entry_id", [batch_id]
        ).column(0)
        if rows_digest(digests) != stored_rows:
            findings.append(
                Finding(first, batch_id, "row digests of this batch were rewritten or reordered")
            )
        recomputed = batch_digest(
            stored_prev,
            batch_id,
            institution_id,
            source,
            n,
            first_entry,
            last,
            epoch_us(arrived),
            stored_rows,
        )
        if recomputed != digest:
            findings.append(
                Finding(first, batch_id, "batch record edited: its digest does not match")
            )
        prev = digest
    return findings

"""The ledger entries one subject's statement reads, and nothing more.

A statement runs the same compiled plans as a scoring run, over temporary tables that
hold only the entries it can depend on (read through the ledger's index on subject ids),
and the subjects and parameters those name (``Lookup``). Which entries those are follows
from the plan itself:

- the subject's own entries, and those naming it as counterpart (a contact, a
  representative register, a report it made);
- with joint punishment, the same for every subject within as many links (organisation
  and legal representative, as the rulebook's representatives register names them) as
  there are lists carried between them: a list at a time, each from an earlier list;
  with a grade limit on linked subjects' grades, within as many links as its path;
- with contagion, the same for every subject within ``rounds`` contacts of any of those
  (the rounds that decide a subject's contagion reach no further, see ``contagion``);
- every entry of an organisation that a register record among them names, so that the
  latest record about it (which decides its representative) is there too, and the
  records it passes to them across the link (``derived``);
- with records passed from a person to the organisations it represents, every subject
  a register record of one of them names;
- the verifications of citizen reports among them;
- with measures, every record of the parameters they read, whoever it is about: a
  percentile ranks the subject among everybody measured.

Subjects further away cannot change the subject's lines, score, lists or contagion, so
the statement equals the one computed over the whole ledger (a test checks it).
"""

from __future__ import annotations

import threading
from typing import Any

from socialrating.ledger.store import Store
from socialrating.model import EntryKind
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.compiled import AS_OF_SENTINEL, SUBJECT_SENTINEL, plan_ids
from socialrating.scoring.depends import (
    derived_parameters,
    limit_steps,
    measure_codes,
    statement_parts,
)


def _ids(values: set[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(values)) or "NULL"


def _neighbours(
    store: Store, subjects: set[int], parameter: int, first: int | None, last: int
) -> set[int]:
    """Subjects that share a record of ``parameter`` (days ``first`` to ``last``) with one
    of ``subjects``, either side."""
    window = "" if first is None else f" AND day >= {first}"
    found = store.rows(
        f"""SELECT subject_id, counterpart_id FROM entries
            WHERE kind = {int(EntryKind.RECORD)} AND parameter_id = {parameter}
              AND day <= {last}{window} AND counterpart_id IS NOT NULL
              AND (subject_id IN ({_ids(subjects)}) OR counterpart_id IN ({_ids(subjects)}))"""
    )
    return {int(x) for row in found for x in row}


def needed_subjects(
    store: Store,
    rb: RulebookHeader,
    subject_id: int,
    day: int,
    representative: int | None,
    contact: int | None,
    since: int | None = None,
) -> tuple[set[int], set[int]]:
    """The subjects whose entries a statement of ``subject_id`` as of ``day`` reads in full,
    and the organisations among them whose register records must all be there; with
    ``since``, those of a statement as of any day from ``since`` to ``day``."""
    near = {subject_id}
    hops = max(sum(1 for lst in rb.spec.lists if lst.enter_with), limit_steps(rb))
    if representative is not None:
        for _ in range(hops):
            near |= _neighbours(store, near, representative, None, day)
    contagion = rb.spec.contagion
    if contagion is not None and contact is not None:
        frontier = set(near)
        for _ in range(contagion.rounds):
            first = (day if since is None else min(since, day)) - contagion.window_days + 1
            found = _neighbours(store, frontier, contact, first, day)
            frontier = found - near
            near |= found
    organisations: set[int] = set()
    if representative is not None and any(
        p.derived_from is not None and p.derived_from.through == "organisations"
        for p in rb.spec.parameters
    ):
        # Records pass from a person to the organisations it represents: everyone ever
        # named for one of them.
        near |= {
            int(c)
            for (c,) in store.rows(
                f"""SELECT DISTINCT counterpart_id FROM entries
                    WHERE kind = {int(EntryKind.RECORD)} AND parameter_id = {representative}
                      AND subject_id IN ({_ids(near)}) AND counterpart_id IS NOT NULL"""
            )
        }
    if representative is not None:
        organisations = {
            int(o)
            for (o,) in store.rows(
                f"""SELECT DISTINCT subject_id FROM entries
                    WHERE kind = {int(EntryKind.RECORD)} AND parameter_id = {representative}
                      AND counterpart_id IN ({_ids(near)})"""
            )
        }
    return near, organisations


ARGS = "temp.main.lookup_args"
"""The one-row table a look-up's plans read the day and the subject from."""

SHADOWED = ("entries", "subjects", "rulebook_parameters", "parameters")
"""The tables a look-up's cursor holds its own small copies of, under the same names."""


class Lookup:
    """A cursor on the store whose temporary tables shadow the ledger's for one subject.

    In it, ``entries``, ``subjects``, ``rulebook_parameters`` and ``parameters`` are
    temporary tables (DuckDB reads a temporary table before a stored one of the same
    name) holding only what one statement reads; the compiled plans run on it unchanged,
    prepared once per process without DuckDB's optimizer (so that DuckDB keeps their
    plans), the day and the subject read from a one-row table (``ARGS``).
    """

    def __init__(self, store: Store) -> None:
        self.store = store  # a cursor of its own, for the reads that choose what to copy
        self.cur = store.con.cursor()
        main = store.main
        self.stored = {name: f"{main}.{name}" for name in SHADOWED}
        for name in SHADOWED:
            self.cur.execute(
                f"CREATE TEMP TABLE {name} AS SELECT * FROM {self.stored[name]} LIMIT 0"
            )
        self.cur.execute(f"CREATE TEMP TABLE {ARGS.split('.')[-1]} (as_of INTEGER, subject BIGINT)")
        self.cur.execute(f"INSERT INTO {ARGS} VALUES (0, 0)")
        self.cur.execute("SET SESSION enable_optimizer = false")  # this cursor only
        self.prepared: dict[str, str] = {}  # compiled SQL -> prepared statement

    def fill(self, rb: RulebookHeader, subject_id: int, day: int, since: int | None = None) -> None:
        """Hold what a statement of ``subject_id`` as of ``day`` reads (see the module); with
        ``since``, what one as of any day from ``since`` to ``day`` reads (the plans take
        only the entries of days up to theirs)."""
        _, representative, contact = plan_ids(self.store, rb)
        near, organisations = needed_subjects(
            self.store, rb, subject_id, day, representative, contact, since
        )
        e, s = self.stored["entries"], self.stored["subjects"]
        rp, p = self.stored["rulebook_parameters"], self.stored["parameters"]
        others = ""  # entries read besides theirs, each a UNION of a query
        if rb.spec.measures:  # a percentile ranks the subject among all the measured
            codes = ", ".join(f"'{c}'" for c in measure_codes(rb))
            others = f"""UNION
                    SELECT * FROM {e} WHERE parameter_id IN
                        (SELECT parameter_id FROM {p} WHERE code IN ({codes}))"""
        # Records passed across links are of parameters no stored entry has.
        passed = ", ".join(f"'{q.code}'" for q in derived_parameters(rb)) or "NULL"
        # The entries naming one of them as counterpart, found by that column alone, then
        # read whole through the index on subject ids with their own: DuckDB prunes an
        # IN list only by row group, and reading every column of those row groups to
        # filter them cost a warm statement 40 ms.
        own = near | organisations
        naming = self.store.rows(
            f"SELECT entry_id, subject_id FROM {e} WHERE counterpart_id IN ({_ids(near)})"
        )
        owners = own | {int(subject) for _, subject in naming if subject is not None}
        unowned = {int(entry) for entry, subject in naming if subject is None}
        if unowned:  # no record is about no one, but an entry naming one could be
            others += f" UNION SELECT * FROM {e} WHERE entry_id IN ({_ids(unowned)})"
        statements = [f"DELETE FROM temp.main.{name}" for name in SHADOWED] + [
            f"""INSERT INTO temp.main.entries
                WITH mine AS (
                    SELECT * FROM {e} WHERE subject_id IN ({_ids(owners)})
                      AND (subject_id IN ({_ids(own)})
                           OR entry_id IN ({_ids({int(entry) for entry, _ in naming})}))
                    {others}
                )
                SELECT * FROM mine
                UNION ALL
                SELECT * FROM {e} WHERE kind = {int(EntryKind.VERIFICATION)}
                  AND refers_to IN (SELECT entry_id FROM mine)""",
            f"""INSERT INTO temp.main.subjects SELECT * FROM {s} WHERE subject_id IN (
                    SELECT subject_id FROM temp.main.entries
                    UNION SELECT counterpart_id FROM temp.main.entries
                    UNION SELECT unnest([{_ids(near | organisations)}]))""",
            f"""INSERT INTO temp.main.rulebook_parameters SELECT * FROM {rp}
                WHERE rulebook_hash IN ({", ".join(f"'{v.hash}'" for v in rb.versions)})
                  AND parameter_id IN
                      (SELECT parameter_id FROM temp.main.entries
                       UNION SELECT parameter_id FROM {p} WHERE code IN ({passed}))""",
            f"""INSERT INTO temp.main.parameters SELECT * FROM {p}
                WHERE parameter_id IN (SELECT parameter_id FROM temp.main.entries)
                   OR code IN ({passed})""",
        ]
        # Copied with the optimizer (the reads go through the ledger's indexes); the plans
        # run on the copies without it.
        self.cur.execute("SET SESSION enable_optimizer = true")
        self.cur.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                self.cur.execute(statement)
        except BaseException:
            self.cur.execute("ROLLBACK")
            raise
        finally:
            self.cur.execute("SET SESSION enable_optimizer = false")
        self.cur.execute("COMMIT")

    def run(self, sql: str, day: int, subject_id: int) -> list[dict[str, Any]]:
        """Run a compiled plan (``sql``, with the sentinels for day and subject) on the
        shadowing tables; its rows as dicts (a handful: no Arrow).

        Prepared once per process without DuckDB's optimizer, reading the day and the
        subject from a one-row table: DuckDB plans an optimized statement again at every
        execution (its plan may depend on the data), which for a plan of hundreds of
        selects costs far more than running it on one subject's entries.
        """
        if sql not in self.prepared:
            handle = f"lookup_{len(self.prepared)}"
            text = sql.replace(str(AS_OF_SENTINEL), f"(SELECT as_of FROM {ARGS})").replace(
                str(SUBJECT_SENTINEL), f"(SELECT subject FROM {ARGS})"
            )
            self.cur.execute(f"PREPARE {handle} AS {text}")
            self.prepared[sql] = handle
        self.cur.execute(f"UPDATE {ARGS} SET as_of = ?, subject = ?", [int(day), int(subject_id)])
        result = self.cur.execute(f"EXECUTE {self.prepared[sql]}")
        names = [d[0] for d in result.description or []]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def close(self) -> None:
        self.cur.close()
        self.store.close()


def split_parts(rb: RulebookHeader, rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``statement_all`` by plan, each with its plan's own columns, in the
    order each plan sorts them (a union keeps none): the statement's lines by day, then
    entry; the contacts by id."""
    names = statement_parts(rb)
    found: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for row in rows:
        name = names[int(row["part"])]
        prefix = f"{name}__"
        found[name].append({k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)})
    found["statement"].sort(key=lambda r: (r["day"], r["entry_id"]))
    if "subject_contacts" in found:  # in the order of their ids, as the plan sorts them
        found["subject_contacts"].sort(key=lambda r: r["contact_id"])
    return found


class Lookups:
    """The look-up cursors of one open database, lent to its cursors (a server's requests,
    each on a cursor of its own): a plan is planned once per look-up cursor, not once
    per request. One borrower at a time uses each; they are closed with the database."""

    def __init__(self, root: Store) -> None:
        self.root = root
        self.free: list[Lookup] = []
        self.made: list[Lookup] = []
        self.lock = threading.Lock()
        self.closed = False

    def lend(self) -> Lookup:
        """A look-up cursor no one else is using (made when all are in use)."""
        with self.lock:
            if self.free:
                return self.free.pop()
        made = Lookup(self.root.cursor())
        with self.lock:
            self.made.append(made)
        return made

    def give_back(self, session: Lookup) -> None:
        with self.lock:
            if not self.closed:
                self.free.append(session)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            made, self.made, self.free = self.made, [], []
        for session in made:
            session.close()


class _Loan:
    """A look-up cursor lent to a store until it closes."""

    def __init__(self, pool: Lookups, session: Lookup) -> None:
        self.pool, self.session = pool, session

    def close(self) -> None:
        self.pool.give_back(self.session)


_POOLS = threading.Lock()


def lookup(store: Store) -> Lookup:
    """The store's look-up cursor: lent on first use from those of the database it is a
    cursor of (``Store.root``), and given back when the store closes."""
    found = store.cache.get("lookup")
    if isinstance(found, _Loan):
        return found.session
    root = store.root
    with _POOLS:
        pool = root.cache.get("lookups")
        if not isinstance(pool, Lookups):
            pool = root.cache["lookups"] = Lookups(root)
    loan = store.cache["lookup"] = _Loan(pool, pool.lend())
    return loan.session

"""The demo: a synthetic nation rated end to end (register, ingest, verify reports, score)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from socialrating.ledger import activate_rulebook, ingest_table, open_store, register_subjects
from socialrating.ledger.store import Store
from socialrating.model import EntryKind, InstitutionClass, day_date
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.scoring import RunResult, score_run
from socialrating.scoring.run import unchanged_run
from socialrating.simulate.life import batches, draw_records
from socialrating.simulate.nation import make_nation

VERIFIED_SHARE = 0.4  # citizen reports an authority later verifies


@dataclass(frozen=True)
class DemoConfig:
    """What to simulate, and where to store it."""

    db: str
    rulebook: Path
    citizens: int = 100_000
    organisations: int = 10_000
    days: int = 365
    seed: int = 2021


@dataclass(frozen=True)
class DemoResult:
    """What the demo stored and the scoring run it ended with."""

    subjects: int
    stored: int
    duplicates: int
    run: RunResult
    examples: list[str] = field(default_factory=list)
    reused: bool = False
    """Whether the ledger was already scored as of the date (``run`` is that run)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "subjects": self.subjects,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "run": self.run.as_dict(),
            "examples": self.examples,
            "reused_run": self.reused,
        }


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(quiet=True),
        disable=console is None,
        transient=False,
    )


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """Simulate, ingest and score; idempotent for the same seed and sizes."""
    rng = np.random.default_rng(config.seed)
    rb = load_rulebook(config.rulebook)
    first_day = rb.effective_day
    with open_store(config.db, create=True) as store, _progress(console) as progress:
        # A demo ledger made with an earlier seed: the seed of this version replaces it from
        # its own date (the ledger says why), so that `make demo` works after an upgrade.
        activate_rulebook(store, rb, backdate="socialrating demo: the demo's rulebook changed")
        task = progress.add_task("drawing the nation", total=3)
        nation = make_nation(rng, config.citizens, config.organisations, rb.spec.effective)
        progress.advance(task)
        register_subjects(store, nation.subjects, "demo nation")
        progress.advance(task)
        draws, inst_codes = draw_records(rng, nation, rb, config.days)
        per_institution = batches(draws, nation, rb, inst_codes, first_day, config.seed)
        progress.advance(task)
        stored = duplicates = 0
        task = progress.add_task(
            "ingesting records", total=sum(t.num_rows for _, t in per_institution)
        )
        for code, table in per_institution:
            result = ingest_table(store, table, code, f"demo:{code}")
            stored += result.stored
            duplicates += result.duplicates
            progress.advance(task, table.num_rows)
        task = progress.add_task("verifying citizen reports", total=1)
        v_stored, v_dup = _verify_reports(store, rb, rng, config.seed, first_day + config.days - 1)
        stored, duplicates = stored + v_stored, duplicates + v_dup
        progress.advance(task)
        as_of = day_date(first_day + config.days - 1)
        # Nothing new since a run of this rulebook and date: its snapshot stands.
        run = unchanged_run(store, rb.hash, as_of) if stored == 0 else None
        reused = run is not None
        if run is None:
            task = progress.add_task("scoring", total=1)
            run = score_run(store, as_of)
            progress.advance(task)
        examples = _examples(store, run.run_id)
    return DemoResult(nation.subjects.num_rows, stored, duplicates, run, examples, reused)


def _verify_reports(
    store: Store, rb: Rulebook, rng: np.random.Generator, seed: int, last_day: int
) -> tuple[int, int]:
    """An authority verifies a share of the citizen reports, a few days after each."""
    state = rb.institutions_of(InstitutionClass.STATE)
    if not state:
        return 0, 0
    reports = store.arrow(
        """SELECT e.entry_id, e.day, e.idem_key FROM entries e
           JOIN rulebook_institutions i USING (institution_id)
           WHERE e.kind = ? AND i.rulebook_hash = ? AND i.class = 'citizen'
           ORDER BY e.entry_id""",
        [int(EntryKind.RECORD), rb.hash],
    )
    n = reports.num_rows
    if n == 0:
        return 0, 0
    chosen = np.flatnonzero(rng.random(n) < VERIFIED_SHARE)
    if len(chosen) == 0:
        return 0, 0
    days = np.minimum(
        reports.column("day").to_numpy()[chosen] + rng.integers(1, 10, len(chosen)), last_day
    )
    ids = reports.column("entry_id").to_numpy()[chosen]
    keys = reports.column("idem_key").to_numpy(zero_copy_only=False)[chosen]
    m = len(chosen)
    table = pa.table(
        {
            "line": pa.array(np.arange(1, m + 1), pa.int64()),
            "key": pa.array([f"demo-{seed}-verify-{k}" for k in keys], pa.string()),
            "subject": pa.nulls(m, pa.string()),
            "parameter": pa.nulls(m, pa.string()),
            "date": pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string()),
            "quantity": pa.nulls(m, pa.string()),
            "severity": pa.nulls(m, pa.string()),
            "confidence": pa.nulls(m, pa.string()),
            "counterpart": pa.nulls(m, pa.string()),
            "evidence": pa.nulls(m, pa.string()),
            "kind": pa.array(["verification"] * m, pa.string()),
            "refers_to": pa.array(ids).cast(pa.string()),
            "act": pa.nulls(m, pa.string()),
            "level": pa.nulls(m, pa.string()),
        }
    )
    result = ingest_table(store, table, state[0], "demo:verifications")
    return result.stored, result.duplicates


def _examples(store: Store, run_id: int) -> list[str]:
    """A subject of the best and of the worst grade, and one that contagion lowered the
    most, to try `show` on."""
    rows = store.rows(
        """SELECT (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND s.kind = 'citizen' ORDER BY n.score DESC, s.code LIMIT 1),
                  (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND s.kind = 'citizen' ORDER BY n.score, s.code LIMIT 1),
                  (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND n.contagion < 0 ORDER BY n.contagion, s.code LIMIT 1)""",
        [run_id, run_id, run_id],
    )
    return [c for c in rows[0] if c] if rows else []

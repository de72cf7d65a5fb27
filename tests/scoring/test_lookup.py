"""A look-up's cursor (``scoring/lookup``): its plans are planned once per process and
run again on each subject's entries, and its settings stay its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from tests.conftest import d, feed, rec

from socialrating.ledger import Store
from socialrating.model import day_number
from socialrating.scoring import statement
from socialrating.scoring.compiled import bind
from socialrating.scoring.lookup import lookup


def test_a_lookup_leaves_the_stores_optimizer_on(store: Store) -> None:
    feed(store, "police", [rec("C1", "speeding", "2021-02-01")])
    assert statement(store, "C1", d("2021-06-01")).score == 980
    assert lookup(store).cur.execute("SELECT current_setting('enable_optimizer')").fetchone() == (
        False,
    )
    assert store.scalar("SELECT current_setting('enable_optimizer')") is True
    assert store.cursor().scalar("SELECT current_setting('enable_optimizer')") is True


def test_a_lookup_plan_runs_again_without_being_planned_again(store: Store, tmp_path: Path) -> None:
    """The second subject's statement runs the plans the first one prepared, on its own
    entries (the statements equal those over the whole ledger), without binding them
    again: binding a plan of this size from its text takes milliseconds."""
    feed(
        store, "police", [rec("C1", "speeding", "2021-02-01"), rec("C2", "red_light", "2021-03-01")]
    )
    for code in ("C1", "C2", "C1"):
        narrow = statement(store, code, d("2021-06-01"))
        assert narrow.as_dict() == statement(store, code, d("2021-06-01"), narrow=False).as_dict()
    assert [statement(store, c, d("2021-06-01")).score for c in ("C1", "C2")] == [980, 990]
    session = lookup(store)
    cur = session.cur
    (sql, handle) = max(session.prepared.items(), key=lambda kv: len(kv[0]))
    profile = tmp_path / "profile.json"
    cur.execute("SET SESSION enable_profiling = 'json'")
    cur.execute("SET SESSION profiling_mode = 'detailed'")
    cur.execute(f"SET SESSION profiling_output = '{profile}'")

    def binding() -> float:
        return float(json.loads(profile.read_text())["planner"]["binding_time"])

    cur.execute(f"EXECUTE {handle}").fetchall()
    again = binding()
    cur.execute(bind(sql, day_number(d("2021-06-01")), 1)).fetchall()  # the same, unprepared
    assert again * 20 < binding(), (again, binding())


def test_a_lookup_copies_the_entries_with_the_optimizer(store: Store) -> None:
    """The copy reads the ledger through its indexes (DuckDB's optimizer pushes the
    subject ids into the scan); only the plans run without the optimizer."""
    feed(store, "police", [rec("C1", "speeding", "2021-02-01")])
    session = lookup(store)
    real = session.cur
    seen: list[tuple[str, object]] = []

    class Spy:
        def execute(self, sql: str, *args: object) -> object:
            if sql.lstrip().startswith(("INSERT INTO temp", "EXECUTE")):
                on = real.execute("SELECT current_setting('enable_optimizer')").fetchone()
                seen.append((sql.split()[0], on[0] if on else None))
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    session.cur = Spy()  # type: ignore[assignment]
    assert statement(store, "C1", d("2021-06-01")).score == 980
    assert ("INSERT", True) in seen and ("EXECUTE", False) in seen
    assert {on for what, on in seen if what == "INSERT"} == {True}
    assert {on for what, on in seen if what == "EXECUTE"} == {False}


def test_a_databases_cursors_borrow_its_planned_lookups(store: Store) -> None:
    """A server's requests each read on a cursor of their own: a statement on one borrows
    a look-up cursor of the database (and its planned plans) and gives it back when the
    cursor closes; two cursors at once use two; closing the database closes them."""
    feed(
        store, "police", [rec("C1", "speeding", "2021-02-01"), rec("C2", "red_light", "2021-03-01")]
    )
    first = store.cursor()
    assert statement(first, "C1", d("2021-06-01")).score == 980
    lent = lookup(first)
    planned = dict(lent.prepared)
    assert planned
    second = store.cursor()
    assert lookup(second) is not lent  # in use by the first
    assert statement(second, "C2", d("2021-06-01")).score == 990
    first.close()
    third = store.cursor()
    assert lookup(third) is lent and lent.prepared == planned
    assert statement(third, "C2", d("2021-06-01")).score == 990
    assert lent.prepared == planned  # nothing planned again
    second.close()
    third.close()
    store.close()
    with pytest.raises(duckdb.ConnectionException):
        lent.cur.execute("SELECT 1")


def in_a_new_process(store: Store, code: str) -> str:
    """Once C1's statement compiled and kept the plans, what ``code`` prints in a new
    process (the next ``socialrating show``)."""
    feed(store, "police", [rec("C1", "speeding", "2021-02-01")])
    assert statement(store, "C1", d("2021-06-01")).score == 980  # compiles and keeps
    store.close()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_statement_from_stored_plans_needs_no_ibis(store: Store, db_path: Path) -> None:
    """Once the plans are compiled and kept in the database, a new process (the next
    `socialrating show`) states a subject without importing Ibis (a third of a second)."""
    code = (
        "import sys, datetime\n"
        "from socialrating.ledger import open_store\n"
        "from socialrating.scoring import statement\n"
        f"s = open_store({str(db_path)!r}, read_only=True)\n"
        "assert statement(s, 'C1', datetime.date(2021, 6, 1)).score == 980\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ibis', 'sqlglot')))\n"
    )
    assert in_a_new_process(store, code).strip() == "[]"


def test_a_show_from_stored_plans_imports_nothing_heavy(store: Store, db_path: Path) -> None:
    """`socialrating show` as a process, once the plans are kept: no Ibis, Arrow or
    NumPy (each a tenth of a second or more of a whole-process look-up), and no YAML
    parser (the rulebook's spec is read from its kept JSON)."""
    code = (
        "import sys\n"
        "from socialrating.cli import main\n"
        f"sys.argv = ['socialrating', 'show', 'C1', '--db', {str(db_path)!r}, "
        "'--as-of', '2021-06-01']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = ('ibis', 'sqlglot', 'pyarrow', 'numpy', 'pandas', 'yaml')\n"
        "print('heavy:', sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    said = in_a_new_process(store, code)
    assert "980" in said
    assert said.strip().endswith("heavy: []"), said[-300:]


def test_a_statements_parts_are_split_in_each_plans_order() -> None:
    """The one plan of a statement is a union, which keeps no order: its rows are split
    back by plan, the lines by day then entry, the contacts by id, as each plan sorts."""
    from tests.conftest import DATA

    from socialrating.rulebook import load_rulebook
    from socialrating.scoring.lookup import split_parts

    rb = load_rulebook(DATA / "contagion.yaml")
    rows = [
        {"part": 3, "subject_contacts__contact_id": 9, "statement__day": None},
        {"part": 0, "statement__day": 5, "statement__entry_id": 7},
        {"part": 3, "subject_contacts__contact_id": 2, "statement__day": None},
        {"part": 1, "subject_score__score": 980, "statement__day": None},
        {"part": 0, "statement__day": 5, "statement__entry_id": 3},
        {"part": 0, "statement__day": 1, "statement__entry_id": 8},
    ]
    parts = split_parts(rb, rows)
    assert [(r["day"], r["entry_id"]) for r in parts["statement"]] == [(1, 8), (5, 3), (5, 7)]
    assert [r["contact_id"] for r in parts["subject_contacts"]] == [2, 9]
    assert parts["subject_score"] == [{"score": 980}] and parts["subject_lists"] == []


def test_a_lookup_copies_the_entries_that_name_the_subject(store: Store) -> None:
    """The copy holds the subject's own entries and those naming it as counterpart,
    whoever they are about, and no others (found by the counterpart column alone, then
    read through the index on subject ids with their owners' own)."""
    from socialrating.ledger.rulebooks import active_hash, stored_rulebook

    feed(
        store,
        "police",
        [
            rec("C1", "speeding", "2021-02-01", counterpart="C2"),
            rec("C1", "red_light", "2021-03-01"),
            rec("C2", "speeding", "2021-04-01"),
            rec("C3", "speeding", "2021-04-02", counterpart="C1"),
        ],
    )
    ids = dict(store.rows("SELECT code, subject_id FROM subjects"))
    session = lookup(store)
    session.fill(stored_rulebook(store, active_hash(store)), ids["C2"], day_number(d("2021-06-01")))
    copied = session.cur.execute(
        "SELECT s.code, e.day FROM temp.main.entries e JOIN subjects s USING (subject_id) ORDER BY e.day"
    ).fetchall()
    assert copied == [
        ("C1", day_number(d("2021-02-01"))),  # C1's record naming C2
        ("C2", day_number(d("2021-04-01"))),  # C2's own
    ]

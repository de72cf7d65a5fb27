"""Plans compiled once with sentinels for the day, the subject and the run
(``scoring/compiled``): binding values into the text gives what compiling with those
values gives, and a plan whose own values or names hold a sentinel's digits is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pytest
from tests.test_cli import ok

from socialrating.errors import ScoringError
from socialrating.ledger import Store, activate_rulebook, active_rulebook, open_store
from socialrating.rulebook import Rulebook
from socialrating.scoring.compiled import (
    AS_OF_SENTINEL,
    RUN_SENTINEL,
    SUBJECT_SENTINEL,
    bind,
    compiled,
    plan_ids,
    with_sentinels,
)

PARAMS = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
ENTRIES = ibis.table(
    {"subject_id": "int64", "day": "int32", "run": "int32", "points": "float64", "code": "string"},
    name="entries",
)


def plan(value: Any = 1.5, name: str = "points", code: str = "traffic.x") -> Any:
    """A small plan that reads all three parameters, with a value, a name and a code."""
    as_of, subject, run = PARAMS
    e = ENTRIES
    kept = e.filter(e.day <= as_of, e.subject_id == subject, e.run != run, e.code == code)
    return kept.group_by("subject_id").aggregate(**{name: (kept.points * value).sum()})


def compile_with(values: tuple[int, int, int], expr: Any) -> str:
    backend = ibis.duckdb.connect()
    return str(backend.compile(expr, params=dict(zip(PARAMS, values, strict=True))))


def test_binding_values_gives_what_compiling_with_them_gives() -> None:
    backend = ibis.duckdb.connect()
    sql = with_sentinels(backend, plan(), PARAMS, "the plan")
    for s in (AS_OF_SENTINEL, SUBJECT_SENTINEL, RUN_SENTINEL):
        assert str(s) in sql
    for values in [(18_992, 42, 7), (0, 1, 1), (AS_OF_SENTINEL + 1, SUBJECT_SENTINEL - 5, 3)]:
        assert bind(sql, *values) == compile_with(values, plan())


@pytest.mark.parametrize(
    "bad",
    [
        {"value": float(AS_OF_SENTINEL)},  # a value equal to a sentinel
        {"value": float(f"1.{AS_OF_SENTINEL}")},  # a value with its digits inside
        {"value": RUN_SENTINEL * 10 + 3},
        {"code": f"list_{SUBJECT_SENTINEL}"},  # a rulebook's code
        {"name": f"p{RUN_SENTINEL}"},  # a column's name
    ],
)
def test_a_plan_holding_a_sentinels_digits_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ScoringError, match="contains a sentinel value"):
        with_sentinels(ibis.duckdb.connect(), plan(**bad), PARAMS, "the plan")


def test_a_text_with_a_sentinel_inside_a_longer_number_is_refused() -> None:
    """Should the compiler ever write the digits into something else (here a backend that
    appends a digit to every sentinel), the text is refused, not bound wrongly."""

    class Appending:
        def compile(self, expr: Any, params: dict[Any, int]) -> str:
            return compile_with(tuple(params.values()), expr).replace(
                str(AS_OF_SENTINEL), f"{AS_OF_SENTINEL}0"
            )

    with pytest.raises(ScoringError, match="inside another"):
        with_sentinels(Appending(), plan(), PARAMS, "the plan")


def test_a_plans_registry_ids_are_remembered_until_a_commit(store: Store) -> None:
    """A statement asks for the ids a plan names once per plan: they are read once, and
    again once this process commits a change (no other process can write meanwhile)."""
    rb = active_rulebook(store)
    channels, _, _ = plan_ids(store, rb)
    assert len(channels) == 1  # the tiny rulebook's citizen hotline
    store.run("UPDATE institutions SET institution_id = 900 WHERE code = 'hotline'")
    assert plan_ids(store, rb)[0] == channels  # remembered: nothing was committed
    with store.transaction():
        store.run("UPDATE institutions SET institution_id = 901 WHERE code = 'hotline'")
    assert plan_ids(store, rb)[0] == (901,)


def test_a_plan_compiled_for_one_database_is_kept_in_the_next(
    tmp_path: Path, tiny: Rulebook
) -> None:
    """The process compiles a plan once, whatever the database; each database it is used
    on keeps it (with its digest), so that the next process there need not compile it."""
    sqls = []
    for name in ("a", "b"):
        with open_store(tmp_path / f"{name}.duckdb", create=True) as store:
            activate_rulebook(store, tiny)
            sqls.append(compiled(store, active_rulebook(store), "subject_lists"))
            kept = store.rows("SELECT key, sql FROM plan_cache")
            assert [sql for key, sql in kept if "|subject_lists|" in key] == [sqls[-1]]
        assert "ok" in ok("verify", "--db", str(tmp_path / f"{name}.duckdb")).output.lower()
    assert sqls[0] == sqls[1]

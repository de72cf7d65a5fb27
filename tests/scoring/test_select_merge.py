"""Ibis's select merge with the remembered complexity score (``scoring/select_merge``):
the same score for every node, the same SQL for every plan, character for character."""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import ibis.expr.operations as ops
import pytest

from socialrating.ledger import Store, active_rulebook
from socialrating.scoring import select_merge
from socialrating.scoring.compiled import with_sentinels
from socialrating.scoring.plans import PLANS, plan_inputs

PARAMS = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")


@pytest.fixture
def ibis_own_score() -> Iterator[None]:
    select_merge.uninstall()
    try:
        yield
    finally:
        select_merge.install()


def test_the_plans_are_built_with_the_remembered_score() -> None:
    from ibis.backends.sql import rewrites

    assert rewrites.complexity is select_merge.complexity


def test_every_node_scores_what_ibis_scores() -> None:
    t = ibis.table({"a": "int64", "b": "string"}, name="t")
    inner = t.mutate(c=t.a + 1, d=ibis.random()).filter(t.a > 2)
    outer = inner.mutate(e=inner.c * inner.c, f=inner.b.upper()).select("e", "f", "d")
    nodes = outer.op().find(ops.Node)
    assert any(isinstance(n, ops.Impure) for n in nodes)
    for node in nodes:
        assert select_merge.complexity(node) == select_merge._ORIGINAL(node), node


@pytest.mark.parametrize("name", ["statement_all", "scores"])
def test_a_plan_compiles_to_the_same_sql(store: Store, name: str, ibis_own_score: None) -> None:
    inputs = plan_inputs(store, active_rulebook(store))
    own = with_sentinels(store.ibis, PLANS[name](inputs, *PARAMS), PARAMS, name)
    select_merge.install()
    fast = with_sentinels(store.ibis, PLANS[name](inputs, *PARAMS), PARAMS, name)
    assert fast == own
    assert "SELECT" in fast

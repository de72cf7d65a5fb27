"""Ibis with its select merge's complexity remembered and its dereferencing unvalidated
(``scoring/ibis_speedups``): the same score for every node, the same substitutions, the
same SQL for every plan, character for character."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.operations as ops
import pytest

from socialrating.ledger import Store, active_rulebook
from socialrating.scoring import ibis_speedups
from socialrating.scoring.compiled import with_sentinels
from socialrating.scoring.plans import PLANS, plan_inputs

PARAMS = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")


@pytest.fixture
def ibis_own_score() -> Iterator[None]:
    ibis_speedups.uninstall()
    try:
        yield
    finally:
        ibis_speedups.install()


def test_the_plans_are_built_with_the_remembered_score() -> None:
    from ibis.backends.sql import rewrites
    from ibis.expr.rewrites import DerefMap

    assert rewrites.complexity is ibis_speedups.complexity
    assert DerefMap._fill_substitution_mappings is ibis_speedups.fill_substitution_mappings
    t = ibis.table({"a": "int64", "b": "string"}, name="t").op()
    assert t.fields is t.fields  # made once
    assert list(t.fields) == ["a", "b"] and t.fields["b"] == ops.Field(t, "b")


def test_every_node_scores_what_ibis_scores() -> None:
    t = ibis.table({"a": "int64", "b": "string"}, name="t")
    inner = t.mutate(c=t.a + 1, d=ibis.random()).filter(t.a > 2)
    outer = inner.mutate(e=inner.c * inner.c, f=inner.b.upper()).select("e", "f", "d")
    nodes = outer.op().find(ops.Node)
    assert any(isinstance(n, ops.Impure) for n in nodes)
    for node in nodes:
        assert ibis_speedups.complexity(node) == ibis_speedups._COMPLEXITY(node), node


def test_dereferencing_gives_what_ibis_gives(ibis_own_score: None) -> None:
    from ibis.expr.rewrites import DerefMap

    t = ibis.table({"a": "int64", "b": "string"}, name="t")
    u = ibis.table({"a": "int64", "c": "string"}, name="u")
    t1 = t.mutate(d=t.a * 2)
    t2 = t1.filter(t.a > 0).mutate(e=t.b.upper(), f=t1.d + 1)
    targets = [[t2.op()], [t2.op(), u.op()], [t1.op(), t.mutate(x=1).op()]]

    def maps() -> list[tuple[Any, Any]]:
        found = []
        for rels in targets:
            deref = DerefMap.from_targets(rels, extra={t.a.op(): t2.a.op()})
            deref._fill_substitution_mappings()
            found.append((deref.subs, deref.ambigs))
        return found

    def built() -> str:
        return repr(t2.join(u, t2.a == u.a).select(t.b, u.c, t2.f, t1.d))

    own, own_built = maps(), built()
    assert own[2][1]  # two tables made from t: t's columns are ambiguous between them
    ibis_speedups.install()
    assert maps() == own
    for fast, slow in zip(maps(), own, strict=True):
        assert [type(m) for m in fast] == [type(m) for m in slow]
    assert built() == own_built


@pytest.mark.parametrize("name", ["statement_all", "scores"])
def test_a_plan_compiles_to_the_same_sql(store: Store, name: str, ibis_own_score: None) -> None:
    inputs = plan_inputs(store, active_rulebook(store))
    own = with_sentinels(store.ibis, PLANS[name](inputs, *PARAMS), PARAMS, name)
    ibis_speedups.install()
    fast = with_sentinels(store.ibis, PLANS[name](inputs, *PARAMS), PARAMS, name)
    assert fast == own
    assert "SELECT" in fast

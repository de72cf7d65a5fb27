"""Three of Ibis's steps without their quadratic or repeated work: the same plans, the same
SQL, built and compiled about twice as fast.

1. **The select merge's complexity score.** When Ibis lowers an expression to SQL it
   merges each select on a select into one, but only if the merged select is no more
   complex than the two (``merge_select_select`` in ``ibis.backends.sql.rewrites``). Its
   ``complexity`` walks every node below the select, down to the tables, for each of the
   two, at every merge: quadratic on a plan of thousands of nodes, and half of compiling
   a statement's plan (14 s of 27 s under the profiler, the seed rulebook). Here the same
   score is remembered per node: a node's complexity is a function of the node alone (1
   for a field, the largest integer for an impure call, else 1 plus its children's, each
   child counted as often as it is named), so each node is scored once.
2. **Dereferencing** (``DerefMap`` in ``ibis.expr.rewrites``), which maps a column of an
   earlier table in a chain to the same column of the table an expression is built on,
   at every ``mutate``, ``filter``, ``select`` and join. It builds the map in plain
   dicts, then stores it through Ibis's validating ``__setattr__``, which checks every
   key and value of the map against its annotation again: 7 s of the 15 s a statement's
   plans spent there (the tax-credit case). Here the map is stored as the validation
   would leave it (frozen dicts of the same nodes, tuples for the ambiguous), unchecked;
   and what each table contributes to it (each column and the values it stands for
   further up the chain) is remembered per table, not traced again at every step.
3. **A table's columns** (``Relation.fields``, a name to a field of the table for each
   column), which Ibis makes anew, every field validated, each time it is asked: they are
   made once per table (a table is immutable, and so is the frozen dict of them).

``install`` puts all three in place (``scoring/plan`` calls it: every plan is built there
first). ``tests/scoring/test_ibis_speedups.py`` compiles plans with and without them and
compares the SQL character for character.
"""

from __future__ import annotations

import sys
import weakref
from collections import defaultdict
from typing import Any

import ibis.expr.operations as ops
from ibis.backends.sql import rewrites as sql_rewrites
from ibis.common.collections import FrozenDict
from ibis.expr import rewrites as expr_rewrites

_COMPLEXITY = sql_rewrites.complexity
_FILL = expr_rewrites.DerefMap._fill_substitution_mappings
_SCORES: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_FIELDS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_LINEAGE: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, Any, int], ...]] = (
    weakref.WeakKeyDictionary()
)


def complexity(node: Any) -> int:
    """Ibis's complexity score of ``node``, each node below it scored once."""
    scores = _SCORES
    stack = [node]
    while stack:
        top = stack[-1]
        if top in scores:
            stack.pop()
        elif isinstance(top, ops.Field):
            scores[top] = 1
            stack.pop()
        elif isinstance(top, ops.Impure):
            scores[top] = sys.maxsize
            stack.pop()
        else:
            children = top.__children__
            pending = [child for child in children if child not in scores]
            if pending:
                stack.extend(pending)
            else:
                scores[top] = 1 + sum(scores[child] for child in children)
                stack.pop()
    return scores[node]


def lineage(rel: Any) -> tuple[tuple[Any, Any, int], ...]:
    """Each column of ``rel`` with each value it stands for further up, and how far up:
    a function of the relation alone, remembered."""
    found = _LINEAGE.get(rel)
    if found is None:
        found = tuple(
            (val, field, distance)
            for field in rel.fields.values()
            for val, distance in expr_rewrites.DerefMap.backtrack(field)
        )
        _LINEAGE[rel] = found
    return found


def fill_substitution_mappings(self: Any) -> None:
    """Ibis's ``DerefMap._fill_substitution_mappings``, its result stored unvalidated."""
    if self.subs is not None and self.ambigs is not None:
        return
    mapping: defaultdict[Any, dict[Any, int]] = defaultdict(dict)
    for rel in self.rels:
        for val, field, distance in lineage(rel):
            mapping[val][field] = distance
    subs, ambigs = {}, {}
    for from_, to in mapping.items():
        nearest = min(to.values())
        keys = [k for k, v in to.items() if v == nearest]
        # all the nearest fields from one relation: any of them will do (Ibis takes the first)
        if all(keys[0].relations == k.relations for k in keys):
            subs[from_] = keys[0]
        else:
            ambigs[from_] = tuple(keys)
    if extra := self.extra:
        subs.update(extra)
    object.__setattr__(self, "subs", FrozenDict(subs))
    object.__setattr__(self, "ambigs", FrozenDict(ambigs))


_OWN_FIELDS = ops.Relation.fields


def fields(rel: Any) -> Any:
    """A relation's columns as Ibis makes them (a name to a field of it), remembered."""
    found = _FIELDS.get(rel)
    if found is None:
        found = _FIELDS[rel] = _OWN_FIELDS.fget(rel)
    return found


def install() -> None:
    """Use all three in Ibis (idempotent)."""
    sql_rewrites.complexity = complexity
    expr_rewrites.DerefMap._fill_substitution_mappings = fill_substitution_mappings
    ops.Relation.fields = property(fields)


def uninstall() -> None:
    """Ibis's own steps again (for the test that compares the two)."""
    sql_rewrites.complexity = _COMPLEXITY
    expr_rewrites.DerefMap._fill_substitution_mappings = _FILL
    ops.Relation.fields = _OWN_FIELDS

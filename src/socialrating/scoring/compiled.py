"""The scoring plans compiled once per rulebook, then run for any date and subject.

Building and compiling an Ibis expression (``plans``) costs a good fraction of a second;
running the compiled query for one subject costs milliseconds. So each plan is compiled
once per rulebook, with the as-of day and the subject as parameters, and kept: for the
process, and in the database (``plan_cache``) for the next one, which then needs no Ibis
at all. The compiled SQL names only tables and a few registry ids (the rulebook's
citizen channels, its representatives and contact parameters), so the cache key is the
rulebook hash, those ids, the plan's name and the version of the code that builds plans.
The parameters are compiled as sentinel literals that no real query contains, and
replaced by the real values before each run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialrating.errors import ScoringError
from socialrating.ledger.store import PLAN_CACHE_DDL, Store, remembered
from socialrating.model import InstitutionClass
from socialrating.rulebook import RulebookHeader

if TYPE_CHECKING:
    import pyarrow as pa

AS_OF_SENTINEL = 987_654_321
SUBJECT_SENTINEL = 876_543_219_876_543
RUN_SENTINEL = 102_938_475


def plan_ids(store: Store, rb: RulebookHeader) -> tuple[tuple[int, ...], int | None, int | None]:
    """The registry ids a plan names: the rulebook's citizen channels (institutions), and
    its representatives and contact parameters (None where it has none). Read once while
    nothing is committed (a statement asks for them once per plan)."""
    ids: tuple[tuple[int, ...], int | None, int | None]
    ids = remembered(store, ("plan_ids", rb.plan_key), lambda: _plan_ids(store, rb))
    return ids


def _plan_ids(store: Store, rb: RulebookHeader) -> tuple[tuple[int, ...], int | None, int | None]:
    channels = rb.institutions_of(InstitutionClass.CITIZEN)
    ids = (
        store.rows(
            "SELECT institution_id FROM institutions WHERE list_contains(?, code) ORDER BY 1",
            [channels],
        )
        if channels
        else []
    )

    def registry_id(code: str | None) -> int | None:
        if code is None:
            return None
        found = store.scalar("SELECT parameter_id FROM parameters WHERE code = ?", [code])
        return None if found is None else int(found)

    rep, contagion = rb.spec.representatives, rb.spec.contagion
    return (
        tuple(int(i) for (i,) in ids),
        registry_id(rep.parameter if rep else None),
        registry_id(contagion.parameter if contagion else None),
    )


_CACHE: dict[tuple[str, tuple[int, ...], str], str] = {}


def _code_version() -> str:
    """A digest of the code that builds plans: a stored plan is reused only by the same code."""
    import hashlib
    from importlib.metadata import version

    import duckdb

    h = hashlib.sha256(f"{version('ibis-framework')}|{duckdb.__version__}".encode())
    here = Path(__file__).parent
    for module in (
        "plan.py",
        "mechanics.py",
        "lists.py",
        "contagion.py",
        "plans.py",
        "limits.py",
        "measures.py",
        "derived.py",
        "depends.py",
        "factor_plan.py",
        "compiled.py",
        "ibis_speedups.py",
    ):
        h.update((here / module).read_bytes())
    return h.hexdigest()[:16]


CODE_VERSION = _code_version()


def compiled(store: Store, rb: RulebookHeader, name: str, *, keep: bool = True) -> str:
    """The SQL of plan ``name`` for ``rb`` on ``store``, compiled on first use.

    Compiling a plan takes seconds, so the SQL is also kept in the database
    (``plan_cache``, keyed by rulebook, registry ids, plan and code version): a later
    process, such as the next `socialrating show`, reuses it. Not with ``keep`` false (a
    rulebook that is not installed, previewed): then it is kept for this process only.
    """
    channels, representative, contact = plan_ids(store, rb)
    ids = (*channels, representative or 0, contact or 0)
    key = (rb.plan_key, ids, name)
    stored_key = f"{key[0]}|{','.join(map(str, key[1]))}|{name}|{CODE_VERSION}"
    kept: set[str] = store.root.cache.setdefault("kept_plans", set())  # in this database
    if key not in _CACHE and store.has_table("plan_cache"):
        from socialrating.ledger.integrity import trusted_cached

        row = store.one("SELECT sql FROM plan_cache WHERE key = ?", [stored_key])
        if row is not None:
            what = f"the cached plan {name!r} of rulebook {stored_key[:12]}"
            _CACHE[key] = trusted_cached(store, stored_key, str(row[0]), what)
            kept.add(stored_key)
    if key not in _CACHE:
        import ibis

        from socialrating.scoring.plans import CHOSEN, PLANS, plan_inputs

        inputs = plan_inputs(store, rb)
        as_of, subject, run = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
        if name in CHOSEN:  # the table of chosen subjects must exist (it may be empty)
            table, plan = CHOSEN[name]
            store.run(f"CREATE TEMP TABLE IF NOT EXISTS {table} (subject_id BIGINT)")
            expr = plan(inputs, as_of, run, store.ibis.table(table).subject_id)
        else:
            expr = PLANS[name](inputs, as_of, subject, run)

        _CACHE[key] = with_sentinels(
            store.ibis, expr, (as_of, subject, run), f"plan {name!r} for rulebook {rb.short_hash}"
        )
    # Compiled in this process, maybe for another database first: kept in this one too.
    if keep and not store.read_only and stored_key not in kept:  # read-only: not kept
        _keep(store, stored_key, _CACHE[key])
        kept.add(stored_key)
    return _CACHE[key]


def _keep(store: Store, key: str, sql: str) -> None:
    """Keep the plan's ``sql`` in the database under ``key``, with the digest the ledger
    records of it, unless it is kept there already."""
    from socialrating.ledger.integrity import record_plan

    store.run(PLAN_CACHE_DDL)
    if store.scalar("SELECT count(*) FROM plan_cache WHERE key = ?", [key]):
        return
    with store.transaction():  # the plan and the digest the ledger records of it
        store.run("INSERT INTO plan_cache VALUES (?, ?)", [key, sql])
        record_plan(store, key, sql)


def with_sentinels(backend: Any, expr: Any, params: tuple[Any, Any, Any], what: str) -> str:
    """``expr`` compiled by the Ibis ``backend`` with the sentinels for its ``params``
    (the as-of day, the subject and the run), for ``bind`` to put values in later.

    Compiled once (a plan takes seconds). ``bind`` is exact when the sentinels' digits
    stand in the text only where the parameters do: so no value or name in the
    expression may contain them (checked before compiling), and every place they stand
    in the text must be a whole number, not part of a longer one or of a name (checked
    after).

    Raises:
        ScoringError: a value or name of the plan contains a sentinel's digits, or the
            compiled text has them inside something else.
    """
    sentinels = (str(AS_OF_SENTINEL), str(SUBJECT_SENTINEL), str(RUN_SENTINEL))
    for text in _texts(expr):
        if any(s in text for s in sentinels):
            raise ScoringError(f"{what} contains a sentinel value ({text[:60]!r})")
    values = dict(zip(params, (AS_OF_SENTINEL, SUBJECT_SENTINEL, RUN_SENTINEL), strict=True))
    sql = str(backend.compile(expr, params=values))
    for s in sentinels:
        if sql.count(s) != len(re.findall(rf"(?<![\w.$]){s}(?![\w.])", sql)):
            raise ScoringError(f"{what} compiles to a text with a sentinel value inside another")
    return sql


def _texts(expr: Any) -> Iterator[str]:
    """The text of every value and name in the expression ``expr`` (not its structure)."""
    from ibis.common.graph import Graph, Node
    from ibis.expr.datatypes import DataType

    def of(arg: Any) -> Iterator[str]:
        if isinstance(arg, (Node, DataType)) or arg is None:
            return
        if isinstance(arg, Mapping):
            for k, v in arg.items():
                yield from of(k)
                yield from of(v)
        elif isinstance(arg, (tuple, list, frozenset, set)):
            for v in arg:
                yield from of(v)
        else:
            yield str(arg)

    for node in Graph.from_bfs(expr.op()):
        for arg in node.__args__:
            yield from of(arg)


def bind(sql: str, as_of: int, subject_id: int | None = None, run_id: int | None = None) -> str:
    """The compiled SQL with the as-of day, subject and run put in place of their sentinels."""
    sql = sql.replace(str(AS_OF_SENTINEL), str(int(as_of)))
    if subject_id is not None:
        sql = sql.replace(str(SUBJECT_SENTINEL), str(int(subject_id)))
    if run_id is not None:
        sql = sql.replace(str(RUN_SENTINEL), str(int(run_id)))
    return sql


def run_plan(
    store: Store,
    rb: RulebookHeader,
    name: str,
    as_of: int,
    subject_id: int | None = None,
    run_id: int | None = None,
) -> pa.Table:
    """Run plan ``name`` as of day ``as_of`` (for one subject or run, where it takes one)."""
    return store.arrow(bind(compiled(store, rb, name), as_of, subject_id, run_id))

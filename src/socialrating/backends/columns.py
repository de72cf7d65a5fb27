"""The columns a query reads of each of some tables, from its SQL.

A staged run keeps each stage as a table; a stage holds only the columns later stages
and the final query read of it (the evaluated records have 65 columns, of which a run's
scores read 8). Which those are is found in the SQL each engine is given, by sqlglot's
scopes: every column a ``SELECT`` names through a table's alias, or without an alias
where that table is the only source. A ``*`` over a table, or a column that could come
from more than one source, counts as reading every column it could be: a column missed
here would make the engine fail loudly (no such column), never answer otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope


def columns_read(
    sql: str, dialect: Any, tables: Mapping[str, Sequence[str]]
) -> dict[str, set[str]]:
    """Of each of ``tables`` (name: its columns) that ``sql`` reads, the columns it reads;
    a table it reads without naming a column (``count(*)``) reads its first."""
    found: dict[str, set[str]] = {}
    for scope in traverse_scope(sqlglot.parse_one(sql, read=dialect)):
        here = {
            alias: source.name
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and source.name in tables
        }
        for name in here.values():
            found.setdefault(name, set())
        if not here:
            continue
        for column in scope.columns:
            if column.table:
                if column.table in here:
                    found[here[column.table]].add(column.name)
                continue
            for name in here.values():  # no alias: whichever source has such a column
                if column.name in tables[name]:
                    found[name].add(column.name)
        select = scope.expression
        if isinstance(select, exp.Select):
            for projection in select.expressions:
                if isinstance(projection, exp.Star):
                    for name in here.values():
                        found[name].update(tables[name])
                elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                    name = here.get(projection.table, "")
                    for other in [name] if name else here.values():
                        found[other].update(tables[other])
    for name, columns in found.items():
        if not columns:
            columns.add(tables[name][0])
    return found


def narrowed(sql: str, dialect: Any, tables: Mapping[str, Sequence[str]]) -> str:
    """``sql`` with each of its subqueries and common table expressions selecting only
    the columns the query reads of it (sqlglot's ``qualify``, which spells out each ``*``
    over ``tables``, then ``pushdown_projections``).

    An engine that keeps a shared part of a query (PostgreSQL materialises a common table
    expression read twice) keeps every column it selects; Ibis selects all a table has.
    """
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify

    # The names are what matters here; qualify reads no type.
    schema = {table: dict.fromkeys(columns, "INT") for table, columns in tables.items()}
    tree = qualify(
        sqlglot.parse_one(sql, read=dialect),
        schema=schema,
        dialect=dialect,
        validate_qualify_columns=False,
    )
    return str(pushdown_projections(tree).sql(dialect))

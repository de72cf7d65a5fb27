"""The simulation's report: one self-contained HTML file (``report.html`` beside the
series) with a chart per figure over the weeks (SVG, drawn by Altair and vl-convert as the
web pages' charts are) and, under each, the same numbers in a table."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

REPORT = "report.html"

SECTIONS = (
    ("grade", "citizen", "Citizens by grade", "citizens"),
    ("grade", "organisation", "Organisations by grade", "organisations"),
    ("list", "", "List sizes", "members"),
    ("refused", None, "Refusals per service", "refused"),
    ("contagion", "", "Contagion", "subjects"),
)
"""Each section: the series, the kind of subject it is about (None: any), its title and
what its values count."""


COMPARED = (
    ("list", "", "List sizes, with and without responses", "members"),
    ("grade", "citizen", "Citizens by grade, with and without responses", "citizens"),
    ("records", "", "Records, with and without responses", "records"),
)
"""The sections that set a nation lived with responses beside the same nation without."""


def write_report(
    rows: list[dict[str, Any]],
    path: Path,
    title: str,
    primary: str = "on",
    groups: list[dict[str, Any]] | None = None,
    graph: dict[str, Any] | None = None,
) -> Path:
    """Write the report of the series ``rows`` (``series.SERIES_SCHEMA``) to ``path``: the
    ``primary`` run's rows (responses ``on`` or ``off``), then, if the other is there,
    both side by side; then whom the last run lands on (``groups``,
    ``series.BREAKDOWN_SCHEMA``) and the contact graph's figures (``graph``)."""
    other = [r for r in rows if r.get("responses", primary) != primary]
    compared = [
        {**r, "key": f"{r['key']} (responses {r['responses']})"}
        for r in rows
        if other and not (r["series"] == "grade" and r["key"] not in ("C", "D"))
    ]
    rows = [r for r in rows if r.get("responses", primary) == primary]

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse;font-size:.85rem}"
        "td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:right}"
        "th:first-child,td:first-child{text-align:left}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for series, kind, heading, counted in SECTIONS:
        mine = [
            {"week": str(r["week_end"]), "key": r["key"], counted: r["value"]}
            for r in rows
            if r["series"] == series and (kind is None or r["kind"] == kind)
        ]
        if mine:
            parts += _section(mine, heading, counted)
    for series, kind, heading, counted in COMPARED if other else ():
        mine = [
            {"week": str(r["week_end"]), "key": r["key"], counted: r["value"]}
            for r in compared
            if r["series"] == series and r["kind"] == kind
        ]
        if mine:  # a rulebook without a C or D grade, or without lists, has none
            parts += _section(mine, heading, counted)
    mine = [g for g in groups or [] if g.get("responses", primary) == primary]
    for by, heading in GROUPS:
        shown = [g for g in mine if g["by"] == by]
        if shown:
            parts += [f"<h2>{html.escape(heading)}</h2>", _groups(shown)]
    if graph:
        parts += [
            "<h2>The contact graph (every contact record in the ledger)</h2>",
            "<table><tbody>"
            + "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in graph.items())
            + "</tbody></table>",
        ]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


GROUPS = (
    ("age", "Whom the last run lands on, by age"),
    ("occupation", "… by occupation"),
    ("income", "… by income (fifths of the adults)"),
)
"""The breakdown's tables: by what, and the heading."""


def _groups(rows: list[dict[str, Any]]) -> str:
    """A breakdown's rows as a table: the group, its citizens, and its percentages."""
    head = (
        "<tr><th>group</th><th>citizens</th><th>graded low (%)</th><th>listed (%)</th>"
        "<th>lowered by a contact (%)</th></tr>"
    )
    body = "".join(
        f"<tr><td>{html.escape(str(r['group']).replace('_', ' '))}</td><td>{r['citizens']:,}</td>"
        f"<td>{r['low']:.2f}</td><td>{r['listed']:.2f}</td><td>{r['lowered']:.2f}</td></tr>"
        for r in rows
    )
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _section(rows: list[dict[str, Any]], heading: str, counted: str) -> list[str]:
    """A section: its heading, its chart, and the same numbers in a table."""
    from socialrating.web.charts import lines

    chart = lines(rows, "week", counted, "key", heading)
    return [
        f"<h2>{html.escape(heading)}</h2>",
        f'<figure role="img" aria-label="{html.escape(heading)}">{chart}</figure>',
        _table(rows, counted),
    ]


def _table(rows: list[dict[str, Any]], counted: str) -> str:
    """The rows as a table: a row per week's end, a column per key."""
    keys = list(dict.fromkeys(str(r["key"]) for r in rows))
    weeks = list(dict.fromkeys(str(r["week"]) for r in rows))
    value = {(str(r["week"]), str(r["key"])): r[counted] for r in rows}
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{w}</td>" + "".join(f"<td>{value.get((w, k), 0):,}</td>" for k in keys) + "</tr>"
        for w in weeks
    )
    return f"<table><thead><tr><th>week's end</th>{head}</tr></thead><tbody>{body}</tbody></table>"

"""Self-contained HTML reports of a rulebook preview and a rulebook audit (`--html FILE`):
one file, no script, no link outside it, charts drawn in SVG; every text escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.flag { background: #fdd; } .rights { font-weight: bold; color: #a00; }
.note { color: #555; } svg text { font: 12px system-ui, sans-serif; }
"""


def page(title: str, parts: Iterable[str]) -> str:
    """A whole HTML page of ``parts`` (each already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], flags: Iterable[bool] = ()) -> str:
    flagged = list(flags)
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        ('<tr class="flag">' if i < len(flagged) and flagged[i] else "<tr>")
        + "".join(f"<td>{escape(_cell(v))}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bars(items: Sequence[tuple[str, float]], unit: str = "") -> str:
    """A horizontal bar chart of ``items`` (label, value), in SVG."""
    if not items:
        return ""
    top = max(abs(v) for _, v in items) or 1
    height = 22 * len(items) + 6
    rows = []
    for i, (label, value) in enumerate(items):
        y = 22 * i + 4
        width = 420 * abs(value) / top
        rows.append(
            f'<text x="0" y="{y + 14}">{escape(label)}</text>'
            f'<rect x="230" y="{y}" width="{width:.1f}" height="16" fill="#4a7ab5"></rect>'
            f'<text x="{236 + width:.1f}" y="{y + 13}">{escape(_cell(value))}{escape(unit)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="760" height="{height}">'
        + "".join(rows)
        + "</svg>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return str(value)


def preview_html(doc: dict[str, Any]) -> str:
    """The report of `rulebook preview --json`'s document."""
    a, b = doc["candidate"], doc["in_force"]
    parts = [
        f"<p>{escape(a['name'])} {escape(a['version'])} ({escape(a['hash'][:12])}) against "
        f"{escape(b['name'])} {escape(b['version'])} ({escape(b['hash'][:12])}, in force), "
        f"as of {escape(doc['as_of'])}: {doc['subjects']:,} subjects, "
        f"<strong>{doc['grade_changed']:,}</strong> of them change grade. Nothing was stored.</p>",
        "<h2>Grades: from → to</h2>",
    ]
    for kind in sorted({g["kind"] for g in doc["grades"]}):
        cells = [g for g in doc["grades"] if g["kind"] == kind]
        froms = sorted({g["from"] for g in cells})
        tos = sorted({g["to"] for g in cells})
        counts = {(g["from"], g["to"]): g["subjects"] for g in cells}
        parts.append(f"<p>{escape(kind)}</p>")
        parts.append(
            table(
                ["from \\ to", *tos],
                ([x, *(counts.get((x, y), 0) for y in tos)] for x in froms),
            )
        )
    moved = [(f"{g['kind']} {g['from']} → {g['to']}", g["subjects"])
             for g in doc["grades"] if g["from"] != g["to"]]  # fmt: skip
    parts.append(bars(moved))
    parts.append("<h2>Lists</h2>")
    parts.append(
        table(
            ["list", "entered", "left"],
            ([k, v["entered"], v["left"]] for k, v in doc["lists"].items()),
        )
    )
    parts.append("<h2>Decisions that flip</h2>")
    flips = [(f"{s}: {f['from']} → {f['to']}", f["subjects"])
             for s, fs in doc["decisions"].items() for f in fs]  # fmt: skip
    parts.append(bars(flips) or '<p class="note">No decision flips.</p>')
    parts.append("<h2>The parameters it changes</h2>")
    parts.append(
        table(
            ["parameter", "subjects with records", "of them change grade"],
            (
                [p["parameter"], p["subjects_with_records"], p["grade_changed"]]
                for p in doc["parameters"]
            ),
        )
    )
    for by, rows in doc["by"].items():
        parts.append(f"<h2>By {escape(by.replace('_', ' '))}</h2>")
        parts.append(
            table(
                [
                    by,
                    "subjects",
                    "grade changed",
                    "fell",
                    "rose",
                    "newly refused",
                    "no longer refused",
                ],
                (
                    [
                        r[by],
                        r["subjects"],
                        r["grade_changed"],
                        r["score_fell"],
                        r["score_rose"],
                        r["newly_refused"],
                        r["no_longer_refused"],
                    ]
                    for r in rows
                ),
            )
        )
    return page("Rulebook preview", parts)


def audit_html(doc: dict[str, Any]) -> str:
    """The report of `rulebook audit --json`'s document."""
    rb = doc["rulebook"]
    ledger = doc.get("ledger")
    reached = {a["area"]: a for a in (ledger or {}).get("areas", [])}
    parts = [
        f"<p>{escape(rb['name'])} {escape(rb['version'])} ({escape(rb['hash'][:12])})"
        + (
            f"; whom it reaches from run {ledger['run_id']} as of {escape(ledger['as_of'])}"
            if ledger
            else "; no scoring run of it: nothing on whom it reaches"
        )
        + "</p>",
        "<h2>What it scores, by area of life</h2>",
        table(
            ["area", "rights", "parameters", "deductions", "largest", "subjects", "points"],
            (
                [
                    a["area"],
                    "RIGHTS" if a["rights"] else "",
                    a["parameters"],
                    a["deductions"],
                    a["largest_deduction"],
                    reached.get(a["area"], {}).get("subjects"),
                    reached.get(a["area"], {}).get("points"),
                ]
                for a in doc["areas"]
            ),
            (a["rights"] for a in doc["areas"]),
        ),
    ]
    if reached:
        parts.append(bars([(a, r["subjects"]) for a, r in reached.items()], " subjects"))
    assoc = doc["association"]
    parts.append("<h2>Guilt by association</h2><ul>")
    if assoc["contagion"]:
        c = assoc["contagion"]
        parts.append(
            f"<li>contagion: {c['points']} points for each contact graded "
            f"{escape(', '.join(c['from_grades']))}, at most {c['max_deduction']}, "
            f"{c['rounds']} round(s)</li>"
        )
    parts += [
        f"<li>{escape(j['list'])} follows {escape(j['follows'])} through the "
        f"{escape(j['through'])}</li>"
        for j in assoc["joint_lists"]
    ]
    parts.append("</ul>")
    if ledger:
        a = ledger["association"]
        parts.append(f"<p>Lowered by contagion: {a['lowered_by_contagion']:,} subjects.</p>")
        parts.append(
            table(
                ["list", "for what they did", "jointly", "reach"],
                ([x["list"], x["own"], x["jointly"], x["reach"]] for x in a["lists"]),
            )
        )
    gaps = doc["due_process"]
    parts.append("<h2>Due process</h2><ul>")
    said = [
        *(f"{x} has no way off (no exit record, no term)" for x in gaps["lists_without_exit"]),
        *(f"{x} has no term" for x in gaps["lists_without_term"]),
        *(f"{x['list']} is entered {x['entered']}: no record of the subject's own to appeal"
          for x in gaps["lists_without_own_record"]),
        *(f"{x} is triggered by citizen reports without verification"
          for x in gaps["unverified_citizen_parameters"]),
        *(f"camera parameter {x['parameter']} counts matches from {x['min_confidence']}"
          for x in gaps["low_confidence_camera_parameters"]),
        *(f"{x} is retroactive: it values again records from before this version"
          for x in gaps["retroactive_parameters"]),
    ]  # fmt: skip
    parts += [f"<li>{escape(s)}</li>" for s in said] or ["<li>no gap found</li>"]
    parts.append("</ul>")
    prop = doc["proportionality"]
    parts.append(
        f"<h2>Proportionality</h2><p>Median deduction: {prop['median_deduction']:g} points.</p>"
    )
    parts.append(
        bars([(p["parameter"], -p["points"]) for p in prop["largest_deductions"]], " points")
    )
    parts.append(
        table(["list", "term (days)"], ([t["list"], t["days"]] for t in prop["list_terms"]))
    )
    if ledger:
        parts.append("<h2>Disparate impact (four-fifths rule)</h2>")
        for d in ledger["disparate_impact"]:
            by = d["by"]
            parts.append(f"<p>{escape(d['service'])}, by {escape(by.replace('_', ' '))}</p>")
            parts.append(
                table(
                    [by, "subjects", "refused", "refusal rate", "ratio", "flagged"],
                    (
                        [
                            g[by],
                            g["subjects"],
                            g["refused"],
                            g["refusal_rate"],
                            g["ratio"],
                            g["flagged"],
                        ]
                        for g in d["groups"]
                    ),
                    (g["flagged"] for g in d["groups"]),
                )
            )
    return page("Rulebook audit", parts)

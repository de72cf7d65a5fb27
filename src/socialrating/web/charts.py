"""Charts for the pages: Vega-Lite specifications built with Altair, rendered to SVG on
the server by vl-convert, so a page needs no script to show one. Every chart has a text
or table alternative on its page."""

from __future__ import annotations

from typing import Any


def score_history_svg(doc: dict[str, Any]) -> str:
    """The score at each month's end (a line), and the records that moved it (points:
    red for deductions, green for additions), as one SVG."""
    import altair as alt

    line = (
        alt.Chart(alt.Data(values=doc["points"]))  # type: ignore[no-untyped-call]
        .mark_line(point=True, interpolate="step-after", color="#0b5cad")
        .encode(
            x=alt.X("date:T", title="date", axis=alt.Axis(format="%b %Y", labelAngle=-40)),
            y=alt.Y("score:Q", title="score", scale=alt.Scale(zero=False)),
            tooltip=["date:T", "score:Q", "grade:N"],
        )
    )
    layers: list[Any] = [line]
    if doc["moves"]:
        moves = (
            alt.Chart(alt.Data(values=doc["moves"]))  # type: ignore[no-untyped-call]
            .mark_rule(strokeWidth=2)
            .encode(
                x="date:T",
                color=alt.condition("datum.points < 0", alt.value("#a4161a"), alt.value("#1e6b31")),
                tooltip=["date:T", "parameter:N", "points:Q"],
            )
        )
        layers.insert(0, moves)
    chart = alt.layer(*layers).properties(
        width=640, height=220, title=f"{doc['subject']}: score over time"
    )
    return _svg(chart)


def _svg(chart: Any) -> str:
    """The chart as SVG, hidden from the accessibility tree with its marks, axes and
    legends: the page wraps it in an element with ``role="img"`` and a label, and gives
    its values in a table (a screen reader reads those, not hundreds of shapes)."""
    import re

    import vl_convert as vlc

    svg: str = vlc.vegalite_to_svg(chart.to_json())
    svg = re.sub(r'\s(?:role|aria-[a-z]+)="[^"]*"', "", svg)
    return svg.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


DECISION_COLORS = {"allowed": "#1e6b31", "terms": "#c77c02", "refused": "#a4161a"}


def stacked_bars(
    rows: list[dict[str, Any]],
    x: str,
    y: str,
    color: str,
    title: str,
    colors: dict[str, str] | None = None,
) -> str:
    """Bars of ``y`` per ``x`` (in the rows' order), stacked by ``color`` in the rows' order
    of its values too, in the legend as in the bars (grades best first, as a rulebook
    lists them, not A, AA, AAA by the alphabet); ``colors`` fixes the colour of some values
    (a decision is always the same colour), and their order. As SVG."""
    import altair as alt

    order = list(dict.fromkeys(str(r[x]) for r in rows))
    stacked = list(colors) if colors else list(dict.fromkeys(str(r[color]) for r in rows))
    scale = alt.Scale(domain=stacked, range=list(colors.values()) if colors else alt.Undefined)
    chart = (
        alt.Chart(alt.Data(values=rows))  # type: ignore[no-untyped-call]
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", sort=order, title=x, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y(f"{y}:Q", title=y, stack="zero"),
            color=alt.Color(f"{color}:N", title=color, scale=scale, sort=stacked),
            # The first value on top of each bar, the last at the bottom: as the legend reads.
            order=alt.Order("rank:Q", sort="descending"),
            tooltip=[f"{x}:N", f"{color}:N", f"{y}:Q"],
        )
        .transform_calculate(rank=f"indexof({stacked!r}, datum[{color!r}])")
        .properties(width=520, height=220, title=title)
    )
    return _svg(chart)


def lines(rows: list[dict[str, Any]], x: str, y: str, color: str, title: str) -> str:
    """A line of ``y`` over ``x`` (dates) per ``color``, as SVG."""
    import altair as alt

    chart = (
        alt.Chart(alt.Data(values=rows))  # type: ignore[no-untyped-call]
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:T", title=x, axis=alt.Axis(format="%Y-%m-%d", labelAngle=-40)),
            y=alt.Y(f"{y}:Q", title=y),
            color=alt.Color(f"{color}:N", title=color),
            tooltip=[f"{x}:T", f"{color}:N", f"{y}:Q"],
        )
        .properties(width=520, height=220, title=title)
    )
    return _svg(chart)

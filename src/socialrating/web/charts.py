"""Charts for the pages: Vega-Lite specifications built with Altair, rendered to SVG on
the server by vl-convert, so a page needs no script to show one. Every chart has a text
or table alternative on its page."""

from __future__ import annotations

from typing import Any


def score_history_svg(doc: dict[str, Any]) -> str:
    """The score at each month's end (a line), and the records that moved it (points:
    red for deductions, green for additions), as one SVG."""
    import altair as alt
    import vl_convert as vlc

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
    svg: str = vlc.vegalite_to_svg(chart.to_json())
    return svg

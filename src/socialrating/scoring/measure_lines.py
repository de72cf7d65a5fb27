"""A statement's measures: each measure's value, how it was reached and where it ranks.

The plan (``measures``) gives one row per measure for the subject and one per act in a
measure's window; here they become the lines a carrier reads: the value, the weighted
acts that make it, the exposure it is divided by, the peer group and percentile, the
threshold and whether it alerts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from socialrating.model import day_date
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Measure


@dataclass(frozen=True)
class MeasureAct:
    """One act (an inspection, a crash) in a measure's window and what it adds."""

    act: str | None
    date: dt.date
    records: int
    weight: float
    capped: float
    time_weight: float
    adds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "act": self.act,
            "date": self.date.isoformat(),
            "records": self.records,
            "weight": self.weight,
            "capped": self.capped,
            "time_weight": self.time_weight,
            "adds": self.adds,
        }


@dataclass(frozen=True)
class MeasureLine:
    """A measure of the subject on the statement's day (docs/rulebook.md 3.26)."""

    code: str
    name: str
    value: float | None
    severity: float
    exposure: float | None
    per: str
    counted: str
    """What the peer groups count (the parameters' codes)."""
    peer_count: int
    peer_group: int | None
    peers: int | None
    percentile: float | None
    threshold: float
    alert: bool
    acts: tuple[MeasureAct, ...] = ()

    @property
    def text(self) -> str:
        """The measure in words, as the statement prints it."""
        if self.value is None:
            return f"{self.name or self.code}: no measure (no exposure: {self.per})"
        said = (
            f"{self.name or self.code}: {self.value:.2f} "
            f"({self.severity:g} weighted severity / {self.exposure:g} {self.per})"
        )
        if self.peer_group is None:
            return (
                f"{said}; too few records of {self.counted} ({self.peer_count}) for a peer "
                "group: no percentile"
            )
        if self.percentile is None:
            return f"{said}; a measure of 0 has no percentile"
        verdict = "alert" if self.alert else "no alert"
        return (
            f"{said}; percentile {self.percentile:.1f} among the {self.peers} peers with "
            f"{self.peer_group} or more records of {self.counted}; threshold "
            f"{self.threshold:g}: {verdict}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "value": self.value,
            "severity": self.severity,
            "exposure": self.exposure,
            "per": self.per,
            "counted": self.counted,
            "peer_count": self.peer_count,
            "peer_group": self.peer_group,
            "peers": self.peers,
            "percentile": self.percentile,
            "threshold": self.threshold,
            "alert": self.alert,
            "acts": [a.as_dict() for a in self.acts],
            "text": self.text,
        }


def _per(m: Measure) -> str:
    if m.per.records is not None:
        return f"time-weighted {', '.join(m.per.records)}"
    return f"latest {m.per.quantity}"


def measure_lines(
    rb: RulebookHeader, rows: list[dict[str, Any]], acts: list[dict[str, Any]]
) -> list[MeasureLine]:
    """The statement's measure lines from the plans' rows (``subject_measures`` and
    ``subject_measure_acts``), in the rulebook's order."""
    by_code = {str(r["measure"]): r for r in rows}
    lines = []
    for m in rb.spec.measures:
        r = by_code.get(m.code)
        if r is None:
            continue
        mine = tuple(
            MeasureAct(
                a["act"],
                day_date(int(a["first_day"])),
                int(a["records"]),
                float(a["weight"]),
                float(a["capped"]),
                float(a["time_weight"]),
                float(a["adds"]),
            )
            for a in acts
            if a["measure"] == m.code
        )
        lines.append(
            MeasureLine(
                m.code,
                m.name,
                None if r["value"] is None else float(r["value"]),
                float(r["severity"]),
                None if r["exposure"] is None else float(r["exposure"]),
                _per(m),
                ", ".join(m.peers.count),
                int(r["peer_count"]),
                None if r["peer_group"] is None else int(r["peer_group"]),
                None if r["peers"] is None else int(r["peers"]),
                None if r["percentile"] is None else float(r["percentile"]),
                float(r["threshold"]),
                bool(r["alert"]),
                mine,
            )
        )
    return lines

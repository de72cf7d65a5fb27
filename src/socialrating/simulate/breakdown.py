"""Whom the system lands on, at the end of a simulation: the nation's citizens by age band,
occupation and income fifth, with the share of each graded low, listed, or lowered by a
contact's grade; and the shape of the contact graph the records drew (degrees and
clustering), measured from the ledger's contact records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from socialrating.ledger.store import Store
from socialrating.model import EntryKind
from socialrating.rulebook import Rulebook
from socialrating.simulate.living import run_flags
from socialrating.simulate.nation import OCCUPATIONS, Nation

AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "under 16"),
    (16, "16 to 29"),
    (30, "30 to 44"),
    (45, "45 to 59"),
    (60, "60 to 69"),
    (70, "70 and over"),
)
"""Each band's first age and its name."""


def breakdown(
    store: Store, run_id: int, nation: Nation, rb: Rulebook, places: np.ndarray
) -> list[dict[str, Any]]:
    """Per group of citizens (``by`` age, occupation or income), how many there are and
    the shares graded low (the two lowest grades), listed, and lowered by contagion as the
    run left them. ``places`` are the nation's places of subject ids (``positions``)."""
    n = nation.citizens
    left = run_flags(store, run_id, nation, rb, 0, places)
    flags = {name: left[name][:n] for name in ("low", "listed", "lowered")}
    starts = np.array([a for a, _ in AGE_BANDS])
    fifths = _fifths(nation.income, nation.age >= 18)
    groupings = (
        ("age", np.searchsorted(starts, nation.age, side="right") - 1, [b for _, b in AGE_BANDS]),
        ("occupation", nation.occupation, list(OCCUPATIONS)),
        ("income", fifths, ["lowest fifth", "second", "third", "fourth", "highest"]),
    )
    rows = []
    for by, group, names in groupings:
        for g, name in enumerate(names):
            member = group == g
            count = int(member.sum())
            if count == 0:
                continue
            rows.append(
                {
                    "by": by,
                    "group": name,
                    "citizens": count,
                    **{k: round(100 * float(v[member].mean()), 3) for k, v in flags.items()},
                }
            )
    return rows


def _fifths(income: np.ndarray, adult: np.ndarray) -> np.ndarray:
    """Per citizen, its income's fifth among the adults (0 lowest; -1 for minors)."""
    if not adult.any():
        return np.full(len(income), -1)
    cuts = np.quantile(income[adult], [0.2, 0.4, 0.6, 0.8])
    fifth: np.ndarray = np.where(adult, np.searchsorted(cuts, income, side="right"), -1)
    return fifth


def contact_graph(store: Store, rb: Rulebook, citizens: int, sample: int = 2000) -> dict[str, Any]:
    """The contact graph of the ledger's contact records (the rulebook's contagion
    parameter), as undirected pairs of citizens: its degrees (median, 99th percentile,
    largest, the share of contacts the best-connected hundredth holds) and its average
    clustering over ``sample`` citizens in touch with anyone (drawn by a hash of their
    subject ids, the same every time), beside
    the share of all pairs that are in touch (what clustering would be if contacts were
    drawn at random)."""
    contagion = rb.spec.contagion
    if contagion is None or citizens < 3:
        return {}
    con = store.con.cursor()
    try:
        con.execute(
            """CREATE TEMP TABLE pairs AS
               SELECT DISTINCT least(e.subject_id, e.counterpart_id) AS a,
                      greatest(e.subject_id, e.counterpart_id) AS b
               FROM entries e JOIN parameters p USING (parameter_id)
               WHERE p.code = ? AND e.kind = ? AND e.counterpart_id IS NOT NULL
                 AND e.subject_id <> e.counterpart_id""",
            [contagion.parameter, int(EntryKind.RECORD)],
        )
        con.execute(
            """CREATE TEMP TABLE arcs AS
               SELECT a AS v, b AS w FROM pairs UNION ALL SELECT b, a FROM pairs"""
        )
        degrees = con.sql("SELECT count(*) AS k FROM arcs GROUP BY v").to_arrow_table()
        clustering = con.execute(
            """WITH chosen AS (
                   SELECT v FROM (SELECT DISTINCT v FROM arcs)
                   ORDER BY hash(v) LIMIT ?),
               near AS (SELECT a.v, a.w FROM arcs a SEMI JOIN chosen USING (v)),
               k AS (SELECT v, count(*) AS k FROM near GROUP BY v),
               closed AS (
                   SELECT x.v, count(*) AS t FROM near x JOIN near y
                       ON x.v = y.v AND x.w < y.w
                   JOIN pairs p ON p.a = least(x.w, y.w) AND p.b = greatest(x.w, y.w)
                   GROUP BY x.v)
               SELECT avg(CASE WHEN k.k > 1 THEN coalesce(c.t, 0) * 2.0 / (k.k * (k.k - 1))
                          ELSE 0 END)
               FROM k LEFT JOIN closed c USING (v)""",
            [sample],
        ).fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS temp.pairs")
        con.execute("DROP TABLE IF EXISTS temp.arcs")
        con.close()
    k = np.sort(degrees.column("k").to_numpy())[::-1]
    if len(k) == 0:
        return {}
    everyone = np.concatenate([k, np.zeros(max(citizens - len(k), 0))])
    top = max(citizens // 100, 1)
    return {
        "citizens in touch": len(k),
        "median contacts": round(float(np.median(everyone)), 1),
        "99th percentile": round(float(np.percentile(everyone, 99)), 1),
        "most contacts": int(k[0]),
        "best-connected 1 % hold (%)": round(100 * float(k[:top].sum() / k.sum()), 2),
        "clustering": round(float(clustering[0] or 0.0) if clustering else 0.0, 4),
        "clustering if at random": round(float(everyone.mean()) / max(citizens - 1, 1), 6),
    }


def as_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The breakdown's rows as a table (``simulate`` writes it as ``breakdown.parquet``)."""
    return pa.Table.from_pylist(rows)

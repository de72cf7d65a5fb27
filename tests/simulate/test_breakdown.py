"""What the simulation reports of the nation it lived: the contact graph's figures, from
the ledger's contact records of a graph worked by hand."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed, rec

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.simulate.breakdown import contact_graph


def test_the_contact_graphs_figures_are_those_of_the_graph_the_records_draw(
    tmp_path: Path,
) -> None:
    """A triangle c1-c2-c3 (c2 calls c1 back: one pair) and a star from c4 to c5, c6, c7:
    degrees 2, 2, 2, 3, 1, 1, 1; clustering 1 at each corner of the triangle, 0 elsewhere."""
    rb = load_rulebook(DATA / "contagion.yaml")
    codes = [f"c{i}" for i in range(1, 8)]
    with open_store(tmp_path / "g.duckdb", create=True) as store:
        activate_rulebook(store, rb)
        register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * 7}))
        pairs = [("c1", "c2"), ("c2", "c3"), ("c3", "c1"), ("c2", "c1")]
        pairs += [("c4", "c5"), ("c4", "c6"), ("c4", "c7")]
        feed(store, "telecom", [rec(a, "contact", "2021-01-05", counterpart=b) for a, b in pairs])
        feed(store, "court", [rec("c5", "fine", "2021-01-05")])  # not a contact
        figures = contact_graph(store, rb, citizens=7)
    assert figures["citizens in touch"] == 7
    assert figures["median contacts"] == 2
    assert figures["most contacts"] == 3
    assert figures["best-connected 1 % hold (%)"] == pytest.approx(100 * 3 / 12, abs=0.01)
    assert figures["clustering"] == pytest.approx(3 / 7, abs=1e-4)
    assert figures["clustering if at random"] == pytest.approx(12 / 7 / 6, abs=1e-6)


def test_a_rulebook_without_contagion_has_no_contact_graph(tmp_path: Path) -> None:
    rb = load_rulebook(DATA / "consequences.yaml")
    with open_store(tmp_path / "g.duckdb", create=True) as store:
        activate_rulebook(store, rb)
        assert contact_graph(store, rb, citizens=100) == {}

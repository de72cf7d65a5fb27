"""What a void takes out of scoring: lists and joint punishment, legal representatives,
contagion, direct grades. Each check compares the statement (narrowed and over the whole
ledger), an incremental run and a full run.

On tests/data/consequences.yaml: o1 (an organisation) is a debtor (-200: 800, grade D),
so it is on `debtors` and `blacklist`; c1 is its legal representative, so c1 is on
`rep_ban` (joint punishment) and pays -30 instead of -10 for a tax debt.
On tests/data/contagion.yaml: d1 commits fraud (550, D); p has contacted d1 (-30: 970).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from tests.conftest import DATA, d, feed, rec

from socialrating.appeals import file_appeal, review_appeal
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.model import Status
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

AS_OF = d("2021-06-30")


def _store(path: Path, rulebook: str, subjects: dict[str, tuple[str, str | None]]) -> Store:
    s = open_store(path, create=True)
    activate_rulebook(s, load_rulebook(DATA / rulebook))
    codes = list(subjects)
    register_subjects(
        s,
        pa.table(
            {
                "code": codes,
                "kind": [subjects[c][0] for c in codes],
                "born": [subjects[c][1] for c in codes],
            }
        ),
    )
    return s


def _void(s: Store, code: str, entry_id: int) -> None:
    found = file_appeal(s, code, entry_id, "wrong", d("2021-07-01"))
    review_appeal(s, found.appeal_id, "voided", "right", "clerk", d("2021-07-02"))


def _stored(s: Store, run_id: int) -> tuple[list[Any], list[Any]]:
    snapshot = s.rows(
        """SELECT code, score, grade, contagion FROM snapshot JOIN subjects USING (subject_id)
           WHERE run_id = ? ORDER BY code""",
        [run_id],
    )
    members = s.rows(
        """SELECT list, code, cause FROM list_members JOIN subjects USING (subject_id)
           WHERE run_id = ? ORDER BY ALL""",
        [run_id],
    )
    return snapshot, members


def _runs_agree(s: Store) -> tuple[list[Any], list[Any]]:
    """An incremental run stores what a full run stores; that, returned."""
    incremental = score_run(s, AS_OF)
    assert incremental.incremental, "an earlier run of the rulebook comes first"
    full = score_run(s, AS_OF, full=True)
    assert _stored(s, incremental.run_id) == _stored(s, full.run_id)
    return _stored(s, full.run_id)


def _statements(s: Store, code: str) -> Any:
    st = statement(s, code, AS_OF)
    assert st.as_dict() == statement(s, code, AS_OF, narrow=False).as_dict()
    return st


def test_a_voided_debt_takes_the_lists_and_joint_punishment_with_it(tmp_path: Path) -> None:
    s = _store(
        tmp_path / "lists.duckdb",
        "consequences.yaml",
        {"c1": ("citizen", "1980-01-01"), "o1": ("organisation", None)},
    )
    try:
        feed(s, "registry", [rec("o1", "rep", "2021-01-10", counterpart="c1")])
        debt = feed(s, "court", [rec("o1", "debtor", "2021-02-01")]).batch
        feed(s, "court", [rec("c1", "tax_debt", "2021-03-01")])
        assert debt is not None
        snapshot, members = _stored(s, score_run(s, AS_OF).run_id)
        assert snapshot == [("c1", 970, "A", 0), ("o1", 800, "D", 0)]
        assert members == [
            ("blacklist", "o1", "grade"),
            ("debtors", "o1", "record"),
            ("rep_ban", "c1", "joint"),
        ]
        assert [d.decision for d in _statements(s, "o1").decisions if d.service == "bidding"] == [
            "refused"
        ]

        _void(s, "o1", debt.first_entry)
        snapshot, members = _runs_agree(s)
        assert snapshot == [("c1", 970, "A", 0), ("o1", 1000, "A", 0)]
        assert members == []
        st = _statements(s, "o1")
        assert st.lists == []
        assert [d.decision for d in st.decisions if d.service == "bidding"] == ["allowed"]
        assert _statements(s, "c1").lists == []
    finally:
        s.close()


def test_a_voided_register_record_names_no_representative(tmp_path: Path) -> None:
    s = _store(
        tmp_path / "reps.duckdb",
        "consequences.yaml",
        {
            "c1": ("citizen", "1980-01-01"),
            "c2": ("citizen", "1980-01-01"),
            "o1": ("organisation", None),
        },
    )
    try:
        feed(s, "registry", [rec("o1", "rep", "2021-01-10", counterpart="c1")])
        later = feed(s, "registry", [rec("o1", "rep", "2021-02-10", counterpart="c2")]).batch
        feed(s, "court", [rec("c1", "tax_debt", "2021-03-01"), rec("c2", "tax_debt", "2021-03-01")])
        assert later is not None
        score_run(s, AS_OF)
        assert _statements(s, "c2").score == 970  # the representative's -30
        assert _statements(s, "c1").score == 990
        # Voided, the later register record names nobody: the earlier one stands again.
        _void(s, "o1", later.first_entry)
        snapshot, _ = _runs_agree(s)
        assert [(code, score) for code, score, *_ in snapshot] == [
            ("c1", 970),
            ("c2", 990),
            ("o1", 1000),
        ]
        assert _statements(s, "c1").score == 970
    finally:
        s.close()


def test_a_voided_contact_joins_nobody(tmp_path: Path) -> None:
    s = _store(
        tmp_path / "contagion.duckdb",
        "contagion.yaml",
        {"d1": ("citizen", None), "p": ("citizen", None), "q": ("citizen", None)},
    )
    try:
        feed(s, "court", [rec("d1", "fraud", "2021-02-01")])
        contact = feed(s, "telecom", [rec("p", "contact", "2021-06-20", counterpart="d1")]).batch
        feed(s, "telecom", [rec("d1", "contact", "2021-06-21", counterpart="q")])
        assert contact is not None
        score_run(s, AS_OF)
        st = _statements(s, "p")
        assert (st.score, st.contagion, [c.subject for c in st.contacts]) == (970, -30, ["d1"])

        _void(s, "p", contact.first_entry)
        snapshot, _ = _runs_agree(s)
        assert snapshot == [("d1", 550, "D", 0), ("p", 1000, "A", 0), ("q", 970, "A", -30)]
        st = _statements(s, "p")
        assert (st.score, st.contagion, st.contacts) == (1000, 0, [])
        line = next(line for line in st.lines if line.entry_id == contact.first_entry)
        assert line.status is Status.VOIDED
    finally:
        s.close()


def test_a_voided_direct_grade_no_longer_stands(tmp_path: Path) -> None:
    s = _store(tmp_path / "direct.duckdb", "contagion.yaml", {"g": ("citizen", None)})
    try:
        grade = feed(s, "court", [rec("g", "probation", "2021-04-01")]).batch
        assert grade is not None
        score_run(s, AS_OF)
        assert (_statements(s, "g").grade, _statements(s, "g").score) == ("B", 850)
        _void(s, "g", grade.first_entry)
        snapshot, _ = _runs_agree(s)
        assert snapshot == [("g", 1000, "A", 0)]
        st = _statements(s, "g")
        assert (st.grade, st.score, st.direct) == ("A", 1000, None)
    finally:
        s.close()

"""Versions of a rulebook in time: each record keeps the value of the version in force on
the day of its fact, a run takes the grades, lists and services of the version in force
on its date, a retroactive parameter is valued anew (and flagged), and a version dated in
the past needs a reason, which the ledger keeps.

The tiny rulebook (tests/data/tiny.yaml) takes effect on 2021-01-01; its amendments here
take effect on 2022-01-01.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.conftest import TINY, d, feed, rec

from socialrating.decisions.lookup import decide_one
from socialrating.errors import LedgerError, RulebookError, UnknownService
from socialrating.ledger import Store, activate_rulebook
from socialrating.ledger.rulebooks import in_force, list_rulebooks, timeline
from socialrating.ledger.verify import verify_ledger
from socialrating.model import Status, day_number
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.rulebook.audit import audit_rulebook
from socialrating.scoring import score_run, statement

TEXT = TINY.read_text()
REASON = "amendment 2022/1, decided in 2021, installed late"


def amended(tmp_path: Path, *changes: tuple[str, str], name: str = "v2.yaml") -> Rulebook:
    """The tiny rulebook as version 2, from 2022-01-01, with ``changes`` (old, new)."""
    text = TEXT.replace('version: "1"', 'version: "2"').replace(
        "effective: 2021-01-01", "effective: 2022-01-01"
    )
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return load_rulebook(path)


LOAN_80 = (
    "code: loan_default, category: finance, points: -50",
    "code: loan_default, category: finance, points: -80",
)


def score_of(store: Store, run_id: int, code: str) -> tuple[int, str]:
    row = store.one(
        "SELECT n.score, n.grade FROM snapshot n JOIN subjects s USING (subject_id) "
        "WHERE n.run_id = ? AND s.code = ?",
        [run_id, code],
    )
    assert row is not None
    return int(row[0]), str(row[1])


def test_a_record_keeps_its_value_after_an_amendment(store: Store, tmp_path: Path) -> None:
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    v2 = amended(tmp_path, LOAN_80)
    assert activate_rulebook(store, v2, backdate=REASON)
    feed(store, "bank", [rec("C2", "loan_default", "2022-03-01")])
    run = score_run(store, d("2022-06-01"))
    assert run.rulebook_hash == v2.hash
    assert score_of(store, run.run_id, "C1") == (950, "B")  # -50: the rule of 2021
    assert score_of(store, run.run_id, "C2") == (920, "B")  # -80: the rule of 2022
    for code, points, version in (("C1", -50, "1"), ("C2", -80, "2")):
        for narrow in (True, False):
            st = statement(store, code, d("2022-06-01"), narrow=narrow)
            (line,) = st.lines
            assert (line.points, line.counted, line.status) == (points, points, Status.COUNTED)
            assert line.rules.startswith(f"tiny {version} (")
            assert st.rules.startswith("tiny 2 (") and st.total == st.score
            assert line.as_dict()["rules"] == line.rules


def test_a_retroactive_parameter_values_old_records_anew_and_is_flagged(
    store: Store, tmp_path: Path
) -> None:
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    feed(store, "police", [rec("C1", "red_light", "2021-03-02")])
    v2 = amended(
        tmp_path,
        LOAN_80,
        (
            "code: red_light, category: traffic, points: -10",
            "code: red_light, category: traffic, points: -15",
        ),
        ("parameters:\n", "retroactive: [loan_default]\nparameters:\n"),
    )
    activate_rulebook(store, v2, backdate=REASON)
    run = score_run(store, d("2022-01-15"))
    # loan_default is re-valued (-80); red_light keeps its 2021 value (-10).
    assert score_of(store, run.run_id, "C1") == (910, "B")
    st = statement(store, "C1", d("2022-01-15"))
    by_parameter = {line.parameter: line for line in st.lines}
    assert by_parameter["loan_default"].points == -80
    assert by_parameter["loan_default"].rules.startswith("tiny 2 (")
    assert by_parameter["red_light"].points == -10
    assert by_parameter["red_light"].rules.startswith("tiny 1 (")
    assert audit_rulebook(v2)["due_process"]["retroactive_parameters"] == ["loan_default"]
    assert audit_rulebook(load_rulebook(TINY))["due_process"]["retroactive_parameters"] == []


def test_a_run_between_versions_uses_the_one_in_force(store: Store, tmp_path: Path) -> None:
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    v2 = amended(
        tmp_path,
        ("{grade: A, min: 960}", "{grade: A, min: 940}"),
        (
            "parameters:\n",
            "services:\n  - code: loan\n    rules:\n"
            "      - {when: {grades: [A]}, decision: allowed}\n    otherwise: refused\n"
            "parameters:\n",
        ),
    )
    activate_rulebook(store, v2, backdate=REASON)
    first = score_run(store, d("2021-06-01"))
    assert first.rulebook_hash == load_rulebook(TINY).hash
    assert score_of(store, first.run_id, "C1") == (950, "B")  # A from 960 under version 1
    with pytest.raises(UnknownService):
        decide_one(store, "C1", "loan", first.run_id)  # version 1 has no services
    second = score_run(store, d("2022-06-01"))
    assert second.rulebook_hash == v2.hash
    assert score_of(store, second.run_id, "C1") == (950, "A")  # A from 940 under version 2
    assert decide_one(store, "C1", "loan", second.run_id).decision == "allowed"
    # On the day itself the new version is in force; the day before, the old one.
    assert in_force(store, d("2022-01-01")).hash == v2.hash
    assert in_force(store, d("2021-12-31")).hash == first.rulebook_hash
    assert in_force(store, d("2020-01-01")).hash == first.rulebook_hash  # before any


def test_no_rule_at_the_time_of_the_fact_means_no_points(store: Store, tmp_path: Path) -> None:
    """A parameter new in version 2 does not count for facts before it took effect, unless
    version 2 says it is retroactive."""
    new_rule = (
        "parameters:\n",
        "parameters:\n  - {code: jaywalk, category: traffic, points: -7, institutions: [police]}\n",
    )
    v2 = amended(tmp_path, new_rule)
    activate_rulebook(store, v2, backdate=REASON)
    feed(store, "police", [rec("C1", "jaywalk", "2021-05-01"), rec("C2", "jaywalk", "2022-05-01")])
    run = score_run(store, d("2022-06-01"))
    assert score_of(store, run.run_id, "C1") == (1000, "A")
    assert score_of(store, run.run_id, "C2") == (993, "A")
    (line,) = statement(store, "C1", d("2022-06-01")).lines
    assert line.status is Status.BEFORE_EFFECT and line.counted == 0
    assert "no such rule on 2021-05-01" in line.reason
    v3 = amended(
        tmp_path,
        new_rule,
        ("parameters:\n", "retroactive: [jaywalk]\nparameters:\n"),
        ('version: "2"', 'version: "3"'),
        name="v3.yaml",
    )
    activate_rulebook(store, v3, backdate=REASON)  # replaces version 2 from the same day
    run = score_run(store, d("2022-06-01"))
    assert score_of(store, run.run_id, "C1") == (993, "A")


def test_bands_and_validity_of_the_day_of_the_fact(store: Store, tmp_path: Path) -> None:
    """A quantity-banded rule and a validity rule amended: old records keep the old bands
    and the old expiry."""
    banded = (
        "parameters:\n",
        "parameters:\n  - code: fine\n    category: finance\n"
        "    institutions: [court]\n    expires_after_days: 100\n"
        "    bands: {mode: highest, steps: [{from: 10, points: -5}, {from: 100, points: -20}]}\n",
    )
    path = tmp_path / "v1b.yaml"
    path.write_text(TEXT.replace(*banded).replace('version: "1"', 'version: "1b"'))
    v1 = load_rulebook(path)
    activate_rulebook(store, v1, backdate=REASON)  # replaces tiny 1 from 2021-01-01
    v2 = amended(
        tmp_path,
        (
            banded[0],
            banded[1]
            .replace("{from: 10, points: -5}", "{from: 10, points: -9}")
            .replace("expires_after_days: 100", "expires_after_days: 1000"),
        ),
    )
    activate_rulebook(store, v2, backdate=REASON)
    feed(
        store,
        "court",
        [
            rec("C1", "fine", "2021-12-01", quantity=50),
            rec("C2", "fine", "2022-02-01", quantity=50),
        ],
    )
    run = score_run(store, d("2022-02-15"))
    assert score_of(store, run.run_id, "C1")[0] == 995  # band 1 of version 1b: -5
    assert score_of(store, run.run_id, "C2")[0] == 991  # band 1 of version 2: -9
    later = score_run(store, d("2022-04-01"))
    assert score_of(store, later.run_id, "C1")[0] == 1000  # expired after 100 days
    assert score_of(store, later.run_id, "C2")[0] == 991
    (line,) = statement(store, "C1", d("2022-02-15")).lines
    assert (line.band, line.expires) == (1, dt.date(2022, 3, 11))


def test_incremental_runs_across_an_amendment_equal_full_runs(store: Store, tmp_path: Path) -> None:
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    feed(store, "police", [rec("C2", "red_light", "2021-12-20")])
    score_run(store, d("2021-12-31"))
    activate_rulebook(store, amended(tmp_path, LOAN_80), backdate=REASON)
    feed(store, "bank", [rec("C3", "loan_default", "2022-01-10")])
    for day in ("2022-01-20", "2022-02-01", "2022-12-25"):
        fast = score_run(store, d(day))
        full = score_run(store, d(day), full=True)
        rows = "SELECT subject_id, score, grade FROM snapshot WHERE run_id = ? ORDER BY 1"
        assert store.rows(rows, [fast.run_id]) == store.rows(rows, [full.run_id])
    assert fast.incremental  # the last one started from an earlier run of version 2
    assert score_of(store, fast.run_id, "C1") == (950, "B")
    assert score_of(store, fast.run_id, "C3") == (920, "B")


def test_a_version_dated_in_the_past_needs_a_reason(store: Store, tmp_path: Path) -> None:
    v2 = amended(tmp_path, LOAN_80)
    before = timeline(store)
    installed = store.scalar("SELECT count(*) FROM rulebooks")
    with pytest.raises(LedgerError, match=r"takes effect on 2022-01-01, before today.*--backdate"):
        activate_rulebook(store, v2)
    for bad, said in (("  ", "empty"), ("x" * 2001, "at most 2,000"), ("a\x00b", "control")):
        with pytest.raises(LedgerError, match=said):
            activate_rulebook(store, v2, backdate=bad)
    assert timeline(store) == before
    assert store.scalar("SELECT count(*) FROM rulebooks") == installed
    # In the future, no reason is needed; in the past, the reason is in the ledger.
    assert activate_rulebook(store, v2, today=dt.date(2021, 12, 1))
    assert not activate_rulebook(store, v2, backdate=REASON)  # already in force from then
    v3 = amended(tmp_path, LOAN_80, ('version: "2"', 'version: "3"'), name="v3.yaml")
    assert activate_rulebook(store, v3, backdate=REASON)
    act = store.scalar(
        "SELECT act FROM entries WHERE kind = 3 AND evidence = ? ORDER BY entry_id DESC LIMIT 1",
        [v3.hash],
    )
    assert act == REASON
    assert verify_ledger(store).ok
    found = {r["version"]: r for r in list_rulebooks(store)}
    assert found["1"]["in_force_from"] == "2021-01-01"
    assert found["1"]["in_force_until"] == "2021-12-31"
    assert found["2"]["in_force_from"] is None  # replaced by 3 from the same day
    assert (found["3"]["in_force_from"], found["3"]["in_force_until"]) == ("2022-01-01", None)
    assert found["3"]["active"] and not found["1"]["active"]
    assert [h for _, h in timeline(store)] == [load_rulebook(TINY).hash, v3.hash]


@pytest.mark.parametrize(
    ("retroactive", "said"),
    [
        ("[nothing_such]", "'nothing_such' is not a parameter of the rulebook"),
        ("[rumour, rumour]", "'rumour' is listed twice"),
        ("rumour", "retroactive"),
    ],
)
def test_a_bad_retroactive_list_is_refused_with_its_line(
    tmp_path: Path, retroactive: str, said: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TEXT.replace("parameters:\n", f"retroactive: {retroactive}\nparameters:\n"))
    with pytest.raises(RulebookError) as caught:
        load_rulebook(path)
    (problem,) = caught.value.problems
    assert said in str(problem)
    line = TEXT[: TEXT.index("parameters:\n")].count("\n") + 1
    assert problem.line == line


def test_a_run_keeps_the_versions_it_saw(store: Store, tmp_path: Path) -> None:
    """The versions a run used are those the ledger held at its last entry: a version
    installed later does not change what re-scoring that run means."""
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    run = score_run(store, d("2022-06-01"))
    activate_rulebook(store, amended(tmp_path, LOAN_80), backdate=REASON)
    last = int(store.scalar("SELECT last_entry FROM runs WHERE run_id = ?", [run.run_id]))
    assert in_force(store, day_number(d("2022-06-01")), last).hash == run.rulebook_hash
    assert in_force(store, d("2022-06-01")).hash != run.rulebook_hash
    assert json.loads(json.dumps(list_rulebooks(store)))  # plain JSON


def test_an_edited_earlier_version_is_refused(store: Store, tmp_path: Path) -> None:
    """The earlier versions value older records, so their compiled tables are checked
    against the ledger's digests too before a run."""
    from socialrating.ledger.integrity import IntegrityError

    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    activate_rulebook(store, amended(tmp_path, LOAN_80), backdate=REASON)
    store.run(
        "UPDATE rulebook_parameters SET points = -5 WHERE rulebook_hash = ? AND points = -50",
        [load_rulebook(TINY).hash],
    )
    runs = store.scalar("SELECT count(*) FROM runs")
    with pytest.raises(IntegrityError, match="edited outside socialrating"):
        score_run(store, d("2022-06-01"))
    assert store.scalar("SELECT count(*) FROM runs") == runs


def test_the_timeline_kept_between_batches_follows_every_activation(
    store: Store, tmp_path: Path
) -> None:
    """The versions are kept in the process between batches (each batch asks for them):
    an activation, one rolled back, one in a larger transaction, and one on another
    cursor are each seen at once."""
    v1 = load_rulebook(TINY).hash
    assert timeline(store) == timeline(store) == [(day_number(d("2021-01-01")), v1)]
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])  # a batch keeps it
    v2 = amended(tmp_path, LOAN_80)
    with pytest.raises(RuntimeError), store.transaction():
        activate_rulebook(store, v2, backdate=REASON)
        assert [h for _, h in timeline(store)] == [v1, v2.hash]  # in the transaction
        raise RuntimeError("rolled back")
    assert [h for _, h in timeline(store)] == [v1]
    other = store.cursor()
    try:
        assert [h for _, h in timeline(other)] == [v1]
        activate_rulebook(other, v2, backdate=REASON)
        assert [h for _, h in timeline(store)] == [v1, v2.hash]
        v3 = amended(tmp_path, LOAN_80, ('version: "2"', 'version: "3"'), name="v3.yaml")
        with store.transaction():
            activate_rulebook(store, v3, backdate=REASON)
            assert [h for _, h in timeline(other)] == [v1, v2.hash]  # not committed yet
        assert [h for _, h in timeline(other)] == [v1, v3.hash]
        assert [h for _, h in timeline(store)] == [v1, v3.hash]
    finally:
        other.close()


def test_one_database_under_two_spellings_is_one_database(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file opened again under another name (relative, through ``..``, through a link)
    is the same database to this process: an activation through one is seen through the
    other at once (each kept the versions under its own name before)."""
    from socialrating.ledger import open_store

    v1 = load_rulebook(TINY).hash
    assert [h for _, h in timeline(store)] == [v1]  # kept under the store's name
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.duckdb").symlink_to(store.path)
    monkeypatch.chdir(tmp_path)
    names = [Path(store.path).name, f"sub/../{Path(store.path).name}", "link.duckdb"]
    others = [open_store(name) for name in names]
    try:
        assert {other.path for other in others} == {store.path}
        for other in others:
            assert [h for _, h in timeline(other)] == [v1]
        v2 = amended(tmp_path, LOAN_80)
        activate_rulebook(others[2], v2, backdate=REASON)
        for seen in (store, *others):
            assert [h for _, h in timeline(seen)] == [v1, v2.hash]
    finally:
        for other in others:
            other.close()

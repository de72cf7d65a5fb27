"""Key factors stored with a run (``scoring/run_factors``): for every subject a service
may refuse by grade, exactly the factors its statement gives, through every mechanism of
every golden case, in full and incremental runs; read by look-ups, loaded deciders and
batches; digested with the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from tests.scoring.test_golden import CASES, NAMES, _load, case_rulebook

from socialrating.decisions.decider import Decider, load_decider
from socialrating.decisions.lookup import decide_one
from socialrating.ledger import Store
from socialrating.rulebook import Rulebook, load_rulebook, load_rulebook_from_bytes
from socialrating.scoring import incremental, score_run, statement
from socialrating.scoring.run_factors import refused_grades

NO_FACTORS = {"carrier-safety", "bands", "court-list"}
EVERYONE = {"code": "everyone_refused", "subjects": "any", "otherwise": "refused"}


def refusing(path: Path) -> Rulebook:
    """The rulebook at ``path`` with a service that refuses every subject by grade."""
    data = yaml.safe_load(path.read_text())
    data.setdefault("services", []).append(EVERYONE)
    text = yaml.safe_dump(data, sort_keys=False).encode()
    return load_rulebook_from_bytes(str(path), text, None, b"")


def factors_are_the_statements(store: Store, run_id: int, as_of: dt.date, code: str) -> int:
    """Assert that run ``run_id``'s refusal of ``code`` by ``refusing``'s service carries
    the key factors of its statement, read one by one and by a loaded decider; how many."""
    want = statement(store, code, as_of).key_factors
    one = decide_one(store, code, EVERYONE["code"], run_id, explain=False)
    assert one.decision == "refused" and one.scored, code
    assert one.factors == want, code
    assert load_decider(store, run_id).decide(code, EVERYONE["code"]).factors == want, code
    return len(want)


def batches_give_the_codes_of_each_decision(decider: Decider, codes: list[str]) -> set[str]:
    """Assert that a batch of ``codes`` gives each refusal, in every service, the key factor
    codes of the same decision made alone (``Decider.refusal_codes``); the kinds of codes
    (LIST, PARAMETER, ...) seen."""
    from socialrating.decisions.batch import decision_dict, with_key_factors

    seen = set()
    for svc in decider.rulebook.spec.services:
        table = with_key_factors(decider.decide_many(codes, svc.code), decider, svc.code)
        for row in table.to_pylist():
            alone = decision_dict(decider, row["subject"], svc.code)
            want = [str(f["code"]) for f in alone["key_factors"]]
            refused = alone["decision"] == "refused"
            assert row["key_factors"] == (";".join(want) if refused else ""), (svc.code, row)
            seen.update(c.partition(":")[0] for c in want if refused)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("gives_up", [False, True], ids=["incremental", "in-full"])
@pytest.mark.parametrize("name", NAMES)
def test_a_run_stores_the_factors_each_statement_gives(
    tmp_path: Path, name: str, gives_up: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Incremental runs after the first check, or (``gives_up``) full runs whenever any
    subject is chosen, which carry the factors of those not chosen and unchanged."""
    if gives_up:
        monkeypatch.setattr(incremental, "FULL_FROM_SUBJECTS", 0)
        monkeypatch.setattr(incremental, "FULL_SHARE", 1e-9)
    rb = refusing(case_rulebook(CASES / name))
    assert all(refused_grades(rb).values())
    store, spec, _ = _load(tmp_path, CASES / name, rb)
    try:
        seen = 0
        for check in spec["checks"]:
            as_of = dt.date.fromisoformat(str(check["as_of"]))
            run = score_run(store, as_of)  # incremental after the first check
            for code in spec["subjects"]:
                seen += factors_are_the_statements(store, run.run_id, as_of, code)
            batches_give_the_codes_of_each_decision(
                load_decider(store, run.run_id), list(spec["subjects"])
            )
        # Scored by measures alone, or by additions alone: no points against anyone.
        assert seen or name in NO_FACTORS, "the case has no key factors at all"
    finally:
        store.close()


def _consequences(path: Path) -> None:
    """The consequences rulebook scored as of 2021-06-01: c1 on the flight ban (unruly
    twice, grade B), c4 graded D by three debts (-600) and on the debtors list, c3 clean."""
    import pyarrow as pa
    from tests.conftest import DATA, feed

    from socialrating.ledger import activate_rulebook, open_store, register_subjects

    with open_store(path, create=True) as store:
        activate_rulebook(store, load_rulebook(DATA / "consequences.yaml"))
        codes = ["c1", "c3", "c4"]
        register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * 3}))
        unruly = {"subject": "c1", "parameter": "unruly"}
        feed(store, "police", [{**unruly, "date": "2021-02-01"}, {**unruly, "date": "2021-03-01"}])
        debts = [
            {"subject": "c4", "parameter": "debtor", "date": f"2021-0{m}-02"} for m in (2, 3, 4)
        ]
        feed(store, "court", debts)
        score_run(store, dt.date(2021, 6, 1))


def test_a_batch_gives_each_refusal_its_key_factors(tmp_path: Path) -> None:
    """check-batch: a refusal by grade carries the factors the run stored, one by list its
    membership; in the summary (--json), in a CSV (-o) and over HTTP, where a provider sees
    their codes, and a single decision from memory carries them without being asked."""
    import csv

    from fastapi.testclient import TestClient
    from tests.test_cli import ok, one_json

    from socialrating.api import create_app
    from socialrating.decisions.batch import with_key_factors
    from socialrating.ledger import open_store
    from socialrating.service.keys import create_key
    from socialrating.service.policy import Role

    db = tmp_path / "f.duckdb"
    _consequences(db)
    passengers = tmp_path / "passengers.csv"
    passengers.write_text("subject\nc1\nc3\nc4\nc9\n")
    doc = one_json("check-batch", str(passengers), "flight", "--db", str(db), "--json")
    assert doc["decisions"] == {"allowed": 1, "refused": 2, "unknown": 1}
    factors = {d["subject"]: d["key_factors"] for d in doc["not_allowed"]}
    assert [(f["code"], f["effect"], len(f["entries"])) for f in factors["c4"]] == [
        ("PARAMETER:debtor", -600, 3)
    ]
    assert factors["c4"][0]["text"] == "debtor: 3 records, -600 points"
    assert [f["code"] for f in factors["c1"]] == ["LIST:flight_ban"]
    out = tmp_path / "out.csv"
    text = ok("check-batch", str(passengers), "flight", "--db", str(db), "-o", str(out)).output
    assert "1 refused by grade: each with its key factors" in text
    rows = {r["subject"]: r for r in csv.DictReader(out.read_text().splitlines())}
    assert rows["c4"]["key_factors"] == "PARAMETER:debtor"
    assert rows["c1"]["key_factors"] == "LIST:flight_ban"
    assert rows["c3"]["key_factors"] == "" and rows["c9"]["decision"] == "unknown"
    with open_store(db) as keyed:
        _, secret = create_key(keyed, Role.PROVIDER, ("flight",))
    with TestClient(create_app(str(db))) as client:
        auth = {"Authorization": f"Bearer {secret}"}
        one = client.get("/v1/decisions/flight/c4", headers=auth).json()
        assert [f["code"] for f in one["key_factors"]] == ["PARAMETER:debtor"]
        assert one["key_factors"][0]["effect"] is None  # a provider sees no points
        many = client.post(
            "/v1/decisions/flight", json={"subjects": ["c4", "c1"]}, headers=auth
        ).json()
        assert [[f["code"] for f in d["key_factors"]] for d in many["decisions"]] == [
            ["PARAMETER:debtor"],
            ["LIST:flight_ban"],
        ]
        as_csv = client.post(
            "/v1/decisions/flight",
            json={"subjects": ["c4", "c3"]},
            headers={**auth, "Accept": "text/csv"},
        )
        got = {r["subject"]: r["key_factors"] for r in csv.DictReader(as_csv.text.splitlines())}
        assert got == {"c4": "PARAMETER:debtor", "c3": ""}
    with open_store(db, read_only=True) as store:
        # c4, graded D (which the run stored factors for), refused a loan by a rule on
        # lists alone: the list's code only, in a batch as alone.
        decider = load_decider(store)
        loans = with_key_factors(decider.decide_many(["c4"], "loan"), decider, "loan")
        assert loans.column("key_factors").to_pylist() == ["LIST:debtors"]
        batches_give_the_codes_of_each_decision(decider, ["c1", "c3", "c4", "c9", "c4"])


def test_stored_factors_are_digested_with_the_run(tmp_path: Path) -> None:
    import duckdb
    from tests.test_cli import cli, one_json

    db = tmp_path / "f.duckdb"
    _consequences(db)
    again = one_json("verify", "--db", str(db), "--rescore", "1", "--json")["rescore"]
    assert again["ok"] and (again["run_factors"], again["run_factors_differing"]) == (1, 0)
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM run_factors").fetchone() == (1,)
    con.execute("UPDATE run_factors SET effect = -6")
    con.close()
    result = cli("verify", "--db", str(db))
    assert result.exit_code == 1 and "run 1: its run_factors differs" in result.output
    # Computed again, the stored row is not what the run's inputs give (one row each way).
    broken = cli("verify", "--db", str(db), "--rescore", "1")
    assert "2 key factor row(s) differ" in broken.output, broken.output


def test_a_run_from_before_stored_factors_still_explains_and_the_next_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A format-9 database (runs without stored factors) is upgraded when opened: its
    run verifies, its refusals take their factors from statements when asked, and the
    next run is scored in full (not from it) and stores them."""
    import duckdb

    from socialrating.ledger import integrity, open_store
    from socialrating.ledger.store import SCHEMA_VERSION
    from socialrating.scoring import run as run_module

    real = integrity.run_digests

    def as_format_9(store: object, run_id: int, *method: str) -> dict[str, object]:
        found = real(store, run_id, *method)  # type: ignore[arg-type]
        return {k: v for k, v in found.items() if k != "run_factors"}

    db = tmp_path / "old.duckdb"
    with monkeypatch.context() as m:
        m.setattr(integrity, "run_digests", as_format_9)
        m.setattr(run_module, "store_factors", lambda *a, **k: 0)
        _consequences(db)
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE run_factors")
    con.execute("UPDATE runs SET stats = json_remove(stats, '$.factors')")
    con.execute("UPDATE meta SET value = '9' WHERE key = 'schema'")
    con.close()
    with open_store(db) as store:
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        quick = decide_one(store, "c4", "flight", 1, explain=False)
        assert quick.decision == "refused" and not quick.scored and quick.factors == []
        asked = decide_one(store, "c4", "flight", 1)
        assert asked.scored and [f.code for f in asked.factors] == ["PARAMETER:debtor"]
        again = score_run(store, dt.date(2021, 6, 2))
        assert again.incremental == {}  # in full: the old run stored no factors
        assert decide_one(store, "c4", "flight", explain=False).factors == asked.factors
    from tests.test_cli import ok

    assert "ok" in ok("verify", "--db", str(db)).output.lower()


def test_factors_read_from_a_statement_are_by_the_runs_rulebook(tmp_path: Path) -> None:
    """Terms by grade take their factors from the statement as of the run's day, by the
    rulebook the run scored by: a version installed since (here backdated, doubling every
    deduction) does not change what an earlier run's decision says."""
    from tests.conftest import DATA

    from socialrating.ledger import activate_rulebook, open_store

    db = tmp_path / "f.duckdb"
    _consequences(db)
    doubled = tmp_path / "consequences-2.yaml"
    text = (DATA / "consequences.yaml").read_text().replace('version: "1"', 'version: "2"')
    doubled.write_text(text.replace("points: -20,", "points: -40,"))
    with open_store(db) as store:
        activate_rulebook(store, load_rulebook(doubled), backdate="doubled")
        before = decide_one(store, "c1", "loan", 1)  # terms for grade B: from the statement
        assert before.decision == "terms" and before.scored
        assert [(f.code, f.effect) for f in before.factors] == [("PARAMETER:unruly", -40)]
        now = score_run(store, dt.date(2021, 6, 1))
        after = decide_one(store, "c1", "loan", now.run_id)
        assert [(f.code, f.effect) for f in after.factors] == [("PARAMETER:unruly", -80)]


def test_the_key_factors_are_computed_without_a_table_of_every_subject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run aggregates per subject in an array of every subject id (``perfect_ht_threshold``)
    only for its per-subject stage: the key factors of a few subjects are computed with
    DuckDB's default, since each thread would allocate and clear such an array for them."""
    from socialrating.scoring import run as run_module

    tuned: list[object] = []
    seen: list[object] = []

    def tune(store: Store) -> None:  # as on a ledger of a million subjects
        store.run("SET perfect_ht_threshold = 21")
        tuned.append(store.scalar("SELECT current_setting('perfect_ht_threshold')"))

    real = run_module.store_factors

    def store_factors(store: Store, *args: object, **kwargs: object) -> int:
        seen.append(store.scalar("SELECT current_setting('perfect_ht_threshold')"))
        return real(store, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "_tune", tune)
    monkeypatch.setattr(run_module, "store_factors", store_factors)
    _consequences(tmp_path / "f.duckdb")
    assert tuned == [21] and seen == [12]


@pytest.mark.parametrize(
    ("top", "threads", "limit", "bits"),
    [
        (1_000_000, 2, 8e9, 21),  # a simulated nation of a million: arrays of 75 MB each
        (2_200_000, 2, 19e9, 23),  # the bench ledger
        (8_000_000, 2, 16e9, 24),  # the widest: 1.2 GB of arrays, a quarter of 4.8 GB
        (8_000_000, 2, 4e9, None),  # the same with a memory limit of 4 GB: a table that spills
        (8_000_000, 1, 5e9, 24),  # one thread needs half
        (11_000_000, 2, 1e12, None),  # 25 bits: no faster, 2.4 GB more, whatever the limit
        (2_000, 2, 8e9, None),  # DuckDB's own threshold (12 bits) already covers it
    ],
)
def test_a_run_aggregates_per_subject_in_arrays_only_while_they_are_small(
    top: int, threads: int, limit: float, bits: int | None
) -> None:
    from socialrating.scoring.run import perfect_hash_bits

    assert perfect_hash_bits(top, threads, limit) == bits


def test_a_run_reads_the_threads_and_memory_limit_it_sizes_the_arrays_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_tune`` asks with the database's own settings (here set to 1 thread and 3 GB),
    for a full run; an incremental run, which scores a few subjects, does not tune."""
    from socialrating.scoring import run as run_module

    asked: list[tuple[int, int, float]] = []
    real = run_module.perfect_hash_bits

    def perfect_hash_bits(top: int, threads: int, limit: float) -> int | None:
        asked.append((top, threads, limit))
        return real(top, threads, limit)

    monkeypatch.setattr(run_module, "perfect_hash_bits", perfect_hash_bits)
    _consequences(tmp_path / "f.duckdb")
    from socialrating.ledger import open_store

    with open_store(tmp_path / "f.duckdb") as store:
        store.run("SET threads = 1")
        store.run("SET memory_limit = '3GB'")
        asked.clear()
        assert score_run(store, dt.date(2021, 6, 2)).incremental
        assert asked == []
        assert store.scalar("SELECT current_setting('perfect_ht_threshold')") == 12  # default
        score_run(store, dt.date(2021, 6, 2), full=True)
    assert len(asked) == 1
    top, threads, limit = asked[0]
    assert (top, threads) == (3, 1) and limit == pytest.approx(3e9, rel=0.05)  # "2.7 GiB"


def test_a_run_in_full_instead_of_incremental_carries_the_unchanged_factors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that would have chosen too many subjects runs in full, but the factors of the
    subjects it did not choose, their grade, score and contagion unchanged, are those of
    the run before: carried, not computed. They are what a full run computes."""
    import pyarrow as pa
    from tests.conftest import TINY, feed

    from socialrating.ledger import activate_rulebook, open_store, register_subjects

    monkeypatch.setattr(incremental, "FULL_FROM_SUBJECTS", 0)
    monkeypatch.setattr(incremental, "FULL_SHARE", 0.25)
    with open_store(tmp_path / "f.duckdb", create=True) as store:
        activate_rulebook(store, refusing(TINY))
        codes = [f"C{i}" for i in range(1, 9)]
        register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * 8}))
        red = {"parameter": "red_light", "date": "2021-02-01"}
        feed(store, "police", [{**red, "subject": c} for c in codes])
        first = score_run(store, dt.date(2021, 3, 1))
        assert first.incremental == {}
        # Four of eight (at least a quarter): a full run, carrying the other four. C4's
        # score stays (a red light and a blood donation) but not its factors: chosen, it
        # is computed again.
        again = {**red, "date": "2021-03-02"}
        rows = [{**again, "subject": c} for c in codes[:4]]
        feed(store, "police", [*rows, {**again, "subject": "C4", "parameter": "blood"}])
        day = dt.date(2021, 3, 3)
        run = score_run(store, day)
        assert run.incremental == {"base_run": first.run_id, "full": 1}
        stats = store.scalar("SELECT stats FROM runs WHERE run_id = ?", [run.run_id])
        assert '"computed": 4' in stats and '"carried": 4' in stats, stats
        score = "SELECT score FROM snapshot JOIN subjects USING (subject_id) WHERE code = 'C4' AND run_id = ?"
        assert store.scalar(score, [run.run_id]) == store.scalar(score, [first.run_id])
        full = score_run(store, day, full=True)

        def factors(run_id: int) -> list[tuple[object, ...]]:
            return store.rows(
                """SELECT subject_id, rank, code, name, effect, made_good, entries, grade
                   FROM run_factors WHERE run_id = ? ORDER BY ALL""",
                [run_id],
            )

        assert factors(run.run_id) == factors(full.run_id)
        assert len({row[0] for row in factors(run.run_id)}) == 8
        for code in codes:
            factors_are_the_statements(store, run.run_id, day, code)

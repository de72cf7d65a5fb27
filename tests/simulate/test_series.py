"""`socialrating simulate`: a nation lived week by week through the ledger and the plan;
the same seed gives the same series, another seed another; the series agrees with the
runs it was read from."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import DATA
from tests.test_cli import cli, one_json

from socialrating.ledger import open_store
from socialrating.simulate.series import SERIES_SCHEMA, SimulationConfig, simulate

RULEBOOK = DATA / "consequences.yaml"  # lists, joint punishment and services


def _live(out: Path, seed: int) -> SimulationConfig:
    config = SimulationConfig(
        out=out, rulebook=RULEBOOK, citizens=300, organisations=30, days=17, seed=seed
    )
    simulate(config)
    return config


@pytest.fixture(scope="module")
def lived(tmp_path_factory: pytest.TempPathFactory) -> SimulationConfig:
    return _live(tmp_path_factory.mktemp("sim") / "a", seed=5)


def test_the_same_seed_gives_the_same_series_and_another_seed_another(
    lived: SimulationConfig, tmp_path: Path
) -> None:
    first = pq.read_table(lived.out / "series.parquet")
    assert first.schema == SERIES_SCHEMA
    again = pq.read_table(_live(tmp_path / "b", seed=5).out / "series.parquet")
    assert again.equals(first)
    other = pq.read_table(_live(tmp_path / "c", seed=6).out / "series.parquet")
    assert not other.equals(first)


def test_the_series_is_what_each_weeks_run_stored(lived: SimulationConfig) -> None:
    rows = pq.read_table(lived.out / "series.parquet").to_pylist()
    weeks = sorted({r["week"] for r in rows})
    assert weeks == [1, 2]  # 17 days: a week, then ten days (the last step takes the rest)
    with open_store(lived.ledger, read_only=True) as store:
        runs = store.rows("SELECT run_id, as_of FROM runs ORDER BY run_id")
        assert [str(as_of) for _, as_of in runs] == ["2021-01-07", "2021-01-17"]
        records = store.scalar("SELECT count(*) FROM entries WHERE kind = 1")
        assert records == sum(r["value"] for r in rows if r["series"] == "records")
        kinds = dict(store.rows("SELECT kind, count(*) FROM subjects GROUP BY 1"))
        for week, (run_id, _) in zip(weeks, runs, strict=True):
            mine = [r for r in rows if r["week"] == week]
            sizes = dict(
                store.rows(
                    "SELECT list, count(*) FROM list_members WHERE run_id = ? GROUP BY 1", [run_id]
                )
            )
            lists = {r["key"]: r["value"] for r in mine if r["series"] == "list"}
            assert lists == {code: sizes.get(code, 0) for code in lists}
            assert set(lists) == {"debtors", "flight_ban", "blacklist", "rep_ban"}
            for kind, n in kinds.items():
                graded = [r["value"] for r in mine if r["series"] == "grade" and r["kind"] == kind]
                assert sum(graded) == n
            # Refusals are counted among the subjects each service is for.
            refused = {r["key"]: r for r in mine if r["series"] == "refused"}
            assert refused["bidding"]["kind"] == "organisation"
            assert refused["bidding"]["value"] <= kinds["organisation"]
            assert refused["bidding"]["value"] == lists["blacklist"]


def test_the_command_says_what_it_did_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--out", str(out), "--rulebook", str(RULEBOOK), "--days", "15"]
    doc = one_json(*args, "--citizens", "120", "--json")
    assert (doc["subjects"], doc["weeks"]) == (132, 2)  # one organisation per 10 citizens
    assert doc["series"] == str(out / "series.parquet") and doc["stored"] > 0
    text = cli(*args, "--citizens", "120").output
    assert "simulate: 132 subjects, 2 weeks to 2021-01-15, 0 new entries" in text  # again
    assert doc["population"] == str(out / "population.parquet")
    assert doc["breakdown"] == str(out / "breakdown.parquet")
    assert f"population: {out / 'population.parquet'}" in " ".join(text.split())
    checked = cli(*args[:2], str(tmp_path / "checked"), *args[3:], "--citizens", "120",
                  "--check-runs")  # fmt: skip
    assert (
        "--check-runs: each run from an earlier one stored what a full run stores" in checked.output
    )
    bad = cli("simulate", "--out", str(out), "--days", "0")
    assert bad.exit_code == 2 and "--days" in bad.output
    missing = cli("simulate", "--citizens", "10")
    assert missing.exit_code == 2 and "--out" in missing.output


def test_the_report_shows_each_figure_as_a_chart_and_a_table(lived: SimulationConfig) -> None:
    """report.html stands alone (no script, no link to fetch) and has, per figure, an SVG
    chart with a label and the same numbers in a table."""
    page = (lived.out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    for heading in ("Citizens by grade", "Organisations by grade", "List sizes",
                    "Refusals per service"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page, heading
        assert f'<figure role="img" aria-label="{heading}"><svg' in page, heading
    charted = page.split("<h2>Whom the last run lands on")[0]
    assert charted.count("<table>") == charted.count("<figure") >= 4
    rows = pq.read_table(lived.out / "series.parquet").to_pylist()
    last = max(r["week_end"] for r in rows)
    flights = next(
        r["value"]
        for r in rows
        if r["week_end"] == last and (r["series"], r["key"]) == ("list", "flight_ban")
    )
    lists = page.split("<h2>List sizes</h2>")[1].split("</table>")[0]
    assert f"<tr><td>{last}</td>" in lists and f"<td>{flights:,}</td>" in lists


def test_compare_lives_the_same_nation_without_responses_and_reports_both(
    tmp_path: Path,
) -> None:
    """The same nation lived twice: the first week is the same (nothing to respond to
    yet); after it, those the system sanctioned offend less where they respond."""
    config = SimulationConfig(
        out=tmp_path, rulebook=RULEBOOK, scenario=DATA / "consequences-scenario.yaml",
        citizens=1500, organisations=150, days=42, seed=3, compare=True,
    )  # fmt: skip
    simulate(config)
    rows = pq.read_table(tmp_path / "series.parquet").to_pylist()
    assert (tmp_path / "ledger-responses-off.duckdb").exists()

    def records(label: str) -> list[int]:
        return [r["value"] for r in rows if (r["series"], r["responses"]) == ("records", label)]

    on, off = records("on"), records("off")
    assert len(on) == len(off) == 6
    assert on[0] == off[0]
    assert sum(on[1:]) < sum(off[1:])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>List sizes, with and without responses</h2>" in page
    assert "flight_ban (responses off)" in page and "flight_ban (responses on)" in page


def test_what_the_simulation_stored_holds_the_invariants(lived: SimulationConfig) -> None:
    """Every record from an institution the rulebook permits for its parameter, about a
    registered subject of the nation; every list member in its run's snapshot; and the
    runs' list sizes are their members."""
    with open_store(lived.ledger, read_only=True) as store:
        unpermitted = store.scalar(
            """SELECT count(*) FROM entries e
               WHERE e.kind = 1 AND NOT EXISTS (
                   SELECT 1 FROM rulebook_permissions p
                   WHERE p.parameter_id = e.parameter_id AND p.institution_id = e.institution_id)"""
        )
        assert unpermitted == 0
        kinds = dict(store.rows("SELECT kind, count(*) FROM subjects GROUP BY 1"))
        assert kinds == {"citizen": lived.citizens, "organisation": lived.organisations}
        unknown = store.scalar(
            """SELECT count(*) FROM entries e WHERE e.kind = 1 AND e.subject_id NOT IN
               (SELECT subject_id FROM subjects)"""
        )
        assert unknown == 0
        outside = store.scalar(
            """SELECT count(*) FROM list_members m ANTI JOIN snapshot n
               ON n.run_id = m.run_id AND n.subject_id = m.subject_id"""
        )
        assert outside == 0
        for run_id, stats in store.rows("SELECT run_id, stats FROM runs"):
            sizes = dict(
                store.rows(
                    "SELECT list, count(*) FROM list_members WHERE run_id = ? GROUP BY 1", [run_id]
                )
            )
            assert {k: v for k, v in json.loads(stats)["lists"].items() if v} == sizes


def test_the_population_and_whom_the_last_run_lands_on_are_written(
    lived: SimulationConfig,
) -> None:
    """population.parquet: every citizen registered, with what the registry does not keep;
    breakdown.parquet: per group, the shares of the last run's snapshot and lists; the
    report shows both and the contact graph's figures."""
    population = pq.read_table(lived.out / "population.parquet")
    assert population.num_rows == lived.citizens
    assert set(population.column_names) >= {"code", "household", "age", "occupation",
                                             "income", "employer", "parent", "sociability"}  # fmt: skip
    groups = pq.read_table(lived.out / "breakdown.parquet").to_pylist()
    with open_store(lived.ledger, read_only=True) as store:
        run_id = store.scalar("SELECT max(run_id) FROM runs")
        codes = set(
            store.arrow("SELECT code FROM subjects WHERE kind = 'citizen'")["code"].to_pylist()
        )
        listed = set(
            store.arrow(
                """SELECT DISTINCT s.code FROM list_members m JOIN subjects s USING (subject_id)
                   WHERE m.run_id = ? AND s.kind = 'citizen'""",
                [run_id],
            )["code"].to_pylist()
        )
    assert set(population.column("code").to_pylist()) == codes
    ages = population.column("age").to_numpy()
    by_age = {g["group"]: g for g in groups if g["by"] == "age"}
    assert sum(g["citizens"] for g in by_age.values()) == lived.citizens
    young = [c for c, a in zip(population.column("code").to_pylist(), ages, strict=True)
             if 16 <= a < 30]  # fmt: skip
    share = 100 * len(listed & set(young)) / len(young)
    assert by_age["16 to 29"]["listed"] == pytest.approx(share, abs=0.001)
    for by in ("occupation", "income"):
        assert sum(g["citizens"] for g in groups if g["by"] == by) <= lived.citizens
    page = (lived.out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Whom the last run lands on, by age</h2>" in page
    assert "<h2>… by income (fifths of the adults)</h2>" in page
    assert "contact graph" not in page  # this rulebook has no contagion (test_breakdown)


def test_what_a_run_did_is_read_back_for_the_responses(lived: SimulationConfig) -> None:
    """Sanctioned: listed, or in the kind's two lowest grades by score (where it has three
    or more); near: within the margin of the band's floor (the scenario's 30 points)."""
    import numpy as np

    from socialrating.rulebook import load_rulebook
    from socialrating.simulate.living import positions, standing
    from socialrating.simulate.nation import make_nation
    from socialrating.simulate.scenario import DEFAULT_SCENARIO, load_scenario

    rb = load_rulebook(RULEBOOK)
    scenario = load_scenario(DEFAULT_SCENARIO)
    nation = make_nation(np.random.default_rng(5), lived.citizens, lived.organisations,
                         rb.spec.effective, scenario.conduct, scenario.population,
                         scenario.records)  # fmt: skip
    with open_store(lived.ledger, read_only=True) as store:
        run_id = store.scalar("SELECT max(run_id) FROM runs")
        sanctioned, near = standing(store, run_id, nation, rb, 30, positions(store, nation))
        rows = store.rows(
            """SELECT s.code, s.kind, n.grade, n.score,
                      EXISTS (SELECT 1 FROM list_members m
                              WHERE m.run_id = n.run_id AND m.subject_id = n.subject_id)
               FROM snapshot n JOIN subjects s USING (subject_id) WHERE n.run_id = ?""",
            [run_id],
        )
    codes = nation.subjects.column("code").to_pylist()
    assert len(rows) == len(codes)
    for code, kind, grade, score, listed in rows:
        by_score = sorted(
            (b for b in rb.bands(kind) if b.by_score),
            key=lambda b: -1e18 if b.min is None else b.min,
        )
        low = len(by_score) >= 3 and grade in {b.grade for b in by_score[:2]}
        floor = next((b.min for b in by_score if b.grade == grade), None)
        i = codes.index(code)
        assert sanctioned[i] == (low or listed), code
        assert near[i] == (floor is not None and score - floor < 30), code
    assert sanctioned.any() and not sanctioned.all()


def test_the_command_keeps_the_process_within_its_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--memory GB` is the budget the simulation bounds DuckDB by; below 1 GB is refused."""
    from socialrating.simulate import living

    budgets: list[int | None] = []
    original = living.process_memory

    def spy(store: object, budget: int | None = None) -> object:
        budgets.append(budget)
        return original(store, budget)  # type: ignore[arg-type]

    monkeypatch.setattr(living, "process_memory", spy)
    args = ["simulate", "--out", str(tmp_path / "sim"), "--rulebook", str(RULEBOOK)]
    doc = one_json(*args, "--days", "8", "--citizens", "50", "--memory", "2.5", "--json")
    assert doc["stored"] > 0 and budgets == [2_500_000_000]
    bad = cli(*args, "--memory", "0.5")
    assert bad.exit_code == 2 and "--memory" in bad.output

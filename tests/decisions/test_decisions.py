"""Lists and decisions, worked by hand on tests/data/consequences.yaml (base 1000).

Subjects: c1 (adult), c2 (adult), kid (born 2010: under 18 in 2021), o1 and o2.

- c1: a debtor finding on 2021-02-01 (-200: 800, grade C), paid on 2021-06-01: on
  ``debtors`` from 2021-02-01 until 2021-06-01.
- c2: unruly on a flight on 2021-03-01 (-20: 980, A): on ``flight_ban`` for a 100-day
  term, 2021-03-01 to 2021-06-09; put back by hand (``ban.add``) on 2021-09-01 and taken off
  by hand (``ban.remove``) on 2021-10-01.
- kid: unruly on 2021-03-01: not listed (under 18), still 980 and A.
- o1: a debtor finding (800: grade D for organisations): on ``debtors`` and, by grade, on
  ``blacklist``. o2: nothing: A.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed, rec

from socialrating.decisions.decider import Decider, NoSnapshot, UnknownService, load_decider
from socialrating.errors import UnknownSubject
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

D = dt.date.fromisoformat


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "c.duckdb", create=True)
    activate_rulebook(s, load_rulebook(DATA / "consequences.yaml"))
    register_subjects(
        s,
        pa.table(
            {
                "code": ["c1", "c2", "kid", "o1", "o2"],
                "kind": ["citizen", "citizen", "citizen", "organisation", "organisation"],
                "born": ["1980-01-01", "1990-05-05", "2010-01-01", None, None],
            }
        ),
    )
    feed(s, "court", [rec("c1", "debtor", "2021-02-01"), rec("o1", "debtor", "2021-02-01")])
    feed(s, "police", [rec("c2", "unruly", "2021-03-01"), rec("kid", "unruly", "2021-03-01")])
    feed(s, "court", [rec("c1", "paid", "2021-06-01")])
    feed(s, "court", [rec("c2", "ban.add", "2021-09-01"), rec("c2", "ban.remove", "2021-10-01")])
    yield s
    s.close()


def members(store: Store, as_of: str) -> dict[tuple[str, str], tuple[str, int | None]]:
    run = score_run(store, D(as_of))
    return {
        (lst, code): (cause, entry)
        for lst, code, cause, entry in store.rows(
            """SELECT m.list, s.code, m.cause, m.entry_id FROM list_members m
               JOIN subjects s USING (subject_id) WHERE run_id = ?""",
            [run.run_id],
        )
    }


def entry(store: Store, code: str, parameter: str) -> int:
    return int(
        store.scalar(
            """SELECT e.entry_id FROM entries e JOIN subjects s USING (subject_id)
               JOIN parameters p USING (parameter_id) WHERE s.code = ? AND p.code = ?
               ORDER BY e.entry_id LIMIT 1""",
            [code, parameter],
        )
    )


def test_lists_as_of_dates(store: Store) -> None:
    debt_c1, debt_o1 = entry(store, "c1", "debtor"), entry(store, "o1", "debtor")
    unruly = entry(store, "c2", "unruly")
    assert members(store, "2021-01-31") == {}
    may = members(store, "2021-05-31")
    assert may == {
        ("debtors", "c1"): ("record", debt_c1),
        ("debtors", "o1"): ("record", debt_o1),
        ("flight_ban", "c2"): ("record", unruly),  # the kid is not listed: under 18
        ("blacklist", "o1"): ("grade", None),
    }
    june = members(store, "2021-06-09")  # c1 paid on 06-01; c2's term ended on 06-09
    assert ("debtors", "c1") not in june and ("flight_ban", "c2") not in june
    assert ("debtors", "o1") in june
    # The day before the term ends, c2 is still on it.
    assert ("flight_ban", "c2") in members(store, "2021-06-08")
    by_hand = members(store, "2021-09-15")
    assert by_hand[("flight_ban", "c2")] == ("record", entry(store, "c2", "ban.add"))
    assert ("flight_ban", "c2") not in members(store, "2021-10-01")  # taken off by hand


def test_min_age_counts_on_the_scoring_day(store: Store, tmp_path: Path) -> None:
    # The kid turns 18 on 2028-01-01; an unruly record then lists them.
    feed(store, "police", [rec("kid", "unruly", "2026-01-05")])
    assert ("flight_ban", "kid") not in members(store, "2026-01-10")  # 16 on that day
    feed(store, "police", [rec("c2", "unruly", "2026-01-05")])
    assert ("flight_ban", "c2") in members(store, "2026-01-10")  # 35: listed


def decider(store: Store, as_of: str) -> Decider:
    score_run(store, D(as_of))
    return load_decider(store)


def test_every_service_decides_by_hand(store: Store) -> None:
    d = decider(store, "2021-05-31")
    c1_loan = d.decide("c1", "loan")
    assert (c1_loan.decision, c1_loan.reasons[0].code) == ("refused", "RULE:loan#1")
    assert c1_loan.reasons[1].code == "LIST:debtors"
    assert c1_loan.reasons[1].entry_id == entry(store, "c1", "debtor")
    c2_flight = d.decide("c2", "flight")
    assert c2_flight.decision == "refused"
    assert [r.code for r in c2_flight.reasons] == ["RULE:flight#1", "LIST:flight_ban"]
    assert c2_flight.reasons[1].entry_id == entry(store, "c2", "unruly")
    c2_loan = d.decide("c2", "loan")
    assert (c2_loan.decision, c2_loan.terms) == (
        "terms",
        {"rate_adjustment": -0.5, "collateral": "none"},
    )
    assert [r.code for r in c2_loan.reasons] == ["RULE:loan#2", "GRADE:A"]
    kid = d.decide("kid", "flight")
    assert (kid.decision, kid.reasons[0].code) == ("allowed", "RULE:flight#otherwise")
    assert d.decide("c1", "flight").decision == "allowed"  # C, on no travel list
    o1 = d.decide("o1", "bidding")
    assert o1.decision == "refused" and [r.code for r in o1.reasons] == [
        "RULE:bidding#1",
        "LIST:blacklist",
    ]
    assert d.decide("o2", "bidding").decision == "allowed"
    wrong_kind = d.decide("c1", "bidding")
    assert (wrong_kind.decision, wrong_kind.reasons[0].code) == ("refused", "SUBJECTS:citizen")


def test_list_exit_on_payment_changes_the_decision(store: Store) -> None:
    assert decider(store, "2021-05-31").decide("c1", "loan").decision == "refused"
    after = decider(store, "2021-06-01").decide("c1", "loan")
    assert (after.decision, after.terms["collateral"]) == ("terms", "full")  # grade C


def test_otherwise_refused_for_grade_d(store: Store) -> None:
    feed(store, "court", [rec("c2", "debtor", "2021-11-01"), rec("c2", "debtor", "2021-11-02")])
    feed(store, "court", [rec("c2", "paid", "2021-11-03")])  # off the debtors list
    # As of 2022-03-01 the unruly record of 2021-03-01 has expired: 1000 - 400 = 600, C.
    loan = decider(store, "2022-03-01").decide("c2", "loan")
    assert (loan.decision, loan.terms["collateral"]) == ("terms", "full")
    feed(store, "police", [rec("c2", "unruly", "2022-02-01")])  # 580: D
    d = decider(store, "2022-03-01")
    assert d.decide("c2", "loan").decision == "refused"
    assert d.decide("c2", "loan").reasons[0].code == "RULE:loan#otherwise"
    assert [r.code for r in d.decide("c2", "flight").reasons][:1] == ["RULE:flight#1"]


def test_batch_decisions_equal_single_ones(store: Store) -> None:
    d = decider(store, "2021-05-31")
    codes = ["c1", "c2", "kid", "o1", "o2", "nobody", "c2"]
    for service in ("flight", "loan", "bidding"):
        table = d.decide_many(codes, service).to_pylist()
        for code, row in zip(codes, table, strict=True):
            if code == "nobody":
                assert (row["decision"], row["reasons"]) == ("unknown", "SUBJECT:unknown")
                continue
            single = d.decide(code, service)
            assert row["decision"] == single.decision, (code, service)
            assert row["reasons"].split(";") == [r.code for r in single.reasons], (code, service)


def test_statement_shows_lists_and_decisions(store: Store) -> None:
    st = statement(store, "c2", D("2021-05-31"))
    assert [(m.list, m.cause) for m in st.lists] == [("flight_ban", "record")]
    assert [(d.service, d.decision) for d in st.decisions] == [
        ("flight", "refused"),
        ("loan", "terms"),
        ("senior", "allowed"),
    ]
    doc = st.as_dict()
    assert doc["lists"][0]["since"] == "2021-03-01" and doc["lists"][0]["until"] == "2021-06-09"


def test_errors_name_what_is_wrong(store: Store) -> None:
    with pytest.raises(NoSnapshot, match="socialrating score"):
        load_decider(store)
    d = decider(store, "2021-05-31")
    with pytest.raises(UnknownService, match="flight, loan, bidding, senior"):
        d.decide("c1", "rocket")
    with pytest.raises(UnknownSubject, match="'zz'"):
        d.decide("zz", "flight")


def test_batch_lookup_survives_hash_collisions(store: Store) -> None:
    """With a hash of two values, most codes collide: the batch still finds each subject."""
    import duckdb

    class Colliding(Decider):
        HASH = "hash(code) % 2"

    d = decider(store, "2021-05-31")
    con = duckdb.connect()
    stored = pa.table({"code": d.codes})  # noqa: F841 (read by DuckDB)
    hashes = con.sql("SELECT hash(code) % 2 FROM stored").to_arrow_table().column(0).to_numpy()
    collided = Colliding(
        rulebook=d.rulebook,
        run_id=d.run_id,
        as_of=d.as_of,
        codes=d.codes,
        hashes=hashes,
        kinds=d.kinds,
        kind_names=d.kind_names,
        grade_names=d.grade_names,
        grades=d.grades,
        scores=d.scores,
        direct=d.direct,
        contagion=d.contagion,
        ids=d.ids,
        list_bits=d.list_bits,
        members=d.members,
        member_positions=d.member_positions,
    )
    assert len(set(hashes.tolist())) < len(hashes)
    codes = ["o2", "c2", "nobody", "c1", "kid", "o1"]
    got = collided.decide_many(codes, "loan").to_pylist()
    assert got == d.decide_many(codes, "loan").to_pylist()
    assert [r["decision"] for r in got] == [
        "refused",
        "terms",
        "unknown",
        "refused",
        "terms",
        "refused",
    ]


def test_joint_punishment_both_ways(store: Store) -> None:
    """c1 represents o2 (from 2021-01-15); c2 represents o1, the D-graded organisation.

    - o2 is blacklisted while its representative c1 is a dishonest debtor (until c1 pays
      on 2021-06-01): organisation <- person.
    - c2 is on rep_ban while o1, which it represents, is blacklisted: person <- organisation.
    - A new representative for o1 (c1, from 2021-07-01) moves the ban from c2 to c1.
    """
    feed(
        store,
        "registry",
        [
            rec("o2", "rep", "2021-01-15", counterpart="c1", key="r1"),
            rec("o1", "rep", "2021-01-15", counterpart="c2", key="r2"),
        ],
    )
    link_o2, link_o1 = entry(store, "o2", "rep"), entry(store, "o1", "rep")
    may = members(store, "2021-05-31")
    assert may[("blacklist", "o2")] == ("joint", link_o2)
    assert may[("rep_ban", "c2")] == ("joint", link_o1)
    # The chain goes on, list by list in the rulebook's order: o2, blacklisted through c1,
    # puts its representative c1 on rep_ban too.
    assert may[("rep_ban", "c1")] == ("joint", link_o2)
    d = load_decider(store)
    bidding = d.decide("o2", "bidding")
    assert bidding.decision == "refused"
    assert bidding.reasons[1].code == "LIST:blacklist" and "with c1" in bidding.reasons[1].text
    senior = d.decide("c2", "senior")
    assert senior.decision == "refused" and "with o1" in senior.reasons[1].text
    june = members(store, "2021-06-01")  # c1 paid: o2 leaves the blacklist, c1 rep_ban
    assert ("blacklist", "o2") not in june and ("rep_ban", "c1") not in june
    assert ("rep_ban", "c2") in june
    feed(store, "registry", [rec("o1", "rep", "2021-07-01", counterpart="c1", key="r3")])
    july = members(store, "2021-07-01")
    assert ("rep_ban", "c2") not in july and ("rep_ban", "c1") in july
    st = statement(store, "c1", D("2021-07-01"))
    assert [(m.list, m.cause, m.via) for m in st.lists] == [("rep_ban", "joint", "o1")]
    assert [(x.service, x.decision) for x in st.decisions][-1] == ("senior", "refused")


def test_points_for_legal_representatives(store: Store) -> None:
    """A tax debt costs -10, or -30 for a legal representative (c1 represents o2)."""
    feed(store, "registry", [rec("o2", "rep", "2021-01-15", counterpart="c1", key="r1")])
    feed(store, "court", [rec("c1", "tax_debt", "2021-07-01"), rec("c2", "tax_debt", "2021-07-01")])
    run = score_run(store, D("2021-07-01"))
    scores = dict(
        store.rows(
            """SELECT s.code, n.score FROM snapshot n JOIN subjects s USING (subject_id)
               WHERE run_id = ?""",
            [run.run_id],
        )
    )
    assert scores["c1"] == 1000 - 200 - 30  # the debtor finding still counts; paid is 0
    assert scores["c2"] == 1000 - 20 - 10
    line = next(
        x for x in statement(store, "c1", D("2021-07-01")).lines if x.parameter == "tax_debt"
    )
    assert (line.rule_points, line.counted) == (-30, -30)


def test_look_up_follows_each_new_run_on_the_same_store(store: Store) -> None:
    """``decide_one`` remembers the latest run and who is listed in it on the open store;
    a run stored since, through the same store, is the one it answers from next."""
    from socialrating.decisions.lookup import decide_one

    first = score_run(store, D("2021-05-31"))
    c2 = decide_one(store, "c2", "flight")
    assert (c2.run_id, c2.decision) == (first.run_id, "refused")  # on flight_ban
    assert decide_one(store, "kid", "flight").decision == "allowed"  # under 18: not listed
    second = score_run(store, D("2021-06-30"))  # c2's 100-day term ended on 2021-06-09
    c2 = decide_one(store, "c2", "flight")
    assert (c2.run_id, c2.decision) == (second.run_id, "allowed")
    feed(store, "police", [rec("c1", "unruly", "2021-07-01")])
    third = score_run(store, D("2021-07-01"))  # c1 on flight_ban now, not listed before
    c1 = decide_one(store, "c1", "flight")
    assert (c1.run_id, c1.decision) == (third.run_id, "refused")
    assert [r.code for r in c1.reasons] == ["RULE:flight#1", "LIST:flight_ban"]
    assert decide_one(store, "c1", "flight", first.run_id).decision == "allowed"


def test_loaded_memberships_are_the_stored_ones(store: Store) -> None:
    """The decider keeps list memberships as columns and makes one subject's on demand:
    they are the run's stored rows, in order of list and cause, with the codes they came
    through; each subject's list bits say the same lists. A rulebook with fewer lists (a
    preview's) keeps only the memberships of its own."""
    from dataclasses import replace

    # c1 represents o2, and c1 is a debtor: o2 is blacklisted through c1.
    feed(store, "registry", [rec("o2", "rep", "2021-01-15", counterpart="c1", key="r1")])
    d = decider(store, "2021-05-31")
    stored: dict[str, list[tuple[object, ...]]] = {}
    for row in store.rows(
        """SELECT s.code, m.list, m.cause, m.entry_id, m.grade, m.start_day, m.end_day, v.code
           FROM list_members m JOIN subjects s USING (subject_id)
           LEFT JOIN subjects v ON v.subject_id = m.via_subject
           WHERE m.run_id = ? ORDER BY m.list, m.cause""",
        [d.run_id],
    ):
        stored.setdefault(row[0], []).append(row[1:])
    assert {"c1", "c2", "o1", "o2"} <= set(stored)  # debtors, flight ban, by grade, joint
    lists = [x.code for x in d.rulebook.spec.lists]
    for code in d.codes.to_pylist():
        i = d.position(code)
        got = [astuple(m) for m in d.memberships(i)]
        assert got == stored.get(code, []), code
        bits = {lists.index(m.list) for m in d.memberships(i)}
        assert int(d.list_bits[i]) == sum(1 << b for b in bits), code
    assert ("blacklist", "joint", "c1") in [
        (m.list, m.cause, m.via) for m in d.memberships(d.position("o2"))
    ]

    spec = d.rulebook.spec
    fewer = replace(d.rulebook, spec=spec.model_copy(update={"lists": spec.lists[:1]}))
    kept = load_decider(store, d.run_id, fewer)
    for code in d.codes.to_pylist():
        i = kept.position(code)
        want = [astuple(m) for m in d.memberships(i) if m.list == spec.lists[0].code]
        assert [astuple(m) for m in kept.memberships(i)] == want, code
        assert int(kept.list_bits[i]) == (1 if want else 0), code


@pytest.mark.parametrize(
    "codes",
    [
        ["C000000001", "C000000002", "C000000010", "O000000003"],  # one width: bytes
        ["c1", "c2", "kid", "o1"],  # widths differ: texts
        ["a\u00e91", "a\u00e92", "b\u00e91", "\u00e9\u00e9\u00e9"],  # UTF-8, one width in bytes
        ["x"],
    ],
)
def test_codes_searched_as_bytes_or_texts_find_each_subject(codes: list[str]) -> None:
    """The sorted codes a decider searches (fixed-width bytes over Arrow's buffer when
    every code has one length in bytes, else texts) find each code at its place, from a
    slice too, and no code that is not there."""
    from socialrating.decisions.decider import _searchable

    codes = sorted(codes)  # DuckDB's order: by byte, as by code point
    whole = pa.array(["zz-ignored", *codes])
    for array in (pa.array(codes), whole.slice(1)):
        found = _searchable(array)
        assert len(found) == len(codes)
        for i, code in enumerate(codes):
            needle = code.encode() if found.dtype.kind == "S" else code
            assert int(found.searchsorted(needle)) == i and found[i] == needle
        for absent in ("", "C0", "zzzz", codes[0] + "0"):
            needle = absent.encode() if found.dtype.kind == "S" else absent
            i = int(found.searchsorted(needle))
            assert i == len(codes) or found[i] != needle
    widths = {len(c.encode()) for c in codes}
    assert (_searchable(pa.array(codes)).dtype.kind == "S") == (len(widths) == 1)

"""Compound repeats overflow int64 and crash scoring for everyone.

safety in pilot.yaml: repeat factor 2, compound. A frequent offender with 70 unsafe_work
records (-10) within a year gets -10 * 2**69 for the last one; _repeats casts that double
to int64, which DuckDB refuses (conversion error), so score_run fails for every subject and
the offender's statement fails too. There is no bound on factor ** n (schema allows factor
up to 100) and no clear error. Expected: a defined result (e.g. points saturate / clamp).
"""

import datetime as dt

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec

from socialrating.scoring import score_run, statement


def test_many_compound_repeats(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"o1": "organisation", "c1": "citizen"})
    start = dt.date(2021, 1, 1)
    feed(
        store,
        "police",
        [rec("o1", "unsafe_work", (start + dt.timedelta(days=i)).isoformat()) for i in range(70)],
    )
    run = score_run(store, d("2021-12-31"))  # crashes: Conversion Error / out of range
    assert run.subjects == 2
    statement(store, "o1", d("2021-12-31"))

"""The statement crashes on a banded record without a quantity.

Ingest requires a quantity only for parameters banded under the rulebook active *at ingest*.
After a new rulebook makes the parameter banded, old records have quantity NULL; the plan
treats that as 0 (band 0) but statement._notes formats f"{r['quantity']:g}" -> TypeError.
score_run works, so the statement and the batch disagree (one crashes).
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec

from socialrating.ledger import activate_rulebook
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

OLD = PILOT.replace('version: "1"', 'version: "0"').replace(
    """    bands:
      mode: highest
      steps:
        - {from: 10, points: 2}
        - {from: 50, points: 10}
        - {from: 100, points: 20}
        - {from: 300, points: 50}
""",
    "    points: 0\n",
)


def test_statement_of_old_unbanded_record(tmp_path):
    assert OLD.count("mode:") == 1
    store, _ = make_store(tmp_path, OLD, {"c1": "citizen"}, name="old.yaml")
    feed(store, "civil", [rec("c1", "volunteer_hours", "2021-03-01")])
    new = tmp_path / "new.yaml"
    new.write_text(PILOT)
    activate_rulebook(store, load_rulebook(new), backdate="bands from the start")
    score_run(store, d("2021-12-31"))  # fine
    st = statement(store, "c1", d("2021-12-31"))  # TypeError: unsupported format string
    assert st.score == 1000

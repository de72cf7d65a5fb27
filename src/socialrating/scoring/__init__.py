"""The scoring plan (Ibis), scoring runs with their snapshots, and statements.

Its public names are imported on first use (see ``socialrating.lazy``): a statement or a
run whose plans are compiled already needs no Ibis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__all__ = [
    "PlanInputs",
    "RunResult",
    "Statement",
    "StatementLine",
    "attribute_caps",
    "category_totals",
    "evaluate",
    "plan_inputs",
    "run_plan",
    "score_expr",
    "score_run",
    "scores",
    "statement",
]

__getattr__ = exports(
    __name__,
    {
        "plan_inputs": "socialrating.scoring.plans",
        "run_plan": "socialrating.scoring.compiled",
        "PlanInputs": "socialrating.scoring.plan",
        "attribute_caps": "socialrating.scoring.plan",
        "category_totals": "socialrating.scoring.plan",
        "evaluate": "socialrating.scoring.plan",
        "scores": "socialrating.scoring.plan",
        "RunResult": "socialrating.scoring.run",
        "score_expr": "socialrating.scoring.run",
        "score_run": "socialrating.scoring.run",
        "Statement": "socialrating.scoring.statements",
        "StatementLine": "socialrating.scoring.statements",
        "statement": "socialrating.scoring.statements",
    },
)

if TYPE_CHECKING:
    from socialrating.scoring.compiled import run_plan
    from socialrating.scoring.plan import (
        PlanInputs,
        attribute_caps,
        category_totals,
        evaluate,
        scores,
    )
    from socialrating.scoring.plans import plan_inputs
    from socialrating.scoring.run import RunResult, score_expr, score_run
    from socialrating.scoring.statements import Statement, StatementLine, statement

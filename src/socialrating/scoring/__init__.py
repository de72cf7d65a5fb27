"""The scoring plan (Ibis), scoring runs with their snapshots, and statements."""

from socialrating.scoring.compiled import plan_inputs, run_plan
from socialrating.scoring.plan import (
    PlanInputs,
    attribute_caps,
    category_totals,
    evaluate,
    scores,
)
from socialrating.scoring.run import RunResult, score_expr, score_run
from socialrating.scoring.statement import Statement, StatementLine, statement

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

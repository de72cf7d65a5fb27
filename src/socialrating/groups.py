"""The groups aggregates and previews break subjects down by: region, age band and sex."""

from __future__ import annotations

from socialrating.errors import Problem, ProblemsError

BY = ("region", "age_band", "sex")


def group_sql(by: str, as_of: str, subjects: str = "s") -> str:
    """The SQL of a subject's group by ``by``, for the alias ``subjects`` of the subjects
    table; ages are counted as of the SQL date ``as_of`` (in decades: ``30s``).

    Raises:
        ProblemsError: ``by`` is not one of ``BY``.
    """
    s = subjects
    found = {
        "region": f"coalesce({s}.region, 'unknown')",
        "sex": f"coalesce({s}.sex, 'unknown')",
        "age_band": f"CASE WHEN {s}.born IS NULL THEN 'unknown' ELSE "
        f"CAST(10 * (date_diff('year', {s}.born, {as_of}) // 10) AS VARCHAR) || 's' END",
    }.get(by)
    if found is None:
        raise ProblemsError(
            f"cannot group by {by!r}", [Problem("by", None, "by", f"use one of {', '.join(BY)}")]
        )
    return found

"""What a rulebook itself says about rights and due process: the parts of
`socialrating rulebook audit` that need no ledger.

- ``areas``: what it scores, by area of life (the parameters' tags): parameters,
  deductions and additions, the largest deduction; the areas that touch rights
  (``RIGHTS``) stand out;
- ``association``: guilt by association: contagion (who is lowered for whose grade, by
  how much) and joint punishment (which list follows whom, through what link);
- ``due_process``: lists without an exit or without a term; lists a subject enters with no
  record of its own to appeal (by grade, or jointly); parameters a citizen channel can
  trigger without verification; camera parameters with a low confidence threshold;
  retroactive parameters (valued by this version even for records from before it);
- ``proportionality``: the largest single-record deductions against the median one, and
  the longest effects (expiry, list terms).
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from socialrating.model import InstitutionClass

if TYPE_CHECKING:
    from socialrating.rulebook.rulebook import Rulebook

RIGHTS = ("expression", "assembly", "religion", "family", "health", "association", "movement")
"""Areas of life that touch rights: a rulebook scoring them stands out in an audit."""
LOW_CONFIDENCE = 0.9
"""A camera parameter counting identifications below this confidence is flagged."""
TOP = 10


def audit_rulebook(rb: Rulebook) -> dict[str, Any]:
    """The rulebook's own findings (see the module)."""
    rows = rb.parameters.select(
        ["code", "points", "expiry_days", "tags", "institutions", "min_confidence",
         "verify_by_authority", "verify_reporters", "subjects"]
    ).to_pylist()  # fmt: skip
    return {
        "rulebook": {"name": rb.spec.name, "version": rb.spec.version, "hash": rb.hash},
        "areas": _areas(rows),
        "association": _association(rb),
        "due_process": _due_process(rb, rows),
        "proportionality": _proportionality(rb, rows),
    }


def tags_of(row: dict[str, Any]) -> list[str]:
    return [t for t in str(row.get("tags") or "").split(";") if t]


def _areas(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        for tag in tags_of(row) or ["(untagged)"]:
            area = found.setdefault(
                tag,
                {"area": tag, "rights": tag in RIGHTS, "parameters": 0, "deductions": 0,
                 "additions": 0, "largest_deduction": 0},
            )  # fmt: skip
            points = int(row["points"] or 0)
            area["parameters"] += 1
            area["deductions"] += points < 0
            area["additions"] += points > 0
            area["largest_deduction"] = min(area["largest_deduction"], points)
    return sorted(found.values(), key=lambda a: (not a["rights"], -a["parameters"], a["area"]))


def _association(rb: Rulebook) -> dict[str, Any]:
    c = rb.spec.contagion
    contagion = None
    if c is not None:
        contagion = {
            "parameter": c.parameter,
            "from_grades": list(c.from_grades),
            "points": c.points,
            "max_deduction": c.max_deduction,
            "window_days": c.window_days,
            "rounds": c.rounds,
        }
    joint = [
        {"list": lst.code, "follows": j.list, "through": j.through}
        for lst in rb.spec.lists
        for j in lst.enter_with
    ]
    representatives = [
        {"parameter": p.code, "points_representative": p.points_representative}
        for p in rb.spec.parameters
        if p.points_representative
    ]
    return {"contagion": contagion, "joint_lists": joint, "representatives": representatives}


def _due_process(rb: Rulebook, rows: list[dict[str, Any]]) -> dict[str, Any]:
    citizen = set(rb.institutions_of(InstitutionClass.CITIZEN))
    camera = set(rb.institutions_of(InstitutionClass.CAMERA))
    unverified = []
    low = []
    for row in rows:
        channels = set(str(row["institutions"] or "").split(";"))
        if (
            channels & citizen
            and not row["verify_by_authority"]
            and (row["verify_reporters"] is None or int(row["verify_reporters"]) <= 1)
        ):
            unverified.append(row["code"])
        confidence = row["min_confidence"]
        if channels & camera and confidence is not None and float(confidence) < LOW_CONFIDENCE:
            low.append({"parameter": row["code"], "min_confidence": float(confidence)})
    return {
        "lists_without_exit": [
            lst.code for lst in rb.spec.lists if not lst.leave_by and lst.term_days is None
        ],
        "lists_without_term": [lst.code for lst in rb.spec.lists if lst.term_days is None],
        "lists_without_own_record": [
            {"list": lst.code, "entered": how}
            for lst in rb.spec.lists
            for how in (
                *(["by grade"] if lst.enter_at_grades else []),
                *(["jointly"] if lst.enter_with else []),
            )
        ],
        "unverified_citizen_parameters": sorted(unverified),
        "low_confidence_camera_parameters": sorted(low, key=lambda x: x["min_confidence"]),
        "retroactive_parameters": list(rb.spec.retroactive),
    }


def _proportionality(rb: Rulebook, rows: list[dict[str, Any]]) -> dict[str, Any]:
    deductions = sorted((r for r in rows if (r["points"] or 0) < 0), key=lambda r: r["points"])
    median = statistics.median([-r["points"] for r in deductions]) if deductions else 0
    longest = sorted(
        (r for r in rows if r["expiry_days"] is not None), key=lambda r: -int(r["expiry_days"])
    )
    never = sum(1 for r in rows if r["expiry_days"] is None and (r["points"] or 0) < 0)
    return {
        "median_deduction": median,
        "largest_deductions": [
            {
                "parameter": r["code"],
                "points": int(r["points"]),
                "times_median": round(-r["points"] / median, 1) if median else None,
            }
            for r in deductions[:TOP]
        ],
        "longest_expiry": [
            {"parameter": r["code"], "days": int(r["expiry_days"])} for r in longest[:TOP]
        ],
        "deductions_that_never_expire": never,
        "list_terms": sorted(
            ({"list": lst.code, "days": lst.term_days} for lst in rb.spec.lists),
            key=lambda x: -(x["days"] if x["days"] is not None else 10**9),
        ),
    }

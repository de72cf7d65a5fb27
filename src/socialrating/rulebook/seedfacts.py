"""The seed rulebook's figures, generated from the seed itself, for docs/rulebook.md.

Section 4 of docs/rulebook.md explains the seed's choices. Its figures (how many
institutions, categories and parameters; the grade bands; the caps; the points of every
parameter for citizens; the organisation areas) are generated here and kept in the file
between markers, one block per name::

    <!-- seed-facts:summary:begin -->
    ...
    <!-- seed-facts:summary:end -->

``python -m socialrating.rulebook.seedfacts`` prints the blocks; with ``--write`` it puts
them into docs/rulebook.md in place. ``tests/test_seed_docs.py`` fails when the file and
the seed disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from socialrating.model import InstitutionClass
from socialrating.rulebook.loader import load_rulebook
from socialrating.rulebook.rulebook import Rulebook
from socialrating.rulebook.schema import Band, Cap, Parameter, QuantityBands
from socialrating.settings import PROJECT_ROOT

SEED = PROJECT_ROOT / "rulebooks" / "seed.yaml"
DOC = PROJECT_ROOT / "docs" / "rulebook.md"
# SPEC section 7's six areas of organisation requirements, one category each.
ORGANISATION_AREAS = (
    "organisation_tax",
    "organisation_hiring",
    "organisation_environment",
    "organisation_labour",
    "organisation_quality",
    "organisation_cyber",
)
SUBJECTS = {"citizen": "citizens", "organisation": "organisations", "any": "both kinds"}


def begin(name: str) -> str:
    return f"<!-- seed-facts:{name}:begin -->"


def end(name: str) -> str:
    return f"<!-- seed-facts:{name}:end -->"


def pts(value: float) -> str:
    """Points as the docs write them: a sign always, a true minus sign, thousands apart."""
    text = f"{int(abs(value)):,}" if float(value).is_integer() else f"{abs(value):g}"
    return ("+" if value > 0 else "−" if value < 0 else "") + text  # noqa: RUF001


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def counted(counter: Counter[str], order: Sequence[str], names: dict[str, str]) -> str:
    """``12: 8 for citizens, 4 for organisations`` in a fixed order, zeros left out."""
    parts = [f"{counter[k]:,} {names[k]}" for k in order if counter[k]]
    return f"{sum(counter.values()):,}: " + ", ".join(parts)


def yaml_parameters(rb: Rulebook) -> list[Parameter]:
    return list(rb.spec.parameters)


def catalogue_column(rb: Rulebook, name: str) -> list[object]:
    """A column of the catalogue's rows (the compiled table after the YAML's parameters)."""
    n = len(rb.spec.parameters)
    values: list[object] = rb.parameters.column(name).slice(n).to_pylist()
    return values


def cap_text(cap: Cap | None) -> str:
    if cap is None:
        return "none"
    limits = [pts(-cap.max_deduction) if cap.max_deduction is not None else ""]
    limits.append(pts(cap.max_addition) if cap.max_addition is not None else "")
    period = "per calendar year" if cap.calendar_year else f"per {cap.period_days} days"
    return " / ".join(x for x in limits if x) + f" {period}"


def bands_text(bands: QuantityBands) -> str:
    if bands.mode == "highest":
        steps = [f"{pts(s.points or 0)} from {s.from_:,g}" for s in bands.steps]
        return "highest band: " + ", ".join(steps)
    steps = [f"{s.per_unit:g} a unit from {s.from_:,g}" for s in bands.steps]
    return "marginal bands: " + ", ".join(steps)


def points_text(rb: Rulebook, p: Parameter) -> str:
    """A parameter's points and the pilot mechanics that change them, in a few words."""
    if p.bands is not None:
        text = bands_text(p.bands)
    else:
        text = pts(p.points or 0) + (" a unit" if p.per_unit else "")
    extra = []
    if p.direct_grade is not None:
        extra.append(f"grade {p.direct_grade} directly")
    if p.repairs:
        extra.append("ends " + ", ".join(f"`{c}`" for c in p.repairs))
    if p.points_organisation is not None:
        extra.append(f"organisations {pts(p.points_organisation)}")
    if p.points_representative is not None:
        extra.append(f"legal representatives {pts(p.points_representative)}")
    if p.reduction is not None:
        extra.append("a reduction")
    if p.validity is not None:
        extra.append("validity by " + ("level" if any(v.level for v in p.validity) else "points"))
    return text + (f" ({'; '.join(extra)})" if extra else "")


def summary(rb: Rulebook) -> list[str]:
    spec = rb.spec
    params = yaml_parameters(rb)
    classes = Counter(i.class_.value for i in spec.institutions)
    order = ("citizen", "organisation", "any")
    in_yaml = Counter(str(p.subjects) for p in params)
    in_catalogue = Counter(str(s) for s in catalogue_column(rb, "subjects"))
    caps = Counter(
        "without a cap"
        if c.cap is None
        else "capped per calendar year"
        if c.cap.calendar_year
        else f"capped per {c.cap.period_days} days"
        for c in spec.categories
    )
    cap_kinds = {k: k for k in caps}
    areas = sum(p.category in ORGANISATION_AREAS for p in params)
    mechanics: list[tuple[str, Callable[[Parameter], bool]]] = [
        ("quantity bands", lambda p: p.bands is not None),
        ("validity rules", lambda p: p.validity is not None),
        ("direct grades", lambda p: p.direct_grade is not None),
        ("repairs", lambda p: bool(p.repairs)),
        ("reductions", lambda p: p.reduction is not None),
        ("points for organisations", lambda p: p.points_organisation is not None),
        ("points for legal representatives", lambda p: p.points_representative is not None),
    ]
    repeats = [c.code for c in spec.categories if c.repeat is not None]
    services = Counter(str(s.subjects) for s in spec.services)
    contagion = spec.contagion
    rows: list[tuple[str, str]] = [
        ("name, version", f"`{spec.name}`, {spec.version}"),
        (
            "effective",
            f"{spec.effective.isoformat()}, every subject starting at {spec.base_score}",
        ),
        (
            "institutions",
            counted(classes, [c.value for c in InstitutionClass], {c: c for c in classes}),
        ),
        ("categories", counted(caps, sorted(caps, key=_cap_order), cap_kinds)),
        (
            "parameters written out in the YAML",
            counted(in_yaml, order, {k: f"for {SUBJECTS[k]}" for k in order}),
        ),
        (
            "of them, organisation requirements",
            f"{areas:,}, in {len(ORGANISATION_AREAS)} areas (below)",
        ),
        (
            f"rows of the catalogue (`{spec.catalogue}`)",
            counted(in_catalogue, order, {k: f"for {SUBJECTS[k]}" for k in order}),
        ),
        ("parameters in all", f"{rb.parameters.num_rows:,}"),
        ("citizen grades", _grades_line(rb.bands("citizen"))),
        ("organisation grades", _grades_line(rb.bands("organisation"))),
        (
            "pilot mechanics (parameters)",
            ", ".join(f"{name} {sum(map(has, params))}" for name, has in mechanics)
            + "; repeats in "
            + (", ".join(f"`{c}`" for c in repeats) or "no category"),
        ),
        ("stages", ", ".join(f"`{s.name}`" for s in spec.stages) or "none"),
        ("lists", _codes([(lst.code, lst.subjects) for lst in spec.lists])),
        (
            "services",
            f"{len(spec.services)}: "
            + "; ".join(
                f"{services[k]} for {SUBJECTS[k]} ("
                + ", ".join(f"`{s.code}`" for s in spec.services if s.subjects == k)
                + ")"
                for k in order
                if services[k]
            ),
        ),
        (
            "legal representatives",
            f"`{spec.representatives.parameter}`" if spec.representatives else "none",
        ),
        (
            "contagion",
            "none"
            if contagion is None
            else f"`{contagion.parameter}` of the last {contagion.window_days} days: "
            f"{pts(contagion.points)} a contact graded {', '.join(contagion.from_grades)}, "
            f"at most {pts(-contagion.max_deduction)}, {contagion.rounds} rounds",
        ),
    ]
    return table(("figure", "the seed"), rows)


def _cap_order(kind: str) -> tuple[int, str]:
    return (0 if kind.startswith("capped per") else 1 if kind.startswith("capped") else 2, kind)


def _grades_line(bands: list[Band]) -> str:
    return f"{len(bands)}: " + ", ".join(b.grade for b in bands)


def _codes(items: list[tuple[str, str]]) -> str:
    return f"{len(items)}: " + ", ".join(
        f"`{code}`" + ("" if subjects == "citizen" else f" ({SUBJECTS[subjects]})")
        for code, subjects in items
    )


def grades(rb: Rulebook) -> list[str]:
    lines: list[str] = []
    for kind in ("citizen", "organisation"):
        rows = []
        for b in rb.bands(kind):
            low = "—" if b.min is None else str(b.min)
            if b.direct_score is not None:
                low += f" (direct score {b.direct_score})"
            rows.append((b.grade, low, b.label))
        lines += (
            [f"{SUBJECTS[kind].capitalize()}:", ""]
            if not lines
            else ["", f"{SUBJECTS[kind].capitalize()}:", ""]
        )
        lines += table(("grade", "min", "label"), rows)
    return lines


def categories(rb: Rulebook) -> list[str]:
    in_yaml = Counter(p.category for p in rb.spec.parameters)
    in_catalogue = Counter(str(c) for c in catalogue_column(rb, "category"))
    rows = [
        (
            f"`{c.code}`",
            c.name,
            cap_text(c.cap),
            "—"
            if c.repeat is None
            else f"×{c.repeat.factor:g}"  # noqa: RUF001
            + (", compounding" if c.repeat.compound else ""),
            f"{in_yaml[c.code]:,}",
            f"{in_catalogue[c.code]:,}",
        )
        for c in rb.spec.categories
    ]
    header = ("category", "name", "cap", "repeat", "in the YAML", "in the catalogue")
    return table(header, rows)


def citizen_scale(rb: Rulebook) -> list[str]:
    rows = []
    for c in rb.spec.categories:
        params = [
            p for p in rb.spec.parameters if p.category == c.code and p.subjects != "organisation"
        ]
        if not params:
            continue
        text = "; ".join(f"`{p.code.split('.', 1)[1]}`: {points_text(rb, p)}" for p in params)
        rows.append((f"`{c.code}`", text))
    return table(("category", "parameters (codes without their first part): points"), rows)


def organisation_areas(rb: Rulebook) -> list[str]:
    by_code = {c.code: c for c in rb.spec.categories}
    rows = []
    total = additions = 0
    deductions: list[int] = []
    for code in ORGANISATION_AREAS:
        params = [p for p in rb.spec.parameters if p.category == code]
        prefixes = sorted({p.code.rsplit(".", 1)[0] for p in params})
        fixed = [
            p.points for p in params if p.points is not None and p.points < 0 and not p.per_unit
        ]
        adds = sum((p.points or 0) > 0 for p in params)
        total, additions, deductions = total + len(params), additions + adds, deductions + fixed
        name = by_code[code].name.removeprefix("Organisation ")
        rows.append(
            (
                name,
                ", ".join(f"`{x}.*`" for x in prefixes),
                f"`{code}` ({cap_text(by_code[code].cap)})",
                str(len(params)),
                str(adds),
                pts(round(sum(fixed) / len(fixed))) if fixed else "—",
            )
        )
    mean = pts(round(sum(deductions) / len(deductions))) if deductions else "—"
    rows.append(("**all six**", "", "", f"**{total}**", str(additions), mean))
    header = (
        "area",
        "codes",
        "category (cap)",
        "requirements",
        "of them additions",
        "mean deduction",
    )
    return table(header, rows)


# The blocks of docs/rulebook.md section 4, in the order they appear there.
BLOCKS: tuple[tuple[str, Callable[[Rulebook], list[str]]], ...] = (
    ("summary", summary),
    ("grades", grades),
    ("categories", categories),
    ("citizen_scale", citizen_scale),
    ("organisation_areas", organisation_areas),
)


def seed_facts(rb: Rulebook) -> dict[str, str]:
    """The markdown of every block of figures, by name (without the markers)."""
    return {name: "\n".join(make(rb)) for name, make in BLOCKS}


def doc_blocks(text: str) -> dict[str, str]:
    """The blocks found between the markers of ``text``, by name."""
    pattern = re.compile(
        r"<!-- seed-facts:(?P<name>[a-z_]+):begin -->\n(?P<body>.*?)\n<!-- seed-facts:(?P=name):end -->",
        re.DOTALL,
    )
    return {m["name"]: m["body"] for m in pattern.finditer(text)}


def with_blocks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each block's markers enclosing its new content.

    Raises:
        ValueError: a block's markers are missing from ``text`` (add them where it goes).
    """
    for name, body in blocks.items():
        start, stop = text.find(begin(name)), text.find(end(name))
        if start < 0 or stop < start:
            raise ValueError(f"no markers {begin(name)} … {end(name)} in the text")
        text = text[: start + len(begin(name))] + "\n" + body + "\n" + text[stop:]
    return text


def render(blocks: dict[str, str]) -> str:
    return "\n\n".join(f"{begin(n)}\n{body}\n{end(n)}" for n, body in blocks.items()) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m socialrating.rulebook.seedfacts",
        description="Print the seed rulebook's figures for docs/rulebook.md section 4.",
    )
    parser.add_argument("--rulebook", type=Path, default=SEED, help="the seed's YAML file")
    parser.add_argument("--write", action="store_true", help=f"update the blocks of {DOC} in place")
    parser.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    blocks = seed_facts(load_rulebook(args.rulebook))
    if not args.write:
        sys.stdout.write(render(blocks))
        return 0
    text = args.doc.read_text(encoding="utf-8")
    new = with_blocks(text, blocks)
    if new != text:
        args.doc.write_text(new, encoding="utf-8")
    print(f"{args.doc}: {'updated' if new != text else 'already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

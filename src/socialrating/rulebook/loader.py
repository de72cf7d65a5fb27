"""Load a rulebook from its files and validate it, collecting every problem at once.

The stages: read the YAML (remembering lines) → check types with pydantic → read the
catalogue → check each catalogue row → check what spans fields → compile. Every problem
names the file, the line and the field.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from socialrating.errors import Problem, RulebookError
from socialrating.rulebook.catalogue import check_catalogue, compile_catalogue, read_catalogue
from socialrating.rulebook.rulebook import (
    MAX_DIRECT_GRADES,
    MAX_LISTS,
    Rulebook,
    compile_parameters,
    content_hash,
)
from socialrating.rulebook.salvage import salvage
from socialrating.rulebook.schema import Band, Linked, Parameter, RulebookSpec
from socialrating.rulebook.yamlpos import YamlSyntaxError, line_of, load_with_lines

Lines = dict[tuple[str | int, ...], int]


def load_rulebook(path: str | Path) -> Rulebook:
    """Load and validate the rulebook at ``path``.

    Raises:
        RulebookError: with every problem found, each naming file, line and field.
    """
    path = Path(path)
    try:
        yaml_bytes = path.read_bytes()
    except OSError as exc:
        raise RulebookError(f"cannot read rulebook {path}", [_p(path, None, "", str(exc))]) from exc
    return _load(path, yaml_bytes, lambda name: (path.parent / name).read_bytes())


def load_rulebook_from_bytes(
    name: str, yaml_bytes: bytes, catalogue_name: str | None, catalogue_bytes: bytes
) -> Rulebook:
    """Load a rulebook stored elsewhere (for example in the database)."""

    def read(wanted: str) -> bytes:
        if wanted != catalogue_name:
            raise OSError(f"catalogue {wanted!r} was not stored with the rulebook")
        return catalogue_bytes

    return _load(Path(name), yaml_bytes, read)


def check_rulebook(path: str | Path) -> list[Problem]:
    """Every problem of the rulebook at ``path``; empty when it is valid."""
    try:
        load_rulebook(path)
    except RulebookError as exc:
        return exc.problems
    return []


def _load(path: Path, yaml_bytes: bytes, read_catalogue_file: Callable[[str], bytes]) -> Rulebook:
    src = str(path)
    try:
        text = yaml_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulebookError(
            f"rulebook {src} is not valid", [_p(path, None, "", f"not UTF-8: {exc}")]
        ) from None
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise RulebookError(
            f"rulebook {src} is not valid", [_p(path, exc.line, "", exc.reason)]
        ) from None
    if not isinstance(data, dict):
        raise RulebookError(
            f"rulebook {src} is not valid",
            [_p(path, 1, "", "the rulebook must be a mapping of keys to values")],
        )
    problems = _check_points(path, data, lines)
    salvaged = None
    try:
        spec = RulebookSpec.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(path, exc, lines)
        salvaged = salvage(data, lines, exc)
        if salvaged is None:
            raise RulebookError(
                f"rulebook {src} is not valid", sorted(problems, key=_order)
            ) from None
        spec, lines = salvaged.spec, salvaged.lines

    found = _check_spec(path, spec, lines) + _check_parameters(path, spec, lines)
    catalogue_bytes = b""
    catalogue = None
    if spec.catalogue:
        cat_path = path.parent / spec.catalogue
        try:
            catalogue_bytes = read_catalogue_file(spec.catalogue)
        except OSError as exc:
            found.append(
                _p(path, line_of(lines, ("catalogue",)), "catalogue", f"cannot read: {exc}")
            )
        else:
            table, cat_problems = read_catalogue(cat_path, catalogue_bytes)
            found += cat_problems
            if table is not None:
                yaml_codes = {
                    p.code: f"{path}:{line_of(lines, ('parameters', i))}"
                    for i, p in enumerate(spec.parameters)
                }
                found += check_catalogue(cat_path, table, spec, yaml_codes)
                if not problems and not found:
                    catalogue = compile_catalogue(table, spec)
    if not problems and not found:
        found += _check_retroactive(path, spec, catalogue, lines)
    problems += salvaged.report(found) if salvaged is not None else found
    if problems:
        raise RulebookError(
            f"rulebook {src} has {len(problems)} problem(s)", sorted(problems, key=_order)
        )
    return Rulebook(
        spec=spec,
        parameters=compile_parameters(spec, catalogue),
        hash=content_hash(yaml_bytes, spec.catalogue, catalogue_bytes),
        yaml_text=text,
        catalogue_name=spec.catalogue,
        catalogue_bytes=catalogue_bytes,
    )


def _check_points(path: Path, data: dict[str, Any], lines: Lines) -> list[Problem]:
    """A parameter gives its ``points``, or ``bands`` give them, never both (points beside
    bands would never count). Read from the YAML as written, so that a parameter set aside
    for another error is checked too."""
    problems = []
    parameters = data.get("parameters")
    for i, p in enumerate(parameters if isinstance(parameters, list) else []):
        if not isinstance(p, dict):
            continue
        at: tuple[str | int, ...] = ("parameters", i, "points")
        if "points" not in p and p.get("bands") is None and p.get("rectifies") is None:
            problems.append(_p(path, line_of(lines, at), _dotted(at), "Field required"))
        elif "points" in p and p.get("bands") is not None:
            reason = (
                "points beside bands would never count: the bands give the points "
                "(leave out points)"
            )
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
        elif "points" in p and p.get("rectifies") is not None:
            reason = (
                "points beside rectifies would never count: its windows give the points "
                "(leave out points)"
            )
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
    return problems


def _check_retroactive(
    path: Path, spec: RulebookSpec, catalogue: dict[str, Any] | None, lines: Lines
) -> list[Problem]:
    """Each retroactive code names a parameter of the rulebook (YAML or catalogue), once."""
    known = {p.code for p in spec.parameters}
    if catalogue is not None:
        known |= {str(c) for c in catalogue["code"].to_pylist()}
    problems = []
    seen: set[str] = set()
    for i, code in enumerate(spec.retroactive):
        at: tuple[str | int, ...] = ("retroactive", i)
        if code not in known:
            reason = f"{code!r} is not a parameter of the rulebook"
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
        elif code in seen:
            problems.append(_p(path, line_of(lines, at), _dotted(at), f"{code!r} is listed twice"))
        seen.add(code)
    return problems


def _order(p: Problem) -> tuple[str, int, str]:
    return (p.source, p.line or 0, p.field)


def _p(path: Path, line: int | None, field: str, reason: str) -> Problem:
    return Problem(str(path), line, field, reason)


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problems(path: Path, exc: ValidationError, lines: Lines) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        reason = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden"):
            reason += f" (got {err['input']!r})"
        elif err["type"] == "extra_forbidden":
            reason = "unknown field"
        problems.append(_p(path, line_of(lines, loc), _dotted(loc), reason))
    return sorted(problems, key=_order)


def _duplicates(codes: Iterable[str]) -> set[str]:
    return {code for code, n in Counter(codes).items() if n > 1}


def _check_bands(path: Path, kind: str, bands: list[Band], lines: Lines) -> list[Problem]:
    problems = []
    where = ("grades", kind)
    above: int | None = None  # the min of the nearest band above taken by score
    for i, band in enumerate(bands):
        last = i == len(bands) - 1
        if not band.by_score:
            reason = None
            if last:
                reason = (
                    "the lowest band takes every score below the band above it: it cannot "
                    "have by_score: false"
                )
            elif band.min is not None:
                reason = "a band with by_score: false takes no score: leave out min"
            if reason:
                at = (*where, i, "by_score" if last else "min")
                problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
            continue
        if last and band.min is not None:
            problems.append(
                _p(
                    path,
                    line_of(lines, (*where, i, "min")),
                    f"grades.{kind}[{i}].min",
                    "the lowest band takes every score below the band above it: leave out min",
                )
            )
        if not last and band.min is None:
            problems.append(
                _p(
                    path,
                    line_of(lines, (*where, i)),
                    f"grades.{kind}[{i}].min",
                    "every band but the lowest needs a min",
                )
            )
        if band.min is not None and above is not None and band.min >= above:
            problems.append(
                _p(
                    path,
                    line_of(lines, (*where, i, "min")),
                    f"grades.{kind}[{i}].min",
                    f"bands go from highest to lowest: {band.min} is not below {above}",
                )
            )
        above = band.min if band.min is not None else above
    for grade in _duplicates(b.grade for b in bands):
        problems.append(
            _p(path, line_of(lines, where), f"grades.{kind}", f"grade {grade!r} repeats")
        )
    return problems


def _check_spec(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    problems = _check_bands(path, "citizen", spec.grades.citizen, lines)
    problems += _check_bands(path, "organisation", spec.grades.organisation, lines)
    for section, codes in (
        ("institutions", [i.code for i in spec.institutions]),
        ("categories", [c.code for c in spec.categories]),
    ):
        for code in _duplicates(codes):
            i = codes.index(code, codes.index(code) + 1)
            problems.append(
                _p(
                    path,
                    line_of(lines, (section, i, "code")),
                    f"{section}[{i}].code",
                    f"code {code!r} is used twice",
                )
            )
    for i, cat in enumerate(spec.categories):
        cap_problem = None
        if cat.cap and cat.cap.max_deduction is None and cat.cap.max_addition is None:
            cap_problem = "a cap needs max_deduction, max_addition or both"
        elif cat.cap and (cat.cap.period_days is None) == (not cat.cap.calendar_year):
            cap_problem = "a cap needs its period: period_days or calendar_year: true (not both)"
        if cap_problem:
            where = ("categories", i, "cap")
            problems.append(_p(path, line_of(lines, where), _dotted(where), cap_problem))
    problems += _check_stages(path, spec, lines)
    problems += _check_bounds(path, spec, lines)
    problems += _check_contagion(path, spec, lines)
    problems += _check_lists(path, spec, lines)
    problems += _check_services(path, spec, lines)
    problems += _check_verification(path, ("reports",), spec.reports, lines)
    problems += _check_appeals(path, spec, lines)
    problems += _check_grade_limits(path, spec, lines)
    problems += _check_exports(path, spec, lines)
    if spec.retention is not None and (spec.retention.days is None) == (
        spec.retention.months is None
    ):
        at: tuple[str | int, ...] = ("retention",)
        problems.append(_p(path, line_of(lines, at), "retention", "give one of days and months"))
    problems += _check_measures(path, spec, lines)
    return problems


def _check_measures(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    """A measure names parameters of the YAML, one exposure, ascending time weights and
    peer groups, and a last threshold for everyone; a list enters by measures it has."""
    problems = []
    yaml_codes = {p.code for p in spec.parameters}
    codes = [m.code for m in spec.measures]
    for i, m in enumerate(spec.measures):

        def bad(field: str, reason: str, i: int = i) -> None:
            steps = [int(s) if s.isdigit() else s for s in field.split(".") if s]
            at: tuple[str | int, ...] = ("measures", i, *steps)
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

        if codes.index(m.code) != i:
            bad("code", f"code {m.code!r} is used twice")
        named = [
            ("weights", list(m.weights)),
            ("per.records", m.per.records or []),
            ("per.quantity", [m.per.quantity] if m.per.quantity else []),
            ("peers.count", m.peers.count),
            *[(f"thresholds.{j}.with", t.with_ or []) for j, t in enumerate(m.thresholds)],
        ]
        for field, found in named:
            for code in found:
                if code not in yaml_codes:
                    bad(field, f"{code!r} is not a parameter of the YAML")
        if (m.per.records is None) == (m.per.quantity is None):
            bad("per", "give exactly one exposure: records (inspections) or quantity")
        months = [t.months for t in m.time_weights]
        if months != sorted(set(months)):
            bad("time_weights", "the months must rise from one time weight to the next")
        if m.peers.groups != sorted(set(m.peers.groups)):
            bad("peers.groups", "the groups' lowest counts must rise from one group to the next")
        if m.thresholds[-1].with_ is not None:
            bad("thresholds", "the last threshold applies to everyone: leave out its `with`")
        for j, t in enumerate(m.thresholds[:-1]):
            if t.with_ is None:
                bad(f"thresholds.{j}", "only the last threshold may leave out `with`")
    for i, lst in enumerate(spec.lists):
        for code in lst.enter_at_alerts:
            measure = next((x for x in spec.measures if x.code == code), None)
            at: tuple[str | int, ...] = ("lists", i, "enter_at_alerts")
            if measure is None:
                reason = f"{code!r} is not a measure of the rulebook"
            elif measure.subjects not in ("any", lst.subjects) and lst.subjects != "any":
                kinds = f"{measure.subjects}s, the list of {lst.subjects}s"
                reason = f"measure {code!r} is of {kinds}"
            else:
                continue
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
    return problems


def _check_grade_limits(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    """A limit names grades its subjects have, parameters of the YAML and a condition."""
    problems = []
    yaml_codes = {p.code for p in spec.parameters}
    lists = {lst.code: lst for lst in spec.lists}
    codes = [g.code for g in spec.grade_limits]
    for i, limit in enumerate(spec.grade_limits):

        def bad(field: str, reason: str, i: int = i) -> None:
            at: tuple[str | int, ...] = (
                ("grade_limits", i, *field.split("."))
                if field
                else (
                    "grade_limits",
                    i,
                )
            )
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

        if codes.index(limit.code) != i:
            bad("code", f"code {limit.code!r} is used twice")
        w = limit.when
        given = (w.registered_within_years, w.graded_last_year, w.records, w.on_lists, w.linked)
        if not any(c is not None and c != [] for c in given):
            bad(
                "when",
                "give a condition: registered_within_years, graded_last_year, records, "
                "on_lists or linked",
            )
        for kind, grades in _grades_of(spec, limit.subjects):
            if limit.at_best not in grades:
                bad("at_best", f"no grade {limit.at_best!r} for {kind}s")
            for grade in w.graded_last_year or []:
                if grade not in grades:
                    bad("when.graded_last_year", f"no grade {grade!r} for {kind}s")
        for code in w.records or []:
            if code not in yaml_codes:
                bad("when.records", f"{code!r} is not a parameter of the YAML")
        for code in w.on_lists or []:
            lst = lists.get(code)
            if lst is None:
                bad("when.on_lists", f"no list {code!r} in the rulebook")
            elif not _entered_otherwise(lists, code):
                bad(
                    "when.on_lists",
                    f"list {code!r} is entered only at grades: a limit cannot look at it "
                    "(the grade is what the limit makes)",
                )
        if w.linked is not None:
            for reason in _linked_path(spec, limit.subjects, w.linked):
                bad(*reason)
    return problems


def _check_exports(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    """An export's code is unique and its grades are grades its subjects have (the
    parameters are the other rulebook's: `export` checks them against it)."""
    problems = []
    codes = [e.code for e in spec.exports]
    for i, export in enumerate(spec.exports):
        if codes.index(export.code) != i:
            at: tuple[str | int, ...] = ("exports", i, "code")
            problems.append(
                _p(path, line_of(lines, at), _dotted(at), f"code {export.code!r} is used twice")
            )
        for kind, grades in _grades_of(spec, export.subjects):
            for grade in export.grades:
                if grade not in grades:
                    at = ("exports", i, "grades", grade)
                    problems.append(
                        _p(path, line_of(lines, at), _dotted(at), f"no grade {grade!r} for {kind}s")
                    )
    return problems


def _entered_otherwise(
    lists: dict[str, Any], code: str, seen: frozenset[str] = frozenset()
) -> bool:
    """List ``code`` can have a member by a record or an alert, or carried by joint
    punishment from a list that can (not only by grade)."""
    lst = lists[code]
    if lst.enter_by or lst.enter_at_alerts:
        return True
    return any(
        j.list in lists and j.list not in seen and _entered_otherwise(lists, j.list, seen | {code})
        for j in lst.enter_with
    )


def _linked_path(spec: RulebookSpec, subjects: str, linked: Linked) -> list[tuple[str, str]]:
    """What is wrong with a limit's ``linked`` condition: a path whose links do not follow
    on (a representative is a person, whose organisations are organisations), that does
    not end at the limit's subjects, grades its first subject cannot have, or a rulebook
    without legal representatives."""
    found = []
    if spec.representatives is None:
        found.append(("when.linked", "needs representatives: the rulebook names none"))
    # The kind each link starts from: an organisation's representative, a person's firms.
    start = {"representative": "organisation", "organisations": "citizen"}
    end = {"representative": "citizen", "organisations": "organisation"}
    path = linked.through
    for a, b in itertools.pairwise(path):
        if end[a] != start[b]:
            found.append(
                ("when.linked.through", f"{b!r} cannot follow {a!r}: it starts from {start[b]}s")
            )
        elif (a, b) == ("organisations", "representative"):
            found.append(
                (
                    "when.linked.through",
                    "'representative' after 'organisations' goes back to the person it "
                    "started from (an organisation has one representative a day)",
                )
            )
    if subjects != "any" and end[path[-1]] != subjects:
        found.append(
            (
                "when.linked.through",
                f"the path ends at {end[path[-1]]}s, but the limit is for {subjects}s",
            )
        )
    first = start[path[0]]
    [(_, grades)] = _grades_of(spec, first)
    for grade in linked.graded:
        if grade not in grades:
            found.append(("when.linked.graded", f"no grade {grade!r} for {first}s"))
    return found


def _check_appeals(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    """Holidays only count working days, and each is listed once."""
    a = spec.appeals
    problems = []
    if a.holidays and not a.working_days:
        at: tuple[str | int, ...] = ("appeals", "holidays")
        reason = "holidays only matter with working_days: true (calendar days count every day)"
        problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
    seen: set[object] = set()
    for i, day in enumerate(a.holidays):
        if day in seen:
            at = ("appeals", "holidays", i)
            problems.append(_p(path, line_of(lines, at), _dotted(at), f"{day} is listed twice"))
        seen.add(day)
    return problems


def _grades_of(spec: RulebookSpec, subjects: str) -> list[tuple[str, set[str]]]:
    kinds = ("citizen", "organisation") if subjects == "any" else (subjects,)
    return [(k, {b.grade for b in getattr(spec.grades, k)}) for k in kinds]


def _check_lists(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    problems = []
    yaml_codes = {p.code for p in spec.parameters}
    for i, lst in enumerate(spec.lists):

        def bad(field: str, reason: str, i: int = i) -> None:
            at: tuple[str | int, ...] = ("lists", i, field) if field else ("lists", i)
            problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

        for field in ("enter_by", "leave_by"):
            for code in getattr(lst, field):
                if code not in yaml_codes:
                    bad(field, f"{code!r} is not a parameter of the YAML")
        for code in lst.term_by:
            if code not in lst.enter_by:
                bad("term_by", f"{code!r} is not one of the list's enter_by parameters")
        for code in lst.extend_by:
            if code not in yaml_codes:
                bad("extend_by", f"{code!r} is not a parameter of the YAML")
            elif code in lst.enter_by or code in lst.leave_by:
                bad("extend_by", f"{code!r} already enters or leaves the list")
        fixed = lst.term_days is not None or any(d is not None for d in lst.term_by.values())
        if lst.extend_by and not fixed:
            bad("extend_by", "only a fixed term can be extended: set term_days or term_by")
        for bar in lst.bars:
            if bar.after not in lst.leave_by:
                bad("bars", f"{bar.after!r} is not one of the list's leave_by parameters")
        for kind, grades in _grades_of(spec, lst.subjects):
            for grade in lst.enter_at_grades:
                if grade not in grades:
                    bad("enter_at_grades", f"no grade {grade!r} for {kind}s")
        if not (lst.enter_by or lst.enter_at_grades or lst.enter_with or lst.enter_at_alerts):
            bad(
                "",
                "nobody could ever enter: set enter_by, enter_at_grades, enter_with or "
                "enter_at_alerts",
            )
        earlier = {x.code for x in spec.lists[:i]}
        for joint in lst.enter_with:
            if joint.list not in earlier:
                bad("enter_with", f"list {joint.list!r} must be defined before {lst.code!r}")
        if lst.enter_with and spec.representatives is None:
            bad("enter_with", "joint punishment needs `representatives` in the rulebook")
    if spec.representatives is not None and spec.representatives.parameter not in yaml_codes:
        at: tuple[str | int, ...] = ("representatives", "parameter")
        reason = f"{spec.representatives.parameter!r} is not a parameter of the YAML"
        problems.append(_p(path, line_of(lines, at), _dotted(at), reason))
    codes = [lst.code for lst in spec.lists]
    for code in _duplicates(codes):
        at = ("lists", codes.index(code, codes.index(code) + 1), "code")
        problems.append(_p(path, line_of(lines, at), _dotted(at), f"list {code!r} repeats"))
    if len(codes) > MAX_LISTS:
        at = ("lists", MAX_LISTS)
        problems.append(_p(path, line_of(lines, at), "lists", f"at most {MAX_LISTS} lists"))
    return problems


def _check_contagion(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    c = spec.contagion
    if c is None:
        return []
    problems = []

    def bad(field: str, reason: str) -> None:
        at: tuple[str | int, ...] = ("contagion", field)
        problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

    if c.parameter not in {p.code for p in spec.parameters}:
        bad("parameter", f"{c.parameter!r} is not a parameter of the YAML")
    order = [b.grade for b in spec.grades.citizen]
    unknown = [g for g in c.from_grades if g not in order]
    if unknown:
        bad("from_grades", f"no grade {unknown[0]!r} for citizens")
    elif set(c.from_grades) != set(order[len(order) - len(set(c.from_grades)) :]):
        lowest = order[len(order) - len(set(c.from_grades)) :]
        bad(
            "from_grades",
            f"must be the lowest citizen grades ({', '.join(lowest)}), so that each round "
            "can only lower scores",
        )
    elif len(set(c.from_grades)) == len(order):
        bad("from_grades", "cannot be every citizen grade: nobody would be left to lower")
    return problems


def _check_bounds(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    """The floor and ceiling: in order, around the base score, and leaving every grade,
    direct score and stage reachable (so bounding a score never changes its grade)."""
    low, high = spec.floor, spec.ceiling
    if low is None and high is None:
        return []
    problems = []

    def bad(at: tuple[str | int, ...], reason: str) -> None:
        problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

    if low is not None and high is not None and low >= high:
        bad(("floor",), f"the floor {low} is not below the ceiling {high}")
    if low is not None and low > spec.base_score:
        bad(("floor",), f"the floor {low} is above base_score {spec.base_score}")
    if high is not None and high < spec.base_score:
        bad(("ceiling",), f"the ceiling {high} is below base_score {spec.base_score}")
    for kind in ("citizen", "organisation"):
        bands: list[Band] = [b for b in getattr(spec.grades, kind) if b.by_score]
        top, second_lowest = bands[0].min, bands[-2].min if len(bands) > 1 else None
        if low is not None and second_lowest is not None and low >= second_lowest:
            bad(
                ("floor",),
                f"the lowest {kind} grade {bands[-1].grade!r} could never be reached: its "
                f"scores are below {second_lowest}, under the floor {low}",
            )
        if high is not None and top is not None and high < top:
            bad(
                ("ceiling",),
                f"the highest {kind} grade {bands[0].grade!r} could never be reached: it "
                f"starts at {top}, above the ceiling {high}",
            )
        graded = {
            p.code: p.direct_grade
            for p in spec.parameters
            if p.direct_grade is not None and p.subjects in (kind, "any")
        }
        for i, band in enumerate(bands):
            users = [code for code, grade in graded.items() if grade == band.grade]
            score, field = band.direct_score, "direct_score"
            if score is None and users:
                score, field = band.min, "min"
            if score is None:
                continue
            why = f"a subject graded {band.grade!r} directly stands at its {field} {score}"
            fix = "" if field == "direct_score" else " (set a direct_score within the bounds)"
            if low is not None and score < low:
                bad(("grades", kind, i, field), f"{why}, below the floor {low}{fix}")
            if high is not None and score > high:
                bad(("grades", kind, i, field), f"{why}, above the ceiling {high}{fix}")
    for i, stage in enumerate(spec.stages):
        if stage.at_least is not None and high is not None and stage.at_least > high:
            reason = f"never reached: at_least {stage.at_least} is above the ceiling {high}"
            bad(("stages", i, "at_least"), reason)
        if stage.at_most is not None and low is not None and stage.at_most < low:
            reason = f"never reached: at_most {stage.at_most} is below the floor {low}"
            bad(("stages", i, "at_most"), reason)
    return problems


def _check_services(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    problems = []
    lists = {lst.code for lst in spec.lists}
    for i, service in enumerate(spec.services):
        for j, rule in enumerate(service.rules):

            def bad(field: str, reason: str, i: int = i, j: int = j) -> None:
                at: tuple[str | int, ...] = ("services", i, "rules", j, *field.split("."))
                if not field:
                    at = ("services", i, "rules", j)
                problems.append(_p(path, line_of(lines, at), _dotted(at), reason))

            for code in rule.when.lists or []:
                if code not in lists:
                    bad("when.lists", f"unknown list {code!r}")
            for kind, grades in _grades_of(spec, service.subjects):
                for grade in rule.when.grades or []:
                    if grade not in grades:
                        bad("when.grades", f"no grade {grade!r} for {kind}s")
            if rule.decision == "terms" and not rule.terms:
                bad("terms", "a decision of terms needs its terms")
            if rule.decision != "terms" and rule.terms:
                bad("terms", f"terms go with decision: terms, not {rule.decision}")
    codes = [s.code for s in spec.services]
    for code in _duplicates(codes):
        at = ("services", codes.index(code, codes.index(code) + 1), "code")
        problems.append(_p(path, line_of(lines, at), _dotted(at), f"service {code!r} repeats"))
    return problems


def _check_stages(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    problems = []
    for i, stage in enumerate(spec.stages):
        if (stage.at_least is None) == (stage.at_most is None):
            at: tuple[str | int, ...] = ("stages", i)
            problems.append(
                _p(path, line_of(lines, at), _dotted(at), "set at_least or at_most (one)")
            )
    names = [s.name for s in spec.stages]
    for name in _duplicates(names):
        at = ("stages", names.index(name, names.index(name) + 1), "name")
        problems.append(_p(path, line_of(lines, at), _dotted(at), f"stage {name!r} repeats"))
    return problems


def _check_verification(
    path: Path, where: tuple[str | int, ...], v: Any, lines: Lines
) -> list[Problem]:
    if v is None:
        return []
    if (v.reporters is None) != (v.window_days is None):
        return [
            _p(
                path,
                line_of(lines, where),
                _dotted(where),
                "reporters and window_days go together: set both or neither",
            )
        ]
    if not v.by_authority and v.reporters is None:
        return [
            _p(
                path,
                line_of(lines, where),
                _dotted(where),
                "no report could ever count: allow by_authority or set reporters and window_days",
            )
        ]
    return []


def _check_parameters(path: Path, spec: RulebookSpec, lines: Lines) -> list[Problem]:
    categories = {c.code for c in spec.categories}
    institutions = {i.code for i in spec.institutions}
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for i, p in enumerate(spec.parameters):
        where: tuple[str | int, ...] = ("parameters", i)

        def problem(field: str, reason: str, i: int = i) -> Problem:
            line = line_of(lines, ("parameters", i, field.split(".")[0]))
            return _p(path, line, f"parameters[{i}].{field}", reason)

        here = f"{path}:{line_of(lines, where)}"
        problems += _check_parameter(p, categories, institutions, seen, problem, here)
        problems += _check_mechanics(spec, p, problem)
        problems += _check_derived(spec, i, p, problem)
        problems += _check_verification(path, (*where, "verification"), p.verification, lines)
    direct = [i for i, p in enumerate(spec.parameters) if p.direct_grade is not None]
    if len(direct) > MAX_DIRECT_GRADES:
        i = direct[MAX_DIRECT_GRADES]
        problems.append(
            _p(
                path,
                line_of(lines, ("parameters", i, "direct_grade")),
                f"parameters[{i}].direct_grade",
                f"at most {MAX_DIRECT_GRADES} parameters may set a grade directly",
            )
        )
    return problems


def _check_derived(spec: RulebookSpec, i: int, p: Parameter, problem: Any) -> list[Problem]:
    """A record passed across a link comes from a parameter of the YAML defined before it
    (so that passing never loops), through the rulebook's representatives, to subjects
    its kind allows."""
    d = p.derived_from
    if d is None:
        return []
    out = []
    earlier = {q.code: q for q in spec.parameters[:i]}
    source = earlier.get(d.parameter)
    if source is None:
        later = any(q.code == d.parameter for q in spec.parameters)
        why = "must be defined before it" if later else "is not a parameter of the YAML"
        out.append(problem("derived_from.parameter", f"{d.parameter!r} {why}"))
    if spec.representatives is None:
        reason = "passing across links needs `representatives` in the rulebook"
        out.append(problem("derived_from", reason))
    to, come = ("citizen", "organisation")
    if d.through == "organisations":
        to, come = come, to
    if p.subjects not in (to, "any"):
        reason = f"records passed through {d.through} are about {to}s: set subjects: {to}"
        out.append(problem("derived_from.through", reason))
    if source is not None and source.subjects not in (come, "any"):
        reason = f"{d.parameter!r} is about {source.subjects}s, not {come}s"
        out.append(problem("derived_from.parameter", reason))
    return out


def _check_parameter(
    p: Parameter,
    categories: set[str],
    institutions: set[str],
    seen: dict[str, str],
    problem: Any,
    here: str,
) -> list[Problem]:
    out = []
    if p.category not in categories:
        out.append(problem("category", f"unknown category {p.category!r}"))
    for code in p.institutions:
        if code not in institutions:
            out.append(problem("institutions", f"unknown institution {code!r}"))
    if p.code in seen:
        out.append(problem("code", f"parameter {p.code!r} is already defined at {seen[p.code]}"))
    else:
        seen[p.code] = here
    return out


# What a rectification cannot have: its points and validity are those its windows and
# the rectified record give it.
_NOT_WITH_RECTIFIES = (
    ("bands", "its windows give the points"),
    ("per_unit", "its windows give the points"),
    ("expires_after_days", "it counts for as long as the record it rectifies"),
    ("validity", "it counts for as long as the record it rectifies"),
    ("direct_grade", "a rectification cannot set a grade"),
    ("repairs", "direct grades are ended by `repairs` on a parameter of their own"),
    ("reduction", "a rectification is not a reduction"),
    ("points_organisation", "its windows give the points"),
    ("points_representative", "its windows give the points"),
)


def _check_rectifies(spec: RulebookSpec, p: Parameter, problem: Any) -> list[Problem]:
    """A rectification names parameters it may rectify and windows that give points."""
    assert p.rectifies is not None
    out = []
    for field, why in _NOT_WITH_RECTIFIES:
        if getattr(p, field) not in (None, False):
            out.append(problem(field, f"not beside rectifies: {why}"))
    by_code = {q.code: q for q in spec.parameters}
    for j, code in enumerate(p.rectifies.parameters):
        q = by_code.get(code)
        where = f"rectifies.parameters[{j}]"
        if q is None:
            out.append(problem(where, f"{code!r} is not a parameter of the rulebook"))
        elif q.rectifies is not None:
            out.append(problem(where, f"{code!r} is itself a rectification"))
        elif q.direct_grade is not None:
            out.append(
                problem(where, f"{code!r} sets a direct grade: `repairs` ends direct grades")
            )
    for code in _duplicates(p.rectifies.parameters):
        out.append(problem("rectifies.parameters", f"{code!r} is named twice"))
    windows = p.rectifies.within
    for j, w in enumerate(windows):
        where = f"rectifies.within[{j}]"
        if (w.days is None) == (w.calendar_years is None):
            out.append(problem(where, "give days or calendar_years (one of them)"))
        if (w.share is None) == (w.points is None):
            out.append(problem(where, "give share or points (one of them)"))
    return out


def _check_mechanics(spec: RulebookSpec, p: Parameter, problem: Any) -> list[Problem]:
    """The checks of a parameter's pilot mechanics: bands, validity, direct grades, repairs."""
    out = []
    if p.bands is not None:
        if p.per_unit:
            out.append(problem("bands", "bands take the quantity: leave out per_unit"))
        need, other = (
            ("points", "per_unit") if p.bands.mode == "highest" else ("per_unit", "points")
        )
        for j, step in enumerate(p.bands.steps):
            if getattr(step, need) is None or getattr(step, other) is not None:
                out.append(
                    problem(f"bands.steps[{j}]", f"{p.bands.mode} bands give {need}, not {other}")
                )
            if j and step.from_ <= p.bands.steps[j - 1].from_:
                out.append(problem(f"bands.steps[{j}].from", "steps go from lowest to highest"))
            if step.max_points is not None and p.bands.mode == "highest":
                reason = "highest bands give their points: max_points caps a marginal band"
                out.append(problem(f"bands.steps[{j}].max_points", reason))
    for j, rule in enumerate(p.validity or []):
        last = j == len(p.validity or []) - 1
        if rule.points_up_to is None and rule.level is None and not last:
            out.append(problem(f"validity[{j}]", "a rule that matches every record must come last"))
        if sum(x is not None for x in (rule.days, rule.months, rule.calendar_years)) != 1:
            out.append(
                problem(f"validity[{j}]", "give days, months or calendar_years (one of them)")
            )
    kinds = ("citizen", "organisation") if p.subjects == "any" else (p.subjects,)
    if p.direct_grade is not None:
        for kind in kinds:
            bands = list(getattr(spec.grades, kind))
            band = next((b for b in bands if b.grade == p.direct_grade), None)
            if band is None:
                out.append(problem("direct_grade", f"no grade {p.direct_grade!r} for {kind}s"))
            elif band.min is None and band.direct_score is None:
                which = "the lowest" if band.by_score else "a non-score"
                out.append(
                    problem(
                        "direct_grade",
                        f"grade {band.grade!r} is {which} {kind} band: set its direct_score",
                    )
                )
    if p.direct_grade is not None and (p.points or 0) > 0:
        out.append(
            problem(
                "points",
                f"positive points beside a direct grade would never count: while the record "
                f"counts the subject stands at grade {p.direct_grade!r}'s direct score, and "
                "when it ends its points end with it (give 0 or a deduction)",
            )
        )
    if p.repairs is not None:
        graded = {q.code for q in spec.parameters if q.direct_grade is not None}
        if p.direct_grade is not None:
            out.append(problem("repairs", "a parameter that repairs cannot set a grade itself"))
        for code in p.repairs:
            if code not in graded:
                out.append(problem("repairs", f"{code!r} is not a parameter with a direct_grade"))
        for code in _duplicates(p.repairs):
            out.append(problem("repairs", f"{code!r} is named twice"))
    if p.points_organisation is not None and p.subjects == "citizen":
        out.append(problem("points_organisation", "the parameter applies to citizens only"))
    if p.points_representative is not None and p.subjects == "organisation":
        out.append(problem("points_representative", "the parameter applies to organisations only"))
    if p.points_representative is not None and spec.representatives is None:
        out.append(problem("points_representative", "needs `representatives` in the rulebook"))
    if p.rectifies is not None:
        out += _check_rectifies(spec, p, problem)
    if p.skipped_stage is not None:
        yaml_codes = {q.code for q in spec.parameters}
        for j, code in enumerate(p.skipped_stage.unless_after):
            if code not in yaml_codes:
                where = f"skipped_stage.unless_after[{j}]"
                out.append(problem(where, f"{code!r} is not a parameter of the YAML"))
        for field in ("reduction", "rectifies", "direct_grade", "repairs", "bands", "per_unit"):
            if getattr(p, field) not in (None, False):
                out.append(problem(field, "not beside skipped_stage: its points are the reduction"))
        if p.points:
            out.append(
                problem(
                    "points",
                    "points beside skipped_stage would never count: the reduction gives them "
                    "(give 0)",
                )
            )
    r = p.reduction
    if r is not None:
        if (
            r.balance_from is not None
            and r.balance_to is not None
            and r.balance_from > r.balance_to
        ):
            out.append(problem("reduction", "balance_from is above balance_to"))
        if r.balance_from is None and r.balance_to is None and r.once_in_days is None:
            out.append(problem("reduction", "set balance_from, balance_to or once_in_days"))
    return out

"""A validated rulebook: its YAML spec, its compiled parameter table and its content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

from socialrating.model import InstitutionClass, day_number
from socialrating.rulebook.schema import Band, Category, Parameter, RulebookSpec

if TYPE_CHECKING:
    import pyarrow as pa


# The compiled parameter table: one row per parameter, every default resolved, the
# category's cap copied onto each row so that scoring needs no join for it.
@cache
def parameter_schema() -> pa.Schema:
    """The Arrow schema of the compiled parameter table (``PARAMETER_SCHEMA``)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("code", pa.string()),
            ("name", pa.string()),
            ("category", pa.string()),
            ("points", pa.int64()),
            ("per_unit", pa.bool_()),
            ("expiry_days", pa.int32()),
            ("min_confidence", pa.float64()),
            ("verify_by_authority", pa.bool_()),
            ("verify_reporters", pa.int32()),
            ("verify_window_days", pa.int32()),
            ("tags", pa.string()),
            ("subjects", pa.string()),
            ("institutions", pa.string()),
            ("cap_period_days", pa.int32()),
            ("cap_max_deduction", pa.int64()),
            ("cap_max_addition", pa.int64()),
            ("cap_calendar_year", pa.bool_()),
            ("repeat_factor", pa.float64()),
            ("repeat_compound", pa.bool_()),
            # The pilot mechanics (YAML parameters only; null for the catalogue's).
            ("points_organisation", pa.int64()),
            ("points_representative", pa.int64()),
            ("bands_id", pa.int32()),
            ("validity_id", pa.int32()),
            ("direct_grade", pa.string()),
            ("direct_bit", pa.int64()),
            ("repairs_mask", pa.int64()),
            ("reduction", pa.bool_()),
            ("reduction_from", pa.int64()),
            ("reduction_to", pa.int64()),
            ("reduction_once_days", pa.int32()),
            ("list_enter_mask", pa.int64()),
            ("list_leave_mask", pa.int64()),
        ]
    )


def __getattr__(name: str) -> object:
    # PARAMETER_SCHEMA is built on first use: Arrow is not needed to read a rulebook's spec.
    if name == "PARAMETER_SCHEMA":
        return parameter_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The columns a parameter takes from its category.
CATEGORY_COLUMNS = (
    "cap_period_days",
    "cap_max_deduction",
    "cap_max_addition",
    "cap_calendar_year",
    "repeat_factor",
    "repeat_compound",
)
# At most this many parameters may set a grade directly: repairs name them in a bit mask.
MAX_DIRECT_GRADES = 62
# Lists are named in bit masks too.
MAX_LISTS = 62


def category_values(category: Category) -> dict[str, object]:
    """The values of CATEGORY_COLUMNS for the parameters of ``category``."""
    cap, rep = category.cap, category.repeat
    return {
        "cap_period_days": cap.period_days if cap else None,
        "cap_max_deduction": cap.max_deduction if cap else None,
        "cap_max_addition": cap.max_addition if cap else None,
        "cap_calendar_year": bool(cap and cap.calendar_year),
        "repeat_factor": rep.factor if rep else None,
        "repeat_compound": bool(rep and rep.compound),
    }


def content_hash(yaml_bytes: bytes, catalogue_name: str | None, catalogue_bytes: bytes) -> str:
    """The rulebook's identity: a SHA-256 over its YAML and its catalogue file."""
    h = hashlib.sha256(b"socialrating-rulebook-v1\0")
    h.update(len(yaml_bytes).to_bytes(8, "big"))
    h.update(yaml_bytes)
    h.update((catalogue_name or "").encode() + b"\0")
    h.update(catalogue_bytes)
    return h.hexdigest()


@dataclass(frozen=True)
class RulebookHeader:
    """What scoring needs of a rulebook: its spec and its hash.

    The database returns this for a stored rulebook; the parameter table stays in the
    database, where the scoring plan joins it.

    Attributes:
        spec: the YAML part (bands, institutions, categories, explicit parameters).
        hash: the content hash that every derived result names.
    """

    spec: RulebookSpec
    hash: str
    earlier: tuple[Period, ...] = field(default=(), kw_only=True)
    """The versions in force before this one, oldest first, each with its days: a run by
    this version values a record of their days by them (``ledger.rulebooks.in_force``)."""

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    @property
    def label(self) -> str:
        """``name version (hash prefix)``: how a statement names a version."""
        return f"{self.spec.name} {self.spec.version} ({self.short_hash})"

    @property
    def first_day(self) -> int:
        """The day the first version of the rulebook took effect: records before it do not
        count under any version."""
        return self.earlier[0].start if self.earlier else self.effective_day

    @property
    def specs(self) -> list[RulebookSpec]:
        """This version's spec, then the earlier versions' (``valued_by`` 1, 2, …)."""
        return [self.spec, *(period.rulebook.spec for period in self.earlier)]

    @property
    def versions(self) -> list[RulebookHeader]:
        """This version, then the earlier ones: position ``valued_by`` values a record."""
        return [self, *(period.rulebook for period in self.earlier)]

    @cached_property
    def plan_key(self) -> str:
        """What a compiled plan depends on: the hash, and the earlier versions with their
        days (the plan names them)."""
        if not self.earlier:
            return self.hash
        h = hashlib.sha256(self.hash.encode())
        for period in self.earlier:
            h.update(f"|{period.rulebook.hash}:{period.start}:{period.end}".encode())
        return h.hexdigest()

    @property
    def effective_day(self) -> int:
        return day_number(self.spec.effective)

    @cached_property
    def institution_classes(self) -> dict[str, InstitutionClass]:
        return {i.code: i.class_ for i in self.spec.institutions}

    @cached_property
    def category_ids(self) -> dict[str, int]:
        """Each category's integer id: its 1-based position in the rulebook."""
        return {c.code: i for i, c in enumerate(self.spec.categories, start=1)}

    def institutions_of(self, cls: InstitutionClass) -> list[str]:
        """Codes of the institutions of one class."""
        return [i.code for i in self.spec.institutions if i.class_ is cls]

    @cached_property
    def banded(self) -> list[Parameter]:
        """The parameters whose points come from quantity bands; ``bands_id`` is 1 + index."""
        return [p for p in self.spec.parameters if p.bands is not None]

    @cached_property
    def with_validity(self) -> list[Parameter]:
        """The parameters with validity rules; ``validity_id`` is 1 + index."""
        return [p for p in self.spec.parameters if p.validity is not None]

    @cached_property
    def written(self) -> dict[str, Parameter]:
        """The parameters written out in the YAML, by code (the catalogue's are not)."""
        return {p.code: p for p in self.spec.parameters}

    @cached_property
    def direct(self) -> list[Parameter]:
        """The parameters that set a grade directly; ``direct_bit`` is 2 ** index."""
        return [p for p in self.spec.parameters if p.direct_grade is not None]

    def direct_score(self, kind: str, grade: str) -> int:
        """The score a subject directly graded ``grade`` stands at."""
        for band in self.bands(kind):
            if band.grade == grade:
                score = band.direct_score if band.direct_score is not None else band.min
                assert score is not None  # ensured by validation
                return score
        raise KeyError(grade)

    def bands(self, kind: str) -> list[Band]:
        """Grade bands for ``citizen`` or ``organisation``, highest first."""
        grades = self.spec.grades
        return list(grades.citizen if kind == "citizen" else grades.organisation)

    def grade_of(self, score: int, kind: str) -> str:
        """The grade a score gets (the same rule the scoring plan compiles)."""
        for band in self.bands(kind):
            if band.by_score and (band.min is None or score >= band.min):
                return band.grade
        raise AssertionError("the lowest band has no minimum")  # ensured by validation


@dataclass(frozen=True)
class Period:
    """An earlier version of a rulebook and the days it was in force, ``start`` to ``end``
    (exclusive)."""

    rulebook: RulebookHeader
    start: int
    end: int


@dataclass(frozen=True)
class Rulebook(RulebookHeader):
    """A rulebook loaded from its files that passed validation.

    Attributes:
        parameters: every parameter (YAML and catalogue), compiled (see PARAMETER_SCHEMA).
        yaml_text: the YAML as written, kept so the database can store the rulebook.
        catalogue_name: the catalogue's file name, if any.
        catalogue_bytes: the catalogue file as written.
    """

    parameters: pa.Table = field(repr=False, kw_only=True)
    yaml_text: str = field(repr=False, kw_only=True)
    catalogue_name: str | None = field(default=None, kw_only=True)
    catalogue_bytes: bytes = field(default=b"", repr=False, kw_only=True)


def _mask(bits: dict[str, int], codes: list[str] | None) -> int | None:
    """The bit mask of the direct-grade parameters ``codes`` (each bit once)."""
    if not codes:
        return None
    mask = 0
    for code in codes:
        mask |= bits[code]
    return mask


def compile_parameters(
    spec: RulebookSpec, catalogue: dict[str, pa.Array] | None = None
) -> pa.Table:
    """The compiled parameter table: the YAML's parameters, then the catalogue's."""
    import pyarrow as pa

    by_category = {c.code: category_values(c) for c in spec.categories}
    cols: dict[str, list[object]] = {name: [] for name in parameter_schema().names}
    header = RulebookHeader(spec, "")
    banded = {p.code: i for i, p in enumerate(header.banded, start=1)}
    valid = {p.code: i for i, p in enumerate(header.with_validity, start=1)}
    bits = {p.code: 2**i for i, p in enumerate(header.direct)}
    list_bits = {lst.code: 2**i for i, lst in enumerate(spec.lists)}
    entering: dict[str, list[str]] = {}
    leaving: dict[str, list[str]] = {}
    for lst in spec.lists:
        for code in lst.enter_by:
            entering.setdefault(code, []).append(lst.code)
        for code in lst.leave_by:
            leaving.setdefault(code, []).append(lst.code)
    for p in spec.parameters:
        v = p.verification or spec.reports
        r = p.reduction
        row: dict[str, object] = {
            "code": p.code,
            "name": p.name,
            "category": p.category,
            "points": p.points if p.points is not None else 0,
            "per_unit": p.per_unit,
            "expiry_days": p.expires_after_days,
            "min_confidence": p.min_confidence or spec.camera.min_confidence,
            "verify_by_authority": v.by_authority,
            "verify_reporters": v.reporters,
            "verify_window_days": v.window_days,
            "tags": ";".join(p.tags),
            "subjects": p.subjects,
            "institutions": ";".join(p.institutions),
            **by_category[p.category],
            "points_organisation": p.points_organisation,
            "points_representative": p.points_representative,
            "bands_id": banded.get(p.code),
            "validity_id": valid.get(p.code),
            "direct_grade": p.direct_grade,
            "direct_bit": bits.get(p.code),
            "repairs_mask": _mask(bits, p.repairs),
            "reduction": r is not None,
            "reduction_from": r.balance_from if r else None,
            "reduction_to": r.balance_to if r else None,
            "reduction_once_days": r.once_in_days if r else None,
            "list_enter_mask": _mask(list_bits, entering.get(p.code)),
            "list_leave_mask": _mask(list_bits, leaving.get(p.code)),
        }
        for name, value in row.items():
            cols[name].append(value)
    table = pa.table(cols, schema=parameter_schema())
    if catalogue is None:
        return table
    schema = parameter_schema()
    tail = pa.table([catalogue[f.name].cast(f.type) for f in schema], schema=schema)
    return pa.concat_tables([table, tail]).combine_chunks()

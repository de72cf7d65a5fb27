"""A parameter catalogue (CSV, gzipped CSV or Parquet): read and checked column by column.

A catalogue holds the long tail of parameters (160,000 in the seed rulebook), so it is
read by Arrow's CSV parser when its rows are its lines (else by the csv module, row by
row, with the same result) and checked with vectorised Arrow compute rather than row by
row; only bad rows are visited one by one, to write their messages. Each row keeps its line (CSV: the physical line an
editor shows; Parquet: the 1-based row), so that every problem points at it. Lists inside
a cell (institutions, tags) are separated by ``;``. The checks are the same as the YAML
schema's (``schema.Parameter``); a test keeps the two in step.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialrating.csvrows import duplicated, read_csv_arrow, read_csv_columns
from socialrating.errors import Problem
from socialrating.rulebook.rulebook import (
    CATEGORY_COLUMNS,
    category_values,
    parameter_schema,
)
from socialrating.rulebook.schema import RulebookSpec

# Compiled columns of the pilot mechanics, which only the YAML's parameters can use.
MECHANICS = (
    "points_organisation",
    "points_representative",
    "bands_id",
    "validity_id",
    "direct_grade",
    "direct_bit",
    "repairs_mask",
    "reduction_from",
    "reduction_to",
    "reduction_once_days",
    "list_enter_mask",
    "list_leave_mask",
)

COLUMNS = (
    "code",
    "name",
    "category",
    "points",
    "per_unit",
    "expires_after_days",
    "institutions",
    "min_confidence",
    "verify_by_authority",
    "verify_reporters",
    "verify_window_days",
    "tags",
    "subjects",
)
REQUIRED = ("code", "category", "points", "institutions")
CODE = r"^[A-Za-z0-9_.:\-]{1,120}$"
INTEGER = r"^[+-]?[0-9]{1,12}$"
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
TRUE = ("true", "1", "yes", "y", "t", "on")
FALSE = ("false", "0", "no", "n", "f", "off")


@dataclass(frozen=True)
class Catalogue:
    """A catalogue that passed its checks: text columns (null when empty) and their lines."""

    source: str
    table: pa.Table
    lines: np.ndarray


def read_catalogue(
    path: Path, data: bytes, *, fast: bool = True
) -> tuple[pa.Table | None, list[Problem]]:
    """The catalogue as text columns (every column of COLUMNS, null when empty) with ``line``.

    A CSV file is read by Arrow when its rows are its lines (the common case), else (or
    with ``fast=False``) row by row; both give the same table and the same problems.
    """
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _parquet(path, data)
    if name.endswith(".csv.gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return None, [Problem(str(path), None, "", f"not a gzip file: {exc}")]
    elif not name.endswith(".csv"):
        return None, [Problem(str(path), None, "", "catalogue must be .csv, .csv.gz or .parquet")]
    try:
        # utf-8-sig: a BOM (spreadsheets write one) is not part of the first column's name.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem(str(path), None, "", f"not UTF-8 text: {exc}")]
    return _csv(path, data.removeprefix(codecs.BOM_UTF8), text, fast)


def _check_header(path: Path, header: list[str]) -> list[Problem]:
    problems = [
        Problem(str(path), 1, col, f"column {col!r} appears more than once")
        for col in duplicated(header)
    ]
    problems += [
        Problem(str(path), 1, col, f"unknown column {col!r} (known: {', '.join(COLUMNS)})")
        for col in header
        if col not in COLUMNS
    ]
    problems += [
        Problem(str(path), 1, col, "required column is missing")
        for col in REQUIRED
        if col not in header
    ]
    return problems


def _table(columns: Mapping[str, list[str] | pa.Array], lines: list[int] | pa.Array) -> pa.Table:
    """The table of text columns: each value trimmed, null when empty."""
    line = lines if isinstance(lines, pa.Array) else pa.array(lines, pa.int64())
    data: dict[str, pa.Array] = {"line": line}
    null = pa.scalar(None, pa.string())
    for col in COLUMNS:
        values = columns.get(col)
        if values is None:
            data[col] = pa.nulls(len(line), pa.string())
            continue
        arr = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
        arr = pc.utf8_trim_whitespace(arr)
        data[col] = pc.if_else(pc.equal(arr, ""), null, arr)
    return pa.table(data)


def _csv(path: Path, body: bytes, text: str, fast: bool) -> tuple[pa.Table | None, list[Problem]]:
    """``body``: the file's bytes without a BOM; ``text``: the same, decoded."""
    read = read_csv_arrow(body) if fast else None
    problems: list[Problem] = []
    if read is not None:
        header, columns, lines = read.header, read.columns, read.lines
    else:
        exact, problems = read_csv_columns(io.StringIO(text, newline=""), str(path))
        if exact is None:
            return None, problems
        header, columns, lines = exact.header, exact.columns, exact.lines
    header_problems = _check_header(path, header)
    if header_problems:
        return None, header_problems
    return _table(columns, lines), problems


def _parquet(path: Path, data: bytes) -> tuple[pa.Table | None, list[Problem]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        return None, [Problem(str(path), None, "", f"not a readable Parquet file: {exc}")]
    problems = _check_header(path, table.column_names)
    if problems:
        return None, problems
    columns: dict[str, pa.Array] = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), ";")
        elif pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        columns[name] = col.cast(pa.string()).fill_null("")
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return _table(columns, lines), []


Check = tuple[str, pa.Array, Callable[[str | None], str]]


def check_catalogue(
    path: Path, table: pa.Table, spec: RulebookSpec, yaml_codes: dict[str, str]
) -> list[Problem]:
    """Every problem of the catalogue's rows, checked column by column.

    Args:
        path: the catalogue file, for messages.
        table: the text columns from ``read_catalogue``.
        spec: the rulebook the catalogue belongs to (categories and institutions).
        yaml_codes: codes of the YAML's parameters, mapped to where each is defined.
    """
    categories = pa.array([c.code for c in spec.categories])
    known_institutions = {i.code for i in spec.institutions}
    institutions = pa.array(sorted(known_institutions))
    col = {name: table.column(name).combine_chunks() for name in COLUMNS}

    def empty_or(name: str, ok: pa.Array) -> pa.Array:
        """``ok``, and true where the cell is empty (optional columns)."""
        return pc.or_kleene(pc.is_null(col[name]), pc.fill_null(ok, False))

    def matches(name: str, pattern: str) -> pa.Array:
        return empty_or(name, pc.match_substring_regex(col[name], pattern))

    def in_range(
        name: str, low: float, high: float, low_open: bool = False, pattern: str = NUMBER
    ) -> pa.Array:
        """Empty, or text matching ``pattern`` (a kind of NUMBER) whose value is in range."""
        ok = pc.fill_null(pc.match_substring_regex(col[name], pattern), False)
        values = pc.cast(pc.if_else(ok, col[name], "nan"), pa.float64())
        above = pc.greater(values, low) if low_open else pc.greater_equal(values, low)
        return empty_or(name, pc.and_(ok, pc.and_(above, pc.less_equal(values, high))))

    def whole_in_range(name: str, low: int, high: int) -> pa.Array:
        """Empty, or a whole number (INTEGER) from ``low`` to ``high``."""
        return in_range(name, low, high, pattern=INTEGER)

    def boolean(name: str) -> pa.Array:
        return empty_or(name, pc.is_in(pc.utf8_lower(col[name]), pa.array(TRUE + FALSE)))

    def required(name: str) -> pa.Array:
        return pc.is_valid(col[name])

    def each_item(name: str, ok: Callable[[pa.Array], pa.Array]) -> pa.Array:
        lists = pc.split_pattern(col[name].fill_null(""), ";")
        items = pc.utf8_trim_whitespace(pc.list_flatten(lists))
        bad = pc.and_(pc.invert(ok(items)), pc.not_equal(items, ""))
        rows = pc.list_parent_indices(lists)
        flags = np.ones(len(table), dtype=bool)
        flags[rows.to_numpy()[bad.to_numpy(zero_copy_only=False)]] = False
        return pa.array(flags)

    def v(text: str | None) -> str:
        return repr(text)

    checks: list[Check] = [
        ("code", required("code"), lambda _: "required"),
        ("code", matches("code", CODE), lambda x: f"not a code (letters, digits, _ . : -): {v(x)}"),
        ("category", required("category"), lambda _: "required"),
        (
            "category",
            empty_or("category", pc.is_in(col["category"], categories)),
            lambda x: f"unknown category {v(x)}",
        ),
        ("points", required("points"), lambda _: "required"),
        (
            "points",
            whole_in_range("points", -100_000, 100_000),
            lambda x: f"not a whole number from -100000 to 100000: {v(x)}",
        ),
        ("per_unit", boolean("per_unit"), lambda x: f"not true or false: {v(x)}"),
        (
            "expires_after_days",
            whole_in_range("expires_after_days", 1, 36_500),
            lambda x: f"not a whole number of days from 1 to 36500: {v(x)}",
        ),
        (
            "institutions",
            pc.and_(
                required("institutions"),
                pc.fill_null(pc.not_equal(pc.utf8_trim(col["institutions"], "; "), ""), False),
            ),
            lambda _: "required: at least one institution",
        ),
        (
            "institutions",
            each_item("institutions", lambda items: pc.is_in(items, institutions)),
            lambda x: (
                "unknown institution "
                + ", ".join(repr(i) for i in _items(x) if i not in known_institutions)
            ),
        ),
        (
            "min_confidence",
            in_range("min_confidence", 0, 1, low_open=True),
            lambda x: f"not a number above 0 and at most 1: {v(x)}",
        ),
        (
            "verify_by_authority",
            boolean("verify_by_authority"),
            lambda x: f"not true or false: {v(x)}",
        ),
        (
            "verify_reporters",
            whole_in_range("verify_reporters", 1, 1000),
            lambda x: f"not a whole number from 1 to 1000: {v(x)}",
        ),
        (
            "verify_window_days",
            whole_in_range("verify_window_days", 1, 36_500),
            lambda x: f"not a whole number of days from 1 to 36500: {v(x)}",
        ),
        (
            "verify_reporters",
            pc.equal(pc.is_valid(col["verify_reporters"]), pc.is_valid(col["verify_window_days"])),
            lambda _: "verify_reporters and verify_window_days go together: set both or neither",
        ),
        (
            "tags",
            each_item("tags", lambda items: pc.match_substring_regex(items, CODE)),
            lambda x: (
                "not a code (letters, digits, _ . : -): "
                + ", ".join(repr(t) for t in _items(x) if not re.match(CODE, t))
            ),
        ),
        (
            "subjects",
            empty_or(
                "subjects", pc.is_in(col["subjects"], pa.array(["citizen", "organisation", "any"]))
            ),
            lambda x: f"must be citizen, organisation or any, not {v(x)}",
        ),
    ]
    src = str(path)
    lines = table.column("line").to_numpy()
    problems: list[Problem] = []
    for field, ok, message in checks:
        bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        values = col[field].take(pa.array(bad)).to_pylist() if len(bad) else []
        problems += [
            Problem(src, int(lines[i]), field, message(x)) for i, x in zip(bad, values, strict=True)
        ]
    problems += _duplicates(src, col["code"], lines, yaml_codes)
    return problems


def _items(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _duplicates(
    src: str, codes: pa.Array, lines: np.ndarray, yaml_codes: dict[str, str]
) -> list[Problem]:
    problems = []
    in_yaml = np.flatnonzero(
        pc.fill_null(pc.is_in(codes, pa.array(list(yaml_codes), pa.string())), False).to_numpy(
            zero_copy_only=False
        )
    )
    for i in in_yaml:
        code = codes[int(i)].as_py()
        problems.append(
            Problem(
                src,
                int(lines[i]),
                "code",
                f"parameter {code!r} is already defined at {yaml_codes[code]}",
            )
        )
    # Sorted, a repeated code sits next to itself (sorting is cheaper than hashing here).
    ordered = codes.drop_null().sort()
    same = pc.equal(ordered[1:], ordered[:-1])
    repeated = pc.unique(ordered[1:].filter(same))
    if len(repeated):
        first: dict[str, int] = {}
        for i in np.flatnonzero(
            pc.fill_null(pc.is_in(codes, repeated), False).to_numpy(zero_copy_only=False)
        ):
            code = codes[int(i)].as_py()
            if code in first:
                problems.append(
                    Problem(
                        src,
                        int(lines[i]),
                        "code",
                        f"parameter {code!r} is already defined at {src}:{first[code]}",
                    )
                )
            else:
                first[code] = int(lines[i])
    return problems


def _flag(text: pa.Array, default: bool) -> pa.Array:
    """True or false from text; ``default`` where the cell is empty."""
    return pc.if_else(pc.is_valid(text), pc.is_in(pc.utf8_lower(text), pa.array(TRUE)), default)


def compile_catalogue(table: pa.Table, spec: RulebookSpec) -> dict[str, pa.Array]:
    """The catalogue's columns in the compiled form of ``rulebook.PARAMETER_SCHEMA``."""
    col = {name: table.column(name).combine_chunks() for name in COLUMNS}
    idx = pc.index_in(col["category"], pa.array([c.code for c in spec.categories]))
    values = [category_values(c) for c in spec.categories]

    def per_category(name: str) -> pa.Array:
        typ = parameter_schema().field(name).type
        return pa.array([v[name] for v in values], typ).take(idx)

    own_rule = pc.or_(
        pc.or_(pc.is_valid(col["verify_by_authority"]), pc.is_valid(col["verify_reporters"])),
        pc.is_valid(col["verify_window_days"]),
    )
    default = spec.reports
    by_authority = pc.if_else(
        own_rule, _flag(col["verify_by_authority"], True), default.by_authority
    )
    reporters = pc.if_else(
        own_rule, col["verify_reporters"].cast(pa.int32()), pa.scalar(default.reporters, pa.int32())
    )
    window = pc.if_else(
        own_rule,
        col["verify_window_days"].cast(pa.int32()),
        pa.scalar(default.window_days, pa.int32()),
    )

    def joined(name: str) -> pa.Array:
        parts = pc.split_pattern(col[name].fill_null(""), ";")
        items = pc.utf8_trim_whitespace(parts.flatten())
        out = pc.binary_join(pa.ListArray.from_arrays(parts.offsets, items), ";")
        # Only a cell with an empty item has separators to drop: rewrite just those cells.
        empty = np.zeros(len(out), dtype=bool)
        rows = pc.list_parent_indices(parts).to_numpy()
        empty[rows[pc.equal(items, "").to_numpy(zero_copy_only=False)]] = True
        if not empty.any():
            return out
        mask = pa.array(empty)
        # "police;;hotline" is police and hotline: runs of separators become one.
        fixed = pc.replace_substring_regex(out.filter(mask), ";{2,}", ";")
        fixed = pc.replace_substring_regex(fixed, "^;|;$", "")
        return pc.replace_with_mask(out, mask, fixed)

    return {
        "code": col["code"],
        "name": col["name"].fill_null(""),
        "category": col["category"],
        "points": pc.cast(col["points"], pa.int64()),
        "per_unit": _flag(col["per_unit"], False),
        "expiry_days": pc.cast(col["expires_after_days"], pa.int32()),
        "min_confidence": pc.cast(col["min_confidence"], pa.float64()).fill_null(
            spec.camera.min_confidence
        ),
        "verify_by_authority": by_authority,
        "verify_reporters": reporters,
        "verify_window_days": window,
        "tags": joined("tags"),
        "subjects": col["subjects"].fill_null("citizen"),
        "institutions": joined("institutions"),
        **{name: per_category(name) for name in CATEGORY_COLUMNS},
        **{name: pa.nulls(len(table), parameter_schema().field(name).type) for name in MECHANICS},
        "reduction": pa.array(np.zeros(len(table), dtype=bool)),
    }

"""The subject registry: importing subjects, with every bad row reported and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from socialrating.errors import BatchRejected, UnknownSubject
from socialrating.ledger import Store, find_subject, register_subjects
from socialrating.ledger.subjects import read_subjects_file


def count(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM subjects"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subjects.csv"
    path.write_text(text)
    return path


def test_import_registers_new_subjects_and_skips_known_ones(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "code,kind,born,sex,region\nP1,citizen,1980-05-01,F,region-01\nQ1,organisation,,,\n",
    )
    assert register_subjects(store, read_subjects_file(path), str(path)) == 2
    assert register_subjects(store, read_subjects_file(path), str(path)) == 0
    p1 = find_subject(store, "P1")
    assert (p1.kind.value, str(p1.born), p1.sex, p1.region) == (
        "citizen",
        "1980-05-01",
        "F",
        "region-01",
    )
    with pytest.raises(UnknownSubject, match="'NOPE'"):
        find_subject(store, "NOPE")


def test_every_bad_row_is_reported_and_none_is_stored(store: Store, tmp_path: Path) -> None:
    before = count(store)
    path = write(
        tmp_path,
        "code,kind,born\n"
        "P1,citizen,1980-05-01\n"  # row 1: good
        "P2,person,\n"  # row 2: bad kind
        "P3,citizen,1980-13-01\n"  # row 3: bad date
        ",citizen,\n"  # row 4: no code
        "P5,citizen,\n"
        "P5,citizen,\n",  # rows 5 and 6: the same code twice
    )
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, read_subjects_file(path), str(path))
    got = [(p.line, p.field) for p in exc.value.problems]
    assert got == [(2, "kind"), (3, "born"), (4, "code"), (5, "code"), (6, "code")]
    reasons = " ".join(p.reason for p in exc.value.problems)
    assert "must be citizen or organisation, not 'person'" in reasons
    assert "not a date (YYYY-MM-DD): '1980-13-01'" in reasons
    assert "code 'P5' appears more than once" in reasons
    assert count(store) == before


def test_a_known_code_with_other_facts_is_rejected(store: Store) -> None:
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, pa.table({"code": ["C1"], "kind": ["organisation"]}))
    assert "already registered as a different subject: citizen" in exc.value.problems[0].reason


def test_missing_columns_are_named(store: Store) -> None:
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, pa.table({"name": ["x"]}))
    assert sorted(p.field for p in exc.value.problems) == ["code", "kind"]

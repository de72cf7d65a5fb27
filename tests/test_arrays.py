"""Arrow arrays made by their buffers (``socialrating.arrays``) are those ``pa.array``
makes, and a file's ingest imports no pandas (``pa.array`` would)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledgers import cli_ledger

from socialrating import arrays

TEXTS = st.lists(st.none() | st.text(st.characters(exclude_categories=("Cs",))), max_size=40)


@settings(deadline=None)  # the first ``pa.array`` of a process imports pandas
@given(TEXTS)
def test_texts_are_pa_arrays_texts(values: list[str | None]) -> None:
    made = arrays.texts(values)
    made.validate(full=True)
    assert made.equals(pa.array(values, pa.string()))
    assert made.null_count == sum(v is None for v in values)


def test_texts_past_the_offsets_bound_are_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrays, "LARGE", 5)
    made = arrays.texts(["abc", None, "dé"])
    made.validate(full=True)
    assert made.type == pa.large_string()
    assert made.to_pylist() == ["abc", None, "dé"]
    assert arrays.texts(["ab", "c"]).type == pa.string()  # 3 bytes: under the bound


def test_texts_refuse_a_lone_surrogate_as_pa_array_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        arrays.texts(["\ud800"])


@settings(deadline=None)
@given(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=40), st.sampled_from([32, 64]))
def test_ints_and_numbers_round_trip(values: list[int], bits: int) -> None:
    dtype = np.int32 if bits == 32 else np.int64
    made = arrays.ints(np.array(values, dtype))
    made.validate(full=True)
    assert made.equals(pa.array(values, pa.int32() if bits == 32 else pa.int64()))
    assert arrays.numbers(made).tolist() == values
    assert arrays.numbers(made.slice(1)).tolist() == values[1:]  # offsets are honoured
    chunked = pa.chunked_array([made, made.slice(2)], made.type)
    assert arrays.numbers(chunked).tolist() == values + values[2:]


def test_ints_refuse_other_types() -> None:
    with pytest.raises(TypeError, match="float64"):
        arrays.ints(np.zeros(3))
    with pytest.raises(TypeError, match="one axis"):
        arrays.ints(np.zeros((2, 2), np.int32))
    with pytest.raises(TypeError, match="bool"):
        arrays.numbers(pa.array([True]))
    with pytest.raises(ValueError, match="without nulls"):
        arrays.numbers(pa.array([1, None]))


def test_numbers_of_nothing() -> None:
    assert arrays.numbers(pa.chunked_array([], pa.int64())).tolist() == []
    beyond = pa.Array.from_buffers(pa.int64(), 0, [None, pa.py_buffer(b"")], offset=5)
    assert arrays.numbers(beyond).tolist() == []  # valid, its offset past its buffer
    assert arrays.numbers(pa.array([], pa.int32())).dtype == np.int32


def test_scalars() -> None:
    assert arrays.scalar(5).equals(pa.scalar(5, pa.int32()))
    assert arrays.scalar(0.5, pa.float64()).equals(pa.scalar(0.5, pa.float64()))
    assert arrays.scalar(-(2**40), pa.int64()).as_py() == -(2**40)
    with pytest.raises(TypeError, match="string"):
        arrays.scalar(1, pa.string())
    assert arrays.empty_text(pa.large_binary()).equals(pa.scalar(b"", pa.large_binary()))
    assert arrays.empty_text().equals(pa.scalar("", pa.string()))


def test_a_csv_ingest_imports_no_pandas(tmp_path: Path) -> None:
    """pandas takes 0.2-0.3 s and 30 MB to import: a command that ingests a file, the
    most common one, does without it (the CSV is read by DuckDB, the rest in SQL)."""
    db = cli_ledger(tmp_path, scored=())
    batch = tmp_path / "more.csv"
    batch.write_text("key,subject,parameter,date\nk2,c2,debtor,2021-03-01\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from socialrating.ledger import ingest_file, open_store\n"
        f"with open_store({db!r}) as store:\n"
        f"    result = ingest_file(store, {str(batch)!r}, 'court')\n"
        "assert result.stored == 1, result\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_run_from_compiled_plans_imports_no_pandas(tmp_path: Path) -> None:
    """A `score` whose plans are compiled (every run after the first of a rulebook) checks
    them by their digests (``table_digest``) without pandas either."""
    db = cli_ledger(tmp_path)  # scored once: the plans are compiled and kept
    code = (
        "import sys, datetime as dt\n"
        "from socialrating.ledger import open_store\n"
        "from socialrating.scoring import score_run\n"
        f"with open_store({db!r}) as store:\n"
        "    run = score_run(store, dt.date(2021, 6, 30), full=True)\n"
        "assert run.subjects == 3, run\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

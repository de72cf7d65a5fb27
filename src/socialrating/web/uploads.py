"""Files sent through the pages: saved under their own names while they are read, so
that every problem names the file as its sender knows it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from socialrating.errors import Problem, ProblemsError

UPLOADS = (".csv", ".csv.gz", ".parquet")
BATCHES = (".csv", ".csv.gz", ".parquet", ".ndjson", ".jsonl")


@contextmanager
def saved_upload(file: UploadFile, suffixes: tuple[str, ...], what: str) -> Iterator[Path]:
    """An uploaded file, saved under its own name in a temporary folder (so that problems
    name the file as its sender knows it), while the block runs.

    Raises:
        ProblemsError: its name ends in none of ``suffixes``.
    """
    import tempfile

    name = Path(file.filename or "upload").name
    if not name.lower().endswith(suffixes):
        kinds = ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}"
        raise ProblemsError(
            f"{name}: not {what}", [Problem(name, None, "file", f"send a {kinds} file")]
        )
    with tempfile.TemporaryDirectory(prefix="socialrating-upload-") as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        yield path


def uploaded_subjects(file: UploadFile) -> list[str]:
    """The subject codes of an uploaded CSV or Parquet file (as `check-batch` reads one).

    Raises:
        ProblemsError: another kind of file, no ``subject`` column, empty cells, or more
            rows than ``api_max_batch_rows``.
    """
    from socialrating import settings
    from socialrating.decisions.batch import read_subjects_column

    with saved_upload(file, UPLOADS, "a list of subjects") as path:
        name = path.name
        codes = read_subjects_column(path)
    limit = settings.API_MAX_BATCH_ROWS.count()
    if len(codes) > limit:
        raise ProblemsError(
            f"{name}: {len(codes):,} subjects, more than {limit:,} at once",
            [Problem(name, None, "subject", f"at most {limit:,} rows; split the file")],
        )
    return [str(c) for c in codes.to_pylist()]

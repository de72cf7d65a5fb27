"""What any value of any input may be, whatever its format: one set of limits.

Batch files (CSV, NDJSON, Parquet), batches over HTTP and subject files share them, so a
value refused in one format is refused in every other, with the same words:

- a field holds at most ``MAX_FIELD_CHARS`` characters (the CSV reader's own limit);
- keys and codes hold no control characters (U+0000 to U+001F, U+007F to U+009F), and free
  text (``evidence``) none but tab, line feed and carriage return;
- dates (a record's day, a birth date) run from ``EARLIEST_DATE`` to today;
- an NDJSON line holds at most ``MAX_LINE_CHARS`` characters (it is not read past that).

Messages show a bad value shortened and with control characters and lone surrogates
escaped (``printable``), so that no input can fill or garble a terminal or a JSON answer.
"""

from __future__ import annotations

import datetime as dt
import re

MAX_FIELD_CHARS = 131_072
"""Characters in one field, in every format: the limit of Python's CSV reader."""

MAX_LINE_CHARS = 16 * MAX_FIELD_CHARS
"""Characters in one NDJSON line (every column at its limit, with room for JSON escapes)."""

EARLIEST_DATE = dt.date(1900, 1, 1)
"""No record's day and no birth date is earlier; none is later than today."""

EARLIEST_DAY = (EARLIEST_DATE - dt.date(1970, 1, 1)).days

SHOWN_CHARS = 80
"""Characters of a bad value a message shows; the rest is cut, with an ellipsis."""

CONTROL_RE2 = "[\\x00-\\x1f\\x7f-\\x9f]"
"""A control character, as an RE2 pattern for DuckDB (keys and codes)."""

TEXT_CONTROL_RE2 = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]"
"""A control character other than tab, line feed and carriage return (free text)."""

# A date DuckDB writes for a day out of Python's range (a Parquet date or timestamp):
# later than any date, or earlier than any.
LATE_DATE_RE2 = "\\+?infinity|[0-9]{5,}-[0-9]{2}-[0-9]{2}"
EARLY_DATE_RE2 = "-infinity|-?[0-9]+-[0-9]{2}-[0-9]{2} \\(BC\\)|-[0-9]+-[0-9]{2}-[0-9]{2}"

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters and lone surrogates escaped (``\\x00``, ``\\ud800``),
    cut to ``limit`` characters (with an ellipsis) when given."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_sql(expr: str) -> str:
    """SQL: the value of ``expr`` cut to ``SHOWN_CHARS`` characters for a message."""
    return (
        f"CASE WHEN strlen({expr}) > {SHOWN_CHARS} AND length({expr}) > {SHOWN_CHARS} "
        f"THEN left({expr}, {SHOWN_CHARS}) || '…' ELSE {expr} END"
    )


def too_long_sql(expr: str) -> str:
    """SQL: whether the text ``expr`` has more than ``MAX_FIELD_CHARS`` characters (its
    bytes are counted first: that is free)."""
    return f"(strlen({expr}) > {MAX_FIELD_CHARS} AND length({expr}) > {MAX_FIELD_CHARS})"


def too_long_message_sql(expr: str) -> str:
    """SQL: the message for a field ``too_long_sql`` refuses."""
    return (
        f"'longer than {MAX_FIELD_CHARS:,} characters (the limit for any field): ' "
        f"|| format('{{:,}}', length({expr})) || ' characters'"
    )

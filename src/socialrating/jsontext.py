"""JSON text parsed to the value Python's ``json`` gives, faster where that is certain.

Institutions send records as NDJSON, a JSON object a line (files, HTTP bodies);
``json.loads`` took 4.4 µs a line of the ingest bench's NDJSON, orjson 1.2 µs. (A JSON
body of many records, ``{"records": [...]}``, stays with ``json``, which parses it in one
call.) The two agree on every
value of valid JSON but one: an integer outside 64 bits, which orjson gives as a float
(``json``: the exact integer). And orjson refuses what ``json`` takes beyond the standard
(``NaN``, ``Infinity``, numbers past a double's range, lone surrogates such as
``"\\ud800"``), nesting past 1,024 levels, and bytes that are not UTF-8. So ``parsed_each``
gives orjson's value when it is a record of single values (or a single value) holding no
float of 2^63 or more (which only such an integer, or a float ``json`` reads the same, can
give), and ``AGAIN`` otherwise (a list, or an object holding one, which a record must not
hold): the caller then parses with ``json`` as before, which gives the same value or words
the error as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

AGAIN: Final = object()
"""``parsed_each``'s answer when the text is for ``json`` to parse (or refuse)."""

_WIDE = float(2**63)  # an integer of more bits comes back from orjson as a float this large


def parsed_each(texts: Iterable[str | bytes]) -> list[Any]:
    """The value ``json.loads`` gives for each text (bytes: UTF-8 text), or ``AGAIN`` where
    orjson cannot say it for certain (the text refused, a float of 2^63 or more in it, a
    list or an object inside); in one loop (a call a line cost a tenth of the parse)."""
    loads, refused, exact = orjson.loads, orjson.JSONDecodeError, _exact
    found: list[Any] = []
    for text in texts:
        try:
            value = loads(text)
        except refused:
            found.append(AGAIN)
            continue
        found.append(value if exact(value) else AGAIN)
    return found


def _exact(value: Any) -> bool:
    """Whether orjson's ``value`` is certainly ``json``'s: a record of single values (or a
    single value) with no float of 2^63 or more. A list or object, or one inside a record
    (a problem either way), is left to ``json``, which words it as it always did, whatever
    its depth (walking it here could exceed Python's recursion limit where orjson did not:
    it allows 1,024 levels)."""
    kind = type(value)
    if kind is dict:
        items = value.values()
        kinds = set(map(type, items))
        if kinds.isdisjoint(_CLOSER):
            return True
        if dict in kinds or list in kinds:
            return False
        return all(-_WIDE < item < _WIDE for item in items if type(item) is float)
    if kind is float:
        return bool(-_WIDE < value < _WIDE)
    return kind is not list


_CLOSER = frozenset({float, dict, list})
"""The types whose values ``_exact`` must look into."""

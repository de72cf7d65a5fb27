"""JSON records parsed by orjson give exactly what Python's ``json`` gives (``jsontext``):
the same values, of the same types, and for what orjson cannot say, ``json``'s own value
or error, as the readers of NDJSON files and HTTP bodies word it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialrating.errors import Problem
from socialrating.jsontext import AGAIN, parsed_each
from socialrating.ledger import readers
from socialrating.ledger.readers import parse_record


def parsed(text: str | bytes) -> Any:
    """``parsed_each`` of one text."""
    return parsed_each([text])[0]


def typed(value: Any) -> Any:
    """``value`` with the type of every part kept, so that 1 == 1.0 and 0.0 == -0.0 do not
    pass for the same value."""
    if isinstance(value, dict):
        return {"dict": [(k, typed(v)) for k, v in value.items()]}
    if isinstance(value, list):
        return {"list": [typed(v) for v in value]}
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


def same_as_json(text: str) -> None:
    """``parsed`` gives ``json.loads``'s value (from the text and from its UTF-8 bytes),
    or asks for ``json``; never another value."""
    try:
        expected: Any = typed(json.loads(text))
    except (ValueError, RecursionError):
        expected = AGAIN  # json refuses it: so must orjson
    for given_text in (text, text.encode("utf-8", "surrogatepass")):
        got = parsed(given_text)
        if got is not AGAIN:
            assert typed(got) == expected, given_text


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # of any size: past 64 bits orjson gives floats
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(),  # NaN and the infinities too: json writes them, orjson refuses them
    st.text(),  # lone surrogates too: json writes them escaped
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=8), st.booleans())
def test_a_record_parses_to_json_s_value_or_is_left_to_json(
    record: dict[str, Any], ascii_only: bool
) -> None:
    same_as_json(json.dumps(record, ensure_ascii=ascii_only))


@settings(max_examples=400, deadline=None)
@given(values)
def test_any_value_parses_to_json_s_value_or_is_left_to_json(value: Any) -> None:
    same_as_json(json.dumps(value))


number = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.from_regex(r"0|[1-9][0-9]{0,40}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"\.[0-9]{1,40}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True),
)


@settings(max_examples=600, deadline=None)
@given(number)
def test_numbers_as_written_parse_as_json_reads_them(literal: str) -> None:
    """Long digits, exponents at the ends of a double's range: the same float, or int."""
    same_as_json(f'{{"quantity": {literal}}}')


def test_texts_at_the_edges_of_the_grammar() -> None:
    """Repeated names, whitespace JSON has and has not, numbers at the ends of a double's
    range and of the grammar, escapes: the same value or the same refusal."""
    for text in [
        '{"a": 1, "b": 2, "a": 3}',
        '{"a": 1, "a": {"x": 1}, "a": null}',
        ' \t\r\n{"a": 1}\r\n ',
        '\x0c{"a": 1}',
        '\x0b{"a": 1}',
        '\u00a0{"a": 1}',
        '{"a": 1}\u2028',
        '{"a": 1e-400, "b": -1e-400, "c": 1e308, "d": 1.7976931348623159e308}',
        '{"a": 01}',
        '{"a": 1.}',
        '{"a": .5}',
        '{"a": +1}',
        '{"a": 1e}',
        '{"a": -}',
        '{"a": "\\ud83d\\ude00", "b": "\\ude00\\ud83d", "c": "\\u00e9\\/\\b\\f"}',
        '{"a": "tab\tin"}',
        '{"a": true, "b": false, "c": null, "d": True}',
        '{"a": 9223372036854775807, "b": -9223372036854775808, "c": 18446744073709551615}',
        '{"a": 1}{"b": 2}',
        '{"a": 1} x',
        "{}",
        "",
    ]:
        same_as_json(text)


def test_integers_past_64_bits_are_left_to_json_which_keeps_them_exact() -> None:
    for literal in ("18446744073709551616", "-9223372036854775809", "1" + "0" * 30):
        assert parsed(f'{{"quantity": {literal}}}') is AGAIN
        assert parsed(f'{{"a": [{{"b": {literal}}}]}}') is AGAIN  # nested too
        problems: list[Problem] = []
        assert parse_record("f", 1, f'{{"quantity": {literal}}}', problems) == {
            "quantity": int(literal)
        }
        assert problems == []
    # At 64 bits orjson still gives the integer.
    assert parsed('{"q": 18446744073709551615}') == {"q": 18446744073709551615}


@pytest.mark.parametrize("depth", [1, 400, 1000, 1100])
def test_lists_and_objects_in_a_line_are_left_to_json_at_any_depth(
    depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list or object in a record is a problem either way: ``json`` words it as before,
    whatever its depth (a walk through orjson's value, which allows 1,024 levels, once
    exceeded Python's recursion limit at about 330)."""
    nested = "[" * depth + "]" * depth
    lines: list[tuple[int, str | bytes]] = [
        (1, '{"key": "k1"}'),
        (2, f'{{"key": "k2", "evidence": {nested}}}'),
        (3, nested),
        (4, f'{{"key": "k4", "evidence": {{"a": {nested}}}}}'.encode()),
    ]
    assert all(parsed(text) is AGAIN for _, text in lines[1:])
    problems: list[Problem] = []
    found = readers.parse_records("f", lines, problems)
    # json alone, as before
    monkeypatch.setattr(readers, "parsed_each", lambda texts: [AGAIN for _ in texts])
    before: list[Problem] = []
    assert found == readers.parse_records("f", lines, before)
    assert problems == before


def test_what_only_json_takes_is_read_by_json() -> None:
    problems: list[Problem] = []
    record = parse_record("f", 3, '{"quantity": NaN, "severity": 1e400}', problems)
    assert record is not None and problems == []
    assert record["quantity"] != record["quantity"] and record["severity"] == float("inf")
    assert parse_record("f", 4, '{"evidence": "\\ud800"}', problems) == {"evidence": "\ud800"}


def test_lines_json_refuses_are_worded_as_before() -> None:
    cases = {
        b'{"key": "a",}': "not valid JSON: Expecting property name enclosed in double quotes (column 13)",
        b"\xef\xbb\xbf{}": "not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) (column 1)",
        b'{"key": "\xff"}': "not UTF-8 text: byte 10 of the line (invalid start byte)",
        b"[1, 2]": "each line must be a JSON object",
        b"null": "each line must be a JSON object",
        b'"text"': "each line must be a JSON object",
    }
    for line, (text, reason) in enumerate(cases.items(), start=1):
        # An HTTP body's lines are bytes, a file's text (UTF-8 already, the BOM kept).
        texts: list[str | bytes] = [text] if b"\xff" in text else [text, text.decode()]
        for given_text in texts:
            problems: list[Problem] = []
            assert parse_record("f", line, given_text, problems) is None
            assert problems == [Problem("f", line, "", reason)], given_text

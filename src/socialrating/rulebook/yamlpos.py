"""Load YAML and remember the line of every key and item, so errors can point there."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: the same result, many times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the 1-based line of the problem."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text into plain Python data and a map from each path to its 1-based line.

    Raises:
        YamlSyntaxError: the text is not valid YAML.
    """
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(line, f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"not valid YAML: {exc}") from exc
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            # PyYAML silently keeps the last of repeated keys: a second `parameters:` would
            # drop every parameter above it without a word.
            if isinstance(key_node, yaml.ScalarNode):
                if key in seen:
                    raise YamlSyntaxError(line, f"key {key!r} repeats (first on line {seen[key]})")
                seen[key] = line
            _walk(value_node, (*path, key), lines)
            # A key's own line is where the key is written, not where its value starts.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of the longest prefix of ``path`` that has one."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return None

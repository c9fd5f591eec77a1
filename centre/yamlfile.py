"""YAML with line numbers, for error messages that name the key and line (config, catalogue).

`load_with_lines(text)` parses with a SafeLoader that records the line of every mapping key
and list item and refuses duplicate keys; `line_of(data, lines, loc)` finds the line of a
key path such as ``("services", 1, "series")`` (as pydantic reports it), and `dotted(loc)`
writes that path the way an administrator reads it: ``services[1].series``.
"""

from __future__ import annotations

from typing import Any

import yaml

#: id(mapping or list) -> (line of the node, {key or index: line})
Lines = dict[int, tuple[int, dict]]


class YamlError(ValueError):
    """The text is not valid YAML, or a mapping repeats a key (`line` and `key` say where)."""

    def __init__(self, line: int | None, key: str, message: str):
        super().__init__(message)
        self.line, self.key, self.message = line, key, message


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping key and list item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    lines: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise YamlError(key_node.start_mark.line + 1, str(key), "a key must be plain text")
        if key in out:
            raise YamlError(key_node.start_mark.line + 1, str(key),
                            f"key {key!r} appears twice (first on line {lines[key]})")
        out[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    loader.lines[id(out)] = (node.start_mark.line + 1, lines)
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    loader.lines[id(items)] = (node.start_mark.line + 1, {i: c.start_mark.line + 1 for i, c in enumerate(node.value)})
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_with_lines(text: str) -> tuple[Any, Lines]:
    """Parse YAML text; return (data, lines). Raise YamlError naming the line of a mistake."""
    try:
        loader = _LineLoader(text)  # the reader refuses a NUL or other control character here, at once
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        raise YamlError(line, "", f"not valid YAML: character #x{exc.character:04x} is not allowed in a "
                        "YAML file (a control character: was the file saved as text?)") from None
    loader.lines = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlError(mark.line + 1 if mark else None, "",
                        f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:  # thousands of nested [ or {: PyYAML's composer recurses per level
        raise YamlError(None, "", "not valid YAML: lists or mappings nested too deeply") from None
    except ValueError as exc:  # e.g. a date such as 2026-13-01
        if isinstance(exc, YamlError):
            raise
        raise YamlError(None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, loader.lines


def line_of(data: Any, lines: Lines, loc: tuple) -> int | None:
    """The line of the deepest part of the key path `loc` that exists in the loaded YAML."""
    line = None
    node = data
    for part in loc:
        entry = lines.get(id(node))
        if entry is None:
            break
        line = entry[0]
        if isinstance(node, dict) and part in node:
            line = entry[1].get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            line = entry[1].get(part, line)
            node = node[part]
        else:
            break
    return line


def dotted(loc: tuple) -> str:
    """('services', 1, 'series') → 'services[1].series'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out

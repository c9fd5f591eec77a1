"""YAML with line numbers, shared by config.yaml and the catalogue files."""

import pytest

from centre.yamlfile import YamlError, dotted, line_of, load_with_lines

TEXT = "services:\n  - series: A\n  - series: B\n    name: x\nkiosk:\n  pin: 1\n"


def test_lines_of_key_paths():
    data, lines = load_with_lines(TEXT)
    assert line_of(data, lines, ("services", 1, "series")) == 3
    assert line_of(data, lines, ("services", 1, "nope")) == 3  # deepest part that exists
    assert line_of(data, lines, ("kiosk", "pin")) == 6
    assert dotted(("services", 1, "series")) == "services[1].series"


@pytest.mark.parametrize("text, line, words", [
    ("a: 1\na: 2\n", 2, "key 'a' appears twice (first on line 1)"),
    ("a: [\n", 2, "not valid YAML"),
    ("? [1, 2]\n: x\n", 1, "a key must be plain text"),
])
def test_mistakes_name_the_line(text, line, words):
    with pytest.raises(YamlError) as exc:
        load_with_lines(text)
    assert exc.value.line == line and words in exc.value.message

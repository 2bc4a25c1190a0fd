"""Case and policy YAML read by libyaml's parser, with the Python parser's values and errors (packetizer.yamlio)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from packetizer import yamlio
from packetizer.caseio import parse_case_bytes
from packetizer.errors import CaseError

REPO = Path(__file__).resolve().parents[1]
# Every YAML document of the repository: the shipped payer policies, the examples, the test fixtures.
DOCUMENTS = sorted(path for folder in ("payers", "examples", "tests") for pattern in ("*.yaml", "*.yml")
                   for path in (REPO / folder).rglob(pattern))


def python_parse(text: str):
    return yaml.load(text, Loader=yamlio._Loader)  # noqa: S506 - derives from SafeLoader


def test_every_document_reads_the_same_with_either_parser():
    assert {path.name for path in (REPO / "payers").glob("*.yaml")} <= {path.name for path in DOCUMENTS}
    assert REPO / "examples" / "lake-street" / "case.yaml" in DOCUMENTS
    compared = 0
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8-sig")
        try:
            expected = python_parse(text)
        except yaml.YAMLError:
            continue   # a fixture that is broken on purpose: its error is the Python parser's (below)
        assert yamlio.load_yaml(text) == expected, path
        compared += 1
    assert compared >= 15


@pytest.mark.parametrize("text", [
    "a: 011\nb: 2026-02-30\nc: 0x1F\nd: 1_000\ne: yes\nf: ~\ng: .inf\nh: 1:30\ni: '02'\nj: 2026-09-14T10:00:00Z",
    "services:\n  - code: \"97110\"\n    units: 2\n    modifiers: [GP, 59]\n",
    "note: |\n  line one\n  line two\nother: >\n  folded\n  text\n",
    "\ufeffcase_id: RA-1\nmember: {first_name: Ana, last_name: \"O\u2019Brien\"}\n",
    "a: &x [1, 2]\nb: *x\n",
])
def test_values_are_the_python_parsers(text):
    """This test ensures dates stay strings, numbers with a leading zero stay as written, and the rest reads
    as the Python parser reads it."""
    assert yamlio.load_yaml(text) == python_parse(text)


@pytest.mark.parametrize("text", [
    "case_id: [unclosed", "a: b: c", "a:\n\t- x", "- a\nb: c", "a: &x [1]\nb: *y", "key: value\n  bad: 1",
    "a: \ud800",
])
def test_errors_are_the_python_parsers(text):
    """This test ensures a document libyaml refuses is reported as the Python parser reports it (the message
    and the place), and text libyaml cannot take at all is too."""
    with pytest.raises(yaml.YAMLError) as fast:
        yamlio.load_yaml(text)
    with pytest.raises(yaml.YAMLError) as slow:
        python_parse(text)
    assert yamlio.yaml_error_location(fast.value) == yamlio.yaml_error_location(slow.value)


def test_a_broken_case_file_names_the_line_where_the_python_parser_stops():
    with pytest.raises(CaseError) as caught:
        parse_case_bytes(b"case_id: RA-1\nservices: [unclosed", "case.yaml")
    assert "invalid YAML at line 2, column 20: expected ',' or ']'" in str(caught.value)

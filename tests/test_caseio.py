"""This test ensures a case file is read and validated the same way whether a door has its path or its bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetizer import limits
from packetizer.caseio import case_from_mapping, parse_case_bytes, read_case_document
from packetizer.errors import CaseError

EXAMPLE = Path(__file__).parents[1] / "examples" / "lake-street" / "case.yaml"


def test_bytes_and_path_give_the_same_mapping():
    assert parse_case_bytes(EXAMPLE.read_bytes(), "case.yaml") == read_case_document(EXAMPLE)


@pytest.mark.parametrize("data, detail", [
    (b"x" * (limits.MAX_CASE_FILE_BYTES + 1),
     f"{limits.MAX_CASE_FILE_BYTES + 1} bytes > MAX_CASE_FILE_BYTES ({limits.MAX_CASE_FILE_BYTES})"),
    ("case_id: caf\u00e9".encode("latin-1"), "not UTF-8 text"),
    (b"case_id: [unclosed", "invalid YAML at line 1"),
])
def test_unreadable_bytes_are_told_by_the_name_the_user_gave(tmp_path, data, detail):
    with pytest.raises(CaseError) as from_bytes:
        parse_case_bytes(data, "ortiz-case.yaml")
    assert from_bytes.value.message.startswith(f"case file ortiz-case.yaml: {detail}")
    path = tmp_path / "ortiz-case.yaml"
    path.write_bytes(data)
    with pytest.raises(CaseError) as from_path:
        read_case_document(path)
    assert from_path.value.message == from_bytes.value.message


def test_a_case_that_fails_the_schema_lists_every_problem(tmp_path):
    doc = read_case_document(EXAMPLE)
    del doc["contact"]
    doc["services"][1]["code"] = "9711"
    with pytest.raises(CaseError) as caught:
        case_from_mapping(doc, tmp_path)
    problems = dict(caught.value.problems)
    assert problems["contact"] == "is required but missing"
    assert "services[1].code" in problems
    first, _ = caught.value.problems[0]
    assert caught.value.field == first and "(and 1 more problem(s))" in caught.value.message

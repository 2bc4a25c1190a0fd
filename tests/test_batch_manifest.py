"""Batch manifests: CSV rows grouped into cases, JSON/JSONL items, and errors that name line and column."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from packetizer.batch import read_manifest
from packetizer.errors import CaseError

FIXTURES = Path(__file__).parent / "fixtures" / "batch"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the batch fixtures, so tests can add manifests beside the notes."""
    shutil.copytree(FIXTURES, tmp_path / "m")
    return tmp_path / "m"


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def test_csv_rows_with_the_same_case_id_form_one_case_with_one_service_line_each(workdir):
    manifest = read_manifest(workdir / "cases.csv")
    assert manifest.kind == "csv"
    by_id = {e.case_id: e for e in manifest.entries}
    assert set(by_id) == {"BT-0001", "BT-0002"}
    first = by_id["BT-0001"]
    assert first.error is None and first.lines == (2, 4)
    assert [(s.code, s.start.isoformat(), s.units) for s in first.case.services] == [
        ("97110", "2026-09-14", 4), ("97140", "2026-09-18", 1)]
    assert first.case.claim.denial_codes == ("CO-197", "N54")
    assert first.case.referring_provider.npi == "1003000126"
    assert [a.file for a in first.case.attachments] == ["notes/2026-09-14-progress.txt", "notes/2026-09-18-progress.txt"]
    # An unknown column is kept as an unknown case key (withheld later), not dropped or printed.
    assert first.case.raw["home_address"] == "2218 Elm Court"


def test_attachments_dir_takes_every_file_with_its_date_from_the_name(workdir):
    entry = next(e for e in read_manifest(workdir / "cases.csv").entries if e.case_id == "BT-0002")
    assert entry.error is None
    assert [(a.file, a.kind, a.date.isoformat()) for a in entry.case.attachments] == [
        ("visits/2026-09-14-visit.txt", "clinical_note", "2026-09-14"),
        ("visits/2026-09-18-visit.txt", "clinical_note", "2026-09-18"),
    ]
    assert entry.case.contact.email == "billing@example.org" and entry.case.contact.phone is None


def test_bad_rows_are_reported_by_line_and_column_without_stopping_good_ones(workdir):
    header, rows = _rows(workdir / "cases.csv")
    bad = dict(rows[0], case_id="BT-0100", code="9711", dob="1971-13-40", modifiers="GP;XYZ",
               attachments="clinical_note|2026-09-14|notes/missing.txt")
    path = _write_csv(workdir / "bad.csv", header, rows + [bad])
    entries = {e.case_id: e for e in read_manifest(path).entries}
    assert entries["BT-0001"].error is None and entries["BT-0002"].error is None
    error = entries["BT-0100"].error
    assert entries["BT-0100"].case is None and entries["BT-0100"].lines == (6,)
    assert "line 6, column code: 9711 is not valid" in error
    assert "line 6, column modifiers, item 2: XYZ is not valid" in error
    assert "line 6, column dob: is not valid" in error
    assert "line 6, column attachments, item 1 (clinical_note): file not found" in error
    # Patient data is never echoed: not the date of birth, not the note's file name.
    assert "1971-13-40" not in error and "missing.txt" not in error


def test_case_level_columns_must_agree_across_the_rows_of_a_case(workdir):
    header, rows = _rows(workdir / "cases.csv")
    rows[2]["last_name"] = "Ortega"
    entries = {e.case_id: e for e in read_manifest(_write_csv(workdir / "m.csv", header, rows)).entries}
    error = entries["BT-0001"].error
    assert error.startswith("line 4, column last_name: differs from line 2")
    assert "Ortega" not in error
    assert entries["BT-0002"].error is None


def test_missing_case_id_fails_only_that_row(workdir):
    header, rows = _rows(workdir / "cases.csv")
    rows.append(dict(rows[0], case_id=""))
    entries = read_manifest(_write_csv(workdir / "m.csv", header, rows)).entries
    lonely = [e for e in entries if e.case_id is None]
    assert len(lonely) == 1 and lonely[0].lines == (6,)
    assert lonely[0].error == "line 6, column case_id: is required but empty"
    assert sum(e.error is None for e in entries) == 2


def test_paths_may_not_leave_the_manifest_folder(workdir):
    header, rows = _rows(workdir / "cases.csv")
    rows[0]["attachments"] = "clinical_note|2026-09-14|../outside.txt"
    (workdir.parent / "outside.txt").write_text("note")
    rows[1]["attachments_dir"] = "/etc"
    entries = {e.case_id: e for e in read_manifest(_write_csv(workdir / "m.csv", header, rows)).entries}
    assert "line 2, column attachments, item 1 (clinical_note): the path must stay inside" in entries["BT-0001"].error
    assert "line 3, column attachments_dir: the folder must stay inside" in entries["BT-0002"].error


def test_a_header_without_required_columns_rejects_the_whole_manifest(workdir):
    (workdir / "m.csv").write_text("case_id,payer_id\nX-1,demo-commercial\n")
    with pytest.raises(CaseError, match=r"line 1: missing column\(s\) member_id, first_name"):
        read_manifest(workdir / "m.csv")


def test_a_manifest_that_is_not_utf8_names_the_line(workdir):
    data = (workdir / "cases.csv").read_bytes().replace(b"Lindqvist", "Lindqvist\u00e9".encode("cp1252"), 1)
    (workdir / "m.csv").write_bytes(data)
    with pytest.raises(CaseError, match="line 3 is not UTF-8"):
        read_manifest(workdir / "m.csv")


def test_jsonl_items_are_case_objects_or_case_files_with_line_numbers(workdir):
    entries = read_manifest(workdir / "cases.jsonl").entries
    assert [(e.case_id, e.lines, e.error) for e in entries] == [("BT-0003", (1,), None), ("BT-0004", (2,), None)]
    assert entries[0].case.base_dir == workdir.resolve()


def test_json_array_items_carry_the_line_they_start_on_and_errors_name_the_field(workdir):
    items = [json.loads(line) for line in (workdir / "cases.jsonl").read_text().splitlines()]
    broken = dict(items[1], case_id="BT-0005")
    broken["services"] = [dict(broken["services"][0], code="ABC")]
    text = "[\n" + ",\n".join(json.dumps(i, indent=1) for i in (items[0], items[1], broken, items[1])) + "\n]\n"
    (workdir / "m.json").write_text(text)
    entries = read_manifest(workdir / "m.json").entries
    starts = [e.lines[0] for e in entries]
    assert starts[0] == 2 and starts == sorted(starts)
    assert [e.case_id for e in entries] == ["BT-0003", "BT-0004", "BT-0005", "BT-0004"]
    assert entries[2].error.startswith(f"line {starts[2]}, services[0].code: ABC is not in the expected format")
    assert entries[3].error == f"line {starts[3]}: case_id BT-0004 already appears on line {starts[1]}"


def test_jsonl_garbage_line_fails_alone(workdir):
    text = (workdir / "cases.jsonl").read_text() + "{not json\n[1, 2]\n"
    (workdir / "m.jsonl").write_text(text)
    entries = read_manifest(workdir / "m.jsonl").entries
    assert [e.error is None for e in entries] == [True, True, False, False]
    assert entries[2].error.startswith("line 3: invalid JSON")
    assert entries[3].error.startswith("line 4: each item must be a case object")


def test_case_file_outside_the_manifest_folder_is_refused(workdir):
    (workdir / "m.jsonl").write_text('{"case_file": "../elsewhere.yaml"}\n{"case_file": "case-c.yaml", "x": 1}\n')
    first, second = read_manifest(workdir / "m.jsonl").entries
    assert first.error == "line 1, case_file: ../elsewhere.yaml: escapes the case folder"
    assert second.error == "line 2, case_file: an item with case_file may have no other keys"


def test_oversized_cells_and_extra_cells_fail_their_row(workdir, monkeypatch):
    from packetizer import limits

    monkeypatch.setattr(limits, "MAX_MANIFEST_CELL_CHARS", 60)
    header, rows = _rows(workdir / "cases.csv")
    path = _write_csv(workdir / "m.csv", header, rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(",".join(rows[1][c] for c in header) + ",surplus\n")
    entries = {e.case_id: e for e in read_manifest(path).entries}
    # The fixture's late-reason explanation for BT-0001 is longer than 60 characters.
    size = len(rows[0]["late_reason_explanation"])
    assert size > 60
    assert entries["BT-0001"].error == (
        f"line 2, column late_reason_explanation: {size} characters > MAX_MANIFEST_CELL_CHARS (60); "
        f"line 4, column late_reason_explanation: {size} characters > MAX_MANIFEST_CELL_CHARS (60)")
    assert "line 6: 29 cells but the header names 28 columns" in entries["BT-0002"].error

"""The batch report files and the rerun state, on their own."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from packetizer.batch.report import BatchReport, RowResult, escape_cell, write_report
from packetizer.batch.state import BatchState, BuiltRecord


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tX", "\rX"])
def test_cells_a_spreadsheet_would_run_get_an_apostrophe(cell):
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["BT-0001", "line 5, column code: 9711 is not valid", "", None, 5])
def test_other_cells_are_left_alone(cell):
    assert escape_cell(cell) == ("" if cell is None else str(cell))


def test_report_files_escape_the_csv_and_keep_the_json_exact(tmp_path):
    rows = (
        RowResult((2, 3), "-BT-1", "built", packet="RETRO-AUTH_p_-BT-1_2026-09-14.pdf", sha256="ab" * 32, pages=5),
        RowResult((4,), None, "failed", error="=cmd|' /C calc'!A0\nsecond line"),
        RowResult((5,), "BT-2", "skipped", packet="x.pdf", sha256="cd" * 32, pages=3),
    )
    report = BatchReport(Path("m.csv"), tmp_path, rows, "local", "2026-10-06T00:00:00Z", "2026-10-06T00:00:09Z", 9.0)
    csv_path, json_path = write_report(report)
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh))
    assert [r["row"] for r in table] == ["2;3", "4", "5"]
    assert table[0]["case_id"] == "'-BT-1" and table[0]["packet"] == "RETRO-AUTH_p_-BT-1_2026-09-14.pdf"
    assert table[1]["error"] == "'=cmd|' /C calc'!A0 second line"  # escaped and kept on one line
    assert [r["status"] for r in table] == ["built", "failed", "skipped"]
    doc = json.loads(json_path.read_text())
    assert doc["counts"] == {"total": 3, "built": 1, "skipped": 1, "failed": 1}
    assert doc["rows"][0]["case_id"] == "-BT-1" and doc["rows"][0]["lines"] == [2, 3]
    assert doc["rows"][1]["error"].startswith("=cmd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch-report.csv", "batch-report.json"]


def test_state_skips_only_an_unchanged_packet_that_is_still_there(tmp_path):
    packet = tmp_path / "p.pdf"
    packet.write_bytes(b"%PDF-1.7 packet")
    record = BuiltRecord("f" * 64, "p.pdf", hashlib.sha256(packet.read_bytes()).hexdigest(), 4, None, None,
                         "2026-10-06T00:00:00Z")
    BatchState(tmp_path).record("BT-1", record)
    state = BatchState.load(tmp_path)
    assert state.unchanged("BT-1", "f" * 64, None) == record
    assert state.unchanged("BT-1", "e" * 64, None) is None          # inputs changed
    assert state.unchanged("BT-2", "f" * 64, None) is None          # never built
    assert state.unchanged("BT-1", "f" * 64, "local folder /a") is None  # not in this archive
    packet.write_bytes(b"%PDF-1.7 edited")
    assert state.unchanged("BT-1", "f" * 64, None) is None          # the packet was altered
    packet.unlink()
    assert state.unchanged("BT-1", "f" * 64, None) is None          # or removed


def test_an_unreadable_state_file_means_rebuild_not_crash(tmp_path):
    (tmp_path / "batch-state.json").write_text("{half written")
    assert BatchState.load(tmp_path).records == {}

"""``packetizer batch`` end to end on the local process pool: reports, reruns, Ctrl-C, the archive.

The CLI runs as a real subprocess (its own process pool, signals and exit
status); packets are opened and their text extracted.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pypdf import PdfReader

from packetizer.archive import find_versions, open_storage, verify_version
from packetizer.batch import run_batch
from packetizer.batch.state import folder_lock
from packetizer.errors import PacketizerError

FIXTURES = Path(__file__).parent / "fixtures" / "batch"
TODAY = "2026-10-06"
CLI = [sys.executable, "-c", "from packetizer.cli.batch import batch; batch(prog_name='packetizer batch')"]
FIRST_NAMES = ["Ana", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hana", "Ivo", "Jun"]
LAST_NAMES = ["Ortiz", "Lindqvist", "Nakamura", "Okafor", "Haddad", "Novak", "Silva"]


@dataclass
class Export:
    """A generated PM export: where it is and what each case should come to."""

    path: Path
    lines: dict[str, list[int]] = field(default_factory=dict)      # case id -> manifest lines
    bad: dict[str, tuple[str, str]] = field(default_factory=dict)  # case id -> (column, expected words)


def pm_export(root: Path, cases: int, *, bad: bool = True, first_id: str | None = None) -> Export:
    """A CSV export of ``cases`` cases (every fifth with two service lines) beside copies of the notes.

    With ``bad``, three cases are broken the ways the issue names: an unknown
    payer, an ICD-10 code that does not exist, and a missing attachment.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / "notes", root / "notes")
    with open(FIXTURES / "cases.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, template = list(reader.fieldnames), next(reader)
    export = Export(root / "export.csv")
    rows, line = [], 2
    for n in range(cases):
        case_id = first_id if (first_id and n == cases - 1) else f"BT-{1000 + n}"
        base = dict(template, case_id=case_id, member_id=f"MBR{n:05d}",
                    first_name=FIRST_NAMES[n % len(FIRST_NAMES)], last_name=LAST_NAMES[n % len(LAST_NAMES)],
                    dob=f"19{50 + n % 40}-0{1 + n % 9}-1{n % 9}", claim_number=f"20260914{n:05d}")
        visits = [("2026-09-14", "97110")] + ([("2026-09-18", "97140")] if n % 5 == 0 else [])
        for dos, code in visits:
            note = f"notes/{dos}-progress.txt"
            if n == 3:  # this case has a note of its own, so a test can change just its inputs
                note = f"notes/{case_id}/{dos}-progress.txt"
                (root / note).parent.mkdir(exist_ok=True)
                shutil.copy(FIXTURES / "notes" / f"{dos}-progress.txt", root / note)
            rows.append(dict(base, date_of_service=dos, code=code, attachments=f"clinical_note|{dos}|{note}"))
            export.lines.setdefault(case_id, []).append(line)
            line += 1
    if bad:
        breaks = {7: ("payer_id", "no-such-payer", "no payer policy named 'no-such-payer'"),
                  23: ("diagnosis_codes", "M54.99", "M54.99 is not an ICD-10-CM code"),
                  41: ("attachments", "clinical_note|2026-09-14|notes/2026-09-14-lost.txt", "file not found")}
        for n, (column, value, words) in breaks.items():
            case_id = f"BT-{1000 + n}"
            for row in rows:
                if row["case_id"] == case_id:
                    row[column] = value
            export.bad[case_id] = (column, words)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    export.path.write_text(buffer.getvalue(), encoding="utf-8")
    return export


def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, **kwargs)


def report_rows(out: Path) -> list[dict]:
    with open(out / "batch-report.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def leftovers(out: Path) -> list[str]:
    """Anything in ``out`` that is not a finished file: temporaries, staging folders."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".batch.lock")


def assert_packet(out: Path, row: dict, case_id: str) -> None:
    """The packet named in the report exists, matches its hash and page count, and is this case's packet."""
    data = (out / row["packet"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == int(row["pages"])
    assert f"{case_id} \u00b7 Page 1 of {row['pages']}" in reader.pages[0].extract_text()
    assert (out / row["packet"].replace(".pdf", ".disclosure.json")).is_file()


def test_fifty_cases_with_three_bad_rows_build_47_report_3_by_line_and_a_rerun_skips_the_47(tmp_path):
    export = pm_export(tmp_path / "in", 50, first_id="-BT-1049")
    out = tmp_path / "out"

    first = run_cli(export.path, "--out", out, "--workers", "2", "--today", TODAY)
    assert first.returncode == 1, first.stderr
    assert "47 built, 0 skipped, 3 failed" in first.stdout
    assert first.stdout.splitlines()[-1] == str(out / "batch-report.csv")
    assert "Traceback" not in first.stderr

    rows = report_rows(out)
    assert len(rows) == 50
    by_id = {row["case_id"].removeprefix("'"): row for row in rows}
    for case_id, (column, words) in export.bad.items():
        row = by_id[case_id]
        line = export.lines[case_id][0]
        assert row["status"] == "failed" and row["packet"] == ""
        assert row["row"] == ";".join(map(str, export.lines[case_id]))
        assert row["error"].startswith(f"line {line}, column {column}"), row["error"]
        assert words in row["error"]
        assert f"failed: {case_id}: line {line}, column {column}" in first.stderr
    built = {case_id: row for case_id, row in by_id.items() if row["status"] == "built"}
    assert len(built) == 47
    for case_id, row in built.items():
        assert row["row"] == ";".join(map(str, export.lines[case_id]))
        assert_packet(out, row, case_id)
    # A cell that a spreadsheet would run as a formula is escaped in the CSV, kept as is in the JSON.
    assert by_id["-BT-1049"]["case_id"] == "'-BT-1049"
    doc = json.loads((out / "batch-report.json").read_text())
    assert doc["counts"] == {"total": 50, "built": 47, "skipped": 0, "failed": 3}
    assert "-BT-1049" in {r["case_id"] for r in doc["rows"]}
    assert leftovers(out) == []

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.pdf")}
    second = run_cli(export.path, "--out", out, "--workers", "2", "--today", TODAY)
    assert second.returncode == 1
    assert "0 built, 47 skipped, 3 failed" in second.stdout
    rerun = {row["case_id"].removeprefix("'"): row for row in report_rows(out)}
    assert {cid for cid, row in rerun.items() if row["status"] == "skipped"} == set(built)
    assert all(rerun[cid]["sha256"] == row["sha256"] for cid, row in built.items())
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.pdf")} == stamps  # nothing rewritten

    # Fix the bad diagnosis and change one case's note: exactly the cases whose inputs changed are built.
    text = export.path.read_text(encoding="utf-8").replace("M54.99", "M54.16")
    export.path.write_text(text, encoding="utf-8")
    with open(tmp_path / "in" / "notes" / "BT-1003" / "2026-09-14-progress.txt", "a", encoding="utf-8") as fh:
        fh.write("Addendum: home exercise program reviewed.\n")
    third = run_cli(export.path, "--out", out, "--workers", "2", "--today", TODAY)
    assert "2 built, 46 skipped, 2 failed" in third.stdout
    final = {row["case_id"].removeprefix("'"): row for row in report_rows(out)}
    assert {cid for cid, row in final.items() if row["status"] == "built"} == {"BT-1003", "BT-1023"}
    assert final["BT-1003"]["sha256"] != built["BT-1003"]["sha256"]
    assert_packet(out, final["BT-1023"], "BT-1023")


def _built_count(out: Path) -> int:
    try:
        return len(json.loads((out / "batch-state.json").read_text())["cases"])
    except (OSError, ValueError, KeyError):
        return 0


def test_ctrl_c_keeps_finished_packets_leaves_no_partial_files_and_exits_130(tmp_path):
    export = pm_export(tmp_path / "in", 6, bad=False)
    out = tmp_path / "out"
    process = subprocess.Popen([*CLI, str(export.path), "--out", str(out), "--workers", "1", "--today", TODAY],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while _built_count(out) < 1:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no packet was built in time"
        time.sleep(0.05)
    # Like a terminal's Ctrl-C: SIGINT to the whole process group (the pool's workers too).
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopped: finished packets were kept" in stderr

    doc = json.loads((out / "batch-report.json").read_text())
    assert doc["interrupted"] is True
    built = [r for r in doc["rows"] if r["status"] == "built"]
    stopped = [r for r in doc["rows"] if r["status"] == "failed"]
    assert 1 <= len(built) < 6 and len(built) + len(stopped) == 6
    assert all("the batch was stopped" in r["error"] for r in stopped)
    # Every packet on disk is complete and reported; nothing half-written remains.
    assert sorted(p.name for p in out.glob("*.pdf")) == sorted(r["packet"] for r in built)
    for row in built:
        assert_packet(out, {k: str(v) for k, v in row.items()}, row["case_id"])
    assert leftovers(out) == []

    again = run_cli(export.path, "--out", out, "--workers", "2", "--today", TODAY)
    assert again.returncode == 0, again.stderr
    assert f"{6 - len(built)} built, {len(built)} skipped, 0 failed" in again.stdout


def test_run_batch_reports_progress_archives_and_reruns_into_another_archive(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "in")
    archive = tmp_path / "archive"
    events = []
    report = run_batch(tmp_path / "in" / "cases.jsonl", out_dir=tmp_path / "out", workers=2,
                       archive=str(archive), spool=tmp_path / "spool", today=dt.date.fromisoformat(TODAY),
                       on_progress=events.append)
    assert report.ok and (report.built, report.skipped, report.failed) == (2, 0, 0)
    assert [e.done for e in events] == [0, 1, 2] and events[-1].built == 2 and events[0].row is None
    assert {e.row.case_id for e in events[1:]} == {"BT-0003", "BT-0004"}
    storage = open_storage(str(archive))
    for row in report.rows:
        (version,) = find_versions(storage, row.case_id)
        assert version.prefix == row.archived and version.sha256 == row.sha256
        assert verify_version(storage, version) == []
        assert report.packet_path(row).read_bytes() == storage.get(version.packet_key)

    same = run_batch(tmp_path / "in" / "cases.jsonl", out_dir=tmp_path / "out", archive=str(archive),
                     spool=tmp_path / "spool", today=dt.date.fromisoformat(TODAY))
    assert (same.built, same.skipped) == (0, 2)
    assert [r.archived for r in same.rows] == [r.archived for r in report.rows]
    # Built before but never into this archive: not skipped.
    other = run_batch(tmp_path / "in" / "cases.jsonl", out_dir=tmp_path / "out", archive=str(tmp_path / "other"),
                      spool=tmp_path / "spool", today=dt.date.fromisoformat(TODAY))
    assert (other.built, other.skipped) == (2, 0)


def test_a_cancel_event_stops_the_batch_from_another_thread(tmp_path):
    export = pm_export(tmp_path / "in", 8, bad=False)
    cancel = threading.Event()
    result = {}

    def on_progress(event):
        if event.built >= 1:
            cancel.set()

    def work():
        result["report"] = run_batch(export.path, out_dir=tmp_path / "out", workers=1,
                                     today=dt.date.fromisoformat(TODAY), on_progress=on_progress, cancel=cancel)

    thread = threading.Thread(target=work)  # as a web server would run it: not the main thread
    thread.start()
    thread.join(timeout=180)
    report = result["report"]
    assert report.interrupted and not report.ok
    assert 1 <= report.built < 8 and report.built + report.failed == 8
    assert json.loads(report.json_path.read_text())["interrupted"] is True
    assert leftovers(tmp_path / "out") == []


def test_two_batches_cannot_write_into_one_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(PacketizerError, match="another batch is writing into this folder"):
            run_batch(FIXTURES / "cases.csv", out_dir=out, today=dt.date.fromisoformat(TODAY))
    assert not (out / "batch-report.csv").exists()


def test_an_unreadable_manifest_is_one_clear_error_and_exit_1(tmp_path):
    (tmp_path / "m.csv").write_text("case_id,payer_id\nX-1,demo-commercial\n")
    result = run_cli(tmp_path / "m.csv", "--out", tmp_path / "out", "--today", TODAY)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: manifest m.csv: line 1: missing column(s)")
    assert "Traceback" not in result.stderr
    usage = run_cli(tmp_path / "m.csv", "--workers", "0")
    assert usage.returncode == 2


def test_the_celery_engine_without_a_broker_fails_before_doing_anything(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PACKETIZER_BROKER_URL"}
    result = run_cli(FIXTURES / "cases.csv", "--out", tmp_path / "out", "--engine", "celery", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: the Celery engine needs a broker: set PACKETIZER_BROKER_URL "
                                     "(e.g. redis://127.0.0.1:6379/0)")
    assert not (tmp_path / "out").exists()


def test_a_batch_stopped_at_once_leaves_no_sandboxed_child_and_no_pictures_of_pages(tmp_path):
    """Ctrl-C twice terminates the workers: the build in hand still stops its sandboxed children (they lead
    process groups of their own) and removes their folders, which hold pictures of pages."""
    import uuid

    import yaml

    from tests.support.channel_cases import case_with
    from tests.support.hostile_pdfs import FAX_DPI, LETTER, fax_pdf_pages, scan, to_fax

    lines = ["JUNIPER PHYSICAL THERAPY  Progress note", "Therapeutic exercise: nerve glides and core work."]
    fax = fax_pdf_pages([to_fax(scan([f"Page {n + 1}", *lines * 6], LETTER, dpi=FAX_DPI, font_pt=11, seed=n))
                         for n in range(6)])
    case_file = case_with(tmp_path, [("faxed-note.pdf", fax)])
    case = yaml.safe_load(case_file.read_text())
    case["attachments"] = [dict(a, file=f"case/{a['file']}") for a in case["attachments"]]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(dict(case, case_id=f"RA-STOP-{n}"), default=str) + "\n" for n in range(2)))
    scratch, mark = tmp_path / "tmp", uuid.uuid4().hex
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), PKTZ_TEST_MARK=mark)
    process = subprocess.Popen([*CLI, str(manifest), "--out", str(tmp_path / "out"), "--workers", "1",
                                "--today", TODAY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=env)
    deadline = time.monotonic() + 120
    while not list(scratch.glob("pktz-redact-*/*")):   # a child is reading the fax: pictures of its pages
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the fax was not being read in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr

    def marked() -> list[int]:
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if f"PKTZ_TEST_MARK={mark}".encode() in environ.read_bytes():
                    found.append(int(environ.parent.name))
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 10
    while marked() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked() == []
    assert [p.name for p in scratch.iterdir() if p.name.startswith("pktz-")] == []

"""This test ensures that staff can upload a batch in the web app, watch it, stop it and download its report and packets."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from packetizer import limits
from packetizer.batch.background import STATUS_FILE
from packetizer.casebook.batchimport import TRACKING_FILE
from packetizer.errors import ConfigError
from packetizer.registry import AuditEntry
from packetizer.web.batches import EXTENSION_KEY

from browser.webapp_support import Clock, add_account, follow_job, make_app, page_token, sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "batch"
# The fixture cases are judged on this day (as in tests/test_batch_run.py).
TODAY = dt.datetime(2026, 10, 6, 15, 0, tzinfo=dt.timezone.utc)
WAIT_SECONDS = 120
# PHI of the fixture cases that must not reach the audit log.
FIXTURE_PHI = ("Ortiz", "Lindqvist", "MBR0001", "MBR0002", "1971-04-09")


@pytest.fixture
def clock() -> Clock:
    return Clock(TODAY)


def notes_zip(*extra: tuple[str, bytes]) -> bytes:
    """The fixture notes as staff would zip them: notes/, visits/ and the case file, paths as in the manifests."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for folder in ("notes", "visits"):
            for path in sorted((FIXTURES / folder).iterdir()):
                zf.write(path, f"{folder}/{path.name}")
        zf.write(FIXTURES / "case-c.yaml", "case-c.yaml")
        for name, data in extra:
            zf.writestr(name, data)
    return buffer.getvalue()


def manifest_with_a_bad_row() -> tuple[bytes, int]:
    """cases.csv (BT-0001 and BT-0002, two service lines each) plus a case under a payer that does not exist."""
    text = (FIXTURES / "cases.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    bad = lines[1].replace("BT-0001,demo-commercial,MBR0001", "BT-0009,no-such-payer,MBR0009", 1)
    lines.append(bad)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), len(lines)


def upload(client, manifest: bytes, name: str, notes: bytes | None, *, token: str | None = "page"):
    data = {"manifest": (io.BytesIO(manifest), name)}
    if notes is not None:
        data["notes"] = (io.BytesIO(notes), "notes.zip")
    if token == "page":
        token = page_token(client, "/batches/new")
    if token is not None:
        data["csrf_token"] = token
    return client.post("/batches/new", data=data, content_type="multipart/form-data")


def batch_id_of(response) -> str:
    assert response.status_code == 302, response.data.decode()[-3000:]
    match = re.fullmatch(r".*/batches/([0-9a-f]{16})", response.headers["Location"])
    assert match, response.headers["Location"]
    return match[1]


def wait_until_done(app, batch_id: str):
    """Poll the batch's status until it has ended (or fail after WAIT_SECONDS)."""
    jobs = app.extensions[EXTENSION_KEY]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        status = jobs.status(batch_id)
        if not status.active:
            return status
        time.sleep(0.2)
    pytest.fail(f"batch {batch_id} still {jobs.status(batch_id).state} after {WAIT_SECONDS} s")


def batches_dir(app) -> Path:
    return Path(app.instance_path) / "batches"


def leftovers(app) -> list[str]:
    root = batches_dir(app)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_staff_upload_a_csv_batch_watch_it_and_download_the_report_and_packets(app, staff, tmp_path):
    manifest, bad_line = manifest_with_a_bad_row()
    started = upload(staff, manifest, "september-export.csv", notes_zip())
    batch_id = batch_id_of(started)

    # Building takes seconds (worker start-up, WeasyPrint): the page is seen while the batch runs.
    running = staff.get(f"/batches/{batch_id}").data.decode()
    assert '<meta http-equiv="refresh" content="2">' in running and 'id="stop-form"' in running
    assert re.search(r"\d of 3 cases done", running) and "Running" in running
    status = wait_until_done(app, batch_id)
    assert (status.state, status.total, status.built, status.failed) == ("finished", 3, 2, 1)
    assert sorted(p.name for p in (batches_dir(app) / batch_id).iterdir()) == ["out", STATUS_FILE, TRACKING_FILE]
    assert staff.get(f"/batches/{batch_id}/status").get_json() == {
        "batch_id": batch_id, "state": "finished", "total": 3, "done": 3, "built": 2, "skipped": 0, "failed": 1,
        "created": "2026-10-06T15:00:00Z", "finished": "2026-10-06T15:00:00Z"}

    page = staff.get(f"/batches/{batch_id}")
    html = page.data.decode()
    assert '<meta http-equiv="refresh"' not in html and 'id="stop-form"' not in html
    rows = re.findall(r'<tr class="row-(\w+)">\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>', html)
    assert sorted(rows) == [("built", "2;4", "BT-0001"), ("built", "3;5", "BT-0002"),
                            ("failed", str(bad_line), "BT-0009")]
    assert f"line {bad_line}" in html and "no payer policy named &#39;no-such-payer&#39;" in html

    # A packet, by the link on the page: this case's packet with its footer.
    link = re.search(rf'href="(/batches/{batch_id}/packets/([^"]+BT-0001[^"]+\.pdf))"', html)
    assert link, "no packet link for BT-0001"
    packet = staff.get(link[1])
    assert packet.status_code == 200 and packet.mimetype == "application/pdf"
    assert f'filename={link[2]}' in packet.headers["Content-Disposition"]
    reader = pypdf.PdfReader(io.BytesIO(packet.data))
    assert f"BT-0001 \u00b7 Page 1 of {len(reader.pages)}" in reader.pages[0].extract_text()

    report = staff.get(f"/batches/{batch_id}/batch-report.csv")
    assert report.status_code == 200 and "attachment" in report.headers["Content-Disposition"]
    by_case = {r["case_id"]: r for r in csv.DictReader(io.StringIO(report.data.decode("utf-8-sig")))}
    assert {c: r["status"] for c, r in by_case.items()} == {"BT-0001": "built", "BT-0002": "built", "BT-0009": "failed"}
    assert by_case["BT-0001"]["packet"] == link[2] and by_case["BT-0009"]["row"] == str(bad_line)
    data = json.loads(staff.get(f"/batches/{batch_id}/batch-report.json").data)
    assert data["counts"] == {"total": 3, "built": 2, "skipped": 0, "failed": 1}

    # Only packets named by the report are served; names are never paths.
    for name in ("status.json", "..%2Fstatus.json", "batch-report.json", "BT-0009.pdf",
                 link[2].replace("BT-0001", "BT-0003")):
        assert staff.get(f"/batches/{batch_id}/packets/{name}").status_code == 404, name
    assert staff.get("/batches/0123456789abcdef").status_code == 404
    assert staff.get("/batches/..%2F..%2Fsecret_key").status_code == 404

    with app.extensions["packetizer"].registry.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.object_id == batch_id)).all()
        actions = [e.action for e in entries]
        details = [json.loads(e.detail) for e in entries]
    assert actions.count("batch.start") == 1 and actions.count("batch.finish") == 1
    assert actions.count("batch.report_download") == 2
    downloads = [d for a, d in zip(actions, details) if a == "batch.packet_download"]
    assert downloads == [{"case_id": "BT-0001", "file": link[2]}]
    dumped = json.dumps(details)
    assert not any(word in dumped for word in FIXTURE_PHI) and "september-export" not in dumped

    # The batch is listed, and still is after a restart (read back from its status file).
    assert batch_id in staff.get("/batches/").data.decode()
    restarted = make_app(tmp_path, Clock(TODAY))
    try:
        add_account(restarted, "sam2", "staff")
        fresh = restarted.test_client()
        assert sign_in(fresh, "sam2").status_code == 302
        listing = fresh.get("/batches/").data.decode()
        assert batch_id in listing and "Finished" in listing
        again = fresh.get(f"/batches/{batch_id}").data.decode()
        assert "BT-0002" in again and f"/batches/{batch_id}/batch-report.csv" in again
    finally:
        restarted.extensions["packetizer"].registry.close()


def case_links(html: str) -> dict[str, str]:
    """Case id -> link to its case page, from the rows of a batch page."""
    found = {}
    for row in re.findall(r'<tr class="row-\w+">(.*?)</tr>', html, re.S):
        case_id = re.findall(r"<td>([^<]*)</td>", row)[1]
        link = re.search(r'href="(/cases/\d+)">Open case</a>', row)
        if link:
            found[case_id] = link[1]
    return found


def packet_links(client, case_url: str) -> list[str]:
    return re.findall(r'class="download-packet" href="([^"]+)"', client.get(case_url).data.decode())


def test_cases_a_batch_built_join_the_case_list_and_later_batches_add_builds(app, staff):
    """This test ensures a web batch's packets are tracked on case pages, and a case id is never taken over."""
    csv_text = (FIXTURES / "cases.csv").read_text(encoding="utf-8")
    first = batch_id_of(upload(staff, csv_text.encode(), "cases.csv", notes_zip()))
    assert wait_until_done(app, first).built == 2
    links = case_links(staff.get(f"/batches/{first}").data.decode())
    assert sorted(links) == ["BT-0001", "BT-0002"]
    listing = staff.get("/cases/").data.decode()
    assert "BT-0001" in listing and "BT-0002" in listing

    # The case page serves the batch's packet, byte for byte, and staff can record its submission.
    report = json.loads((batches_dir(app) / first / "out" / "batch-report.json").read_text())
    packet_name = next(r["packet"] for r in report["rows"] if r["case_id"] == "BT-0001")
    [download] = packet_links(staff, links["BT-0001"])
    assert staff.get(download).data == (batches_dir(app) / first / "out" / packet_name).read_bytes()
    case_page = staff.get(links["BT-0001"]).data.decode()
    assert 'id="record-submission"' in case_page and 'Ready to build' in case_page

    # The notes were copied into the case (the batch's copy is gone): it builds again from its page.
    rebuilt = staff.post(f"{links['BT-0001']}/build", data={"csrf_token": page_token(staff, links["BT-0001"])})
    assert 'id="job-done"' in follow_job(staff, rebuilt).data.decode()
    assert len(packet_links(staff, links["BT-0001"])) == 2

    # Another batch: BT-0001 unchanged gets a third build; BT-0002 changed stays with that batch only.
    changed = csv_text.replace("Lumbar strain limiting work duties.", "Lumbar strain limiting all work duties.")
    assert changed != csv_text
    second = batch_id_of(upload(staff, changed.encode(), "cases.csv", notes_zip()))
    assert wait_until_done(app, second).built == 2
    page = staff.get(f"/batches/{second}").data.decode()
    assert case_links(page) == links
    assert len(packet_links(staff, links["BT-0001"])) == 3
    assert len(packet_links(staff, links["BT-0002"])) == 1
    assert "already in the case list with other content" in page

    with app.extensions["packetizer"].registry.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(("case.create", "packet.build")))).all()
        made = [(e.action, json.loads(e.detail).get("batch_id")) for e in entries]
        details = json.dumps([json.loads(e.detail) for e in entries])
    assert made.count(("case.create", first)) == 2 and made.count(("packet.build", first)) == 2
    assert made.count(("packet.build", second)) == 1 and ("case.create", second) not in made
    assert not any(word in details for word in FIXTURE_PHI)


def test_stop_button_stops_a_running_jsonl_batch(app, staff):
    manifest = (FIXTURES / "cases.jsonl").read_bytes()
    batch_id = batch_id_of(upload(staff, manifest, "cases.jsonl", notes_zip()))
    stopped = staff.post(f"/batches/{batch_id}/stop", data={"csrf_token": page_token(staff, f"/batches/{batch_id}")})
    assert stopped.status_code == 302
    status = wait_until_done(app, batch_id)
    # Cases already being built finish; the batch counts as stopped either way.
    assert status.state == "stopped" and status.built + status.failed == status.total == 2
    report = json.loads((batches_dir(app) / batch_id / "out" / "batch-report.json").read_text())
    assert report["interrupted"] is True
    assert json.loads((batches_dir(app) / batch_id / STATUS_FILE).read_text())["state"] == "stopped"
    again = staff.post(f"/batches/{batch_id}/stop", data={"csrf_token": page_token(staff)}, follow_redirects=True)
    assert b"The batch is not running." in again.data


@pytest.mark.parametrize("member", ["../evil.txt", "notes/../../evil.txt", "/etc/evil.txt"])
def test_a_zip_that_escapes_is_a_form_error_and_leaves_nothing_behind(app, staff, member, tmp_path):
    response = upload(staff, (FIXTURES / "cases.csv").read_bytes(), "cases.csv", notes_zip((member, b"evil")))
    assert response.status_code == 400
    html = response.data.decode()
    assert 'id="upload-errors"' in html and "Notes (.zip, optional)" in html
    assert "path leaves the upload folder" in html or "absolute path" in html
    assert leftovers(app) == []
    assert not list(tmp_path.rglob("evil.txt"))


@pytest.mark.parametrize("name, data, words", [
    ("cases.pdf", b"%PDF-1.7 ...", "use a .csv, .json, .jsonl, .ndjson file"),
    ("cases.csv", b"%PDF-1.7\n\0\0binary", "not a text file"),
    ("cases.json", b"case_id,payer_id\nBT-1,demo\n", "not JSON"),
    ("cases.csv", "case_id,payer_id\n\xe9".encode("latin-1"), "not UTF-8"),
    ("cases.csv", b"hello\n", "the first line must be the CSV header"),
    ("cases.json", b"[]", "no cases in it"),
    ("cases.json", b'[{"case_id": 1}', "cases.json: invalid JSON"),
])
def test_a_manifest_that_is_not_a_manifest_is_a_form_error(app, staff, name, data, words):
    response = upload(staff, data, name, notes_zip())
    assert response.status_code == 400
    assert words in response.data.decode()
    assert ".manifest." not in response.data.decode()  # the saved name never shows
    assert leftovers(app) == []


def test_auditors_are_refused_and_missing_csrf_or_files_change_nothing(app, staff, auditor):
    for url in ("/batches/", "/batches/new", "/batches/0123456789abcdef"):
        assert auditor.get(url).status_code == 403, url
    assert auditor.post("/batches/new", data={}).status_code in (400, 403)

    no_token = upload(staff, (FIXTURES / "cases.csv").read_bytes(), "cases.csv", notes_zip(), token=None)
    assert no_token.status_code == 400 and b"security token" in no_token.data
    no_manifest = staff.post("/batches/new", data={"csrf_token": page_token(staff, "/batches/new")},
                             content_type="multipart/form-data")
    assert no_manifest.status_code == 400 and b"choose a manifest file" in no_manifest.data
    assert leftovers(app) == []

    page = staff.get("/batches/new").data.decode()
    assert 'enctype="multipart/form-data"' in page and 'accept=".zip"' in page
    assert 'href="/batches/"' in staff.get("/cases/").data.decode()  # the nav link


def test_the_batch_form_has_its_own_upload_limit(app, staff, monkeypatch):
    small = 4096
    monkeypatch.setattr(limits, "MAX_BATCH_UPLOAD_REQUEST_BYTES", small)
    response = upload(staff, (FIXTURES / "cases.csv").read_bytes(), "cases.csv", notes_zip(("pad.bin", b"\x01" * small)))
    assert response.status_code == 413
    told = response.data.decode()
    assert "The upload is " in told and "MB; the largest upload accepted is 0.00 MB." in told
    assert "MAX_BATCH_UPLOAD_REQUEST_BYTES" not in told and "bytes" not in told
    assert leftovers(app) == []


def test_a_batch_cut_off_by_a_server_restart_is_listed_as_interrupted(app, staff):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = batches_dir(app) / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / STATUS_FILE).write_text(json.dumps({
        "batch_id": folder.name, "created": "2026-10-06T14:00:00Z", "created_by": "sam", "manifest": "csv",
        "state": "running", "total": 5, "done": 2, "built": 2, "pid": int(gone.stdout)}))
    assert "Interrupted (server restarted)" in staff.get("/batches/").data.decode()
    page = staff.get(f"/batches/{folder.name}").data.decode()
    assert "Interrupted (server restarted)" in page and '<meta http-equiv="refresh"' not in page
    assert 'id="stop-form"' not in page
    again = staff.post(f"/batches/{folder.name}/stop", data={"csrf_token": page_token(staff)}, follow_redirects=True)
    assert b"The batch is not running." in again.data and not (folder / "stop").exists()


def fake_batch(app, batch_id: str, **fields) -> Path:
    """A batch folder as an ended (or running) batch leaves it, without building anything."""
    folder = batches_dir(app) / batch_id
    (folder / "out").mkdir(parents=True)
    (folder / "out" / "RETRO-AUTH_demo-commercial_BT-0001_2026-09-14.pdf").write_bytes(b"%PDF-1.7 packet")
    status = {"batch_id": batch_id, "created": "2026-08-01T10:00:00Z", "created_by": "sam", "manifest": "csv",
              "state": "finished", "total": 1, "done": 1, "built": 1, "finished": "2026-08-01T10:05:00Z"}
    (folder / STATUS_FILE).write_text(json.dumps(dict(status, **fields)))
    return folder


def test_batches_are_removed_after_batch_keep_days_and_on_request(app, staff):
    """This test ensures batch folders (which hold packets) do not pile up: they expire, and staff can delete one."""
    assert app.config["BATCH_KEEP_DAYS"] == 30   # the clock says 2026-10-06: anything ended before 09-06 goes
    old = fake_batch(app, "00000000000000a1")
    old_interrupted = fake_batch(app, "00000000000000a2", state="running", pid=2 ** 22 + 1, finished=None)
    recent = fake_batch(app, "00000000000000a3", created="2026-09-20T10:00:00Z", finished="2026-09-20T10:05:00Z")
    running = fake_batch(app, "00000000000000a4", state="running", pid=os.getppid(), finished=None)

    listing = staff.get("/batches/").data.decode()
    assert not old.exists() and not old_interrupted.exists() and recent.exists() and running.exists()
    assert "00000000000000a3" in listing and "00000000000000a1" not in listing
    page = staff.get("/batches/00000000000000a3").data.decode()
    assert 'id="kept-until"' in page and "kept here until 2026-10-20" in page

    # Delete: refused while the batch runs, done at once when it has ended.
    refused = staff.post("/batches/00000000000000a4/delete",
                         data={"csrf_token": page_token(staff, "/batches/00000000000000a4")}, follow_redirects=True)
    assert b"A running batch cannot be deleted" in refused.data and running.exists()
    assert staff.post("/batches/00000000000000a3/delete", data={}).status_code == 400 and recent.exists()
    deleted = staff.post("/batches/00000000000000a3/delete",
                         data={"csrf_token": page_token(staff, "/batches/00000000000000a3")})
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith("/batches/")
    assert not recent.exists() and staff.get("/batches/00000000000000a3").status_code == 404

    with app.extensions["packetizer"].registry.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(("batch.expire", "batch.delete")))).all()
        actions = sorted((e.action, e.object_id, e.actor) for e in rows)
    assert actions == [("batch.delete", "00000000000000a3", "sam"),
                       ("batch.expire", "00000000000000a1", "system"),
                       ("batch.expire", "00000000000000a2", "system")]


def test_batch_keep_days_must_be_a_positive_whole_number(tmp_path, monkeypatch):
    monkeypatch.setenv("PACKETIZER_BATCH_KEEP_DAYS", "90")
    assert make_app(tmp_path / "a").config["BATCH_KEEP_DAYS"] == 90
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv("PACKETIZER_BATCH_KEEP_DAYS", bad)
        with pytest.raises(ConfigError) as info:
            make_app(tmp_path / bad)
        assert "PACKETIZER_BATCH_KEEP_DAYS" in info.value.message, bad


def test_a_batch_packet_in_parts_reaches_the_build_folder_whole(tmp_path):
    """A batch reports a packet in parts by its part 1; its reports carry the whole packet's name, and
    every part is linked into the case's build folder."""
    from packetizer.casebook.batchimport import _copy_packet

    out = tmp_path / "out"
    out.mkdir()
    stem = "RETRO-AUTH_demo-commercial_RA-1_2026-09-14"
    names = [f"{stem}_part{n}of3.pdf" for n in (1, 2, 3)] + [f"{stem}.disclosure.json", f"{stem}.disclosure.html"]
    for name in names:
        (out / name).write_bytes(name.encode())
    (out / f"{stem}X_part1of2.pdf").write_bytes(b"another case's packet")
    copied = _copy_packet(out, f"{stem}_part1of3.pdf", tmp_path / "builds" / "b1")
    assert copied == (f"{stem}_part1of3.pdf", f"{stem}.disclosure.json", f"{stem}.disclosure.html")
    assert sorted(p.name for p in (tmp_path / "builds" / "b1").iterdir()) == sorted(names)

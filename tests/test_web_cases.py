"""This test ensures that staff can enter, import, check, preview and build a case through the web app."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from packetizer import limits
from packetizer.registry import AuditEntry, Build, CaseRecord

from browser.webapp_support import (
    EXAMPLE,
    MEMBER_ID,
    MEMBER_NAME,
    MEMBER_SSN,
    add_account,
    case_form,
    example_pdf,
    follow_job,
    make_app,
    page_token,
    sign_in,
    ssn_docx,
)


def _create(client, token, **changes) -> int:
    response = client.post("/cases/new", data={**case_form(**changes), "csrf_token": token, "action": "save"})
    assert response.status_code == 302, response.data.decode()[-2000:]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _upload(client, token, pk, path, kind, date, name=None):
    with open(path, "rb") as handle:
        return client.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (handle, name or path.name), "kind": kind,
                                 "date": date, "title": ""})


def _flashes(html: str) -> list[str]:
    return re.findall(r'class="flash [a-z]+"[^>]*>(.*?)</div>', html, re.S)


def _job_error(html: str) -> str:
    return re.search(r'id="job-error">(.*?)</div>', html, re.S)[1]


def _preview(client, pk) -> str:
    """The preview page, after following the preview job it starts when no stored result fits."""
    first = client.get(f"/cases/{pk}/preview")
    if first.status_code == 302:
        assert follow_job(client, first).headers["Location"].endswith(f"/cases/{pk}/preview")
        first = client.get(f"/cases/{pk}/preview")
    assert first.status_code == 200
    return first.data.decode()


def _record(app, pk) -> CaseRecord:
    with app.extensions["packetizer"].registry.session() as session:
        return session.get(CaseRecord, pk)


def _audit(app, action=None) -> list[AuditEntry]:
    with app.extensions["packetizer"].registry.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            query = query.where(AuditEntry.action == action)
        return session.scalars(query).all()


@pytest.fixture
def token(staff):
    return page_token(staff, "/cases/new")


def test_case_form_without_csrf_token_is_rejected(staff):
    response = staff.post("/cases/new", data={**case_form(), "action": "save"})
    assert response.status_code == 400
    assert staff.get("/cases/").data.count(b"RA-WEB-0001") == 0


def test_new_case_with_two_service_lines_shows_its_deadline(app, staff, token):
    pk = _create(staff, token)
    html = staff.get(f"/cases/{pk}").data.decode()
    assert 'id="deadline-date">October 14, 2026<' in html      # 30 calendar days from 2026-09-14
    assert 'id="days-left">19 days left<' in html
    # No clinical note yet: the payer requires one, and each date of service needs a note.
    assert "Blocked" in html and "required_document_missing" in html
    rows = re.findall(r"<tr><td>(\d)</td><td>(2026-09-\d\d)</td><td>(\d{5})</td>", html)
    assert rows == [("1", "2026-09-14", "97162"), ("2", "2026-09-18", "97110")]
    record = _record(app, pk)
    assert (record.case_id, record.payer_id, str(record.deadline), record.service_codes) == \
        ("RA-WEB-0001", "demo-commercial", "2026-10-14", "97110 97162")
    stored = json.loads((app.extensions["packetizer"].cases_dir / record.folder / "case.json").read_text())
    assert stored["member"]["ssn"] == MEMBER_SSN and len(stored["services"]) == 2
    assert stored["timeline"][0] == {"date": "2026-09-11", "event": "Portal submission failed with HTTP 503"}
    # The case page reached by the redirect after saving adds no case.view row (the create row shows it).
    assert [e.action for e in _audit(app)][-1] == "case.create"


def test_add_and_remove_service_line_buttons(staff, token):
    data = {**case_form(), "csrf_token": token, "action": "add_line"}
    html = staff.post("/cases/new", data=data).data.decode()
    assert 'name="services[2].code"' in html and "Remove line 3" in html
    data = {**case_form(), "csrf_token": token, "action": "remove_line:0"}
    html = staff.post("/cases/new", data=data).data.decode()
    assert 'name="services[1].code"' not in html
    assert re.search(r'name="services\[0\]\.code" value="97110"', html)  # line 2 moved up
    assert staff.get("/cases/").data.count(b"/cases/1") == 0              # nothing saved by the buttons


def test_form_errors_name_the_field_and_save_nothing(staff, token):
    response = staff.post("/cases/new", data={**case_form(**{"services[1].code": "9711", "member.dob": "",
                                                           "rendering_provider.npi": "123"}),
                                              "csrf_token": token, "action": "save"})
    assert response.status_code == 422
    html = response.data.decode()
    errors = re.search(r'id="form-errors".*?</div>', html, re.S)[0]
    shown = re.sub(r"<[^>]+>", "", errors)  # what the clerk reads
    assert "Service line 2, CPT/HCPCS code: enter a 5-character CPT or HCPCS code" in shown
    assert "services[1].code" not in shown
    assert "Member, date of birth: this is required" in shown
    assert "Rendering provider, NPI: an NPI is exactly 10 digits" in shown
    assert 'class="field has-error"' in html
    assert MEMBER_SSN not in errors  # a problem is described, never the patient's value
    assert b"RA-WEB-0001" not in staff.get("/cases/").data


def test_duplicate_case_id_is_refused(staff, token):
    _create(staff, token)
    response = staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    assert response.status_code == 422 and b"already used by another case" in response.data


def test_uploads_are_checked_by_content_and_stored_under_server_names(app, staff, token, tmp_path):
    pk = _create(staff, token)
    fake = tmp_path / "Ortiz, Ana - note.pdf"
    fake.write_bytes(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
    response = _upload(staff, token, pk, fake, "clinical_note", "2026-09-14")
    flashes = _flashes(staff.get(response.headers["Location"]).data.decode())
    assert any("the name says a PDF, but the content is an HTML or XML page" in f for f in flashes)
    zipped = tmp_path / "notes.docx"
    zipped.write_bytes(b"PK\x03\x04 not really a document")
    response = _upload(staff, token, pk, zipped, "clinical_note", "2026-09-14")
    assert any("the content is a ZIP archive" in f for f in _flashes(staff.get(response.headers["Location"]).data.decode()))
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    response = _upload(staff, token, pk, exe, "clinical_note", "2026-09-14")
    assert any("unsupported file type .exe" in f for f in _flashes(staff.get(response.headers["Location"]).data.decode()))

    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage\n")
    response = _upload(staff, token, pk, damaged, "clinical_note", "2026-09-14")
    flashes = _flashes(staff.get(response.headers["Location"]).data.decode())
    assert any(f.startswith("damaged.pdf:") for f in flashes), flashes  # told by the user's name for it
    folder = app.extensions["packetizer"].cases_dir / _record(app, pk).folder
    assert not list((folder / "uploads").glob("*.pdf"))  # refused uploads leave nothing behind

    response = _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18",
                       name="Ortiz Ana progress.pdf")
    assert any("added (2 pages)" in f for f in _flashes(staff.get(response.headers["Location"]).data.decode()))
    stored = sorted(p.name for p in (folder / "uploads").iterdir() if p.suffix == ".pdf")
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{24}\.pdf", stored[0])  # nothing of the patient's name
    assert not (folder / "uploads").resolve().is_relative_to(Path(app.static_folder).resolve())
    assert staff.get(f"/static/../instance/cases/{folder.name}/uploads/{stored[0]}").status_code == 404
    doc = json.loads((folder / "case.json").read_text())
    assert doc["attachments"] == [{"file": f"uploads/{stored[0]}", "kind": "clinical_note", "date": "2026-09-18"}]
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Ortiz Ana progress.pdf" in page  # shown to staff, kept only in the case folder
    assert [e.action for e in _audit(app, "document.add")] == ["document.add"]
    assert "Ortiz" not in _audit(app, "document.add")[0].detail


def test_oversized_upload_gets_413(tmp_path):
    app = make_app(tmp_path, MAX_CONTENT_LENGTH=200_000)
    add_account(app, "sam", "staff")
    client = app.test_client()
    sign_in(client, "sam")
    token = page_token(client, "/cases/new")
    pk = _create(client, token)
    big = tmp_path / "scan.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * 300_000)
    response = _upload(client, token, pk, big, "clinical_note", "2026-09-14")
    assert response.status_code == 413
    assert b"The file is 0.3 MB; the largest file accepted is 0.2 MB." in response.data
    assert b"MAX_UPLOAD_REQUEST_BYTES" not in response.data and b"bytes" not in response.data
    assert not list((app.extensions["packetizer"].cases_dir / _record(app, pk).folder / "uploads").glob("*.pdf"))


def test_default_upload_limit_is_the_named_limit(app):
    assert app.config["MAX_CONTENT_LENGTH"] == limits.MAX_UPLOAD_REQUEST_BYTES > limits.MAX_ATTACHMENT_BYTES


def test_import_a_case_file(app, staff, token):
    yaml_text = (EXAMPLE / "case.yaml").read_text()
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(yaml_text.encode()), "case.yaml")})
    assert response.status_code == 302
    page = staff.get(response.headers["Location"]).data.decode()
    assert "The case file lists 3 document(s); upload them on this page." in page
    assert 'id="case-id">RA-2026-0001<' in page
    folder = app.extensions["packetizer"].cases_dir / _record(app, 1).folder
    assert json.loads((folder / "case.json").read_text())["member"]["mrn"] == "LS-0048812"  # kept, withheld later
    bad = yaml_text.replace('code: "97110"', 'code: "9711"', 1).replace("case_id: RA-2026-0001", "case_id: RA-2")
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "case.yaml")})
    assert response.status_code == 422
    assert b"Service line 2, CPT/HCPCS code</strong>: enter a 5-character CPT or HCPCS code" in response.data
    broken = staff.post("/cases/import", content_type="multipart/form-data",
                        data={"csrf_token": token, "file": (io.BytesIO(b"case_id: [unclosed"), "c.yaml")})
    assert broken.status_code == 422 and b"invalid YAML at line 1" in broken.data


def test_edit_keeps_the_case_id_unknown_keys_and_structured_values(app, staff, token):
    yaml_text = (EXAMPLE / "case.yaml").read_text() + "\npractice_account: ACCT-99\n"
    yaml_text = yaml_text.replace("  address: 2218 Elm Court, Minneapolis, MN 55405",
                                  "  address: {street: 2218 Elm Court, city: Minneapolis}")
    staff.post("/cases/import", content_type="multipart/form-data",
               data={"csrf_token": token, "file": (io.BytesIO(yaml_text.encode()), "case.yaml")})
    form = staff.get("/cases/1/edit").data.decode()
    assert 'name="case_id" value="RA-2026-0001" readonly' in form
    assert 'name="member.address"' not in form and "kept as imported" in form
    values = dict(re.findall(r'<input type="(?:text|date)" name="([^"]+)" value="([^"]*)"', form))
    values.update({name: text for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', form)})
    values.update(dict(re.findall(r'<select name="([^"]+)">.*?<option value="([^"]*)" selected', form, re.S)))
    values["case_id"] = "RA-OTHER"  # a tampered post cannot rename the case
    values["services[0].units"] = "2"
    response = staff.post("/cases/1/edit", data={**values, "csrf_token": token, "action": "save"})
    assert response.status_code == 302
    doc = json.loads((app.extensions["packetizer"].cases_dir / _record(app, 1).folder / "case.json").read_text())
    assert doc["case_id"] == "RA-2026-0001" and doc["practice_account"] == "ACCT-99"
    assert doc["services"][0]["units"] == 2 and len(doc["services"]) == 4
    assert doc["member"]["address"] == {"street": "2218 Elm Court", "city": "Minneapolis"}


def test_preview_build_and_download(app, staff, token, tmp_path):
    pk = _create(staff, token)
    assert _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18").status_code == 302
    assert _upload(staff, token, pk, ssn_docx(tmp_path), "evaluation", "2026-09-14").status_code == 302
    html = staff.get(f"/cases/{pk}").data.decode()
    assert 'id="check-verdict">Ready to build<' in html

    preview = _preview(staff, pk)
    withheld = re.search(r'id="withheld-fields">(.*?)</ul>', preview, re.S)[1]
    assert "Member, SSN" in withheld and "member.ssn" not in withheld
    docx_block = re.search(r'<article class="document-block" data-file="evaluation-with-ssn.docx">.*?</article>',
                           preview, re.S)[0]
    assert 'data-type="ssn">1 Social Security number<' in docx_block
    assert re.search(r"Page 1: text layer, \d+ values removed \(1 Social Security number, ", docx_block)
    assert MEMBER_SSN not in preview

    html = follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token})).data.decode()
    assert "Packet built: " in re.search(r'id="job-done">(.*?)</div>', html, re.S)[1]
    link = re.search(r'href="(/cases/\d+/builds/\d+/packet)"', html)[1]
    download = staff.get(link)
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert "RETRO-AUTH_demo-commercial_RA-WEB-0001_2026-09-14.pdf" in download.headers["Content-Disposition"]
    reader = pypdf.PdfReader(io.BytesIO(download.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert f"RA-WEB-0001 · Page 1 of {len(reader.pages)}" in text
    assert "Progress Note" in text and "Physical Therapy Initial Evaluation" in text
    assert MEMBER_SSN not in text and MEMBER_SSN.replace("-", "") not in text

    report = staff.get(link.replace("/packet", "/report.json"))
    assert report.status_code == 200 and "attachment" in report.headers["Content-Disposition"]
    assert MEMBER_SSN not in report.data.decode()
    page = staff.get(link.replace("/packet", "/report")).data.decode()
    assert "Member, SSN" in page
    html_report = staff.get(link.replace("/packet", "/report.html"))
    assert html_report.headers["Content-Disposition"].startswith("attachment")

    with app.extensions["packetizer"].registry.session() as session:
        build = session.scalars(select(Build)).one()
        assert build.archive_prefix and build.archive_prefix.startswith("demo-commercial/2026/09/RA-WEB-0001/")
        assert session.get(CaseRecord, pk).status == "built"
    archived = app.extensions["packetizer"].storage().get(build.archive_prefix + "packet.pdf")
    assert archived == download.data
    actions = [e.action for e in _audit(app)]
    assert {"case.preview", "packet.build", "packet.download", "report.download", "report.view"} <= set(actions)
    for entry in _audit(app):
        for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN):
            assert secret not in entry.detail and secret not in entry.object_id


def test_blocked_case_needs_a_recorded_override(app, staff, token, tmp_path, clock):
    pk = _create(staff, token)
    _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    _upload(staff, token, pk, ssn_docx(tmp_path), "clinical_note", "2026-09-14")
    clock.advance(days=30)  # past the 30-day window (and past the idle limit: sign in again)
    sign_in(staff, "sam")
    token = page_token(staff, f"/cases/{pk}")
    html = staff.get(f"/cases/{pk}").data.decode()
    assert "passed 11 days ago" in html and "Override justification" in html
    ended = follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token})).data.decode()
    assert _job_error(ended).startswith("Not built: the case is blocked")
    assert [e.action for e in _audit(app, "packet.build_blocked")] == ["packet.build_blocked"]
    out = app.extensions["packetizer"].builds_dir
    assert not list(out.rglob("*.pdf"))  # nothing half-written
    follow_job(staff, staff.post(f"/cases/{pk}/build", data={
        "csrf_token": token, "override_reason": "Payer agreed by phone on 10/20 (ref 7781)."}))
    with app.extensions["packetizer"].registry.session() as session:
        build = session.scalars(select(Build)).one()
    assert build.override_reason.startswith("Payer agreed")
    manifest = json.loads(app.extensions["packetizer"].storage().get(build.archive_prefix + "manifest.json"))
    assert manifest["override"]["reason"].startswith("Payer agreed")


def test_a_build_the_server_cannot_store_is_told_in_the_web_apps_words(app, staff, token, tmp_path):
    """This test ensures staff read that the server could not store the packet, never '--out <server path>'."""
    pk = _create(staff, token)
    assert _upload(staff, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18").status_code == 302
    builds = app.extensions["packetizer"].builds_dir
    builds.mkdir(parents=True, exist_ok=True)
    (builds / _record(app, pk).folder).write_text("a file where the case's builds folder should be")
    ended = follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token})).data.decode()
    assert _job_error(ended).startswith("Not built: the server could not store the packet: cannot create")
    assert "--out" not in ended and str(builds) not in ended
    assert [json.loads(e.detail)["error"] for e in _audit(app, "packet.build_failed")] == ["out_dir"]


def test_case_list_is_sorted_by_deadline(staff, token):
    _create(staff, token, case_id="RA-LATE", **{"services[0].date_of_service": "2026-09-20",
                                                "services[1].date_of_service": "2026-09-21"})
    _create(staff, token, case_id="RA-EARLY")
    html = staff.get("/cases/").data.decode()
    html = html[html.index('id="case-list"'):]
    assert html.index("RA-EARLY") < html.index("RA-LATE")
    assert "October 14" not in html and "2026-10-14" in html and "19 days left" in html


def test_a_packet_the_archive_cannot_take_waits_in_the_instance_spool(tmp_path, clock):
    """This test ensures a web build whose archive cannot be written still delivers the packet, says the
    archive is pending, and keeps the packet in the app's own spool (<instance>/pending, or SPOOL),
    never in the server user's home."""
    from packetizer.archive import list_pending

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive folder should be")
    app = make_app(tmp_path, clock, ARCHIVE=str(blocked))
    try:
        add_account(app, "sam", "staff")
        client = app.test_client()
        assert sign_in(client, "sam").status_code == 302
        token = page_token(client, "/cases/new")
        pk = _create(client, token)
        assert _upload(client, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18").status_code == 302
        follow_job(client, client.post(f"/cases/{pk}/build", data={"csrf_token": token}))
        html = client.get(f"/cases/{pk}").data.decode()
        assert re.search(r'href="/cases/\d+/builds/\d+/packet"', html)
        spool = Path(app.instance_path) / "pending"
        assert app.extensions["packetizer"].spool == spool
        [entry] = list_pending(spool)
        assert entry.case_id == "RA-WEB-0001"
    finally:
        app.extensions["packetizer"].registry.close()

"""This test ensures that auditors find, read, download and verify archived packets, and that the audit log holds."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil

import pypdf
import pytest
from sqlalchemy import select, text

from packetizer.archive import LocalStorage, PacketArchive
from packetizer.caseio import load_case
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.registry import AuditEntry

from browser.webapp_support import EXAMPLE, MEMBER_ID, MEMBER_NAME, MEMBER_SSN, follow_job, page_token


# The example case is ready between its last document (2026-10-05) and its deadline (2026-10-14).
BUILT = dt.datetime(2026, 10, 10, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def example_archive(tmp_path_factory):
    """The example case built once by the pipeline into an archive folder, as any door would."""
    root = tmp_path_factory.mktemp("example-archive")
    case = load_case(EXAMPLE / "case.yaml")
    packet = build_packet(case, load_payer(case.payer_id), out_dir=root / "out", today=BUILT.date(),
                          archive=PacketArchive(LocalStorage(root / "archive"), root / "spool"), clock=lambda: BUILT,
                          built_by="cli:test")
    assert packet.archived is not None
    return root / "archive", packet


@pytest.fixture
def archived(app, example_archive):
    """The app's archive holding the example packet (a copy, so a test may damage it)."""
    folder, packet = example_archive
    shutil.copytree(folder, app.extensions["packetizer"].storage().root)
    return packet


def _actions(app) -> list[str]:
    with app.extensions["packetizer"].registry.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_auditor_finds_views_downloads_and_verifies(app, auditor, archived):
    html = auditor.get("/audit/archive?case_id=RA-2026-0001").data.decode()
    link = re.search(r'href="(/audit/archive/demo-commercial/RA-2026-0001/[0-9a-f]{64})"', html)[1]
    assert archived.sha256 in link
    assert "No archived packet matches" in auditor.get("/audit/archive?case_id=RA-9999").data.decode()
    in_range = auditor.get("/audit/archive?payer_id=demo-commercial&date_from=2026-10-10&date_to=2026-10-10")
    assert archived.sha256[:16] in in_range.data.decode()
    outside = auditor.get("/audit/archive?payer_id=demo-commercial&date_from=2026-10-11")
    assert archived.sha256[:16] not in outside.data.decode()

    page = auditor.get(link).data.decode()
    assert "cli:test" in page and "Member, SSN" in page  # manifest facts and the disclosure report
    assert MEMBER_SSN not in page
    files = re.findall(r'href="(' + re.escape(link) + r'/files/[^"]+)"', page)
    assert {f.rsplit("/", 1)[-1] for f in files} == {"manifest.json", "disclosure-report.json",
                                                     "disclosure-report.html", "packet.pdf"}
    pdf = auditor.get(link + "/files/packet.pdf")
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == archived.sha256
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="{archived.path.name}"'
    assert "RA-2026-0001 · Page 1 of" in pypdf.PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    report_html = auditor.get(link + "/files/disclosure-report.html")
    assert report_html.headers["Content-Disposition"].startswith("attachment")  # never rendered on this site

    token = page_token(auditor, "/audit/archive")
    verified = auditor.post(link + "/verify", data={"csrf_token": token})
    assert verified.status_code == 200 and "Intact:" in verified.data.decode()
    assert [a for a in _actions(app) if a.startswith("archive.")] == [
        "archive.search", "archive.search", "archive.search", "archive.search",
        "archive.view", "archive.download", "archive.download", "archive.verify"]


def test_altered_archive_is_reported_and_not_served(app, auditor, archived):
    storage = app.extensions["packetizer"].storage()
    packet_file = storage.root.joinpath(*archived.archived.packet_key.split("/"))
    os.chmod(packet_file, 0o644)
    packet_file.write_bytes(packet_file.read_bytes().replace(b"%%EOF", b"%%EOF\n% tampered"))
    link = f"/audit/archive/demo-commercial/RA-2026-0001/{archived.sha256}"
    token = page_token(auditor, "/audit/archive")
    verified = auditor.post(link + "/verify", data={"csrf_token": token})
    assert verified.status_code == 409
    assert "Altered:" in verified.data.decode() and "packet.pdf: sha256 is" in verified.data.decode()
    refused = auditor.get(link + "/files/packet.pdf")
    assert refused.status_code == 409 and refused.mimetype == "text/html"
    assert "archive.download_refused" in _actions(app)


def test_unknown_or_malformed_versions_are_404(auditor, archived):
    assert auditor.get(f"/audit/archive/demo-commercial/RA-2026-0001/{'0' * 64}").status_code == 404
    assert auditor.get("/audit/archive/demo-commercial/RA-2026-0001/abc").status_code == 404
    assert auditor.get("/audit/archive/..%2F..%2Fetc/RA-2026-0001/" + archived.sha256).status_code == 404
    assert auditor.get(f"/audit/archive/demo-commercial/RA-2026-0001/{archived.sha256}/files/secret.txt"
                       ).status_code == 404


def test_audit_log_page_and_chain_verification(app, staff, auditor, admin):
    staff.get("/cases/")
    page = auditor.get("/audit/log").data.decode()
    assert "auth.sign_in" in page and "sam" in page
    token = page_token(auditor, "/audit/log")
    result = auditor.post("/audit/log/verify", data={"csrf_token": token}).data.decode()
    assert re.search(r"Intact:</strong> all \d+ rows chain correctly", result)
    assert admin.get("/audit/log").status_code == 200

    registry = app.extensions["packetizer"].registry
    with registry.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 1"))
    result = auditor.post("/audit/log/verify", data={"csrf_token": token}).data.decode()
    assert "Broken:" in result and "row 1: hash does not match" in result


def test_audit_log_holds_no_patient_data_after_a_full_staff_flow(app, staff, archived, tmp_path):
    from browser.webapp_support import case_form, example_pdf, ssn_docx

    token = page_token(staff, "/cases/new")
    pk = int(staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
             .headers["Location"].rsplit("/", 1)[-1])
    for path, kind, date in ((example_pdf(tmp_path), "clinical_note", "2026-09-18"),
                             (ssn_docx(tmp_path), "evaluation", "2026-09-14")):
        with open(path, "rb") as handle:
            staff.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (handle, "Ana Ortiz note" + path.suffix), "kind": kind,
                             "date": date})
    follow_job(staff, staff.get(f"/cases/{pk}/preview"))
    staff.get(f"/cases/{pk}/preview")
    follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token}))
    with app.extensions["packetizer"].registry.session() as session:
        rows = session.scalars(select(AuditEntry)).all()
    assert len(rows) >= 6
    for row in rows:
        blob = " ".join((row.actor, row.object_type, row.object_id, row.detail, row.client))
        for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN, "1971-04-09"):
            assert secret not in blob, (row.action, secret)

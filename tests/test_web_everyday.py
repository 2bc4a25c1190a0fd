"""This test ensures that the everyday actions of issue 16 work through the web app (Flask client):
several documents in one upload (all or none, refusals audited without file names), removal after a
confirmation page, an admin deleting a never-submitted case, a case id corrected before any build,
and a decided case showing its outcome instead of a block."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

from sqlalchemy import select

from packetizer import limits
from packetizer.registry import AuditEntry, Build, CaseRecord, Determination, Job, Submission

from browser.webapp_support import EXAMPLE_DOCX, EXAMPLE_PDF, MEMBER_NAME, case_form, page_token, remove_document


def _create(client, token, **changes) -> int:
    response = client.post("/cases/new", data={**case_form(**changes), "csrf_token": token, "action": "save"})
    assert response.status_code == 302, response.data.decode()[-2000:]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _upload(client, token, pk, rows):
    """Post the upload form with ``rows`` of (path, name, kind, date, title) in one request."""
    handles = [open(path, "rb") for path, *_ in rows]
    try:
        data = {"csrf_token": token,
                "file": [(h, name) for h, (_, name, *_) in zip(handles, rows)],
                "kind": [r[2] for r in rows], "date": [r[3] for r in rows], "title": [r[4] for r in rows]}
        return client.post(f"/cases/{pk}/documents", content_type="multipart/form-data", data=data)
    finally:
        for h in handles:
            h.close()


def _flashes(client, response) -> list[str]:
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    return re.findall(r'class="flash [a-z]+"[^>]*>(.*?)</div>', html, re.S)


def _session(app):
    return app.extensions["packetizer"].registry.session()


def _audit(app, action) -> list[dict]:
    with _session(app) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()
        return [{"object_id": r.object_id, **json.loads(r.detail or "{}")} for r in rows]


def _case_doc(app, pk) -> dict:
    with _session(app) as session:
        folder = session.get(CaseRecord, pk).folder
    return json.loads((app.extensions["packetizer"].cases_dir / folder / "case.json").read_text())


def _uploads(app, pk) -> list[str]:
    with _session(app) as session:
        folder = session.get(CaseRecord, pk).folder
    uploads = app.extensions["packetizer"].cases_dir / folder / "uploads"
    return sorted(p.name for p in uploads.iterdir() if p.suffix in (".pdf", ".docx", ".txt")) if uploads.exists() else []


def _notes(tmp_path):
    """Three real notes named as a practice system exports them."""
    pdf = tmp_path / "2026-09-18-progress-note.pdf"
    shutil.copyfile(EXAMPLE_PDF, pdf)
    docx = tmp_path / "2026-09-14-evaluation.docx"
    shutil.copyfile(EXAMPLE_DOCX, docx)
    plan = tmp_path / "plan of care.txt"
    plan.write_text("Plan of care\n\nTherapeutic exercise twice a week for four weeks.\n", encoding="utf-8")
    return pdf, docx, plan


def test_three_documents_in_one_upload_each_with_its_kind_and_date(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, docx, plan = _notes(tmp_path)
    response = _upload(staff, token, pk, [
        (pdf, pdf.name, "clinical_note", "2026-09-18", "Progress note"),
        (docx, docx.name, "evaluation", "", ""),             # the date is read from the file's name
        (plan, plan.name, "plan_of_care", "09/20/2026", ""),  # typed as the form shows dates
    ])
    assert response.status_code == 302
    flashes = _flashes(staff, response)
    assert [f for f in flashes if "added" in f] == [
        f"{pdf.name} added (2 pages).", f"{docx.name} added (1 page).", f"{plan.name} added (1 page)."]
    listed = [(a["kind"], a["date"], a.get("title")) for a in _case_doc(app, pk)["attachments"]]
    assert listed == [("clinical_note", "2026-09-18", "Progress note"), ("evaluation", "2026-09-14", None),
                      ("plan_of_care", "2026-09-20", None)]
    assert len(_uploads(app, pk)) == 3
    (added,) = _audit(app, "document.add")
    assert added["documents"] == 3 and added["kinds"] == ["clinical_note", "evaluation", "plan_of_care"]
    assert "evaluation.docx" not in json.dumps(added)

    # An untitled document is named by its kind and date, a titled one by its title.
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    names = re.findall(r'<td class="document-name">(.*?)</td>', page)
    assert names == ["Progress note (Clinical note, 09/18/2026)", "Evaluation, 09/14/2026", "Plan of care, 09/20/2026"]
    assert "Evaluation (Evaluation" not in page


def test_one_refused_file_keeps_the_whole_upload_out_and_is_audited_without_its_name(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, docx, _ = _notes(tmp_path)
    fake = tmp_path / f"{MEMBER_NAME[1]}, {MEMBER_NAME[0]} scan.pdf"
    fake.write_bytes(b"<html><body>not a PDF</body></html>")
    undated = tmp_path / "intake.txt"
    undated.write_text("Intake form\n", encoding="utf-8")
    response = _upload(staff, token, pk, [
        (pdf, pdf.name, "clinical_note", "2026-09-18", ""),
        (fake, fake.name, "clinical_note", "2026-09-18", ""),
        (docx, docx.name, "evaluation", "", ""),
        (undated, undated.name, "other", "", ""),
    ])
    flashes = _flashes(staff, response)
    assert any(f.startswith("None of the 4 documents was added: 2 could not be accepted") for f in flashes)
    assert f"{fake.name}: the name says a PDF, but the content is an HTML or XML page" in flashes
    assert any(f.startswith("intake.txt: the document date is required") for f in flashes), flashes
    assert not any("added (" in f for f in flashes)
    assert _uploads(app, pk) == [] and "attachments" not in _case_doc(app, pk)
    assert _audit(app, "document.add") == []
    rejected = _audit(app, "document.rejected")
    assert [(r["row"], r["type"], r["code"]) for r in rejected] == [(2, ".pdf", "bad_upload"),
                                                                    (4, ".txt", "missing_date")]
    assert rejected[0]["size"] == fake.stat().st_size and rejected[0]["case_pk"] == pk
    assert MEMBER_NAME[1] not in json.dumps(rejected) and "intake" not in json.dumps(rejected)


def test_a_file_that_does_not_read_is_told_by_its_name_and_nothing_is_kept(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, _, _ = _notes(tmp_path)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage\n")
    response = _upload(staff, token, pk, [(pdf, pdf.name, "clinical_note", "2026-09-18", ""),
                                          (damaged, damaged.name, "clinical_note", "2026-09-18", "")])
    assert any(f.startswith("damaged.pdf:") for f in _flashes(staff, response))
    assert _uploads(app, pk) == []  # the good PDF was converted, then removed with the set
    assert [r["code"] for r in _audit(app, "document.rejected")] == ["bad_attachment"]


def test_remove_asks_first_then_removes(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, docx, _ = _notes(tmp_path)
    _upload(staff, token, pk, [(pdf, pdf.name, "clinical_note", "2026-09-18", ""),
                               (docx, docx.name, "evaluation", "2026-09-14", "")])
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert f'href="/cases/{pk}/documents/1/remove"' in page  # a link to a confirmation, not a one-click form
    confirm = staff.get(f"/cases/{pk}/documents/1/remove")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "Evaluation, 09/14/2026" in text and docx.name in text and "Remove this document" in text
    assert len(_uploads(app, pk)) == 2  # asking removed nothing
    assert staff.get(f"/cases/{pk}/documents/7/remove").status_code == 404
    done = remove_document(staff, token, pk, 1)
    assert f"{docx.name} removed." in _flashes(staff, done)
    assert [a["kind"] for a in _case_doc(app, pk)["attachments"]] == ["clinical_note"]
    assert len(_uploads(app, pk)) == 1
    assert staff.post(f"/cases/{pk}/documents/0/remove", data={}).status_code == 400  # no CSRF token


def test_a_confirmation_removes_only_the_document_it_named(app, staff, tmp_path):
    """The list may change between the confirmation and the post (another tab): the post then removes nothing,
    not the document that moved into the confirmed position."""
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, docx, plan = _notes(tmp_path)
    _upload(staff, token, pk, [(pdf, pdf.name, "clinical_note", "2026-09-18", ""),
                               (docx, docx.name, "evaluation", "2026-09-14", ""),
                               (plan, plan.name, "plan_of_care", "2026-09-20", "")])
    page = staff.get(f"/cases/{pk}/documents/1/remove").get_data(as_text=True)   # the evaluation
    named = re.search(r'name="file" value="([^"]+)"', page)[1]
    remove_document(staff, token, pk, 0)          # meanwhile, in another tab: the progress note
    stale = staff.post(f"/cases/{pk}/documents/1/remove", data={"csrf_token": token, "file": named})
    assert "nothing was removed" in " ".join(_flashes(staff, stale))
    assert [a["kind"] for a in _case_doc(app, pk)["attachments"]] == ["evaluation", "plan_of_care"]


def _add_build(app, pk, *, archived: bool, override_reason: str | None = None) -> Build:
    services = app.extensions["packetizer"]
    with _session(app) as session:
        record = session.get(CaseRecord, pk)
        folder = services.builds_dir / record.folder / "b0"
        folder.mkdir(parents=True)
        (folder / "packet.pdf").write_bytes(b"%PDF-1.7 packet")
        build = Build(case_pk=pk, created_at=services.now(), built_by="web:sam", folder=f"{record.folder}/b0",
                      file_name="packet.pdf", report_name="r.json", report_html_name="r.html", sha256="0" * 64,
                      size=15, pages=1, override_reason=override_reason,
                      archive_prefix="demo-commercial/RA-WEB-0001/0000" if archived else None)
        session.add(build)
        session.add(Job(case_pk=pk, kind="build", input_fingerprint="f" * 64, state="done", created_at=services.now(),
                        created_by="sam", build=build))
        session.commit()
        return build


def test_admin_deletes_a_never_submitted_case_after_confirming(app, staff, admin, auditor, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, _, _ = _notes(tmp_path)
    _upload(staff, token, pk, [(pdf, pdf.name, "clinical_note", "2026-09-18", "")])
    _add_build(app, pk, archived=True)
    services = app.extensions["packetizer"]
    archived = tmp_path / "archive" / "demo-commercial" / "RA-WEB-0001" / "packet.pdf"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"%PDF-1.7 archived")  # what the archive holds is never touched by a deletion
    with _session(app) as session:
        folder = session.get(CaseRecord, pk).folder

    assert "delete-case-link" not in staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert staff.get(f"/cases/{pk}/delete").status_code == 403
    assert staff.post(f"/cases/{pk}/delete", data={"csrf_token": token}).status_code == 403
    assert auditor.get(f"/cases/{pk}/delete").status_code == 403

    assert f'href="/cases/{pk}/delete"' in admin.get(f"/cases/{pk}").get_data(as_text=True)
    confirm = admin.get(f"/cases/{pk}/delete").get_data(as_text=True)
    assert "Delete case RA-WEB-0001" in confirm and "1 already in the archive stay there" in confirm
    assert (services.cases_dir / folder).exists()  # asking deleted nothing
    done = admin.post(f"/cases/{pk}/delete", data={"csrf_token": page_token(admin, f"/cases/{pk}/delete")})
    assert done.status_code == 302 and done.headers["Location"].endswith("/cases/")
    assert "Case RA-WEB-0001 deleted." in _flashes(admin, done)
    assert not (services.cases_dir / folder).exists() and not (services.builds_dir / folder).exists()
    assert archived.read_bytes() == b"%PDF-1.7 archived"
    with _session(app) as session:
        assert session.get(CaseRecord, pk) is None
        assert session.scalars(select(Build)).all() == [] and session.scalars(select(Job)).all() == []
    (deleted,) = _audit(app, "case.delete")
    assert deleted["object_id"] == "RA-WEB-0001" and deleted["builds"] == 1 and deleted["archived_builds"] == 1
    assert admin.get(f"/cases/{pk}").status_code == 404


def _record_decision(app, pk, outcome: str | None) -> None:
    services = app.extensions["packetizer"]
    with _session(app) as session:
        record = session.get(CaseRecord, pk)
        build = session.scalars(select(Build).where(Build.case_pk == pk)).first()
        submission = Submission(case_pk=pk, build=build, submitted_on=dt.date(2026, 9, 25), channel="fax",
                                follow_up_due=dt.date(2026, 10, 9), recorded_at=services.now(), recorded_by="sam")
        if outcome:
            submission.determinations.append(Determination(determination=outcome, decided_on=dt.date(2026, 9, 25),
                                                           recorded_at=services.now(), recorded_by="sam"))
        record.submissions.append(submission)
        record.status = outcome or "submitted"
        session.commit()


def test_a_submitted_case_cannot_be_deleted(app, staff, admin):
    pk = _create(staff, page_token(staff, "/cases/new"))
    _add_build(app, pk, archived=False)
    _record_decision(app, pk, None)
    assert "delete-case-link" not in admin.get(f"/cases/{pk}").get_data(as_text=True)
    refused = admin.post(f"/cases/{pk}/delete", data={"csrf_token": page_token(admin, f"/cases/{pk}")})
    assert refused.status_code == 409 and "cannot be deleted" in refused.get_data(as_text=True)
    assert _audit(app, "case.delete") == []
    with _session(app) as session:
        assert session.get(CaseRecord, pk) is not None


def test_case_id_is_corrected_while_nothing_is_built(app, staff):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token, case_id="RA-WEB-0O01")
    _create(staff, token, case_id="RA-WEB-0002")
    assert f'href="/cases/{pk}/case-id"' in staff.get(f"/cases/{pk}").get_data(as_text=True)
    form = staff.get(f"/cases/{pk}/case-id").get_data(as_text=True)
    assert 'value="RA-WEB-0O01"' in form

    taken = staff.post(f"/cases/{pk}/case-id", data={"csrf_token": token, "case_id": "RA-WEB-0002"})
    assert taken.status_code == 422
    assert "RA-WEB-0002 is already used by another case" in taken.get_data(as_text=True)
    bad = staff.post(f"/cases/{pk}/case-id", data={"csrf_token": token, "case_id": "RA WEB/1"})
    assert bad.status_code == 422 and 'id="case-id-error"' in bad.get_data(as_text=True)
    assert _case_doc(app, pk)["case_id"] == "RA-WEB-0O01"

    done = staff.post(f"/cases/{pk}/case-id", data={"csrf_token": token, "case_id": "RA-WEB-0001"})
    assert done.status_code == 302
    assert "Case id corrected: RA-WEB-0O01 is now RA-WEB-0001." in _flashes(staff, done)
    assert _case_doc(app, pk)["case_id"] == "RA-WEB-0001"
    with _session(app) as session:
        assert session.get(CaseRecord, pk).case_id == "RA-WEB-0001"
    (corrected,) = _audit(app, "case.correct_id")
    assert (corrected["old_case_id"], corrected["new_case_id"], corrected["object_id"]) == (
        "RA-WEB-0O01", "RA-WEB-0001", "RA-WEB-0001")

    # Once a packet is built with the id, it no longer changes.
    _add_build(app, pk, archived=False)
    assert "correct-id-link" not in staff.get(f"/cases/{pk}").get_data(as_text=True)
    refused = staff.post(f"/cases/{pk}/case-id", data={"csrf_token": token, "case_id": "RA-WEB-0009"})
    assert refused.status_code == 409 and "can no longer change" in refused.get_data(as_text=True)
    assert _case_doc(app, pk)["case_id"] == "RA-WEB-0001"


def test_a_decided_case_shows_its_outcome_and_the_override_reason(app, staff, clock):
    pk = _create(staff, page_token(staff, "/cases/new"))
    _add_build(app, pk, archived=False, override_reason="Payer agreed by phone on 09/24, ref 88-1")
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert 'id="check-verdict"' in page
    assert "Built despite the checks because: Payer agreed by phone on 09/24, ref 88-1" in page

    _record_decision(app, pk, "partially_approved")
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    outcome = re.search(r'<div class="verdict" id="outcome">(.*?)</div></div>', page, re.S)[1]
    assert outcome.split("<")[0].strip() == "Partially approved" and "September 25, 2026" in outcome
    assert 'id="check-verdict"' not in page and ">Blocked<" not in page
    assert 'name="override_reason"' not in page and 'id="build-button"' not in page
    assert "Built despite the checks because: Payer agreed by phone" in page


def test_the_documents_form_takes_more_than_one_attachments_worth_in_one_request(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    size = limits.MAX_UPLOAD_REQUEST_BYTES // 2 + 1024 * 1024  # two of them exceed the one-document limit
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for path in (first, second):
        path.write_bytes(b"<html>" + b" " * size)
    response = _upload(staff, token, pk, [(first, first.name, "clinical_note", "2026-09-18", ""),
                                          (second, second.name, "clinical_note", "2026-09-18", "")])
    assert response.status_code == 302  # judged file by file, not refused whole as too large
    assert [r["size"] for r in _audit(app, "document.rejected")] == [size + 6, size + 6]


def test_a_case_is_deleted_with_its_builds_and_jobs_on_sqlite_and_postgresql(registry, tmp_path):
    from packetizer.casebook.audit import Actor
    from packetizer.casebook.lifecycle import delete_case, deletion_refusal

    now = dt.datetime(2026, 9, 25, 15, 0, tzinfo=dt.timezone.utc)
    cases_dir, builds_dir, previews_dir = tmp_path / "cases", tmp_path / "builds", tmp_path / "previews"
    with registry.session() as session:
        case = CaseRecord(case_id="RA-DEL-1", payer_id="demo-commercial", folder="0123456789abcdef",
                          first_date_of_service=dt.date(2026, 9, 14), ready=True, late_reason_category="emergency",
                          service_codes="97110", status="built", created_at=now, created_by="sam", updated_at=now,
                          updated_by="sam")
        build = Build(created_at=now, built_by="web:sam", folder="0123456789abcdef/b0", file_name="p.pdf",
                      report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
        case.builds.append(build)
        session.add(case)
        session.flush()
        session.add_all([Job(case_pk=case.id, kind="build", input_fingerprint="f" * 64, state="done",
                             created_at=now, created_by="sam", build=build),
                         Job(case_pk=case.id, kind="preview", input_fingerprint="f" * 64, state="running",
                             created_at=now, created_by="sam")])
        session.commit()
        assert "running" in deletion_refusal(session, case)
        for job in session.scalars(select(Job).where(Job.state == "running")):
            job.state = "done"
        session.commit()
        (builds_dir / "0123456789abcdef" / "b0").mkdir(parents=True)
        (cases_dir / "0123456789abcdef" / "uploads").mkdir(parents=True)
        files = delete_case(session, case, cases_dir=cases_dir, builds_dir=builds_dir, previews_dir=previews_dir,
                            preview_path=lambda root, job_id: root / f"{job_id}.json",
                            actor=Actor("ada", "admin"), now=now)
        session.commit()
        files.remove()
        assert session.scalars(select(CaseRecord)).all() == [] and session.scalars(select(Job)).all() == []
        assert session.scalars(select(Build)).all() == []
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.delete")).all()
        assert json.loads(entry.detail)["jobs"] == 2
    assert not (cases_dir / "0123456789abcdef").exists() and not (builds_dir / "0123456789abcdef").exists()


def test_a_refused_file_is_audited_by_its_type_never_by_its_name(app, staff, tmp_path):
    """A name's ending can be part of a patient's name ("scan for Ana.Ortiz"): the audit row keeps a supported
    file type, or "other"."""
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    odd = tmp_path / "scan for Ana.Ortiz"
    odd.write_bytes(b"%PDF-1.7\n")
    response = _upload(staff, token, pk, [(odd, odd.name, "clinical_note", "2026-09-18", "")])
    assert any(f.startswith(odd.name) for f in _flashes(staff, response))  # told to the clerk, who chose the name
    [row] = _audit(app, "document.rejected")
    assert row["type"] == "other" and "Ortiz" not in json.dumps(row) and "Ana" not in json.dumps(row)


def test_a_case_whose_file_no_longer_reads_can_be_deleted_and_its_id_is_not_corrected(app, staff, admin):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    with _session(app) as session:
        folder = session.get(CaseRecord, pk).folder
    (app.extensions["packetizer"].cases_dir / folder / "case.json").write_text("{ not json")
    refused = staff.post(f"/cases/{pk}/case-id", data={"csrf_token": token, "case_id": "RA-WEB-0009"})
    assert refused.status_code == 422 and "no longer reads" in refused.get_data(as_text=True)
    confirm = admin.get(f"/cases/{pk}/delete")
    assert confirm.status_code == 200 and "its case file no longer reads" in confirm.get_data(as_text=True)
    done = admin.post(f"/cases/{pk}/delete", data={"csrf_token": page_token(admin, f"/cases/{pk}/delete")})
    assert done.status_code == 302 and admin.get(f"/cases/{pk}").status_code == 404


def test_an_upload_that_fails_unforeseen_leaves_no_file_and_no_name_behind(app, staff, tmp_path, monkeypatch):
    """A converter that crashes on the second file (not one of the refusals the upload knows) stops the
    request, and the first file, already stored, goes with it: file and original name."""
    from packetizer.casebook import documents

    token = page_token(staff, "/cases/new")
    pk = _create(staff, token)
    pdf, docx, _ = _notes(tmp_path)
    real, seen = documents.ingest_attachment, []

    def crashes_second(att, **kwargs):
        seen.append(att.file)
        if len(seen) == 2:
            raise RuntimeError("converter crashed")
        return real(att, **kwargs)

    monkeypatch.setattr(documents, "ingest_attachment", crashes_second)
    response = _upload(staff, token, pk, [(pdf, pdf.name, "clinical_note", "2026-09-18", ""),
                                          (docx, docx.name, "evaluation", "2026-09-14", "")])
    assert response.status_code == 500       # the error page; the log names the error class only
    assert len(seen) == 2 and _uploads(app, pk) == []
    with _session(app) as session:
        folder = session.get(CaseRecord, pk).folder
    names = app.extensions["packetizer"].cases_dir / folder / "uploads" / "names.json"
    assert not names.exists() or json.loads(names.read_text()) == {}
    assert _case_doc(app, pk).get("attachments") in (None, [])

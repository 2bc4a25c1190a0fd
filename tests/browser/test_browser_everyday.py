"""This test ensures that the everyday case actions of issue 16 work in a real browser (Chromium): three
documents in one submit, removal after a confirmation, an admin deleting a draft case (staff see no such
button), a case id corrected, and a decided case showing its outcome instead of the override box."""

from __future__ import annotations

import datetime as dt
import shutil

from playwright.sync_api import expect
from sqlalchemy import select

from packetizer.registry import Build, CaseRecord, Determination, Submission

from .webapp_support import EXAMPLE_DOCX, EXAMPLE_PDF, case_form, page_token, sign_in, sign_in_page


def _new_case(app, case_id: str) -> int:
    """A case entered through the case form (by the Flask client: the form itself is tested elsewhere)."""
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    response = client.post("/cases/new", data={**case_form(case_id), "csrf_token": token, "action": "save"})
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _session(app):
    return app.extensions["packetizer"].registry.session()


def test_three_documents_in_one_submit_then_remove_asks_first(live, page, tmp_path):
    base, app, _ = live
    pk = _new_case(app, "RA-DAY-0001")
    pdf = tmp_path / "2026-09-18-progress-note.pdf"
    shutil.copyfile(EXAMPLE_PDF, pdf)
    docx = tmp_path / "2026-09-14-evaluation.docx"
    shutil.copyfile(EXAMPLE_DOCX, docx)
    plan = tmp_path / "plan-of-care.txt"
    plan.write_text("Plan of care\n\nTherapeutic exercise twice a week for four weeks.\n", encoding="utf-8")

    sign_in_page(page, base, "sam")
    page.goto(f"{base}/cases/{pk}")
    page.set_input_files("#upload-file-1", str(pdf))
    page.select_option("#upload-kind-1", "clinical_note")
    page.fill("#upload-date-1", "2026-09-18")
    page.fill("#upload-title-1", "Progress note")
    page.set_input_files("#upload-file-2", str(docx))
    page.select_option("#upload-kind-2", "evaluation")  # no date typed: the file's name carries it,
    expect(page.locator("#upload-date-2")).to_have_value("2026-09-14")  # and the page shows it before sending
    page.fill("#upload-date-2", "")  # the server reads it from the name too (the form works without JavaScript)
    page.set_input_files("#upload-file-3", str(plan))
    page.select_option("#upload-kind-3", "plan_of_care")
    page.fill("#upload-date-3", "2026-09-20")
    page.click("#add-documents")
    expect(page.locator(".flash.success")).to_have_count(3)
    for name in (pdf.name, docx.name, plan.name):
        expect(page.locator(".flash.success", has_text=f"{name} added")).to_be_visible()
    rows = page.locator("#document-list tbody tr")
    expect(rows).to_have_count(3)
    assert page.locator("#document-list td.document-name").all_inner_texts() == [
        "Progress note (Clinical note, 09/18/2026)", "Evaluation, 09/14/2026", "Plan of care, 09/20/2026"]
    assert docx.name in rows.nth(1).inner_text()

    # Remove goes to a page that says what goes; "Keep it" leaves the document in place.
    rows.nth(1).locator("a.remove-document").click()
    expect(page.locator("#remove-label")).to_have_text("Evaluation, 09/14/2026")
    expect(page.locator("#remove-name")).to_have_text(docx.name)
    page.click("#keep-document")
    expect(page.locator("#document-list tbody tr")).to_have_count(3)
    page.locator("#document-list tbody tr").nth(1).locator("a.remove-document").click()
    page.click("#confirm-remove-button")
    expect(page.locator(".flash.success", has_text=f"{docx.name} removed.")).to_be_visible()
    expect(page.locator("#document-list tbody tr")).to_have_count(2)
    assert "Evaluation" not in page.inner_text("#document-list")


def test_without_javascript_one_bad_file_keeps_the_upload_out_and_a_dated_name_gives_the_date(live, browser,
                                                                                                tmp_path):
    base, app, _ = live
    pk = _new_case(app, "RA-DAY-0002")
    pdf = tmp_path / "2026-09-18-progress-note.pdf"
    shutil.copyfile(EXAMPLE_PDF, pdf)
    fake = tmp_path / "scan.pdf"
    fake.write_bytes(b"<html><body>a saved web page</body></html>")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in_page(page, base, "sam")
        page.goto(f"{base}/cases/{pk}")
        page.set_input_files("#upload-file-1", str(pdf))
        page.set_input_files("#upload-file-2", str(fake))
        page.fill("#upload-date-2", "2026-09-18")
        page.click("#add-documents")
        expect(page.locator(".flash.error", has_text="None of the 2 documents was added")).to_be_visible()
        expect(page.locator(".flash.error", has_text="scan.pdf: the name says a PDF")).to_be_visible()
        expect(page.locator("#documents .empty")).to_have_text("No documents yet.")

        page.set_input_files("#upload-file-1", str(pdf))  # sent again alone, its date still left empty
        expect(page.locator("#upload-date-1")).to_have_value("")
        page.click("#add-documents")
        expect(page.locator(".flash.success", has_text=f"{pdf.name} added (2 pages).")).to_be_visible()
        expect(page.locator("#document-list td.document-name")).to_have_text(["Clinical note, 09/18/2026"])
    finally:
        context.close()


def test_admin_deletes_a_draft_case_and_staff_see_no_delete_button(live, page):
    base, app, _ = live
    pk = _new_case(app, "RA-DAY-0003")
    sign_in_page(page, base, "sam")
    page.goto(f"{base}/cases/{pk}")
    expect(page.locator("#case-id")).to_have_text("RA-DAY-0003")
    expect(page.locator("#delete-case-link")).to_have_count(0)
    assert page.goto(f"{base}/cases/{pk}/delete").status == 403
    page.context.clear_cookies()

    sign_in_page(page, base, "ada")
    page.goto(f"{base}/cases/{pk}")
    page.click("#delete-case-link")
    expect(page.locator("#confirm-delete")).to_contain_text("Nothing was submitted to the payer for this case")
    page.click("#confirm-delete-button")
    expect(page.locator(".flash.success", has_text="Case RA-DAY-0003 deleted.")).to_be_visible()
    assert page.url == f"{base}/cases/"
    expect(page.locator(f'main a[href="/cases/{pk}"]')).to_have_count(0)  # gone from the case list
    with _session(app) as session:
        assert session.get(CaseRecord, pk) is None
    assert page.goto(f"{base}/cases/{pk}").status == 404


def test_staff_correct_a_case_id(live, page):
    base, app, _ = live
    pk = _new_case(app, "RA-DAY-OOO4")
    _new_case(app, "RA-DAY-0005")
    sign_in_page(page, base, "sam")
    page.goto(f"{base}/cases/{pk}")
    page.click("#correct-id-link")
    page.fill('[name="case_id"]', "RA-DAY-0005")
    page.click("#save-case-id")
    expect(page.locator("#case-id-error")).to_have_text(
        "RA-DAY-0005 is already used by another case; give this case its own id")
    page.fill('[name="case_id"]', "RA-DAY-0004")
    page.click("#save-case-id")
    expect(page.locator(".flash.success")).to_have_text("Case id corrected: RA-DAY-OOO4 is now RA-DAY-0004.")
    expect(page.locator("#case-id")).to_have_text("RA-DAY-0004")


def test_a_decided_case_shows_its_outcome_not_a_block(live, page):
    base, app, clock = live
    pk = _new_case(app, "RA-DAY-0006")
    services = app.extensions["packetizer"]
    with _session(app) as session:
        record = session.get(CaseRecord, pk)
        build = Build(case_pk=pk, created_at=clock(), built_by="web:sam", folder=f"{record.folder}/b0",
                      file_name="packet.pdf", report_name="r.json", report_html_name="r.html", sha256="0" * 64,
                      size=1, pages=1, override_reason="Payer agreed by phone, reference 88-1")
        record.builds.append(build)
        record.submissions.append(Submission(
            build=build, submitted_on=dt.date(2026, 9, 25), channel="fax", follow_up_due=dt.date(2026, 10, 9),
            recorded_at=services.now(), recorded_by="sam",
            determinations=[Determination(determination="denied", decided_on=dt.date(2026, 9, 25),
                                          recorded_at=services.now(), recorded_by="sam")]))
        record.status = "denied"
        session.commit()
    clock.advance(days=60)  # the filing window has passed: the checks alone would now block the case
    try:
        sign_in_page(page, base, "sam")
        page.goto(f"{base}/cases/{pk}")
        expect(page.locator("#outcome")).to_contain_text("Denied")
        expect(page.locator("#decided-on")).to_have_text("September 25, 2026")
        expect(page.locator("#check-verdict")).to_have_count(0)
        expect(page.locator('[name="override_reason"]')).to_have_count(0)
        expect(page.locator("#build-button")).to_have_count(0)
        expect(page.locator("#builds .override-reason")).to_contain_text("Payer agreed by phone, reference 88-1")
        with _session(app) as session:
            assert session.scalars(select(CaseRecord.status).where(CaseRecord.id == pk)).one() == "denied"
    finally:
        clock.advance(days=-60)

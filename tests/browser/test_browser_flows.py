"""This test ensures that staff and auditors can do their work in a real browser (Chromium), end to end."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import expect

from packetizer.caseio import load_case
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer

from .webapp_support import (
    EXAMPLE, MEMBER_ID, MEMBER_NAME, MEMBER_SSN, example_pdf, keep_screenshot, ssn_docx, sign_in_page,
)



def _fill_service(page, index: int, **values) -> None:
    for field, value in values.items():
        page.fill(f'[name="services[{index}].{field}"]', value)


def _expect_flash(page, text: str) -> None:
    """Wait for the page after a form post to show ``text`` in a message (the URL may not change)."""
    expect(page.locator(".flash", has_text=text)).to_be_visible()


def test_staff_enter_check_preview_build_download_and_track(live, page, tmp_path, app_log):
    base, app, clock = live
    sign_in_page(page, base, "sam")
    assert page.url == f"{base}/cases/"

    # The case form: two service lines (the second added with the button), an SSN from the source system.
    page.click("text=New case")
    page.fill('[name="case_id"]', "RA-WEB-0001")
    page.select_option('[name="payer_id"]', "demo-commercial")
    page.fill('[name="member.member_id"]', MEMBER_ID)
    page.fill('[name="member.first_name"]', MEMBER_NAME[0])
    page.fill('[name="member.last_name"]', MEMBER_NAME[1])
    page.fill('[name="member.dob"]', "1971-04-09")
    page.click("text=Other identifiers from the source system")
    page.fill('[name="member.ssn"]', MEMBER_SSN)
    page.fill('[name="claim.claim_number"]', "2026091400123")
    page.fill('[name="claim.denial_codes"]', "CO-197, N54")
    page.fill('[name="claim.denial_date"]', "2026-09-22")
    _fill_service(page, 0, date_of_service="2026-09-14", place_of_service="11", code="97162", modifiers="GP",
                  units="1", diagnosis_codes="M54.16")
    page.click("#add-line")
    _fill_service(page, 1, date_of_service="2026-09-18", place_of_service="11", code="97110", modifiers="GP",
                  units="3", diagnosis_codes="M54.16, M62.81")
    page.fill('[name="rendering_provider.name"]', "Lake Street Physical Therapy")
    page.fill('[name="rendering_provider.npi"]', "1234567893")
    page.select_option('[name="late_reason.category"]', "payer_portal_outage")
    page.fill('[name="late_reason.explanation"]', "Payer portal returned HTTP 503 on 2026-09-11..13; ticket INC-5521.")
    page.fill('[name="medical_necessity"]', "Acute lumbar radiculopathy with functional decline.")
    page.fill('[name="contact.name"]', "Billing desk")
    page.fill('[name="contact.phone"]', "612-555-0100")
    page.click("#save-case")
    _expect_flash(page, "Case RA-WEB-0001 saved.")
    assert page.inner_text("#deadline-date") == "October 14, 2026"
    assert page.inner_text("#days-left") == "19 days left"
    assert page.locator("#service-lines tbody tr").count() == 2

    # Two documents, one of them carrying the SSN.
    for path, kind, date in ((example_pdf(tmp_path), "clinical_note", "2026-09-18"),
                             (ssn_docx(tmp_path), "evaluation", "2026-09-14")):
        page.set_input_files("#upload-file-1", str(path))  # the first row of the upload form
        page.select_option("#upload-kind-1", kind)
        page.fill("#upload-date-1", date)
        page.click("#add-documents")
        _expect_flash(page, f"{path.name} added")
    assert page.inner_text("#check-verdict") == "Ready to build"
    # The fax channel's limits, with the pages each upload was counted to have, before anything is built.
    limits = page.inner_text("#channel-limits")
    assert "at most 100 pages and 25 MB per packet" in limits
    counted = sum(int(n) for n in page.locator("#document-list td.document-pages").all_inner_texts())
    assert counted >= 3 and f"Documents so far: {counted} pages of 100 (counted on upload)" in limits

    page.click("#preview-link")
    assert "Member, SSN" in page.inner_text("#withheld-fields")
    evaluation = page.locator("#preview-documents .document-block", has_text="evaluation-with-ssn.docx")
    assert re.search(r"Page 1: text layer, \d+ values removed \(1 Social Security number, ", evaluation.inner_text())
    assert MEMBER_SSN not in page.content()

    page.go_back()
    page.click("#build-button")
    # The build runs as a job; its page refreshes itself (no JavaScript) until the packet is there.
    expect(page.locator("#job-stage")).to_be_visible()
    expect(page.locator("#job-done", has_text="Packet built")).to_be_visible(timeout=60_000)
    with page.expect_download() as download_info:
        page.click("a.download-packet")
    download = download_info.value
    assert download.suggested_filename == "RETRO-AUTH_demo-commercial_RA-WEB-0001_2026-09-14.pdf"
    reader = pypdf.PdfReader(download.path())
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert f"RA-WEB-0001 · Page {len(reader.pages)} of {len(reader.pages)}" in text
    assert "Progress Note" in text and "Physical Therapy Initial Evaluation" in text
    assert MEMBER_SSN not in text
    page.click("text=All builds of the case")

    # Tracking: a submission dated before its packet is refused beside its field; then the submission, the
    # follow-up queue ten days on, the determination, the outcome charts, and a correction of the determination.
    page.fill('[name="submitted_on"]', "2026-09-20")
    page.fill('[name="reference"]', "FAX-7781")
    page.click('button:has-text("Record submission")')
    _expect_flash(page, "Submitted on: cannot be earlier than the day that packet was built (09/25/2026)")
    page.fill('#record-submission [name="submitted_on"]', "2026-09-25")
    page.fill('#record-submission [name="reference"]', "FAX-7781")
    page.click('button:has-text("Record submission")')
    _expect_flash(page, "follow up by October 5, 2026")
    keep_screenshot(page, "case-page.png")
    case_url = page.url.split("#")[0]
    saved = clock.now
    clock.now = dt.datetime(2026, 10, 5, 15, 0, tzinfo=dt.timezone.utc)
    try:
        sign_in_page(page, base, "sam")  # ten days idle ended the session
        page.click("text=Follow-up queue")
        queue_row = page.locator("#queue tr", has_text="RA-WEB-0001")
        assert "Follow up with the payer" in queue_row.inner_text() and "FAX-7781" in queue_row.inner_text()
        assert "due today" in queue_row.inner_text()
        queue_row.locator("a").click()
        page.select_option('#determination-form [name="determination"]', "approved")
        page.fill('#determination-form [name="determination_on"]', "2026-10-04")
        page.click('button:has-text("Record determination")')
        _expect_flash(page, "Determination recorded: approved.")
        page.click("text=Outcomes")
        # The seeded history holds 2 approvals for demo-commercial and 2 decisions within 8-14 days; this case adds
        # one of each.
        bar = page.locator('#chart-requests-payer g[data-label="demo-commercial"]')
        assert (bar.get_attribute("data-approved"), bar.get_attribute("data-total")) == ("3", "4")
        assert page.locator('#chart-requests-time g[data-label="8-14 days"]').get_attribute("data-count") == "3"
        assert bar.locator("text").last.text_content() == "75% of 4"
        keep_screenshot(page, "outcomes-page.png")

        # The letter said denied: the determination is corrected, with a reason, and Outcomes follows.
        page.goto(case_url)
        page.click("#correct-records summary")
        correction = page.locator("#correct-records form", has_text="Determination of 2026-10-04")
        correction.locator('select[name$="-determination"]').select_option("denied")
        correction.locator('button:has-text("Correct determination")').click()
        _expect_flash(page, "Why is it corrected?: say why the record is corrected")
        page.click("#correct-records summary")
        correction.locator('select[name$="-determination"]').select_option("denied")
        correction.locator('textarea[name$="-correction_reason"]').fill("The payer's letter says denied")
        correction.locator('button:has-text("Correct determination")').click()
        _expect_flash(page, "Determination corrected.")
        corrections = page.locator("#corrections").inner_text()
        assert "Determination: Approved → Denied" in corrections and "The payer's letter says denied" in corrections
        assert "sam" in corrections and "2026-10-05" in corrections
        expect(page.locator("#submission-list")).to_contain_text("Denied on 2026-10-04")
        page.click("text=Outcomes")
        bar = page.locator('#chart-requests-payer g[data-label="demo-commercial"]')
        assert (bar.get_attribute("data-approved"), bar.get_attribute("data-denied"),
                bar.get_attribute("data-total")) == ("2", "2", "4")
    finally:
        clock.now = saved
    sign_in_page(page, base, "sam")

    # Staff never see the audit log.
    response = page.goto(f"{base}/audit/log")
    assert response.status == 403 and "Forbidden" in page.inner_text("h1")

    logged = "\n".join(app_log.lines)
    assert "case RA-WEB-0001 created" in logged  # the log is really being captured
    for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN, MEMBER_SSN.replace("-", ""), "1971-04-09"):
        assert secret not in logged, secret


@pytest.fixture(scope="module")
def archived_example(live, tmp_path_factory):
    """The example case built by the CLI path into the live server's archive."""
    _base, app, _clock = live
    built = dt.datetime(2026, 10, 10, 12, 0, tzinfo=dt.timezone.utc)
    case = load_case(EXAMPLE / "case.yaml")
    packet = build_packet(case, load_payer(case.payer_id), out_dir=tmp_path_factory.mktemp("cli-out"),
                          today=built.date(), archive=app.extensions["packetizer"].archive(), clock=lambda: built,
                          built_by="cli:billing")
    return packet


def test_auditor_finds_verifies_downloads_and_cannot_edit(live, page, archived_example, app_log):
    base, _app, _clock = live
    sign_in_page(page, base, "alex")
    assert page.url == f"{base}/audit/archive"
    assert page.locator("nav >> text=Cases").count() == 0
    page.fill('[name="case_id"]', "RA-2026-0001")
    page.click('#archive-search button:has-text("Search")')
    page.locator("#archive-results a", has_text="Open").first.click()
    assert archived_example.sha256 in page.inner_text("#version-facts")
    page.click("#verify-button")
    assert page.inner_text("#verify-result").startswith("Intact:")
    with page.expect_download() as download_info:
        page.click('#archived-files a:has-text("packet.pdf")')
    data = Path(download_info.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == archived_example.sha256
    for url in ("/cases/new", "/cases/", "/tracking/queue", "/admin/users"):
        response = page.goto(base + url)
        assert response.status == 403, url
    assert page.locator("form[action*='/cases/']").count() == 0
    assert not re.search(r"Ortiz|XJH123456789", "\n".join(app_log.lines))


def test_staff_upload_a_batch_and_the_progress_page_refreshes_itself_without_javascript(live, browser, tmp_path,
                                                                                        app_log):
    base, _app, clock = live
    fixtures = EXAMPLE.parents[1] / "tests" / "fixtures" / "batch"
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as zf:
        for path in sorted((fixtures / "notes").iterdir()):
            zf.write(path, f"notes/{path.name}")
        for path in sorted((fixtures / "visits").iterdir()):
            zf.write(path, f"visits/{path.name}")
    saved = clock.now
    # The fixture cases are judged on 2026-10-06 (their denials are dated October 2).
    clock.now = dt.datetime(2026, 10, 6, 15, 0, tzinfo=dt.timezone.utc)
    context = browser.new_context(java_script_enabled=False)  # the page must work with scripts off
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        sign_in_page(page, base, "sam")
        page.click("nav >> text=Batches")
        page.click("text=Upload a batch")
        page.set_input_files('[name="manifest"]', str(fixtures / "cases.csv"))
        page.set_input_files('[name="notes"]', str(notes))
        with page.expect_navigation():
            page.click('button:has-text("Start the batch")')
        assert re.search(r"/batches/[0-9a-f]{16}$", page.url)
        # Only the meta refresh can bring the report onto this page.
        expect(page.locator("#batch-state")).to_have_text("Finished", timeout=60_000)
        expect(page.locator("#report-downloads")).to_be_visible()
        rows = page.locator("#batch-rows tbody tr")
        assert rows.count() == 2
        assert {rows.nth(i).locator("td").nth(2).inner_text() for i in range(2)} == {"built"}
        assert page.locator('#batch-rows a[href*="/packets/RETRO-AUTH_demo-commercial_BT-0001_"]').count() == 1
        keep_screenshot(page, "batch-page.png")
        # The built case joined the case list, where its submission is tracked.
        with page.expect_navigation():
            page.locator("#batch-rows tr", has_text="BT-0001").locator("text=Open case").click()
        expect(page.locator("h1")).to_contain_text("BT-0001")
        expect(page.locator("#builds a.download-packet")).to_have_count(1)
        expect(page.locator("#record-submission")).to_be_visible()
    finally:
        context.close()
        clock.now = saved
    assert not re.search(r"Lindqvist|MBR0002|1980-02-29", "\n".join(app_log.lines))

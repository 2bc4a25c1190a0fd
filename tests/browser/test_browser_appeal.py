"""This test ensures staff can appeal a denied request in a real browser (Chromium): record the denial, Prepare
appeal from it, build the appeal packet and download it (SPEC section 10)."""

from __future__ import annotations

import datetime as dt

import pypdf
from playwright.sync_api import expect

from packetizer.registry import Build, CaseRecord
from packetizer.render import html_to_pdf

from .webapp_support import MEMBER_ID, MEMBER_NAME, case_form, example_pdf, page_token, sign_in, sign_in_page

REASON = "Documentation does not show the portal outage"


def _sent_case(app, tmp_path) -> int:
    """A case with a progress note and the payer's decision letter, whose request was built and sent (FAX-7781):
    set up through the app's own doors, as a clerk would have done days before."""
    client = app.test_client()
    sign_in(client, "sam")
    token = page_token(client, "/cases/new")
    response = client.post("/cases/new", data={**case_form(case_id="RA-APPEAL-WEB"), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    letter = tmp_path / "decision-letter.pdf"
    letter.write_bytes(html_to_pdf(
        "<html><body><h1>Notice of adverse determination</h1><p>Reference FAX-7781: retroactive authorization "
        f"DENIED.</p><p>Reason: {REASON}.</p></body></html>").pdf)
    for path, kind, date in ((example_pdf(tmp_path), "clinical_note", "2026-09-18"),
                             (letter, "denial_letter", "2026-09-25")):
        with open(path, "rb") as handle:
            assert client.post(f"/cases/{pk}/documents", content_type="multipart/form-data", data={
                "csrf_token": token, "file": (handle, path.name), "kind": kind, "date": date,
                "title": ""}).status_code == 302
    with app.extensions["packetizer"].registry.session() as session:
        case = session.get(CaseRecord, pk)
        case.builds.append(Build(created_at=dt.datetime(2026, 9, 22, 15, tzinfo=dt.timezone.utc), built_by="web:sam",
                                 folder="x/y", file_name="RETRO-AUTH_demo-commercial_RA-APPEAL-WEB_2026-09-14.pdf",
                                 report_name="r.json", report_html_name="r.html", sha256="c" * 64, size=10, pages=5))
        session.flush()
        build_id = case.builds[-1].id
    assert client.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-22", "channel": "fax", "reference": "FAX-7781",
        "build_id": str(build_id)}).status_code == 302
    return pk


def test_staff_record_a_denial_prepare_the_appeal_build_and_download_it(live, page, tmp_path, app_log):
    base, app, _clock = live
    pk = _sent_case(app, tmp_path)
    sign_in_page(page, base, "sam")
    page.goto(f"{base}/cases/{pk}")
    assert page.locator("#prepare-appeal-link").count() == 0     # nothing to appeal yet

    # The payer's decision, recorded in the tracking section.
    page.select_option('#determination-form [name="determination"]', "denied")
    page.fill('#determination-form [name="determination_on"]', "2026-09-25")
    page.fill('#determination-form [name="reason"]', REASON)
    page.click('button:has-text("Record determination")')
    expect(page.locator("#appeal-deadline")).to_have_text("November 24, 2026")
    assert page.inner_text("#appeal-days-left") == "60 days left"

    # Prepare appeal: pre-filled from the decision just recorded; the clerk adds the argument.
    page.click("#prepare-appeal-link")
    assert page.input_value('[name="reference"]') == "FAX-7781"
    assert page.input_value('[name="decision_date"]') == "2026-09-25"
    assert page.input_value('[name="reason"]') == REASON
    assert page.input_value('[name="decision"]') == "denied"
    assert page.input_value('[name="level"]') == "1"
    page.fill('[name="argument"]', "The payer's outage notice dated September 13, 2026 shows the portal was down."
              "\n\nTicket INC-5521 confirms the outage before the first visit.")
    page.click("#save-appeal")
    expect(page.locator(".flash", has_text="Level 1 appeal saved in the case")).to_be_visible()
    assert "Level 1 appeal prepared" in page.inner_text("#appeal-prepared")

    # Build the appeal packet as a job, then download it.
    page.click("#build-appeal-button")
    expect(page.locator("#job-done", has_text="Appeal packet built")).to_be_visible(timeout=60_000)
    with page.expect_download() as download_info:
        page.click("a.download-packet")
    download = download_info.value
    assert download.suggested_filename == "APPEAL_demo-commercial_RA-APPEAL-WEB_2026-09-14.pdf"
    reader = pypdf.PdfReader(download.path())
    texts = [p.extract_text() for p in reader.pages]
    letter = " ".join(" ".join(texts[:2]).split())
    assert "Level 1 appeal of a retroactive authorization decision" in letter
    assert "reference FAX-7781" in letter and f"\u201c{REASON}\u201d" in letter
    assert "Ticket INC-5521 confirms the outage before the first visit." in letter
    assert "which ends on November 24, 2026" in letter
    assert "Exhibit A \u2014 Denial letter, September 25, 2026" in letter
    first_exhibit = next(i for i, t in enumerate(texts) if "Notice of adverse determination" in t)
    assert all("Notice of adverse determination" not in t for t in texts[:first_exhibit])
    assert not any(MEMBER_NAME[1] in line or MEMBER_ID in line or REASON in line for line in app_log.lines)

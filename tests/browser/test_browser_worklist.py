"""This test ensures that staff work the denial worklist in a real browser (Chromium): two 835 files uploaded in
one go, every denial listed soonest deadline first, an eligibility denial telling what to fix, and Start request
opening the case form pre-filled from the remittance, whose saving links the case to the claim."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.support.era835 import Claim, Line, Transaction, remittance

from .webapp_support import keep_screenshot, sign_in_page

# The remittances' fictional patients: none of this may reach a log line.
PHI = ("ORTIZ", "XJH123456789", "LUND", "M-ELIG-77", "CHEN", "M-LATE-55")


def _file(folder: Path, name: str, *claims: Claim) -> Path:
    path = folder / name
    path.write_bytes(remittance([Transaction(claims=list(claims), production_date="20260922",
                                             payment_date="20260922")]))
    return path


def test_staff_upload_two_remittances_work_the_list_and_start_a_prefilled_request(live, page, tmp_path, app_log):
    base, app, clock = live
    first = _file(tmp_path, "ortiz-remit.835",
                  Claim(claim_number="2026091400123", lines=[Line(date="20260914")]),            # due 2026-10-14
                  Claim(claim_number="CLM-ELIG-1", first_name="BEA", last_name="LUND", member_id="M-ELIG-77",
                        lines=[Line(code="97162", date="20260901", cas=[("CO", "27", "180.00")], remarks=())]))
    second = _file(tmp_path, "chen-remit.835",
                   Claim(claim_number="CLM-LATE-2", first_name="LI", last_name="CHEN", member_id="M-LATE-55",
                         lines=[Line(date="20260920")]))                                              # due 2026-10-20
    sign_in_page(page, base, "sam")
    page.click("nav >> text=Worklist")
    expect(page.locator("h1")).to_have_text("Denial worklist")
    page.set_input_files('#era-upload input[name="files"]', [str(first), str(second)])
    with page.expect_navigation():
        page.click('#era-upload button:has-text("Upload")')

    imported = page.locator("#upload-results .imported")
    expect(imported).to_have_count(2)
    expect(imported.first).to_contain_text("ortiz-remit.835: 2 claims read; 2 new on the worklist.")
    expect(imported.nth(1)).to_contain_text("chen-remit.835: 1 claim read; 1 new on the worklist.")
    # Soonest deadline first: the eligibility denial (2026-10-01), then 2026-10-14, then 2026-10-20.
    assert page.locator("#worklist td.claim-number").all_inner_texts() == ["CLM-ELIG-1", "2026091400123", "CLM-LATE-2"]
    rows = page.locator("#worklist tbody tr")
    expect(rows.nth(1)).to_contain_text("19 days left")
    expect(rows.nth(1)).to_contain_text("Missing authorization")
    expect(rows.nth(1)).to_contain_text("build a retro request by 2026-10-14")

    # An eligibility denial says what to fix, and offers no request.
    eligibility = rows.nth(0)
    expect(eligibility).to_contain_text("What to fix: fix eligibility, not a retro request: CO-27")
    expect(eligibility.locator("button", has_text="Start request")).to_have_count(0)
    keep_screenshot(page, "worklist.png")

    # Start request: the case form, filled in from the remittance.
    with page.expect_navigation():
        rows.nth(1).locator("button", has_text="Start request").click()
    expect(page.locator("#from-worklist")).to_contain_text("claim 2026091400123")
    case_id = page.input_value('[name="case_id"]')
    assert case_id.startswith("ERA-")
    assert page.input_value('[name="payer_id"]') == "demo-commercial"
    assert page.input_value('[name="member.member_id"]') == "XJH123456789"
    assert page.input_value('[name="member.last_name"]') == "ORTIZ"
    assert page.input_value('[name="claim.claim_number"]') == "2026091400123"
    assert page.input_value('[name="claim.denial_codes"]') == "CO-197, N54"
    assert page.input_value('[name="services[0].date_of_service"]') == "2026-09-14"
    assert page.input_value('[name="services[0].code"]') == "97110"
    assert page.input_value('[name="services[0].units"]') == "2"

    # What the remittance cannot know, typed by staff; then save.
    page.fill('[name="member.dob"]', "1971-04-09")
    page.fill('[name="services[0].place_of_service"]', "11")
    page.fill('[name="services[0].diagnosis_codes"]', "M54.16")
    page.fill('[name="rendering_provider.name"]', "Lake Street Physical Therapy")
    page.fill('[name="rendering_provider.npi"]', "1234567893")
    page.select_option('[name="late_reason.category"]', "payer_portal_outage")
    page.fill('[name="late_reason.explanation"]', "Payer portal returned HTTP 503 on 2026-09-11..13; ticket INC-5521.")
    page.fill('[name="medical_necessity"]', "Acute lumbar radiculopathy with functional decline.")
    page.fill('[name="contact.name"]', "Billing desk")
    page.fill('[name="contact.phone"]', "612-555-0100")
    with page.expect_navigation():
        page.click("#save-case")
    expect(page.locator(".flash", has_text=f"Case {case_id} saved.")).to_be_visible()

    # The worklist now shows the request on the claim instead of the button.
    page.click("nav >> text=Worklist")
    started = page.locator("#worklist tbody tr").nth(1)
    expect(started.locator("a", has_text=case_id)).to_be_visible()
    expect(started.locator("button", has_text="Start request")).to_have_count(0)

    logged = "\n".join(app_log.lines)
    for value in PHI + ("ortiz-remit", "chen-remit"):
        assert value not in logged, value

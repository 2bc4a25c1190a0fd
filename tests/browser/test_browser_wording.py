"""This test ensures that a clerk typing a bad case into the form in a real browser (Chromium) sees every problem
after one save, each in staff words beside its input, and that a document too large is told in MB (issue 16)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from packetizer import limits

from .webapp_support import MEMBER_ID, MEMBER_NAME, sign_in_page

#: A JSON path, a key with underscores, an ISO date, a type name or a limit's name: never shown to a clerk.
DEVELOPER_WORDS = re.compile(r"\w\[\d+\]|\b[a-z0-9]+_[a-z0-9_]+\b|\b\d{4}-\d{2}-\d{2}\b|not string|MAX_[A-Z_]+"
                             r"|\d+ bytes|expected format")


def _type_date(page, name: str, typed: str) -> None:
    """Type into a date input key by key, as a person does (month, day, year: the picker shows mm/dd/yyyy)."""
    page.click(f'[name="{name}"]')
    page.keyboard.press("Home")
    page.keyboard.type(typed)


def _fill_case(page, case_id: str, *, npi: str, first_date: str, second_date: str, codes: str) -> None:
    page.fill('[name="case_id"]', case_id)
    page.select_option('[name="payer_id"]', "demo-commercial")
    page.fill('[name="member.member_id"]', MEMBER_ID)
    page.fill('[name="member.first_name"]', MEMBER_NAME[0])
    page.fill('[name="member.last_name"]', MEMBER_NAME[1])
    _type_date(page, "member.dob", "04091971")
    _type_date(page, "services[0].date_of_service", first_date)
    page.fill('[name="services[0].code"]', "97110")
    page.fill('[name="services[0].units"]', "1")
    page.fill('[name="services[0].diagnosis_codes"]', "M54.16")
    page.click("#add-line")
    _type_date(page, "services[1].date_of_service", second_date)
    page.fill('[name="services[1].code"]', "97110")
    page.fill('[name="services[1].diagnosis_codes"]', codes)
    page.fill('[name="rendering_provider.name"]', "Lake Street Physical Therapy")
    page.fill('[name="rendering_provider.npi"]', npi)
    page.select_option('[name="late_reason.category"]', "payer_portal_outage")
    page.fill('[name="late_reason.explanation"]', "The payer portal returned HTTP 503; ticket INC-5521.")
    page.fill('[name="medical_necessity"]', "Acute lumbar radiculopathy with functional decline.")
    page.fill('[name="contact.name"]', "Billing desk")
    page.fill('[name="contact.phone"]', "612-555-0100")


def _beside(page, name: str):
    """The message shown beside the input ``name``."""
    return page.locator(f'label:has([name="{name}"]) .field-error')


def test_one_save_shows_every_problem_in_staff_words_beside_its_input(live, page):
    base, _app, _clock = live
    sign_in_page(page, base)
    page.goto(f"{base}/cases/new")
    _fill_case(page, "RA-WORDS-01", npi="1234567893", first_date="09142026", second_date="09182026",
               codes="M54.16")
    page.click("#save-case")
    expect(page.locator(".flash", has_text="Case RA-WORDS-01 saved.")).to_be_visible()

    # The same id again, a five-digit year, a mistyped NPI, a category code and a visit next month.
    page.goto(f"{base}/cases/new")
    _fill_case(page, "RA-WORDS-01", npi="1234567890", first_date="091420266", second_date="10052026", codes="M54")
    assert page.input_value('[name="services[0].date_of_service"]') == "20266-09-14"   # what the picker sends
    page.fill('[name="services[0].units"]', "two")
    page.click("#save-case")

    listed = page.locator("#form-errors")
    expect(listed).to_contain_text("The case was not saved.")
    told = {
        "case_id": "RA-WORDS-01 is already used by another case; give this case its own id",
        "services[0].date_of_service": "enter the date as mm/dd/yyyy",
        "services[0].units": "enter a number",
        "services[1].date_of_service": "10/05/2026 is after today (09/25/2026)",
        "services[1].diagnosis_codes": "M54 (Dorsalgia) is not billable",
        "rendering_provider.npi": "1234567890 fails the NPI check digit",
    }
    for name, words in told.items():
        expect(_beside(page, name)).to_contain_text(words)
    for label in ("Case id", "Service line 1, date of service", "Service line 1, units",
                  "Service line 2, date of service", "Service line 2, ICD-10-CM codes", "Rendering provider, NPI"):
        expect(listed.locator("li", has_text=label)).to_have_count(1)
    text = listed.inner_text()
    assert not DEVELOPER_WORDS.search(text), text
    assert _beside(page, "member.dob").count() == 0       # a good date is not blamed

    # A problem's label in the list leads to its input.
    listed.locator("a", has_text="Rendering provider, NPI").click()
    assert page.url.endswith("#field-rendering_provider.npi")
    expect(page.locator('[name="rendering_provider.npi"]')).to_be_in_viewport()


def test_a_document_too_large_is_told_in_mb(live, page, tmp_path, monkeypatch):
    base, app, _clock = live
    sign_in_page(page, base)
    page.goto(f"{base}/cases/new")
    _fill_case(page, "RA-WORDS-02", npi="1234567893", first_date="09142026", second_date="09182026",
               codes="M54.16")
    page.click("#save-case")
    expect(page.locator(".flash", has_text="Case RA-WORDS-02 saved.")).to_be_visible()
    case_page = page.url

    monkeypatch.setattr(limits, "MAX_ATTACHMENT_BYTES", 2 * 1024 * 1024)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    page.set_input_files("#upload-file-1", str(scan))
    page.fill("#upload-date-1", "2026-09-14")
    page.click("#add-documents")
    flash = page.locator(".flash.error")
    expect(flash).to_have_text("scan.pdf: the file is larger than 2 MB, the largest file accepted")
    assert page.url.startswith(case_page)

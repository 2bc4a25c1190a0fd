"""This test ensures that staff and auditors can read what is sent: the disclosure report page opens with a
summary (exhibits, pages, how they were checked, what was withheld and why, what was removed) and offers the
report as written; the preview shows one block per document, a 60-page note in a few lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import weasyprint
from playwright.sync_api import expect

from .webapp_support import (
    MEMBER_SSN, case_form, follow_job, keep_screenshot, page_token, sign_in, ssn_docx, sign_in_page,
)

LONG_PAGES = 60
SSN_PAGE = 41   # the one page of the long note that carries the member's SSN


def _long_note(folder: Path) -> Path:
    """A 60-page digital progress note (a real text layer) with the member's SSN typed on page 41 only."""
    pages = []
    for number in range(1, LONG_PAGES + 1):
        extra = f"<p>Insurance intake: SSN {MEMBER_SSN} on file.</p>" if number == SSN_PAGE else ""
        pages.append(f"<section><h1>Visit {number}</h1><p>Therapeutic exercise, 3 units; patient tolerated "
                     f"treatment well and progressed with home exercises.</p>{extra}</section>")
    html = "<style>@page { size: letter } section { break-after: page }</style>" + "".join(pages)
    target = folder / "long-note.pdf"
    target.write_bytes(weasyprint.HTML(string=html).write_pdf())
    return target


def _upload(staff, case_url: str, token: str, path: Path, kind: str, date: str) -> None:
    with open(path, "rb") as handle:
        response = staff.post(f"{case_url}/documents", content_type="multipart/form-data",
                              data={"csrf_token": token, "file": (handle, path.name), "kind": kind, "date": date,
                                    "title": ""})
    assert response.status_code == 302


@pytest.fixture(scope="module")
def built_case(live, tmp_path_factory):
    """A case with a 60-page note, an evaluation carrying the SSN and a psychotherapy note (withheld without
    the patient's authorization), built once through the app's own views. Returns the case page's path."""
    _base, app, _clock = live
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form("RA-READ-0001"), "csrf_token": token, "action": "save"})
    case_url = created.headers["Location"]
    folder = tmp_path_factory.mktemp("read-notes")
    psychotherapy = folder / "session-notes.txt"
    psychotherapy.write_text("Psychotherapy session notes.\nProcess notes of the session.\n", encoding="utf-8")
    _upload(staff, case_url, token, _long_note(folder), "clinical_note", "2026-09-18")
    _upload(staff, case_url, token, ssn_docx(folder), "evaluation", "2026-09-14")
    _upload(staff, case_url, token, psychotherapy, "psychotherapy_note", "2026-09-16")
    done = follow_job(staff, staff.post(f"{case_url}/build", data={"csrf_token": token})).data.decode()
    assert "Packet built" in done
    staff.post("/logout", data={"csrf_token": token})
    return case_url


def _summary(page) -> dict[str, str]:
    return {key: page.inner_text(f"#summary-{key}") for key in ("sent", "checked", "withheld", "removed")}


def test_the_report_page_shows_the_summary_first_and_offers_the_report_as_written(live, page, built_case):
    base, _app, _clock = live
    sign_in_page(page, base, "sam")
    page.goto(base + built_case)
    page.click("#builds a.report-link")

    # The summary comes first: above the page-by-page detail, with the counts a clerk checks.
    headings = page.locator("#disclosure-report h2").all_inner_texts()
    assert headings[0] == "Summary" and "The exhibits page by page" in headings
    summary_box, detail = page.locator("#report-summary").bounding_box(), page.locator("#report-pages").bounding_box()
    assert summary_box["y"] < detail["y"]
    summary = _summary(page)
    sent = re.fullmatch(r"2 exhibits, (\d+) pages, and (\d+) case fields\.", summary["sent"])
    assert sent, summary["sent"]
    long_row = page.locator("#report-exhibits tr", has_text="Clinical note")
    assert long_row.locator("td.num").inner_text() == str(LONG_PAGES)
    assert "All 60 pages by text layer" in long_row.inner_text()
    assert "1 value removed: 1 Social Security number" in long_row.inner_text()
    assert summary["checked"] == f"{sent[1]} by text layer · 0 by OCR · 0 unchecked"
    # Withheld: the fields in words with the rule, and the psychotherapy note with its reason.
    assert summary["withheld"] == "1 case field and 1 document (listed below)."
    withheld = page.inner_text("#report-withheld")
    assert "Member, SSN" in withheld and "minimum necessary" in withheld and "member.ssn" not in withheld
    assert "Psychotherapy note, September 16, 2026 — psychotherapy notes need the patient's specific authorization" \
        in withheld
    # Removed: counted by kind, per exhibit and page, never the value.
    assert "Social Security number" in summary["removed"]
    long_letter = long_row.get_attribute("data-exhibit")
    removals = page.locator("#report-removals tr", has_text=f"Page {SSN_PAGE}").all_inner_texts()
    assert any(row.startswith(long_letter) and "1 Social Security number" in row for row in removals)
    assert MEMBER_SSN not in page.content()
    keep_screenshot(page, "disclosure-report.png")

    with page.expect_download() as download_info:
        page.click("#report-files a:has-text('Download JSON')")
    report = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert report["report_version"] == 2 and report["case_id"] == "RA-READ-0001"
    assert sum(a["pages"] for a in report["included"]["attachments"]) == int(sent[1])
    assert len(report["included"]["fields"]) == int(sent[2])


def test_the_auditors_archive_view_shows_the_same_summary(live, page, built_case):
    base, _app, _clock = live
    sign_in_page(page, base, "sam")
    page.goto(base + built_case)
    page.click("#builds a.report-link")
    staff_summary = _summary(page)
    sign_in_page(page, base, "alex")
    page.goto(f"{base}/audit/archive?case_id=RA-READ-0001")
    page.click("a[href*='/audit/archive/demo-commercial/RA-READ-0001/']")
    assert _summary(page) == staff_summary
    assert page.locator("#disclosure-report h2").first.inner_text() == "Summary"
    json_link = page.locator("#report-files a:has-text('Download JSON')")
    assert json_link.get_attribute("href").endswith("/files/disclosure-report.json")


def test_the_preview_shows_one_block_per_document_and_a_long_note_in_a_few_lines(live, page, built_case):
    base, _app, _clock = live
    sign_in_page(page, base, "sam")
    page.goto(base + built_case)
    page.click("#preview-link")
    # The preview runs as a job; its page refreshes itself until the preview is there.
    expect(page.locator("#preview-documents")).to_be_visible(timeout=60_000)
    blocks = page.locator("#preview-documents .document-block")
    assert blocks.count() == 3
    long_note = page.locator(".document-block", has_text="long-note.pdf")
    assert long_note.locator(".document-pages").inner_text() == str(LONG_PAGES)
    assert long_note.locator(".document-checked").inner_text() == "All 60 pages by text layer"
    runs = long_note.locator("li.page-run").all_inner_texts()
    assert runs == [
        f"Pages 1–{SSN_PAGE - 1}: text layer, nothing removed",
        f"Page {SSN_PAGE}: text layer, 1 value removed (1 Social Security number)",
        f"Pages {SSN_PAGE + 1}–{LONG_PAGES}: text layer, nothing removed",
    ]
    withheld = page.locator(".document-block", has_text="session-notes.txt")
    assert "Withheld: " in withheld.locator("h3").inner_text()
    assert "Not sent: psychotherapy notes need the patient's specific authorization" in withheld.inner_text()
    assert "Member, SSN" in page.inner_text("#withheld-fields")
    summary = page.inner_text("#preview-summary")
    assert re.match(r"3 documents: 2 sent as exhibits \(\d+ pages\), 1 withheld;", summary)
    assert MEMBER_SSN not in page.content()
    keep_screenshot(page, "preview-page.png")

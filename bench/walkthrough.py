"""The staff walkthrough of issue 16, counted: from an empty case with three notes to a downloaded packet.

A real server on loopback (SQLite, local archive), driven in Debian's Chromium. Counted:
- page loads: every document the browser's main frame loads (a form post and its redirect count as one;
  a job page that refreshes itself counts each refresh, shown apart: nobody waits on them by hand);
- fields typed: every input a clerk fills or picks (a text box, a select, a file chooser);
- clicks: buttons and links pressed.

Run: .venv/bin/python bench/walkthrough.py   (make bench runs it too)
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from werkzeug.serving import make_server  # noqa: E402

from browser.webapp_support import EXAMPLE, PASSWORD, add_account, make_app  # noqa: E402

NOTES = EXAMPLE / "notes"
CHROMIUM = os.environ.get("PACKETIZER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Counted:
    """A Playwright page whose clerk actions are counted."""

    def __init__(self, page):
        self.page, self.fields, self.clicks, self.loads, self.refreshes = page, 0, 0, 0, 0
        self._refreshing = False
        page.on("load", self._loaded)

    def _loaded(self, _page) -> None:
        if self._refreshing:
            self.refreshes += 1
        else:
            self.loads += 1

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def fill(self, selector: str, value: str) -> None:
        self.fields += 1
        self.page.fill(selector, value)

    def select(self, selector: str, value: str) -> None:
        self.fields += 1
        self.page.select_option(selector, value)

    def files(self, selector: str, paths: list[Path]) -> None:
        self.fields += 1
        self.page.set_input_files(selector, [str(p) for p in paths])

    def click(self, selector: str) -> None:
        self.clicks += 1
        with self.page.expect_navigation():
            self.page.click(selector)


def walk(base: str, page) -> Counted:
    c = Counted(page)
    c.goto(f"{base}/login")
    c.fill('input[name="username"]', "sam")
    c.fill('input[name="password"]', PASSWORD)
    c.click('button:has-text("Sign in")')
    c.click("text=New case")
    for selector, value in (
        ('[name="case_id"]', "RA-WALK-0001"), ('[name="member.member_id"]', "XJH123456789"),
        ('[name="member.first_name"]', "Ana"), ('[name="member.last_name"]', "Ortiz"),
        ('[name="member.dob"]', "1971-04-09"), ('[name="claim.claim_number"]', "2026091400123"),
        ('[name="services[0].date_of_service"]', "2026-09-14"), ('[name="services[0].code"]', "97161"),
        ('[name="services[0].diagnosis_codes"]', "M54.16"),
        ('[name="rendering_provider.name"]', "Lake Street Physical Therapy"),
        ('[name="rendering_provider.npi"]', "1234567893"),
        ('[name="late_reason.explanation"]', "Payer portal returned HTTP 503 on 2026-09-11..13."),
        ('[name="medical_necessity"]', "Acute lumbar radiculopathy with functional decline."),
        ('[name="contact.name"]', "Billing desk"), ('[name="contact.phone"]', "612-555-0100"),
    ):
        c.fill(selector, value)
    c.select('[name="payer_id"]', "demo-commercial")
    c.select('[name="late_reason.category"]', "payer_portal_outage")
    c.click("#save-case")
    upload(c, [(NOTES / "2026-09-14-evaluation.docx", "evaluation", "2026-09-14"),
               (NOTES / "2026-09-18-progress-note.pdf", "clinical_note", "2026-09-18"),
               (NOTES / "2026-10-05-phone-log.txt", "correspondence", "2026-10-05")])
    c.click("#build-button")
    c._refreshing = True
    page.locator("#job-done").wait_for(timeout=120_000)
    c._refreshing = False
    c.clicks += 1
    with page.expect_download() as download:
        page.click("a.download-packet")
    assert download.value.path().stat().st_size > 0
    return c


def upload(c: Counted, notes: list[tuple[Path, str, str]]) -> None:
    """The three notes, as the case page lets a clerk add them: a kind is picked only where the form's
    default is not it, a date typed only where the form does not read it from the file's name."""
    if c.page.locator("#upload-file-1").count():     # one row per document, sent together
        for row, (path, kind, date) in enumerate(notes, start=1):
            c.files(f"#upload-file-{row}", [path])
            if c.page.input_value(f"#upload-kind-{row}") != kind:
                c.select(f"#upload-kind-{row}", kind)
            if c.page.input_value(f"#upload-date-{row}") != date:
                c.fill(f"#upload-date-{row}", date)
        c.click("#add-documents")
        return
    for path, kind, date in notes:                   # one document a page load
        c.files('#upload-form input[name="file"]', [path])
        if c.page.input_value('#upload-form select[name="kind"]') != kind:
            c.select('#upload-form select[name="kind"]', kind)
        c.fill('#upload-form input[name="date"]', date)
        c.click('#upload-form button:has-text("Add document")')


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: run `make bench` (it installs it) or apt-get install chromium")
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)   # one line per request otherwise
        app = make_app(root)
        add_account(app, "sam", "staff")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(accept_downloads=True).new_page()
                counted = walk(f"http://127.0.0.1:{server.server_port}", page)
                browser.close()
        finally:
            server.shutdown()
    print("Staff walkthrough (issue 16): empty case, three notes, downloaded packet")
    print(f"  page loads {counted.loads} (plus {counted.refreshes} self-refreshes of the job page), "
          f"fields typed or picked {counted.fields}, clicks {counted.clicks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

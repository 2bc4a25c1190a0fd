"""This test ensures that signing out in Chromium ends the session for good: a copied cookie no longer downloads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .webapp_support import case_form, example_pdf, follow_job, page_token, sign_in, sign_in_page


@pytest.fixture(scope="module")
def built_case(live, tmp_path_factory):
    """The case page of a case with one built packet, made through the app's own views."""
    _base, app, _clock = live
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form("RA-SESSION-1"), "csrf_token": token, "action": "save"})
    case_url = created.headers["Location"]
    pdf = example_pdf(tmp_path_factory.mktemp("notes"))
    with open(pdf, "rb") as handle:
        uploaded = staff.post(f"{case_url}/documents", content_type="multipart/form-data",
                              data={"csrf_token": token, "file": (handle, pdf.name), "kind": "clinical_note",
                                    "date": "2026-09-18", "title": ""})
    assert uploaded.status_code == 302
    follow_job(staff, staff.post(f"{case_url}/build", data={"csrf_token": token}))
    staff.post("/logout", data={"csrf_token": token})
    return case_url


def test_a_cookie_copied_before_sign_out_no_longer_downloads_packets(live, browser, page, built_case):
    base, _app, _clock = live
    sign_in_page(page, base)
    page.goto(base + built_case)
    packet_url = base + page.get_attribute("#builds a.download-packet", "href")
    assert re.search(r"/cases/\d+/builds/\d+/packet$", packet_url)
    with page.expect_download() as download_info:
        page.click("#builds a.download-packet")
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF-")

    copied = page.context.cookies()  # what someone at this desk (or malware) copies
    assert any(c["name"] == "packetizer_session" for c in copied)
    thief = browser.new_context()
    try:
        thief.add_cookies(copied)
        before = thief.request.get(packet_url, max_redirects=0)
        assert before.status == 200 and before.body().startswith(b"%PDF-")  # the copy works until sign-out

        with page.expect_navigation():
            page.click('header button:has-text("Sign out")')
        assert page.url.startswith(f"{base}/login")

        after = thief.request.get(packet_url, max_redirects=0)
        assert after.status == 302 and after.headers["location"].startswith("/login")
        tab = thief.new_page()
        tab.goto(packet_url)
        assert tab.url.startswith(f"{base}/login")
        assert tab.locator('input[name="password"]').count() == 1
    finally:
        thief.close()

"""This test ensures that staff and auditors find things in a real browser (Chromium): the case list searched by
part of a member's name and by claim number and filtered by status, with decided cases hidden until asked for; the
archive searched by part of a case id; the audit log filtered by action and case."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from playwright.sync_api import expect

from packetizer.archive import LocalStorage, PacketArchive
from packetizer.caseio import load_case
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer

from .webapp_support import EXAMPLE, case_form, keep_screenshot, page_token, sign_in, sign_in_page

BUILT = dt.datetime(2026, 10, 10, 12, 0, tzinfo=dt.timezone.utc)


def _listed(page) -> list[str]:
    return page.locator("#case-list tbody tr td:first-child a").all_inner_texts()


@pytest.fixture(scope="module")
def cases(live, tmp_path_factory):
    """Two cases entered through the form (the live server also holds seven decided ones), and the example
    packet in the archive."""
    base, app, clock = live
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    for case_id, changes in (
        ("RA-BR-0001", {}),  # Ana Ortiz, claim 2026091400123
        ("RA-BR-0002", {"member.first_name": "Tomas", "member.last_name": "Brandt", "member.member_id": "TB-42",
                        "claim.claim_number": "CLM-88-XY", "payer_id": "priority-health"}),
    ):
        response = client.post("/cases/new", data={**case_form(case_id, **changes), "csrf_token": token,
                                                   "action": "save"})
        assert response.status_code == 302
    root = tmp_path_factory.mktemp("browser-find-archive")
    case = load_case(EXAMPLE / "case.yaml")
    build_packet(case, load_payer(case.payer_id), out_dir=root / "out", today=BUILT.date(),
                 archive=PacketArchive(LocalStorage(root / "archive"), root / "spool"), clock=lambda: BUILT,
                 built_by="cli:test")
    shutil.copytree(root / "archive", app.extensions["packetizer"].storage().root, dirs_exist_ok=True)
    return live


def test_staff_search_the_case_list_and_filter_it(cases, page, app_log):
    base, _app, _clock = cases
    sign_in_page(page, base, "sam")
    page.goto(f"{base}/cases/")
    # Decided cases (the seeded history) are hidden by default.
    assert _listed(page) == ["RA-BR-0001", "RA-BR-0002"]
    expect(page.locator("#case-count")).to_contain_text("decided cases are hidden")
    keep_screenshot(page, "case-list.png")

    # Part of the member's last name, in another case: the row shows the name and the claim number.
    page.fill('[name="q"]', "orti")
    with page.expect_navigation():
        page.click('#case-search button[type="submit"]')
    assert _listed(page) == ["RA-BR-0001"]
    row = page.locator("#case-list tbody tr").first
    expect(row).to_contain_text("Ana Ortiz")
    expect(row).to_contain_text("2026091400123")
    expect(page.locator('[name="q"]')).to_have_value("orti")  # the search stays in the box

    # By claim number.
    page.fill('[name="q"]', "clm-88")
    with page.expect_navigation():
        page.click('#case-search button[type="submit"]')
    assert _listed(page) == ["RA-BR-0002"]
    expect(page.locator("#case-list")).to_contain_text("Tomas Brandt")

    # By status; decided cases appear when asked for.
    page.fill('[name="q"]', "")
    page.select_option('[name="status"]', "denied")
    with page.expect_navigation():
        page.click('#case-search button[type="submit"]')
    assert _listed(page) == ["HIST-03", "HIST-06"]
    page.click("#clear-search")
    assert "HIST-01" not in _listed(page)
    page.check('[name="closed"]')
    with page.expect_navigation():
        page.click('#case-search button[type="submit"]')
    listed = _listed(page)
    assert listed[:2] == ["RA-BR-0001", "RA-BR-0002"] and "HIST-01" in listed  # open cases first

    page.fill('[name="q"]', "nobody-matches-this")
    with page.expect_navigation():
        page.click('#case-search button[type="submit"]')
    expect(page.locator("#no-match")).to_be_visible()

    # The words searched for (patient data) reach no URL and no log line.
    assert page.url == f"{base}/cases/"
    logged = "\n".join(app_log.lines)
    assert "POST /cases/" in logged  # the server's request lines are being captured
    for words in ("orti", "clm-88", "nobody-matches-this", "Ortiz", "Brandt"):
        assert words not in logged, words


def test_auditor_finds_by_part_of_a_case_id_and_filters_the_audit_log(cases, page):
    base, _app, _clock = cases
    sign_in_page(page, base, "alex")
    page.goto(f"{base}/audit/archive")
    page.fill('[name="case_id"]', "ra-2026")
    with page.expect_navigation():
        page.click('#archive-search button[type="submit"]')
    expect(page.locator("#archive-results")).to_contain_text("RA-2026-0001")
    page.fill('[name="payer_id"]', "priority-health")
    with page.expect_navigation():
        page.click('#archive-search button[type="submit"]')
    expect(page.locator("text=No archived packet matches.")).to_be_visible()

    page.goto(f"{base}/audit/log")
    page.select_option('[name="action"]', "case.create")
    with page.expect_navigation():
        page.click('#log-filter button[type="submit"]')
    actions = page.locator("#audit-log tbody tr td:nth-child(5)").all_inner_texts()
    assert actions == ["case.create", "case.create"]
    page.fill('[name="case_id"]', "br-0002")
    with page.expect_navigation():
        page.click('#log-filter button[type="submit"]')
    objects = page.locator("#audit-log tbody tr td:nth-child(6)").all_inner_texts()
    assert objects == ["case RA-BR-0002"]
    expect(page.locator("#log-count")).to_have_text("1 matching row.")
    page.select_option('[name="action"]', "")
    with page.expect_navigation():
        page.click('#log-filter button[type="submit"]')
    assert set(page.locator("#audit-log tbody tr td:nth-child(6)").all_inner_texts()) == {"case RA-BR-0002"}
    page.click("#clear-filter")
    expect(page.locator("#audit-log")).to_contain_text("auth.sign_in")

"""This test ensures that staff record a split determination line by line in a real browser (Chromium), are told
by its number which service line still needs its units, and that the Outcomes page then counts each service code
as the payer decided its line (not the case's partial approval against every code), with the CSV download too."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from playwright.sync_api import expect

from packetizer.registry import Build, CaseRecord

from .webapp_support import MEMBER_ID, MEMBER_NAME, case_form, page_token, sign_in, sign_in_page


def _built_case(app, case_id: str) -> int:
    """A case saved through the form (97162 x 1, 97110 x 3) with the build row a packet build leaves."""
    client = app.test_client()
    sign_in(client, "sam")
    token = page_token(client, "/cases/new")
    response = client.post("/cases/new", data={**case_form(case_id=case_id), "csrf_token": token, "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    with app.extensions["packetizer"].registry.session() as session:
        case = session.get(CaseRecord, pk)
        case.builds.append(Build(
            created_at=dt.datetime(2026, 9, 18, 15, 0, tzinfo=dt.timezone.utc), built_by="web:sam", folder="x/y",
            file_name=f"RETRO-AUTH_demo-commercial_{case_id}_2026-09-14.pdf", report_name="r.json",
            report_html_name="r.html", sha256="a" * 64, size=10, pages=7))
        session.commit()
    return pk


def _bar(page, chart: str, label: str) -> tuple[str, str, str]:
    bar = page.locator(f'#chart-requests-{chart} g[data-label="{label}"]')
    return bar.get_attribute("data-approved"), bar.get_attribute("data-partial"), bar.get_attribute("data-denied")


def test_staff_record_a_split_decision_line_by_line_and_outcomes_count_each_code(live, page, app_log, tmp_path):
    base, app, _clock = live
    pk = _built_case(app, "RA-SPLIT-01")
    sign_in_page(page, base, "sam")
    page.click("nav >> text=Outcomes")
    # The seeded history: 97110 approved 3 times, partially once, denied once; 97162 denied twice.
    assert _bar(page, "service", "97110") == ("3", "1", "1") and _bar(page, "service", "97162") == ("0", "0", "2")

    page.goto(f"{base}/cases/{pk}")
    page.fill('#record-submission [name="submitted_on"]', "2026-09-22")
    page.select_option('#record-submission [name="build_id"]', index=1)
    page.click('button:has-text("Record submission")')
    expect(page.locator(".flash", has_text="Submission recorded")).to_be_visible()

    # The payer approved the evaluation and denied the therapy: a split decision, entered line by line.
    form = page.locator("#determination-form")
    lines = form.locator("details.line-decisions")
    expect(lines).not_to_have_attribute("open", "")
    form.locator('[name="determination"]').select_option("partially_approved")
    expect(lines).to_have_attribute("open", "")             # the script unfolds the lines
    rows = form.locator("table.line-units tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Service line 1")
    expect(rows.nth(1)).to_contain_text("97110")
    form.locator('[name="line_units-1"]').fill("1")
    form.locator('[name="determination_on"]').fill("2026-09-24")
    form.locator('[name="reason"]').fill("97110 not medically necessary")
    page.click('button:has-text("Record determination")')
    expect(page.locator(".flash.error")).to_have_text(
        "Service line 2 (97110): enter the units the payer approved (0 if it denied the line)")

    # After the refusal the page is new and nothing unfolds by itself: the lines are one click away.
    form.locator("summary", has_text="The payer decided line by line").click()
    form.locator('[name="determination"]').select_option("partially_approved")
    form.locator('[name="line_units-1"]').fill("1")
    form.locator('[name="line_units-2"]').fill("0")
    form.locator('[name="determination_on"]').fill("2026-09-24")
    page.click('button:has-text("Record determination")')
    expect(page.locator(".flash", has_text="Determination recorded: partially approved.")).to_be_visible()
    decided = page.locator("#submission-list")
    expect(decided).to_contain_text("Partially approved on 2026-09-24")
    expect(decided).to_contain_text("Service line 1 (97162): 1 of 1 units approved")
    expect(decided).to_contain_text("Service line 2 (97110): 0 of 3 units approved")

    # Outcomes counts each code as its line was decided: 97162 approved, 97110 denied (not both partial).
    page.click("nav >> text=Outcomes")
    assert _bar(page, "service", "97162") == ("1", "0", "2")
    assert _bar(page, "service", "97110") == ("3", "1", "2")
    payer = page.locator('#chart-requests-payer g[data-label="demo-commercial"]')
    assert payer.get_attribute("data-partial") == "1"       # the case itself is one partial approval
    expect(page.locator("#outcomes-appeals")).to_contain_text("No appeals decided yet.")

    with page.expect_download() as download_info:
        page.click("#outcomes-csv")
    download = download_info.value
    assert download.suggested_filename == "outcomes_2026-09-25.csv"
    rows = [r for r in csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8")))
            if r["case_id"] == "RA-SPLIT-01"]
    assert sorted((r["service_code"], r["outcome"], r["units_approved"], r["units_billed"]) for r in rows) == [
        ("97110", "denied", "0", "3"), ("97162", "approved", "1", "1")]
    logged = "\n".join(app_log.lines)
    for phi in (*MEMBER_NAME, MEMBER_ID):
        assert phi not in logged

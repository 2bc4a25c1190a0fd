"""This test ensures that submissions, requests for information and determinations are tracked, queued and charted."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from sqlalchemy import select

from packetizer.casebook.outcomes import BAR_AREA, OutcomeRow, decision_time_chart, outcome_chart
from packetizer.registry import Build, CaseRecord, Submission

from browser.webapp_support import case_form, page_token

SVG = "{http://www.w3.org/2000/svg}"


def _built_case(app, staff, token, case_id="RA-TRACK-1", **changes) -> int:
    """A case entered through the form, with a build row as the pipeline would record it."""
    response = staff.post("/cases/new", data={**case_form(case_id=case_id, **changes), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        case = session.get(CaseRecord, pk)
        case.builds.append(Build(created_at=services.now(), built_by="web:sam", folder="x/y",
                                 file_name=f"RETRO-AUTH_demo-commercial_{case_id}_2026-09-14.pdf",
                                 report_name="r.json", report_html_name="r.html", sha256="a" * 64, size=10, pages=7))
        case.status = "built"
    return pk


def _submission(app, pk) -> Submission:
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(Submission).where(Submission.case_pk == pk)).one()


def test_submission_sets_follow_up_from_the_payer_interval_and_joins_the_queue(app, staff, clock):
    token = page_token(staff, "/cases/new")
    pk = _built_case(app, staff, token)
    build_id = re.search(r'<option (?:selected )?value="(\d+)"', staff.get(f"/cases/{pk}").data.decode())[1]
    response = staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-22", "channel": "fax", "reference": "FAX-7781",
        "build_id": build_id})
    assert response.status_code == 302
    sub = _submission(app, pk)
    assert sub.follow_up_due == dt.date(2026, 10, 2)  # demo-commercial: follow_up_days 10
    assert (sub.reference, sub.channel, sub.recorded_by) == ("FAX-7781", "fax", "sam")
    queue = staff.get("/tracking/queue").data.decode()
    row = re.search(r"<tr class=\"soon\">.*?</tr>", queue, re.S)[0]
    assert "RA-TRACK-1" in row and "in 7 days" in row and "Follow up with the payer" in row and "FAX-7781" in row

    clock.advance(days=10)
    staff_token = page_token(_resign(staff), "/tracking/queue")
    queue = staff.get("/tracking/queue").data.decode()
    assert re.search(r'<tr class="overdue">.*?overdue by 3 days.*?RA-TRACK-1', queue, re.S)

    response = staff.post(f"/tracking/submissions/{sub.id}/info-requests", data={
        "csrf_token": staff_token, "requested_on": "2026-10-05", "due_on": "2026-10-09",
        "note": "Send the plan of care"})
    assert response.status_code == 302
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "More information requested" in page and "not answered yet" in page
    queue = staff.get("/tracking/queue").data.decode()
    assert "Send the information the payer asked for" in queue and "2026-10-09" in queue

    request_id = re.search(r"/tracking/info-requests/(\d+)/answered", page)[1]
    staff.post(f"/tracking/info-requests/{request_id}/answered",
               data={"csrf_token": staff_token, "responded_on": "2026-10-06"})
    response = staff.post(f"/tracking/submissions/{sub.id}/determination", data={
        "csrf_token": staff_token, "determination": "partially_approved", "determination_on": "2026-10-08",
        "reason": "97110 units reduced to 2"})
    assert response.status_code == 302
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Partially approved on 2026-10-08: 97110 units reduced to 2" in page
    assert "RA-TRACK-1" not in staff.get("/tracking/queue").data.decode()
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(CaseRecord, pk).status == "partially_approved"


def _resign(client):
    from browser.webapp_support import sign_in

    sign_in(client, "sam")
    return client


def test_submission_needs_a_build_and_a_date(app, staff):
    token = page_token(staff, "/cases/new")
    response = staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    staff.post(f"/tracking/cases/{pk}/submissions", data={"csrf_token": token, "submitted_on": "2026-09-22",
                                                          "channel": "fax", "build_id": "1"})
    assert "Build the packet before recording a submission." in staff.get(f"/cases/{pk}").data.decode()
    pk = _built_case(app, staff, token, case_id="RA-TRACK-2")
    staff.post(f"/tracking/cases/{pk}/submissions", data={"csrf_token": token, "submitted_on": "",
                                                          "channel": "fax", "build_id": "1"})
    assert "Submitted on:" in staff.get(f"/cases/{pk}").data.decode()
    with app.extensions["packetizer"].registry.session() as session:
        assert session.scalars(select(Submission)).all() == []


def test_outcomes_page_draws_the_patterns(app, staff):
    token = page_token(staff, "/cases/new")
    outcomes = [("RA-O-1", "approved", "2026-09-30"), ("RA-O-2", "denied", "2026-10-20"),
                ("RA-O-3", "approved", "2026-10-01")]
    for case_id, outcome, decided in outcomes:
        pk = _built_case(app, staff, token, case_id=case_id)
        staff.post(f"/tracking/cases/{pk}/submissions", data={"csrf_token": token, "submitted_on": "2026-09-25",
                                                              "channel": "fax", "build_id": str(pk)})
        sub = _submission(app, pk)
        staff.post(f"/tracking/submissions/{sub.id}/determination", data={
            "csrf_token": token, "determination": outcome, "determination_on": decided})
    html = staff.get("/tracking/outcomes").data.decode()
    assert "3 decided, median 6 days to a decision" in html
    payer_svg = ET.fromstring(re.search(r'<figure id="chart-payer">(.*?)</figure>', html, re.S)[1])
    bar = payer_svg.find(f"{SVG}g[@data-label='demo-commercial']")
    assert (bar.get("data-approved"), bar.get("data-denied"), bar.get("data-total")) == ("2", "1", "3")
    assert bar.findall(f"{SVG}text")[-1].text == "67% of 3"
    codes = {g.get("data-label") for g in ET.fromstring(
        re.search(r'<figure id="chart-service">(.*?)</figure>', html, re.S)[1]).iter(f"{SVG}g")}
    assert codes == {"97110", "97162"}
    time_svg = ET.fromstring(re.search(r'<figure id="chart-time">(.*?)</figure>', html, re.S)[1])
    counts = {g.get("data-label"): g.get("data-count") for g in time_svg.iter(f"{SVG}g")}
    assert counts["0-7 days"] == "2" and counts["15-30 days"] == "1"


def test_outcome_chart_bars_are_proportional_and_escaped():
    svg = ET.fromstring(str(outcome_chart([OutcomeRow("<payer & co>", approved=3, partially_approved=1, denied=0),
                                           OutcomeRow("b", denied=2)], "Approval by payer")))
    first = svg.findall(f"{SVG}g")[0]
    assert first.get("data-label") == "<payer & co>"  # escaped in the markup, intact when parsed
    widths = {r.get("class"): float(r.get("width")) for r in first.findall(f"{SVG}rect")}
    assert widths == {"approved": BAR_AREA * 3 / 4, "partially_approved": BAR_AREA / 4}
    assert "denied" not in widths
    assert "no determinations" in str(outcome_chart([], "Approval by payer"))
    assert "no determinations" in str(decision_time_chart([]))


def test_auditors_cannot_record_tracking_events(app, staff, auditor):
    token = page_token(staff, "/cases/new")
    pk = _built_case(app, staff, token)
    auditor_token = page_token(auditor, "/audit/archive")
    response = auditor.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": auditor_token, "submitted_on": "2026-09-22", "channel": "fax", "build_id": "1"})
    assert response.status_code == 403
    assert auditor.get("/tracking/queue").status_code == 403

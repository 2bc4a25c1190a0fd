"""This test ensures that submissions, requests for information and determinations are tracked, queued and charted."""

from __future__ import annotations

import datetime as dt
import html
import re
import xml.etree.ElementTree as ET

from sqlalchemy import func, select

from packetizer.casebook.outcomes import BAR_AREA, OutcomeRow, decision_time_chart, outcome_chart
from packetizer.registry import AuditEntry, Build, CaseRecord, Determination, InfoRequest, Submission

from browser.webapp_support import case_form, page_token

SVG = "{http://www.w3.org/2000/svg}"


BUILT = dt.datetime(2026, 9, 18, 15, 0, tzinfo=dt.timezone.utc)  # a week before the clock's start


def _built_case(app, staff, token, case_id="RA-TRACK-1", **changes) -> int:
    """A case entered through the form, with a build row as the pipeline would have recorded it a week ago."""
    response = staff.post("/cases/new", data={**case_form(case_id=case_id, **changes), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        case = session.get(CaseRecord, pk)
        case.builds.append(Build(created_at=BUILT, built_by="web:sam", folder="x/y",
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
        "csrf_token": staff_token, "requested_on": "2026-10-03", "due_on": "2026-10-09",
        "note": "Send the plan of care"})
    assert response.status_code == 302
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "More information requested" in page and "not answered yet" in page
    queue = staff.get("/tracking/queue").data.decode()
    assert "Send the information the payer asked for" in queue and "2026-10-09" in queue

    request_id = re.search(r"/tracking/info-requests/(\d+)/answered", page)[1]
    staff.post(f"/tracking/info-requests/{request_id}/answered",
               data={"csrf_token": staff_token, "responded_on": "2026-10-04"})
    response = staff.post(f"/tracking/submissions/{sub.id}/determination", data={
        "csrf_token": staff_token, "determination": "partially_approved", "determination_on": "2026-10-05",
        "reason": "97110 units reduced to 2", "line_units-1": "1", "line_units-2": "2"})
    assert response.status_code == 302
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Partially approved on 2026-10-05: 97110 units reduced to 2" in page
    assert "Service line 2 (97110): 2 of 3 units approved" in page
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


def test_outcomes_page_draws_the_patterns(app, staff, clock):
    token = page_token(staff, "/cases/new")
    outcomes = [("RA-O-1", "approved", "2026-09-30"), ("RA-O-2", "denied", "2026-10-20"),
                ("RA-O-3", "approved", "2026-10-01")]
    subs = []
    for case_id, _outcome, _decided in outcomes:
        pk = _built_case(app, staff, token, case_id=case_id)
        staff.post(f"/tracking/cases/{pk}/submissions", data={"csrf_token": token, "submitted_on": "2026-09-25",
                                                              "channel": "fax", "build_id": str(pk)})
        subs.append(_submission(app, pk))
    clock.advance(days=30)  # the decisions come in
    token = page_token(_resign(staff), "/tracking/queue")
    for sub, (_case_id, outcome, decided) in zip(subs, outcomes):
        staff.post(f"/tracking/submissions/{sub.id}/determination", data={
            "csrf_token": token, "determination": outcome, "determination_on": decided})
    html = staff.get("/tracking/outcomes").data.decode()
    assert "3 decided, median 6 days to a decision" in html
    payer_svg = ET.fromstring(re.search(r'<figure id="chart-requests-payer">(.*?)</figure>', html, re.S)[1])
    bar = payer_svg.find(f"{SVG}g[@data-label='demo-commercial']")
    assert (bar.get("data-approved"), bar.get("data-denied"), bar.get("data-total")) == ("2", "1", "3")
    assert bar.findall(f"{SVG}text")[-1].text == "67% of 3"
    codes = {g.get("data-label") for g in ET.fromstring(
        re.search(r'<figure id="chart-requests-service">(.*?)</figure>', html, re.S)[1]).iter(f"{SVG}g")}
    assert codes == {"97110", "97162"}
    time_svg = ET.fromstring(re.search(r'<figure id="chart-requests-time">(.*?)</figure>', html, re.S)[1])
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


def _flashes(client, pk) -> list[str]:
    """The error messages the case page shows (each once: the next visit no longer has them)."""
    page = client.get(f"/cases/{pk}").data.decode()
    return [html.unescape(m) for m in re.findall(r'class="flash error"[^>]*>(.*?)<', page, re.S)]


def _counts(app) -> tuple[int, int, int]:
    with app.extensions["packetizer"].registry.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Submission, InfoRequest, Determination))


def test_impossible_dates_and_a_second_determination_are_refused_beside_their_field(app, staff):
    """Today is 2026-09-25 and the packet was built on 2026-09-18."""
    token = page_token(staff, "/cases/new")
    pk = _built_case(app, staff, token)
    build_id = re.search(r'<option (?:selected )?value="(\d+)"', staff.get(f"/cases/{pk}").data.decode())[1]

    def submit(on):
        staff.post(f"/tracking/cases/{pk}/submissions", data={
            "csrf_token": token, "submitted_on": on, "channel": "fax", "build_id": build_id})
        return _flashes(staff, pk)

    assert submit("2031-01-01") == ["Submitted on: cannot be in the future (today is 09/25/2026)"]
    assert submit("2026-09-17") == ["Submitted on: cannot be earlier than the day that packet was built (09/18/2026)"]
    assert _counts(app) == (0, 0, 0)
    assert submit("2026-09-22") == []
    sub = _submission(app, pk)

    staff.post(f"/tracking/submissions/{sub.id}/info-requests", data={
        "csrf_token": token, "requested_on": "2026-09-21"})
    assert _flashes(staff, pk) == ["Requested on: cannot be earlier than the submission (09/22/2026)"]
    staff.post(f"/tracking/submissions/{sub.id}/info-requests", data={
        "csrf_token": token, "requested_on": "2026-09-23", "due_on": "2026-09-22"})
    assert _flashes(staff, pk) == ["Answer due by: cannot be earlier than the request (09/23/2026)"]
    assert _counts(app) == (1, 0, 0)
    staff.post(f"/tracking/submissions/{sub.id}/info-requests", data={
        "csrf_token": token, "requested_on": "2026-09-23", "due_on": "2026-10-01"})
    request_id = re.search(r"/tracking/info-requests/(\d+)/answered", staff.get(f"/cases/{pk}").data.decode())[1]
    for day, message in (("2026-09-22", "Answered on: cannot be earlier than the request it answers (09/23/2026)"),
                         ("2026-09-26", "Answered on: cannot be in the future (today is 09/25/2026)")):
        staff.post(f"/tracking/info-requests/{request_id}/answered", data={"csrf_token": token, "responded_on": day})
        assert _flashes(staff, pk) == [message]
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(InfoRequest, int(request_id)).responded_on is None

    def decide(outcome, on):
        staff.post(f"/tracking/submissions/{sub.id}/determination", data={
            "csrf_token": token, "determination": outcome, "determination_on": on})
        return _flashes(staff, pk)

    assert decide("approved", "2026-09-21") == ["Decided on: cannot be earlier than the submission (09/22/2026)"]
    assert decide("approved", "2026-12-01") == ["Decided on: cannot be in the future (today is 09/25/2026)"]
    assert _counts(app) == (1, 1, 0)
    assert decide("approved", "2026-09-24") == []
    assert decide("denied", "2026-09-25") == [
        "Determination: a determination is already recorded for this submission; correct it instead"]
    with app.extensions["packetizer"].registry.session() as session:
        assert [d.determination for d in session.scalars(select(Determination))] == ["approved"]
        assert session.get(CaseRecord, pk).status == "approved"


def _correct(staff, url, prefix, token, **fields):
    return staff.post(url, data={f"{prefix}-csrf_token": token, **{f"{prefix}-{k}": v for k, v in fields.items()}})


def test_a_correction_supersedes_the_record_moves_queue_and_outcomes_and_shows_on_the_case_page(app, staff, clock):
    token = page_token(staff, "/cases/new")
    pk = _built_case(app, staff, token, case_id="RA-FIX-1")
    build_id = re.search(r'<option (?:selected )?value="(\d+)"', staff.get(f"/cases/{pk}").data.decode())[1]
    staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-18", "channel": "fax", "reference": "FAX-1",
        "build_id": build_id})
    sub = _submission(app, pk)
    queue = staff.get("/tracking/queue").data.decode()
    assert re.search(r"2026-09-28</td>\s*<td>in 3 days</td>\s*<td><a [^>]*>RA-FIX-1<", queue)

    url = f"/tracking/submissions/{sub.id}/correction"
    page = staff.get(f"/cases/{pk}").data.decode()
    assert f'name="sub{sub.id}-correction_reason"' in page and 'value="2026-09-18"' in page
    fields = dict(submitted_on="2026-09-24", channel="portal", reference="PORTAL-22", build_id=build_id)
    _correct(staff, url, f"sub{sub.id}", token, **fields, correction_reason="  ")
    assert _flashes(staff, pk) == ["Why is it corrected?: say why the record is corrected"]
    _correct(staff, url, f"sub{sub.id}", token, **{**fields, "submitted_on": "2026-09-26"},
             correction_reason="sent later")
    assert _flashes(staff, pk) == ["Submitted on: cannot be in the future (today is 09/25/2026)"]
    assert _counts(app) == (1, 0, 0)
    _correct(staff, url, f"sub{sub.id}", token, **fields, correction_reason="It went by portal on the 24th")
    with app.extensions["packetizer"].registry.session() as session:
        rows = session.scalars(select(Submission).order_by(Submission.id)).all()
        assert [(r.submitted_on.isoformat(), r.current) for r in rows] == [("2026-09-18", False), ("2026-09-24", True)]
        fixed = rows[1]
    queue = staff.get("/tracking/queue").data.decode()
    assert "RA-FIX-1" not in queue  # follow up 2026-10-04: beyond the week ahead
    page = staff.get(f"/cases/{pk}").data.decode()
    corrections = re.search(r'<table class="list" id="corrections">(.*?)</table>', page, re.S)[1]
    assert "sam" in corrections and "Submission" in corrections and "It went by portal on the 24th" in corrections
    assert "Submitted on: 2026-09-18 → 2026-09-24" in corrections and "Payer reference: FAX-1 → PORTAL-22" in corrections
    # The old record's forms are gone: a correction is made to the record as it stands.
    assert f"/tracking/submissions/{sub.id}/correction" not in page and f"/tracking/submissions/{fixed.id}/correction" in page
    _correct(staff, url, f"sub{sub.id}", token, **fields, correction_reason="again")
    assert _flashes(staff, pk) == ["this submission has been corrected since; record it against the corrected one"]

    staff.post(f"/tracking/submissions/{fixed.id}/determination", data={
        "csrf_token": token, "determination": "approved", "determination_on": "2026-09-25"})
    outcomes = staff.get("/tracking/outcomes").data.decode()
    assert "1 decided, median 1 days to a decision" in outcomes
    with app.extensions["packetizer"].registry.session() as session:
        decided = session.scalars(select(Determination)).one()
    url = f"/tracking/determinations/{decided.id}/correction"
    _correct(staff, url, f"det{decided.id}", token, determination="denied", determination_on="2026-09-25",
             correction_reason="")
    assert _flashes(staff, pk) == ["Why is it corrected?: say why the record is corrected"]
    _correct(staff, url, f"det{decided.id}", token, determination="denied", determination_on="2026-09-25",
             reason="no medical necessity", correction_reason="The letter says denied")
    html_ = staff.get("/tracking/outcomes").data.decode()
    bar = ET.fromstring(re.search(r'<figure id="chart-requests-payer">(.*?)</figure>', html_, re.S)[1]).find(
        f"{SVG}g[@data-label='demo-commercial']")
    assert (bar.get("data-approved"), bar.get("data-denied"), bar.get("data-total")) == ("0", "1", "1")
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Denied on 2026-09-25: no medical necessity" in page
    assert "Determination: Approved → Denied" in page and "The letter says denied" in page
    with app.extensions["packetizer"].registry.session() as session:
        assert [(d.determination, d.current) for d in session.scalars(select(Determination).order_by(
            Determination.id))] == [("approved", False), ("denied", True)]
        assert session.get(CaseRecord, pk).status == "denied"
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("%.correct")).order_by(AuditEntry.seq)))
        assert actions == ["submission.correct", "determination.correct"]


def test_a_corrected_answer_date_is_checked_and_moves_the_case_out_of_answers_owed(app, staff, clock):
    token = page_token(staff, "/cases/new")
    pk = _built_case(app, staff, token, case_id="RA-FIX-2")
    build_id = re.search(r'<option (?:selected )?value="(\d+)"', staff.get(f"/cases/{pk}").data.decode())[1]
    staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-19", "channel": "fax", "build_id": build_id})
    sub = _submission(app, pk)
    staff.post(f"/tracking/submissions/{sub.id}/info-requests", data={
        "csrf_token": token, "requested_on": "2026-09-22", "due_on": "2026-09-24", "note": "plan of care"})
    assert "Send the information the payer asked for" in staff.get("/tracking/queue").data.decode()
    with app.extensions["packetizer"].registry.session() as session:
        request_id = session.scalars(select(InfoRequest.id)).one()
    url = f"/tracking/info-requests/{request_id}/correction"
    fields = dict(requested_on="2026-09-22", due_on="2026-09-24", note="plan of care")
    _correct(staff, url, f"req{request_id}", token, **fields, responded_on="2026-09-21", correction_reason="faxed")
    assert _flashes(staff, pk) == ["Answered on (empty if not yet): cannot be earlier than the request it answers "
                                   "(09/22/2026)"]
    _correct(staff, url, f"req{request_id}", token, **fields, responded_on="2026-09-23",
             correction_reason="The answer was faxed on the 23rd")
    # No answer is owed now; the follow-up falls due at the payer's interval (10 days) after the answer.
    assert "RA-FIX-2" not in staff.get("/tracking/queue").data.decode()
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Answered on: — → 2026-09-23" in page and "answered 2026-09-23" in page
    assert "<td>2026-10-03</td>" in page
    clock.advance(days=2)
    token = page_token(_resign(staff), "/tracking/queue")
    queue = staff.get("/tracking/queue").data.decode()
    assert re.search(r"RA-FIX-2.*?Follow up with the payer.*?after the information sent on 2026-09-23", queue, re.S)
    with app.extensions["packetizer"].registry.session() as session:
        assert [(r.responded_on, r.current) for r in session.scalars(select(InfoRequest).order_by(InfoRequest.id))] \
            == [(None, False), (dt.date(2026, 9, 23), True)]

"""Prepare appeal in the web app (SPEC section 10): pre-filled from the recorded determination, saved into the
case file, the appeal deadline on the case page and in the follow-up queue, and the levels the policy allows."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from pathlib import Path

from sqlalchemy import select

from packetizer.registry import AuditEntry, Build, CaseRecord, Submission

from browser.webapp_support import add_account, case_form, make_app, page_token, sign_in

REPO = Path(__file__).resolve().parents[1]
BUILT = dt.datetime(2026, 9, 22, 15, 0, tzinfo=dt.timezone.utc)
REASON = "Documentation does not show the portal outage"


def _add_build(app, pk: int, name: str) -> int:
    with app.extensions["packetizer"].registry.session() as session:
        case = session.get(CaseRecord, pk)
        row = Build(created_at=BUILT, built_by="web:sam", folder="x/y", file_name=name, report_name="r.json",
                    report_html_name="r.html", sha256="b" * 64, size=10, pages=7)
        case.builds.append(row)
        session.flush()
        return row.id


def _denied_case(app, staff, token, case_id="RA-APPEAL-1", *, decided_on="2026-09-25") -> int:
    """A case entered through the form, built, sent with reference FAX-7781 and denied on ``decided_on``."""
    response = staff.post("/cases/new", data={**case_form(case_id=case_id), "csrf_token": token, "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    build_id = _add_build(app, pk, f"RETRO-AUTH_demo-commercial_{case_id}_2026-09-14.pdf")
    _send_and_decide(app, staff, token, pk, build_id, "2026-09-22", "FAX-7781", decided_on)
    return pk


def _send_and_decide(app, staff, token, pk, build_id, sent_on, reference, decided_on, decision="denied"):
    assert staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": sent_on, "channel": "fax", "reference": reference,
        "build_id": str(build_id)}).status_code == 302
    with app.extensions["packetizer"].registry.session() as session:
        sub_id = session.scalars(select(Submission.id).where(Submission.case_pk == pk)
                                 .order_by(Submission.id.desc())).first()
    assert staff.post(f"/tracking/submissions/{sub_id}/determination", data={
        "csrf_token": token, "determination": decision, "determination_on": decided_on,
        "reason": REASON}).status_code == 302


def _case_file(app, pk) -> dict:
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        folder = session.get(CaseRecord, pk).folder
    return json.loads((services.cases_dir / folder / "case.json").read_text())


def _field(page: str, name: str) -> str:
    """The value a form input (or the text of a textarea, or the selected option) shows."""
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    if match:
        return html.unescape(match[1]).strip()
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    if match:
        return re.search(r'<option selected value="([^"]*)"', match[1])[1]
    return html.unescape(re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)[1])


def test_prepare_appeal_prefills_from_the_determination_and_saves_into_the_case_file(app, staff):
    """This test ensures a denied case offers Prepare appeal, the form shows the recorded decision, and saving
    writes prior_request and appeal (level 1) into the case file and shows the appeal deadline and build."""
    token = page_token(staff, "/cases/new")
    pk = _denied_case(app, staff, token)
    page = staff.get(f"/cases/{pk}").data.decode()
    assert 'id="prepare-appeal-link"' in page and ">Prepare appeal<" in page
    # 60 calendar days from the decision of September 25, 2026 (demo-commercial's appeal rule)
    assert re.search(r'id="appeal-deadline">November 24, 2026<', page)
    assert "60 days left" in page and "send by mail" in page

    form = staff.get(f"/cases/{pk}/appeal").data.decode()
    assert _field(form, "decision") == "denied"
    assert _field(form, "decision_date") == "2026-09-25"
    assert _field(form, "submitted") == "2026-09-22"
    assert _field(form, "reference") == "FAX-7781"
    assert _field(form, "reason") == REASON
    assert _field(form, "denial_codes") == "CO-197 N54"     # the claim's codes, as received
    assert _field(form, "level") == "1"
    assert '<option value="2">Level 2</option>' in form      # demo-commercial allows two levels

    response = staff.post(f"/cases/{pk}/appeal", data={
        "csrf_token": token, "decision": "denied", "decision_date": "2026-09-25", "submitted": "2026-09-22",
        "reference": "FAX-7781", "reason": REASON, "denial_codes": "CO-197", "level": "1",
        "argument": "The outage notice shows the portal was down.\n\nTicket INC-5521 confirms it."})
    assert response.status_code == 302 and response.headers["Location"].endswith("#appeal")
    doc = _case_file(app, pk)
    assert doc["prior_request"] == {"decision": "denied", "decision_date": "2026-09-25", "reason": REASON,
                                    "submitted": "2026-09-22", "reference": "FAX-7781", "denial_codes": ["CO-197"]}
    assert doc["appeal"]["level"] == 1 and doc["appeal"]["argument"].startswith("The outage notice")
    page = staff.get(f"/cases/{pk}").data.decode()
    assert "Level 1 appeal prepared" in page and 'id="build-appeal-button"' in page
    assert 'name="kind" value="appeal"' in page and ">Edit the appeal<" in page
    # editing the case afterwards keeps the appeal in the case file
    assert staff.get(f"/cases/{pk}/edit").status_code == 200
    assert staff.post(f"/cases/{pk}/edit", data={**case_form(case_id="RA-APPEAL-1"), "csrf_token": token,
                                                 "action": "save"}).status_code == 302
    assert _case_file(app, pk)["prior_request"]["reference"] == "FAX-7781"
    assert _case_file(app, pk)["appeal"]["level"] == 1
    # the audit log names the fields changed, never their values
    with app.extensions["packetizer"].registry.session() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.appeal_prepared")).one()
        detail = json.dumps(row.detail)
    assert "prior_request" in detail and "FAX-7781" not in detail and "portal" not in detail


def test_appeal_form_refuses_an_empty_argument_in_plain_words(app, staff):
    """This test ensures the appeal is not saved without the argument, and the page says what is missing."""
    token = page_token(staff, "/cases/new")
    pk = _denied_case(app, staff, token, "RA-APPEAL-2")
    response = staff.post(f"/cases/{pk}/appeal", data={
        "csrf_token": token, "decision": "denied", "decision_date": "2026-09-25", "reason": REASON,
        "level": "1", "argument": "  "})
    assert response.status_code == 422
    assert "say why the decision is wrong" in response.data.decode()
    assert "prior_request" not in _case_file(app, pk)


def test_queue_lists_the_appeal_deadline_beside_request_deadlines(app, staff, clock):
    """This test ensures the follow-up queue shows a denied case's appeal deadline once it is within a week."""
    token = page_token(staff, "/cases/new")
    _denied_case(app, staff, token, "RA-APPEAL-3")
    assert "Send the appeal" not in staff.get("/tracking/queue").data.decode()   # 60 days away
    clock.advance(days=55)
    sign_in(staff, "sam")   # the clock moved past the sign-in's lifetime
    queue = staff.get("/tracking/queue").data.decode()
    row = re.search(r"<tr class=\"soon\">(?:(?!</tr>).)*RA-APPEAL-3.*?</tr>", queue, re.S)[0]
    assert "2026-11-24" in row and "Send the appeal" in row and "FAX-7781" in row and "5 days left" in row


def test_level_two_follows_a_denied_level_one_appeal_and_no_further(app, staff, clock):
    """This test ensures that after a level 1 appeal is sent and denied, the case offers a level 2 appeal (the
    policy's last level), pre-filled from the new decision."""
    token = page_token(staff, "/cases/new")
    pk = _denied_case(app, staff, token, "RA-APPEAL-4", decided_on="2026-09-24")
    staff.post(f"/cases/{pk}/appeal", data={
        "csrf_token": token, "decision": "denied", "decision_date": "2026-09-24", "reference": "FAX-7781",
        "reason": REASON, "level": "1", "argument": "The outage notice shows the portal was down."})
    appeal_build = _add_build(app, pk, "APPEAL_demo-commercial_RA-APPEAL-4_2026-09-14.pdf")
    _send_and_decide(app, staff, token, pk, appeal_build, "2026-09-25", "APL-1", "2026-09-25")
    page = staff.get(f"/cases/{pk}").data.decode()
    assert ">Prepare level 2 appeal<" in page
    form = staff.get(f"/cases/{pk}/appeal").data.decode()
    assert _field(form, "level") == "2" and _field(form, "reference") == "APL-1"
    assert _field(form, "argument") == ""        # a new decision: a new argument
    assert '<option value="3">' not in form
    response = staff.post(f"/cases/{pk}/appeal", data={
        "csrf_token": token, "decision": "denied", "decision_date": "2026-09-25", "reference": "APL-1",
        "reason": REASON, "level": "3", "argument": "x"})
    assert response.status_code == 422          # level 3 is not a choice: nothing is saved
    assert _case_file(app, pk)["appeal"]["level"] == 1


def test_no_prepare_appeal_before_a_denial_or_for_a_payer_without_appeals(app, staff, clock, tmp_path):
    """This test ensures Prepare appeal is offered only for a recorded denial, and sends staff back with a plain
    message when the payer's policy allows no appeal."""
    token = page_token(staff, "/cases/new")
    response = staff.post("/cases/new", data={**case_form(case_id="RA-APPEAL-5"), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert "prepare-appeal-link" not in staff.get(f"/cases/{pk}").data.decode()
    response = staff.get(f"/cases/{pk}/appeal", follow_redirects=True)
    assert "once a denial or a partial approval is recorded" in response.data.decode()

    payers = tmp_path / "payers"
    shutil.copytree(REPO / "payers", payers)
    policy = (payers / "demo-commercial.yaml").read_text()
    (payers / "demo-commercial.yaml").write_text(re.sub(r"appeal:.*?(?=disclosure:)", "appeal:\n  allowed: false\n",
                                                        policy, flags=re.S))
    other = make_app(tmp_path / "other", clock, PAYERS=str(payers))
    add_account(other, "sam", "staff")
    staff = other.test_client()
    sign_in(staff, "sam")
    token = page_token(staff, "/cases/new")
    pk = _denied_case(other, staff, token, "RA-APPEAL-6")
    page = staff.get(f"/cases/{pk}").data.decode()
    assert 'id="no-appeal"' in page and "does not accept appeals" in page
    response = staff.get(f"/cases/{pk}/appeal", follow_redirects=True)
    assert "Demo Commercial Health Plan does not accept appeals" in response.data.decode()
    other.extensions["packetizer"].registry.close()


def test_the_queue_counts_an_appeal_window_from_the_claims_denial_date_when_the_policy_says_so(tmp_path):
    """A policy counting its appeal window from the denial date: the queue (web and `packetizer followups`,
    one function) reads the claim's denial date from the case file; without one it lists no deadline."""
    import dataclasses
    import datetime as dt
    import json
    from types import SimpleNamespace

    from packetizer.casebook.appeals import queue_appeal_due
    from packetizer.policy import load_payer

    policy = load_payer("demo-commercial")
    window = dataclasses.replace(policy.appeal.window, start_from="denial_date")
    policy = dataclasses.replace(policy, appeal=dataclasses.replace(policy.appeal, window=window))
    payers = SimpleNamespace(get=lambda payer_id: policy)
    folder = "0123456789abcdef"
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "case.json").write_text(json.dumps({"claim": {"denial_date": "2026-09-22"}}))
    record = SimpleNamespace(payer_id="demo-commercial", folder=folder, first_date_of_service=dt.date(2026, 9, 14))
    decided = SimpleNamespace(decided_on=dt.date(2026, 10, 20))
    assert queue_appeal_due(payers, tmp_path, record, decided) == dt.date(2026, 9, 22) + dt.timedelta(
        days=window.days)
    (tmp_path / folder / "case.json").write_text(json.dumps({"claim": {}}))
    assert queue_appeal_due(payers, tmp_path, record, decided) is None

"""This test ensures that the denial worklist takes in 835 remittances once, lists every denial soonest deadline
first, opens a pre-filled case for a missing authorization and links it, records the payer's decision from a later
835 on the submitted request, refuses a broken file whole, and keeps patient data out of the audit log."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import inspect, select

from packetizer.registry import (AuditEntry, Build, CaseRecord, Determination, EraUpload, Submission, WorklistItem,
                                 current_revision, open_registry)

from browser.registry_support import migrate
from browser.webapp_support import add_account, case_form, make_app, page_token, sign_in
from tests.support.era835 import Claim, Line, Transaction, remittance

# The claims' fictional patients: none of this may reach the audit log or a stored file name.
PHI = ("ORTIZ", "XJH123456789", "LUND", "M-ELIG-77", "CHEN", "M-LATE-55", "2026091400123")


def _retro(number="2026091400123", *, last="ORTIZ", member="XJH123456789", date="20260914") -> Claim:
    return Claim(claim_number=number, last_name=last, member_id=member, lines=[Line(date=date)])


def _eligibility(number="CLM-ELIG-1", date="20260901") -> Claim:
    return Claim(claim_number=number, first_name="BEA", last_name="LUND", member_id="M-ELIG-77",
                 lines=[Line(code="97162", date=date, cas=[("CO", "27", "180.00")], remarks=())])


def _paid(number="2026091400123") -> Claim:
    """The same claim paid on a later remittance, after the retro request was approved."""
    return Claim(claim_number=number, status="1", charge="180.00", paid="160.00", payer_claim_number="PCN0000002",
                 lines=[Line(paid="160.00", cas=[("CO", "45", "20.00")], remarks=())])


def _file(*claims: Claim, produced="20260922", payer_id="DEMO01") -> bytes:
    return remittance([Transaction(claims=list(claims), production_date=produced, payment_date=produced,
                                   payer_id=payer_id)])


FIRST = _file(_retro(), _eligibility())                                   # deadlines 2026-10-14, 2026-10-01
SECOND = _file(_retro("CLM-LATE-2", last="CHEN", member="M-LATE-55", date="20260920"))  # deadline 2026-10-20
UNMATCHED = _file(_retro("CLM-NOPAYER-3", last="CHEN", member="M-LATE-55"), payer_id="UNKNOWN9")  # no deadline


def _upload(client, token, *files: tuple[bytes, str]):
    return client.post("/worklist/upload", data={"csrf_token": token, "files": [(io.BytesIO(d), n) for d, n in files]},
                       content_type="multipart/form-data")


def _listed(html: str) -> list[str]:
    """The claim numbers of the worklist's rows, top to bottom."""
    return re.findall(r'<td class="claim-number">([^<]*)</td>', html)


def _audit(app, action: str) -> list[AuditEntry]:
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()


def _rows(app, model):
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def _no_phi_in_audit(app) -> None:
    with app.extensions["packetizer"].registry.session() as session:
        rows = session.scalars(select(AuditEntry)).all()
    text = " ".join(f"{r.action} {r.object_id} {r.detail}" for r in rows)
    for value in PHI + ("ortiz-remit", "chen-remit"):
        assert value.lower() not in text.lower(), value


@pytest.fixture
def on_both(tmp_path, clock, db_url):
    """(app, staff client, auditor client) on SQLite or PostgreSQL."""
    app = make_app(tmp_path, clock, DATABASE_URL=db_url)
    clients = []
    for name, role in (("sam", "staff"), ("alex", "auditor")):
        add_account(app, name, role)
        client = app.test_client()
        assert sign_in(client, name).status_code == 302
        clients.append(client)
    yield app, *clients
    app.extensions["packetizer"].registry.close()


def test_two_files_at_once_are_listed_soonest_deadline_first_and_a_second_upload_adds_nothing(on_both):
    app, staff, _ = on_both
    token = page_token(staff, "/worklist/")
    page = _upload(staff, token, (FIRST, "ortiz-remit.835"), (SECOND, "chen-remit.835"), (UNMATCHED, "third.835"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<strong>ortiz-remit.835</strong>:" in html and "2 claims read" in html and "2 new on the worklist" in html
    assert _listed(html) == ["CLM-ELIG-1", "2026091400123", "CLM-LATE-2", "CLM-NOPAYER-3"]
    row = re.search(r'<tr id="item-\d+" data-triage="retro".*?</tr>', html, re.S)[0]
    assert "2026-10-14" in row and "19 days left" in row and "ANA ORTIZ" in row and "DEMO COMMERCIAL" in row
    assert "build a retro request by 2026-10-14" in row and "Start request" in row
    elig = re.search(r'<tr id="item-\d+" data-triage="eligibility".*?</tr>', html, re.S)[0]
    assert "What to fix:" in elig and "fix eligibility, not a retro request" in elig and "Start request" not in elig

    again = _upload(staff, token, (FIRST, "ortiz-remit.835")).get_data(as_text=True)
    assert "0 new on the worklist, 2 already there" in again
    assert len(_rows(app, WorklistItem)) == 4 and len(_rows(app, EraUpload)) == 4
    assert _listed(again) == ["CLM-ELIG-1", "2026091400123", "CLM-LATE-2", "CLM-NOPAYER-3"]

    uploads = _audit(app, "era.upload")
    assert [json.loads(r.detail)["new_items"] for r in uploads] == [2, 1, 1, 0]
    assert {r.actor for r in uploads} == {"sam"} and _audit(app, "worklist.view")
    for upload in _rows(app, EraUpload):
        assert set(inspect(upload).mapper.columns.keys()) == {
            "id", "sha256", "size", "uploaded_at", "uploaded_by", "claims", "new_items", "errors"}
    _no_phi_in_audit(app)

    filtered = staff.get("/worklist/?triage=eligibility").get_data(as_text=True)
    assert _listed(filtered) == ["CLM-ELIG-1"]


def test_a_file_that_is_not_an_835_is_refused_with_its_segment_and_nothing_is_stored(app, staff):
    token = page_token(staff, "/worklist/")
    broken = b"\n".join(line for line in FIRST.splitlines() if not line.startswith(b"SE*"))
    page = _upload(staff, token, (broken, "ortiz-remit.835"))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert re.search(r"<strong>ortiz-remit.835</strong>: Not a readable 835 remittance, so nothing of it was "
                     r"stored: segment 26: GE without its GS", html)
    assert _rows(app, EraUpload) == [] and _rows(app, WorklistItem) == []
    assert [json.loads(r.detail)["reason"] for r in _audit(app, "era.refuse")] == ["bad_remittance"]
    _no_phi_in_audit(app)


def test_a_single_bad_claim_is_told_and_the_others_are_listed(app, staff):
    token = page_token(staff, "/worklist/")
    bad = Claim(claim_number="CLM-BAD-9", status="XX")
    html = _upload(staff, token, (_file(bad, _retro()), "mixed.835")).get_data(as_text=True)
    assert "Claim 1 in the file (segment 15) was left out: CLP02 is not a claim status code." in html
    assert _listed(html) == ["2026091400123"]


def _start_and_save(app, staff, token, denial_date="2026-09-22") -> tuple[int, int]:
    """Start a request from the retro item and save the pre-filled form with what the 835 cannot know."""
    item = next(i for i in _rows(app, WorklistItem) if i.triage == "retro")
    started = staff.post(f"/worklist/{item.id}/start", data={"csrf_token": token})
    assert started.status_code == 302 and started.headers["Location"] == f"/cases/new?worklist={item.id}"
    form = staff.get(started.headers["Location"]).get_data(as_text=True)
    case_id = re.search(r'name="case_id" value="(ERA-[0-9A-F]{16})"', form)[1]
    for name, value in (("member.member_id", "XJH123456789"), ("member.last_name", "ORTIZ"),
                        ("claim.claim_number", "2026091400123"), ("claim.denial_codes", "CO-197, N54"),
                        ("claim.denial_date", denial_date), ("services[0].date_of_service", "2026-09-14"),
                        ("services[0].code", "97110"), ("services[0].units", "2"), ("services[0].modifiers", "GP")):
        assert re.search(rf'name="{re.escape(name)}" value="{re.escape(value)}"', form), name
    assert '<option value="demo-commercial" selected>' in form and 'id="from-worklist"' in form
    data = case_form(case_id=case_id, **{
        "member.first_name": "ANA", "member.last_name": "ORTIZ", "member.ssn": None, "claim.denial_date": denial_date,
        "services[0].code": "97110", "services[0].units": "2",
        **{f"services[1].{k}": None for k in ("date_of_service", "place_of_service", "code", "modifiers", "units",
                                              "diagnosis_codes")}})
    saved = staff.post(started.headers["Location"], data={**data, "csrf_token": token, "action": "save"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    pk = int(saved.headers["Location"].rsplit("/", 1)[-1])
    return item.id, pk


def test_start_request_opens_the_case_form_pre_filled_and_saving_links_the_case(on_both):
    app, staff, _ = on_both
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item_id, pk = _start_and_save(app, staff, token)
    linked = {i.id: i for i in _rows(app, WorklistItem)}[item_id]
    assert linked.case_pk == pk and linked.state == "open"
    with app.extensions["packetizer"].registry.session() as session:
        case = session.get(CaseRecord, pk)
        assert case.claim_number == "2026091400123" and case.case_id.startswith("ERA-")
    html = staff.get("/worklist/").get_data(as_text=True)
    row = re.search(rf'<tr id="item-{item_id}".*?</tr>', html, re.S)[0]
    assert f'href="/cases/{pk}">{case.case_id}</a>' in row and "Start request" not in row
    # Starting it again leads to the case, not to a second one.
    again = staff.post(f"/worklist/{item_id}/start", data={"csrf_token": token})
    assert again.headers["Location"] == f"/cases/{pk}"
    assert staff.get(f"/cases/new?worklist={item_id}").headers["Location"] == f"/cases/{pk}"
    assert [json.loads(r.detail)["case_pk"] for r in _audit(app, "worklist.link")] == [pk]
    assert [r.object_id for r in _audit(app, "worklist.start")] == [str(item_id)]
    create = _audit(app, "case.create")[-1]
    assert json.loads(create.detail)["worklist_item"] == item_id
    _no_phi_in_audit(app)


def test_an_eligibility_denial_cannot_start_a_request(app, staff):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item = next(i for i in _rows(app, WorklistItem) if i.triage == "eligibility")
    refused = staff.post(f"/worklist/{item.id}/start", data={"csrf_token": token}, follow_redirects=True)
    assert "fix what the worklist says instead" in refused.get_data(as_text=True)
    assert _audit(app, "worklist.start") == []


def test_a_later_835_records_the_payers_decision_on_the_submitted_request(on_both, clock):
    app, staff, _ = on_both
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item_id, pk = _start_and_save(app, staff, token)
    with app.extensions["packetizer"].registry.session() as session:
        build = Build(case_pk=pk, created_at=clock.now, built_by="web:sam", folder="x/y", file_name="p.pdf",
                      report_name="r.json", report_html_name="r.html", sha256="a" * 64, size=10, pages=7)
        session.add(build)
        session.flush()
        build_id = build.id
    sent = staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": "2026-09-25", "channel": "fax", "build_id": str(build_id)})
    assert sent.status_code == 302
    # The remittance that led to the request, uploaded again, decides nothing.
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    assert _rows(app, Determination) == []

    clock.advance(days=12)
    sign_in(staff, "sam")
    token = page_token(staff, "/worklist/")
    html = _upload(staff, token, (_file(_paid(), produced="20261005"), "later.835")).get_data(as_text=True)
    assert re.search(rf"The payer.s decision was recorded on case <a href=\"/cases/{pk}\">ERA-[0-9A-F]+</a>: "
                     r"Approved\.", html)
    [decided] = _rows(app, Determination)
    assert (decided.determination, decided.decided_on, decided.recorded_by) == ("approved", dt.date(2026, 10, 5), "sam")
    assert "remittance (835)" in decided.reason
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(CaseRecord, pk).status == "approved"
        submission = session.scalars(select(Submission).where(Submission.case_pk == pk)).one()
        assert decided.submission_id == submission.id
        # A paid claim approves every service line the 835 lists, all their units.
        lines = session.get(Determination, decided.id).lines
        assert lines and all(l.outcome == "approved" and l.units_approved == l.units_billed for l in lines)
    [row] = _audit(app, "era.determination")
    detail = json.loads(row.detail)
    assert (row.object_type, detail["case_pk"], detail["source"], detail["determination"]) == (
        "case", pk, "835", "approved")
    assert [json.loads(r.detail)["determinations"] for r in _audit(app, "era.upload")] == [0, 0, 1]
    items = {i.id: i for i in _rows(app, WorklistItem)}
    assert items[item_id].state == "done" and items[item_id].resolution == "determination"
    assert item_id not in [int(i) for i in re.findall(r'<tr id="item-(\d+)"', staff.get("/worklist/").get_data(
        as_text=True))]
    done = staff.get("/worklist/?state=done").get_data(as_text=True)
    assert "Payer&#39;s decision recorded on the case" in done
    _no_phi_in_audit(app)


def test_staff_mark_an_item_done_and_open_it_again(app, staff):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item = next(i for i in _rows(app, WorklistItem) if i.triage == "eligibility")
    staff.post(f"/worklist/{item.id}/done", data={"csrf_token": token, "done": "1"})
    assert _listed(staff.get("/worklist/").get_data(as_text=True)) == ["2026091400123"]
    staff.post(f"/worklist/{item.id}/done", data={"csrf_token": token, "done": "0"})
    assert _listed(staff.get("/worklist/").get_data(as_text=True)) == ["CLM-ELIG-1", "2026091400123"]
    assert [r.action for r in _audit(app, "worklist.done") + _audit(app, "worklist.reopen")] == [
        "worklist.done", "worklist.reopen"]


def test_auditors_may_not_see_or_use_the_worklist(on_both):
    app, staff, auditor = on_both
    token = page_token(auditor, "/")
    assert auditor.get("/worklist/").status_code == 403
    assert _upload(auditor, token, (FIRST, "ortiz-remit.835")).status_code == 403
    assert auditor.get("/cases/new?worklist=1").status_code == 403
    assert ">Worklist<" not in auditor.get("/audit/log").get_data(as_text=True)
    assert ">Worklist<" in staff.get("/cases/").get_data(as_text=True)
    assert _rows(app, EraUpload) == []


def test_migration_0006_adds_the_worklist_tables_and_takes_them_away(db_url):
    reg = open_registry(db_url, migrate=False)
    migrate(reg.engine, "0006")
    assert current_revision(reg.engine) == "0006"
    tables = set(inspect(reg.engine).get_table_names())
    assert {"era_uploads", "worklist_items"} <= tables
    unique = [c["column_names"] for c in inspect(reg.engine).get_unique_constraints("worklist_items")] + [
        i["column_names"] for i in inspect(reg.engine).get_indexes("worklist_items") if i["unique"]]
    assert ["claim_key"] in unique
    migrate(reg.engine, "0005", down=True)
    assert not {"era_uploads", "worklist_items"} & set(inspect(reg.engine).get_table_names())
    migrate(reg.engine, "head")
    reg.close()


def test_an_upload_without_files_or_with_too_many_is_told_and_stores_nothing(app, staff):
    token = page_token(staff, "/worklist/")
    empty = staff.post("/worklist/upload", data={"csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Choose one or more 835 files to upload." in empty.get_data(as_text=True)
    many = _upload(staff, token, *[(FIRST, f"r{i}.835") for i in range(11)])
    assert many.status_code == 422 and "Upload at most 10 files at once." in many.get_data(as_text=True)
    assert _rows(app, EraUpload) == [] and _rows(app, WorklistItem) == []


def test_a_deadline_passed_since_the_import_is_told_as_passed(app, staff, clock):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    clock.advance(days=20)  # 2026-10-15: the retro claim's deadline (2026-10-14) has passed
    sign_in(staff, "sam")
    html = staff.get("/worklist/").get_data(as_text=True)
    row = re.search(r'<tr id="item-\d+" data-triage="retro" class="overdue">.*?</tr>', html, re.S)[0]
    assert "passed 1 day ago" in row
    assert "deadline passed on 2026-10-14: appeal the denial, or record an override reason" in row
    assert "build a retro request" not in row


def _submitted(app, staff, token, pk, clock, on: str) -> None:
    """Record that the case's request was sent on ``on`` (a build row stands for its packet)."""
    with app.extensions["packetizer"].registry.session() as session:
        build = Build(case_pk=pk, created_at=clock.now, built_by="web:sam", folder="x/y", file_name="p.pdf",
                      report_name="r.json", report_html_name="r.html", sha256="a" * 64, size=10, pages=7)
        session.add(build)
        session.flush()
        build_id = build.id
    sent = staff.post(f"/tracking/cases/{pk}/submissions", data={
        "csrf_token": token, "submitted_on": on, "channel": "fax", "build_id": str(build_id)})
    assert sent.status_code == 302, sent.get_data(as_text=True)


def test_the_835_that_started_the_request_uploaded_again_on_the_submission_day_decides_nothing(app, staff, clock):
    day = clock.now.date()
    today_file = _file(_retro(), _eligibility(), produced=day.strftime("%Y%m%d"))
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (today_file, "ortiz-remit.835"))
    item_id, pk = _start_and_save(app, staff, token, denial_date=day.isoformat())
    _submitted(app, staff, token, pk, clock, day.isoformat())     # the request went out the day the 835 came
    html = _upload(staff, token, (today_file, "ortiz-remit.835")).get_data(as_text=True)
    assert _rows(app, Determination) == [] and "decision was recorded" not in html
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(CaseRecord, pk).status != "denied"
    assert {i.id: i for i in _rows(app, WorklistItem)}[item_id].state == "open"


def test_another_patients_claim_with_the_same_number_decides_nothing(app, staff, clock):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item_id, pk = _start_and_save(app, staff, token)
    _submitted(app, staff, token, pk, clock, "2026-09-25")
    clock.advance(days=12)
    sign_in(staff, "sam")
    token = page_token(staff, "/worklist/")
    # Same claim number, codes and dates, another member: another claim, on an item of its own.
    other = Claim(claim_number="2026091400123", status="1", charge="180.00", paid="160.00",
                  payer_claim_number="PCN-OTHER-9", first_name="ZED", last_name="CHEN", member_id="M-LATE-55",
                  lines=[Line(paid="160.00", cas=[("CO", "45", "20.00")], remarks=())])
    _upload(staff, token, (_file(other, produced="20261005"), "chen-remit.835"))
    same_key = Claim(claim_number="2026091400123", first_name="ZED", last_name="CHEN", member_id="M-LATE-55",
                     lines=[Line(date="20260914")])
    _upload(staff, token, (_file(same_key), "chen-remit.835"))
    assert _rows(app, Determination) == []
    items = {i.id: i for i in _rows(app, WorklistItem)}
    assert len(items) == 4  # the original two, the other patient's paid claim and denied claim
    assert (items[item_id].case_pk, items[item_id].state, json.loads(items[item_id].claim)["member_id"]) == (
        pk, "open", "XJH123456789")
    _no_phi_in_audit(app)


def test_a_case_whose_member_id_differs_from_the_claim_is_not_decided_and_the_skip_is_audited(app, staff, clock):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item_id, pk = _start_and_save(app, staff, token)
    _submitted(app, staff, token, pk, clock, "2026-09-25")
    with app.extensions["packetizer"].registry.session() as session:  # staff corrected the case's member id since
        session.get(CaseRecord, pk).member_id = "M-LATE-55"
        session.commit()
    clock.advance(days=12)
    sign_in(staff, "sam")
    token = page_token(staff, "/worklist/")
    html = _upload(staff, token, (_file(_paid(), produced="20261005"), "later.835")).get_data(as_text=True)
    assert _rows(app, Determination) == []
    assert "was not recorded: the remittance&#39;s claim is for another member id than the case&#39;s." in html
    [skipped] = _audit(app, "era.determination_skipped")
    detail = json.loads(skipped.detail)
    assert (skipped.object_type, detail["case_pk"], detail["reason"], detail["worklist_item"]) == (
        "case", pk, "member_id_differs", item_id)
    assert _audit(app, "era.determination") == []
    _no_phi_in_audit(app)


def test_odd_worklist_and_filter_arguments_are_404_or_ignored_never_500(app, staff):
    token = page_token(staff, "/worklist/")
    assert _upload(staff, token, (FIRST, "ortiz-remit.835")).status_code == 200
    for raw in ("%C2%B2", "9" * 30, "-1", "abc"):   # a superscript two is a digit to Python, not to a database
        assert staff.get(f"/cases/new?worklist={raw}").status_code == 404, raw
    for query in ("?item_id=1", "?_method=GET", "?_anchor=x", "?_external=1&_scheme=javascript"):
        page = staff.get("/worklist/" + query)
        assert page.status_code == 200, query
        html = page.get_data(as_text=True)
        assert 'action="/worklist/upload"' in html and "javascript" not in html and "item_id=" not in html
    kept = staff.get("/worklist/?triage=retro&state=all&item_id=1").get_data(as_text=True)
    assert re.search(r'action="/worklist/\d+/done\?(triage=retro&amp;state=all|state=all&amp;triage=retro)"', kept)
    stored = _upload_to(staff, token, "/worklist/upload?item_id=1", SECOND)
    assert stored.status_code == 200 and "CLM-LATE-2" in stored.get_data(as_text=True)


def _upload_to(client, token, url, data: bytes):
    return client.post(url, data={"csrf_token": token, "files": [(io.BytesIO(data), "x.835")]},
                       content_type="multipart/form-data")


def test_only_an_open_missing_authorization_item_prefills_the_case_form_and_the_view_is_audited(app, staff):
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    items = {i.triage: i for i in _rows(app, WorklistItem)}
    refused = staff.get(f"/cases/new?worklist={items['eligibility'].id}")
    assert refused.status_code == 302 and refused.headers["Location"] == "/worklist/"
    assert "cannot start a retro request" in staff.get("/worklist/").get_data(as_text=True)
    assert _audit(app, "worklist.prefill") == []
    staff.post(f"/worklist/{items['retro'].id}/done", data={"csrf_token": token, "done": "1"})
    assert staff.get(f"/cases/new?worklist={items['retro'].id}").status_code == 302  # done: not startable
    staff.post(f"/worklist/{items['retro'].id}/done", data={"csrf_token": token, "done": "0"})
    form = staff.get(f"/cases/new?worklist={items['retro'].id}")
    assert form.status_code == 200 and 'id="from-worklist"' in form.get_data(as_text=True)
    [viewed] = _audit(app, "worklist.prefill")
    assert viewed.object_id == str(items["retro"].id) and json.loads(viewed.detail) == {}
    _no_phi_in_audit(app)


def test_a_double_clicked_save_of_the_prefilled_form_tells_the_case_id_in_use(on_both, monkeypatch):
    """Two saves of the same pre-filled form at once: the second is told its case id is taken, not a 500."""
    import threading

    import packetizer.web.cases as cases_view

    app, staff, _ = on_both
    token = page_token(staff, "/worklist/")
    _upload(staff, token, (FIRST, "ortiz-remit.835"))
    item = next(i for i in _rows(app, WorklistItem) if i.triage == "retro")
    where = f"/cases/new?worklist={item.id}"
    case_id = re.search(r'name="case_id" value="(ERA-[0-9A-F]{16})"', staff.get(where).get_data(as_text=True))[1]
    data = case_form(case_id=case_id, **{
        "member.first_name": "ANA", "member.last_name": "ORTIZ", "member.ssn": None,
        "services[0].code": "97110", "services[0].units": "2",
        **{f"services[1].{k}": None for k in ("date_of_service", "place_of_service", "code", "modifiers", "units",
                                              "diagnosis_codes")}})
    second_checked, first_saved, answers = threading.Event(), threading.Event(), {}
    real_add_case = cases_view.add_case

    def second_waits_for_the_first(*args, **kwargs):   # the second click passed the checks before the first saved
        if threading.current_thread().name == "second":
            second_checked.set()
            first_saved.wait(20)
        return real_add_case(*args, **kwargs)

    monkeypatch.setattr(cases_view, "add_case", second_waits_for_the_first)
    second_client = app.test_client()
    sign_in(second_client, "sam")
    second_token = page_token(second_client, "/worklist/")

    def save(client, tok, name):
        answers[name] = client.post(where, data={**data, "csrf_token": tok, "action": "save"})

    second = threading.Thread(target=save, args=(second_client, second_token, "second"), name="second")
    second.start()
    assert second_checked.wait(20)
    save(staff, token, "first")
    first_saved.set()
    second.join(30)
    assert answers["first"].status_code == 302
    assert answers["second"].status_code == 422
    assert f"{case_id} is already used by another case" in answers["second"].get_data(as_text=True)
    with app.extensions["packetizer"].registry.session() as session:
        assert [c.case_id for c in session.scalars(select(CaseRecord))] == [case_id]


def test_a_file_over_the_limit_is_refused_in_mb_and_a_huge_amount_is_one_claims_error(app, staff):
    from packetizer import limits

    token = page_token(staff, "/worklist/")
    big = FIRST + b"\n" * (limits.MAX_REMITTANCE_BYTES + 1 - len(FIRST))
    html = _upload(staff, token, (big, "big.835"), (FIRST, "ortiz-remit.835")).get_data(as_text=True)
    assert "It is larger than 4 MB, the largest remittance file accepted. Nothing was stored." in html
    huge = _file(_retro(), Claim(claim_number="CLM-HUGE-1", lines=[Line(charge="9" * 30)]))
    answer = _upload(staff, token, (huge, "huge.835"))
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "(segment 23) was left out: SVC02 (line charge) has more than 18 digits" in html
    assert len(_rows(app, EraUpload)) == 2

"""This test ensures that a determination is stored per service line on SQLite and PostgreSQL: one decision for
every line or the units approved on each, the case-level value derived from the lines, refusals that name the
service line, corrections that give the new determination lines of its own, and migration 0007 up and down."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
from sqlalchemy import inspect, select, text

from packetizer.casebook.audit import Actor
from packetizer.casebook.tracking import (BilledLine, case_corrections, case_status, correct_determination,
                                          derived_determination, follow_up_due, line_outcome, record_determination)
from packetizer.errors import TrackingError
from packetizer.registry import (AuditEntry, Build, CaseRecord, DeterminationLine, Submission,
                                 current_revision, open_registry)

from browser.registry_support import NOW, insert_case_row, migrate

TODAY = dt.date(2026, 10, 1)
SAM = Actor("sam", "staff", "127.0.0.1")
LINES = [BilledLine("97162", 1.0), BilledLine("97110", 4.0), BilledLine("97140", 2.0)]


def _submitted(session, case_id="RA-L-1") -> Submission:
    case = CaseRecord(case_id=case_id, payer_id="demo-commercial", folder=secrets.token_hex(8),
                      first_date_of_service=dt.date(2026, 9, 14), ready=True, late_reason_category="emergency",
                      service_codes="97110 97140 97162", status="ready", created_at=NOW, created_by="sam",
                      updated_at=NOW, updated_by="sam")
    build = Build(created_at=NOW - dt.timedelta(days=30), built_by="web:sam", folder="x", file_name="p.pdf",
                  report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
    case.builds.append(build)
    sub = Submission(build=build, submitted_on=dt.date(2026, 9, 20), channel="fax",
                     follow_up_due=follow_up_due(dt.date(2026, 9, 20), 10), recorded_at=NOW, recorded_by="sam")
    case.submissions.append(sub)
    session.add(case)
    session.flush()
    return sub


def _record(session, sub, determination, units=None):
    return record_determination(session, sub, determination=determination, decided_on=dt.date(2026, 9, 28),
                                reason=None, actor=SAM, now=NOW, today=TODAY, billed=LINES, approved_units=units)


def test_line_outcomes_and_the_derived_case_value():
    assert line_outcome(0, 4) == "denied" and line_outcome(4, 4) == "approved"
    assert line_outcome(2.5, 4) == "partially_approved"
    assert derived_determination(["approved", "approved"]) == "approved"
    assert derived_determination(["denied", "denied"]) == "denied"
    assert derived_determination(["approved", "denied"]) == "partially_approved"
    assert derived_determination(["partially_approved"]) == "partially_approved"


def test_one_decision_for_every_line_is_stored_per_line(registry):
    with registry.session() as session:
        sub = _submitted(session)
        decided = _record(session, sub, "approved")
        session.commit()
        stored = session.scalars(select(DeterminationLine).order_by(DeterminationLine.line_no)).all()
        assert [(l.line_no, l.code, l.units_billed, l.units_approved, l.outcome) for l in stored] == [
            (1, "97162", 1.0, 1.0, "approved"), (2, "97110", 4.0, 4.0, "approved"),
            (3, "97140", 2.0, 2.0, "approved")]
        assert decided.determination == "approved" and case_status(sub.case) == "approved"
        other = _submitted(session, "RA-L-2")
        assert _record(session, other, "denied").determination == "denied"
        assert {l.units_approved for l in other.current_determination.lines} == {0.0}


def test_a_split_decision_is_derived_from_the_units_per_line(registry):
    with registry.session() as session:
        sub = _submitted(session)
        decided = _record(session, sub, "partially_approved", [1, 2, 0])
        session.commit()
        assert decided.determination == "partially_approved" and sub.case.status == "partially_approved"
        assert [l.outcome for l in decided.lines] == ["approved", "partially_approved", "denied"]
        assert decided.lines_summary == ("line 1 97162: 1 of 1 units approved; line 2 97110: 2 of 4 units approved; "
                                         "line 3 97140: 0 of 2 units approved")
        # Units typed line by line that approve everything make the case approved: the lines decide.
        whole = _submitted(session, "RA-L-2")
        assert _record(session, whole, "partially_approved", [1, 4, 2]).determination == "approved"
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "determination.record")).all()
        assert [json.loads(a.detail)["lines"] for a in audit] == [3, 3]


@pytest.mark.parametrize("units, told", [
    ([1, 5, 0], "Service line 2 (97110): units approved must be between 0 and 4, the units billed"),
    ([1, 2, -1], "Service line 3 (97140): units approved must be between 0 and 2, the units billed"),
    ([1, None, 0], "Service line 2 (97110): enter the units the payer approved (0 if it denied the line)"),
    (None, 'the payer split the decision: choose "The payer decided line by line"'),
])
def test_units_outside_what_was_billed_are_refused_naming_the_line(registry, units, told):
    with registry.session() as session:
        sub = _submitted(session)
        with pytest.raises(TrackingError) as refused:
            _record(session, sub, "partially_approved", units)
        assert refused.value.detail.startswith(told)
        session.rollback()
        assert session.scalars(select(DeterminationLine)).all() == []


def test_a_correction_gets_lines_of_its_own_and_the_old_lines_stay(registry):
    with registry.session() as session:
        sub = _submitted(session)
        first = _record(session, sub, "approved")
        session.commit()
        fixed = correct_determination(session, first, outcome="partially_approved", decided_on=dt.date(2026, 9, 28),
                                      reason=None, correction_reason="the letter reduced 97110", actor=SAM, now=NOW,
                                      today=TODAY, billed=LINES, approved_units=[1, 3, 2])
        session.commit()
        assert sub.current_determination is fixed and case_status(sub.case) == "partially_approved"
        assert [l.units_approved for l in first.lines] == [1.0, 4.0, 2.0]
        assert [l.units_approved for l in fixed.lines] == [1.0, 3.0, 2.0]
        (correction,) = case_corrections(sub.case)
        changed = {c.label: (c.before, c.after) for c in correction.changes}
        assert changed["Determination"] == ("Approved", "Partially approved")
        assert "line 2 97110: 4 of 4" in changed["Per service line"][0]
        assert "line 2 97110: 3 of 4" in changed["Per service line"][1]
        with pytest.raises(TrackingError, match="Service line 1"):
            correct_determination(session, fixed, outcome="partially_approved", decided_on=dt.date(2026, 9, 28),
                                  reason=None, correction_reason="again", actor=SAM, now=NOW, today=TODAY,
                                  billed=LINES, approved_units=[2, 3, 2])


def test_a_decision_without_lines_stays_case_level(registry):
    """A remittance's decision knows no case lines: it is stored as one value, as before."""
    with registry.session() as session:
        sub = _submitted(session)
        decided = record_determination(session, sub, determination="partially_approved",
                                       decided_on=dt.date(2026, 9, 28), reason=None, actor=SAM, now=NOW, today=TODAY)
        assert decided.determination == "partially_approved" and decided.lines == []


def test_0007_adds_the_line_table_and_case_columns_and_takes_them_away(db_url):
    reg = open_registry(db_url, migrate=False)
    migrate(reg.engine, "0006")
    with reg.engine.begin() as conn:
        insert_case_row(conn, "RA-M-7", "f7")
    migrate(reg.engine, "0007")
    assert current_revision(reg.engine) == "0007"
    inspector = inspect(reg.engine)
    assert {"determination_id", "line_no", "code", "units_billed", "units_approved", "outcome"} <= {
        c["name"] for c in inspector.get_columns("determination_lines")}
    assert {"facility_name", "rendering_provider"} <= {c["name"] for c in inspector.get_columns("cases")}
    with reg.session() as session:
        case = session.get(CaseRecord, 1)
        assert case.facility_name is None and case.case_id == "RA-M-7"
    migrate(reg.engine, "0006", down=True)
    inspector = inspect(reg.engine)
    assert "determination_lines" not in inspector.get_table_names()
    assert "facility_name" not in {c["name"] for c in inspector.get_columns("cases")}
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT case_id FROM cases")).all() == [("RA-M-7",)]
    migrate(reg.engine, "head")
    reg.close()


def test_the_case_page_records_a_split_decision_and_names_the_line_it_refuses(app, staff):
    """Through the web: the per-line inputs sit under the determination; a wrong line is told by its number."""
    from browser.webapp_support import case_form, page_token

    token = page_token(staff, "/cases/new")
    response = staff.post("/cases/new", data={**case_form(case_id="RA-WEB-L1"), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    with app.extensions["packetizer"].registry.session() as session:
        sub = _submitted_on_case(session, pk)
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert 'name="line_units-1"' in page and 'name="line_units-2"' in page and "The payer decided line by line" in page
    form = {"csrf_token": token, "determination": "partially_approved", "determination_on": "2026-09-24"}
    staff.post(f"/tracking/submissions/{sub}/determination", data={**form, "line_units-1": "1", "line_units-2": "5"})
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert "Service line 2 (97110): units approved must be between 0 and 3, the units billed" in page
    staff.post(f"/tracking/submissions/{sub}/determination", data={**form, "line_units-1": "1", "line_units-2": "x"})
    assert "Service line 2 (97110): enter the units approved as a number" in staff.get(f"/cases/{pk}").get_data(
        as_text=True)
    staff.post(f"/tracking/submissions/{sub}/determination", data={**form, "line_units-1": "0", "line_units-2": "3"})
    page = staff.get(f"/cases/{pk}").get_data(as_text=True)
    assert "Service line 1 (97162): 0 of 1 units approved" in page
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(CaseRecord, pk).status == "partially_approved"
        assert session.get(CaseRecord, pk).rendering_provider  # copied from the case file for the outcome charts


def _submitted_on_case(session, pk: int) -> int:
    case = session.get(CaseRecord, pk)
    build = Build(created_at=NOW - dt.timedelta(days=30), built_by="web:sam", folder="x", file_name="p.pdf",
                  report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
    case.builds.append(build)
    sub = Submission(build=build, submitted_on=dt.date(2026, 9, 22), channel="fax",
                     follow_up_due=dt.date(2026, 10, 2), recorded_at=NOW, recorded_by="sam")
    case.submissions.append(sub)
    session.commit()
    return sub.id


def test_a_remittance_gives_lines_only_when_it_tells_them_exactly():
    from packetizer.casebook.worklist import _remittance_lines

    def line(code, units, paid, codes=()):
        return {"code": code, "units": units, "charge": "100.00", "paid": paid, "denial_codes": list(codes)}

    billed, approved = _remittance_lines({"lines": [line("97110", 2, "0.00", ["CO-197"]),
                                                    line("97140", 1, "80.00", ["CO-45"])]}, "partially_approved")
    assert [(b.code, b.units) for b in billed] == [("97110", 2.0), ("97140", 1.0)] and approved == [0.0, 1.0]
    assert _remittance_lines({"lines": [line("97110", 2, "0.00")]}, "denied")[1] == [0.0]
    # Paid in part for another reason: how many units were approved is not told, so the decision stays case-level.
    assert _remittance_lines({"lines": [line("97110", 2, "40.00", ["CO-151"])]}, "partially_approved") == (None, None)
    assert _remittance_lines({"lines": []}, "approved") == (None, None)


def test_a_determination_on_a_case_file_that_no_longer_reads_is_refused_plainly(app, staff):
    from browser.webapp_support import case_form, page_token

    token = page_token(staff, "/cases/new")
    response = staff.post("/cases/new", data={**case_form(case_id="RA-WEB-L2"), "csrf_token": token,
                                              "action": "save"})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    services = app.extensions["packetizer"]
    with services.registry.session() as session:
        sub = _submitted_on_case(session, pk)
        folder = session.get(CaseRecord, pk).folder
    (services.cases_dir / folder / "case.json").write_text("{ not json", encoding="utf-8")
    response = staff.post(f"/tracking/submissions/{sub}/determination", data={
        "csrf_token": token, "determination": "approved", "determination_on": "2026-09-24"})
    assert response.status_code == 302
    with staff.session_transaction() as flask_session:
        flashed = [message for _category, message in flask_session.get("_flashes", [])]
    assert flashed[-1:] == ["The case file cannot be read, so the service lines are unknown: open the case to see why, "
                       "then record the determination."]
    with services.registry.session() as session:
        assert session.get(Submission, sub).current_determination is None

"""This test ensures that case status, the follow-up queue and outcome patterns follow the recorded events."""

from __future__ import annotations

import datetime as dt
import secrets

from packetizer.casebook.outcomes import OutcomeRow, outcome_patterns
from packetizer.casebook.tracking import DEFAULT_FOLLOW_UP_DAYS, case_status, follow_up_due, follow_up_queue
from packetizer.registry import Build, CaseRecord, InfoRequest, Submission

from browser.registry_support import NOW

TODAY = dt.date(2026, 10, 1)


def _case(session, case_id: str, *, payer="demo-commercial", codes="97110", reason="payer_portal_outage",
          deadline=None, ready=True) -> CaseRecord:
    row = CaseRecord(case_id=case_id, payer_id=payer, folder=secrets.token_hex(8),
                     first_date_of_service=dt.date(2026, 9, 14), deadline=deadline, ready=ready,
                     late_reason_category=reason, service_codes=codes, status="ready",
                     created_at=NOW, created_by="sam", updated_at=NOW, updated_by="sam")
    session.add(row)
    session.flush()
    return row


def _build(session, case: CaseRecord) -> Build:
    row = Build(case_pk=case.id, created_at=NOW, built_by="web:sam", folder="x/y", file_name="p.pdf",
                report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
    session.add(row)
    case.builds.append(row)
    session.flush()
    return row


def _submit(session, case: CaseRecord, on: dt.date, *, follow_up_days=10, determination=None, decided=None):
    row = Submission(case_pk=case.id, build_id=case.builds[-1].id, submitted_on=on, channel="fax",
                     reference="REF-1", follow_up_due=follow_up_due(on, follow_up_days), recorded_at=NOW,
                     recorded_by="sam", determination=determination, determination_on=decided)
    session.add(row)
    case.submissions.append(row)
    session.flush()
    return row


def test_follow_up_due_uses_the_payer_interval_or_the_default():
    assert follow_up_due(dt.date(2026, 9, 20), 10) == dt.date(2026, 9, 30)
    assert follow_up_due(dt.date(2026, 9, 20), None) == dt.date(2026, 9, 20) + dt.timedelta(days=DEFAULT_FOLLOW_UP_DAYS)


def test_status_moves_from_ready_to_decided(registry):
    with registry.session() as session:
        case = _case(session, "RA-1")
        assert case_status(case) == "ready"
        case.ready = False
        assert case_status(case) == "blocked"
        _build(session, case)
        assert case_status(case) == "built"
        sub = _submit(session, case, dt.date(2026, 9, 20))
        assert case_status(case) == "submitted"
        request = InfoRequest(submission_id=sub.id, requested_on=dt.date(2026, 9, 28), recorded_at=NOW,
                              recorded_by="sam")
        sub.info_requests.append(request)
        assert case_status(case) == "info_requested"
        request.responded_on = dt.date(2026, 9, 29)
        assert case_status(case) == "submitted"
        sub.determination, sub.determination_on = "partially_approved", dt.date(2026, 10, 5)
        assert case_status(case) == "partially_approved"


def test_queue_lists_due_and_overdue_items_soonest_first(registry):
    with registry.session() as session:
        overdue = _case(session, "RA-OVERDUE")
        _build(session, overdue)
        _submit(session, overdue, dt.date(2026, 9, 15))                     # follow up 09-25: 6 days late
        soon = _case(session, "RA-SOON")
        _build(session, soon)
        _submit(session, soon, dt.date(2026, 9, 25))                        # follow up 10-05: in 4 days
        later = _case(session, "RA-LATER")
        _build(session, later)
        _submit(session, later, dt.date(2026, 9, 30))                       # follow up 10-10: outside a week
        decided = _case(session, "RA-DECIDED")
        _build(session, decided)
        _submit(session, decided, dt.date(2026, 9, 1), determination="approved", decided=dt.date(2026, 9, 20))
        asked = _case(session, "RA-ASKED")
        _build(session, asked)
        sub = _submit(session, asked, dt.date(2026, 9, 29))
        sub.info_requests.append(InfoRequest(submission_id=sub.id, requested_on=dt.date(2026, 9, 30),
                                             due_on=dt.date(2026, 10, 3), recorded_at=NOW, recorded_by="sam"))
        _case(session, "RA-UNSENT", deadline=dt.date(2026, 10, 2))         # not submitted, deadline tomorrow
        _case(session, "RA-FAR", deadline=dt.date(2026, 12, 1))
    with registry.session() as session:
        items = follow_up_queue(session, TODAY)
    assert [(i.case_id, i.what, i.days_left) for i in items] == [
        ("RA-OVERDUE", "follow_up", -6),
        ("RA-UNSENT", "submit_by", 1),
        ("RA-ASKED", "info_request", 2),
        ("RA-SOON", "follow_up", 4),
    ]
    assert items[0].overdue and not items[1].overdue
    assert items[0].reference == "REF-1"


def test_outcomes_count_latest_determinations_by_payer_code_and_reason(registry):
    with registry.session() as session:
        plan = [
            ("RA-A", "demo-commercial", "97110 97140", "payer_portal_outage", "approved", 10),
            ("RA-B", "demo-commercial", "97110", "emergency", "denied", 30),
            ("RA-C", "priority-health", "97162", "emergency", "partially_approved", 5),
            ("RA-D", "priority-health", "97110", "payer_portal_outage", None, None),
        ]
        for case_id, payer, codes, reason, outcome, days in plan:
            case = _case(session, case_id, payer=payer, codes=codes, reason=reason)
            _build(session, case)
            on = dt.date(2026, 9, 1)
            _submit(session, case, on, determination=outcome,
                    decided=on + dt.timedelta(days=days) if days is not None else None)
    with registry.session() as session:
        outcomes = outcome_patterns(session)
    assert outcomes.pending == 1
    assert outcomes.decision_days == (5, 10, 30)
    assert outcomes.median_decision_days == 10
    by_payer = {r.label: r for r in outcomes.by_payer}
    assert by_payer["demo-commercial"] == OutcomeRow("demo-commercial", approved=1, denied=1)
    assert by_payer["priority-health"].approval_rate == 0.5
    by_code = {r.label: (r.approved, r.partially_approved, r.denied) for r in outcomes.by_service}
    assert by_code == {"97110": (1, 0, 1), "97140": (1, 0, 0), "97162": (0, 1, 0)}
    by_reason = {r.label: r.total for r in outcomes.by_late_reason}
    assert by_reason == {"emergency": 2, "payer_portal_outage": 1}

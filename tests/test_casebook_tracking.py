"""This test ensures that case status, the follow-up queue and outcome patterns follow the recorded events, that
no impossible record is stored, and that a correction supersedes a record and moves the case with it."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from packetizer.casebook.audit import Actor
from packetizer.casebook.outcomes import OutcomeRow, outcome_patterns
from packetizer.casebook.tracking import (DEFAULT_FOLLOW_UP_DAYS, answer_info_request, case_corrections, case_status,
                                          correct_determination, correct_info_request, correct_submission,
                                          follow_up_due, follow_up_queue, record_determination, record_info_request,
                                          record_submission)
from packetizer.errors import ErrorCode, TrackingError
from packetizer.registry import AuditEntry, Build, CaseRecord, Determination, InfoRequest, Submission

from browser.registry_support import NOW

TODAY = dt.date(2026, 10, 1)
BUILT = dt.datetime(2026, 9, 10, 12, 0, tzinfo=dt.timezone.utc)
SAM = Actor("sam", "staff", "127.0.0.1")
KIM = Actor("kim", "staff", "127.0.0.1")


def _case(session, case_id: str, *, payer="demo-commercial", codes="97110", reason="payer_portal_outage",
          deadline=None, ready=True) -> CaseRecord:
    row = CaseRecord(case_id=case_id, payer_id=payer, folder=secrets.token_hex(8),
                     first_date_of_service=dt.date(2026, 9, 14), deadline=deadline, ready=ready,
                     late_reason_category=reason, service_codes=codes, status="ready",
                     created_at=NOW, created_by="sam", updated_at=NOW, updated_by="sam")
    session.add(row)
    session.flush()
    return row


def _build(session, case: CaseRecord, created_at: dt.datetime = BUILT) -> Build:
    row = Build(case_pk=case.id, created_at=created_at, built_by="web:sam", folder="x/y", file_name="p.pdf",
                report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=1)
    session.add(row)
    case.builds.append(row)
    session.flush()
    return row


def _submit(session, case: CaseRecord, on: dt.date, *, follow_up_days=10, determination=None, decided=None):
    """A submission row as stored, unchecked (as records made before dates were checked may be)."""
    row = Submission(case_pk=case.id, build_id=case.builds[-1].id, submitted_on=on, channel="fax",
                     reference="REF-1", follow_up_due=follow_up_due(on, follow_up_days), recorded_at=NOW,
                     recorded_by="sam")
    session.add(row)
    case.submissions.append(row)
    session.flush()
    if determination:
        row.determinations.append(Determination(determination=determination, decided_on=decided, recorded_at=NOW,
                                                recorded_by="sam"))
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
        sub.determinations.append(Determination(determination="partially_approved", decided_on=dt.date(2026, 10, 5),
                                                recorded_at=NOW, recorded_by="sam"))
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
    assert outcomes.requests.decision_days == (5, 10, 30)
    assert outcomes.requests.median_decision_days == 10
    by_payer = {r.label: r for r in outcomes.requests.by_payer}
    assert by_payer["demo-commercial"] == OutcomeRow("demo-commercial", approved=1, denied=1)
    assert by_payer["priority-health"].approval_rate == 0.5
    by_code = {r.label: (r.approved, r.partially_approved, r.denied) for r in outcomes.requests.by_service}
    assert by_code == {"97110": (1, 0, 1), "97140": (1, 0, 0), "97162": (0, 1, 0)}
    by_reason = {r.label: r.total for r in outcomes.requests.by_late_reason}
    assert by_reason == {"emergency": 2, "payer_portal_outage": 1}


# -- No impossible record is stored -----------------------------------------------------------------------------------

def _submitted_case(session, case_id: str, on: dt.date = dt.date(2026, 9, 20)) -> Submission:
    case = _case(session, case_id)
    build = _build(session, case)
    return record_submission(session, case, build_id=build.id, submitted_on=on, channel="fax", reference="REF-1",
                             follow_up_days=10, actor=SAM, now=NOW, today=TODAY)


def _refused(call, field: str | None, detail: str) -> TrackingError:
    with pytest.raises(TrackingError) as info:
        call()
    assert (info.value.field, info.value.detail, info.value.code) == (field, detail, ErrorCode.BAD_TRACKING)
    return info.value


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _actions(session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_a_submission_dated_before_its_build_or_after_today_is_refused(registry):
    with registry.session() as session:
        case = _case(session, "RA-S-DATES")
        build = _build(session, case)
        other = _build(session, _case(session, "RA-S-OTHER"))

        def submit(on, build_id=build.id):
            return lambda: record_submission(session, case, build_id=build_id, submitted_on=on, channel="fax",
                                             reference=None, follow_up_days=10, actor=SAM, now=NOW, today=TODAY)

        _refused(submit(dt.date(2026, 9, 9)), "submitted_on",
                 "cannot be earlier than the day that packet was built (2026-09-10)")
        _refused(submit(dt.date(2031, 1, 1)), "submitted_on", "cannot be in the future (today is 2026-10-01)")
        _refused(submit(dt.date(2026, 10, 2)), "submitted_on", "cannot be in the future (today is 2026-10-01)")
        _refused(submit(dt.date(2026, 9, 20), other.id), "build_id", "choose a packet built for this case")
        assert _count(session, Submission) == 0 and _actions(session) == []
        assert case.status == "ready"
        submit(dt.date(2026, 9, 10))()  # the day it was built, and today, are both fine
        submit(TODAY)()
        assert _count(session, Submission) == 2


def test_a_request_for_information_dated_before_its_submission_or_after_today_is_refused(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-R-DATES")

        def ask(on, due=None):
            return lambda: record_info_request(session, sub, requested_on=on, due_on=due, note=None, actor=SAM,
                                               now=NOW, today=TODAY)

        _refused(ask(dt.date(2026, 9, 19)), "requested_on", "cannot be earlier than the submission (2026-09-20)")
        _refused(ask(dt.date(2026, 10, 2)), "requested_on", "cannot be in the future (today is 2026-10-01)")
        _refused(ask(dt.date(2026, 9, 25), dt.date(2026, 9, 24)), "due_on",
                 "cannot be earlier than the request (2026-09-25)")
        assert _count(session, InfoRequest) == 0
        ask(dt.date(2026, 9, 25), dt.date(2026, 10, 9))()  # due in the future is what a due date is
        assert sub.case.status == "info_requested"


def test_an_answer_dated_before_its_request_or_after_today_or_twice_is_refused(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-A-DATES")
        request = record_info_request(session, sub, requested_on=dt.date(2026, 9, 25), due_on=None, note=None,
                                      actor=SAM, now=NOW, today=TODAY)

        def answer(on):
            return lambda: answer_info_request(session, request, responded_on=on, actor=SAM, now=NOW, today=TODAY)

        _refused(answer(dt.date(2026, 9, 24)), "responded_on",
                 "cannot be earlier than the request it answers (2026-09-25)")
        _refused(answer(dt.date(2026, 10, 2)), "responded_on", "cannot be in the future (today is 2026-10-01)")
        assert request.responded_on is None and sub.case.status == "info_requested"
        answer(dt.date(2026, 9, 26))()
        _refused(answer(dt.date(2026, 9, 27)), "responded_on",
                 "the answer to this request is already recorded; correct it instead")
        assert request.responded_on == dt.date(2026, 9, 26) and sub.case.status == "submitted"


def test_a_determination_dated_before_its_submission_or_after_today_or_a_second_one_is_refused(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-D-DATES")

        def decide(on, outcome="approved"):
            return lambda: record_determination(session, sub, determination=outcome, decided_on=on, reason=None,
                                                actor=SAM, now=NOW, today=TODAY)

        _refused(decide(dt.date(2026, 9, 19)), "determination_on",
                 "cannot be earlier than the submission (2026-09-20)")
        _refused(decide(dt.date(2031, 5, 1)), "determination_on", "cannot be in the future (today is 2026-10-01)")
        _refused(decide(dt.date(2026, 9, 28), "maybe"), "determination",
                 "choose approved, partially approved or denied")
        assert _count(session, Determination) == 0
        decide(dt.date(2026, 9, 28))()
        _refused(decide(dt.date(2026, 9, 29), "denied"), "determination",
                 "a determination is already recorded for this submission; correct it instead")
        assert [(d.determination, d.decided_on) for d in sub.determinations] == [("approved", dt.date(2026, 9, 28))]
        assert sub.case.status == "approved"
        assert _actions(session).count("determination.record") == 1


def test_the_database_holds_one_current_determination_per_submission(registry):
    """Two requests racing past the check still cannot store two current determinations."""
    with registry.session() as session:
        sub = _submitted_case(session, "RA-D-RACE")
        record_determination(session, sub, determination="approved", decided_on=dt.date(2026, 9, 28), reason=None,
                             actor=SAM, now=NOW, today=TODAY)
        sub_id = sub.id
    with pytest.raises(IntegrityError):
        with registry.session() as session:
            session.add(Determination(submission_id=sub_id, determination="denied", decided_on=dt.date(2026, 9, 29),
                                      recorded_at=NOW, recorded_by="kim"))


def test_a_determination_stored_by_a_racing_request_refuses_the_second_as_a_tracking_error(registry):
    """A double click: both requests read the submission undecided; the second to store is refused in words."""
    with registry.session() as session:
        sub_id = _submitted_case(session, "RA-D-CLICK").id
    with registry.sessions() as first:
        sub = first.get(Submission, sub_id)
        assert sub.current_determination is None  # read before the other request stored its determination
        first.commit()
        with registry.session() as other:
            record_determination(other, other.get(Submission, sub_id), determination="approved",
                                 decided_on=dt.date(2026, 9, 28), reason=None, actor=KIM, now=NOW, today=TODAY)
        _refused(lambda: record_determination(first, sub, determination="denied", decided_on=dt.date(2026, 9, 29),
                                              reason=None, actor=SAM, now=NOW, today=TODAY),
                 "determination", "a determination is already recorded for this submission; correct it instead")
        first.rollback()
    with registry.session() as session:
        assert [d.determination for d in session.scalars(select(Determination))] == ["approved"]


# -- Corrections ------------------------------------------------------------------------------------------------------

def test_every_correction_needs_a_reason_and_stores_nothing_without_one(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-REASON")
        request = record_info_request(session, sub, requested_on=dt.date(2026, 9, 25), due_on=None, note=None,
                                      actor=SAM, now=NOW, today=TODAY)
        decided = record_determination(session, sub, determination="approved", decided_on=dt.date(2026, 9, 28),
                                       reason=None, actor=SAM, now=NOW, today=TODAY)
        before = (_count(session, Submission), _count(session, InfoRequest), _count(session, Determination),
                  len(_actions(session)))
        for reason in (None, "", "   "):
            _refused(lambda: correct_submission(
                session, sub, build_id=sub.build_id, submitted_on=dt.date(2026, 9, 21), channel="fax",
                reference=None, follow_up_days=10, correction_reason=reason, actor=KIM, now=NOW, today=TODAY),
                "correction_reason", "say why the record is corrected")
            _refused(lambda: correct_info_request(
                session, request, requested_on=dt.date(2026, 9, 26), due_on=None, note=None, responded_on=None,
                correction_reason=reason, actor=KIM, now=NOW, today=TODAY),
                "correction_reason", "say why the record is corrected")
            _refused(lambda: correct_determination(
                session, decided, outcome="denied", decided_on=dt.date(2026, 9, 28), reason=None,
                correction_reason=reason, actor=KIM, now=NOW, today=TODAY),
                "correction_reason", "say why the record is corrected")
        after = (_count(session, Submission), _count(session, InfoRequest), _count(session, Determination),
                 len(_actions(session)))
        assert after == before
        assert sub.current and request.current and decided.current


def test_a_corrected_submission_date_moves_the_case_in_the_queue(registry):
    """A mistyped year left the case "overdue by 10185 days"; its correction puts it back where it belongs."""
    later = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.timezone.utc)
    with registry.session() as session:
        case = _case(session, "RA-C-QUEUE")
        _build(session, case)
        wrong = _submit(session, case, dt.date(1998, 11, 2))  # recorded before dates were checked
    with registry.session() as session:
        items = follow_up_queue(session, TODAY)
        assert [(i.case_id, i.days_left) for i in items] == [("RA-C-QUEUE", -10185)]
        wrong = session.get(Submission, wrong.id)
        fixed = correct_submission(session, wrong, build_id=wrong.build_id, submitted_on=dt.date(2026, 9, 26),
                                   channel="portal", reference="PORTAL-9", follow_up_days=10,
                                   correction_reason="typed the year wrong", actor=KIM, now=later, today=TODAY)
        assert (fixed.corrects_id, fixed.follow_up_due, fixed.recorded_by) == (wrong.id, dt.date(2026, 10, 6), "kim")
    with registry.session() as session:
        old = session.get(Submission, wrong.id)
        assert old.submitted_on == dt.date(1998, 11, 2) and old.superseded_at == later  # kept for the audit trail
        items = follow_up_queue(session, TODAY)
        assert [(i.case_id, i.days_left, i.submission_id, i.reference) for i in items] == [
            ("RA-C-QUEUE", 5, fixed.id, "PORTAL-9")]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "submission.correct")).one()
        assert (entry.actor, entry.object_id) == ("kim", str(fixed.id))
        assert "typed the year" not in entry.detail  # the reason is free text: it stays in the record, not the log
        assert '"corrects":' in entry.detail and '"submitted_on"' in entry.detail
        # A corrected record is corrected once: the next correction is made to the current one.
        _refused(lambda: correct_submission(
            session, old, build_id=old.build_id, submitted_on=dt.date(2026, 9, 27), channel="fax", reference=None,
            follow_up_days=10, correction_reason="again", actor=KIM, now=later, today=TODAY),
            None, "this submission has been corrected since; record it against the corrected one")
        _refused(lambda: record_determination(
            session, old, determination="approved", decided_on=dt.date(2026, 9, 28), reason=None, actor=KIM,
            now=later, today=TODAY),
            None, "this submission has been corrected since; record it against the corrected one")


def test_a_corrected_submission_keeps_its_requests_and_determination_and_their_order(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-KEEP", on=dt.date(2026, 9, 15))
        record_info_request(session, sub, requested_on=dt.date(2026, 9, 20), due_on=None, note=None, actor=SAM,
                            now=NOW, today=TODAY)
        record_determination(session, sub, determination="denied", decided_on=dt.date(2026, 9, 25), reason=None,
                             actor=SAM, now=NOW, today=TODAY)

        def correct(on):
            return lambda: correct_submission(session, sub, build_id=sub.build_id, submitted_on=on, channel="fax",
                                              reference=None, follow_up_days=10, correction_reason="date",
                                              actor=KIM, now=NOW, today=TODAY)

        _refused(correct(dt.date(2026, 9, 26)), "submitted_on",
                 "cannot be later than the payer's request for information (2026-09-20)")
        _refused(correct(dt.date(2026, 9, 9)), "submitted_on",
                 "cannot be earlier than the day that packet was built (2026-09-10)")
        _refused(correct(dt.date(2026, 10, 5)), "submitted_on", "cannot be in the future (today is 2026-10-01)")
        assert sub.current and _count(session, Submission) == 1
        fixed = correct(dt.date(2026, 9, 18))()
        assert [r.requested_on for r in fixed.current_info_requests] == [dt.date(2026, 9, 20)]
        assert fixed.current_determination.determination == "denied"
        assert fixed.case.status == "denied"
    with registry.session() as session:
        outcomes = outcome_patterns(session)
        assert (outcomes.requests.decided, outcomes.pending, outcomes.requests.decision_days) == (1, 0, (7,))


def test_a_corrected_determination_moves_the_outcome_counts(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-OUTCOME")
        first = record_determination(session, sub, determination="approved", decided_on=dt.date(2026, 9, 28),
                                     reason=None, actor=SAM, now=NOW, today=TODAY)
        _refused(lambda: correct_determination(
            session, first, outcome="denied", decided_on=dt.date(2026, 9, 19), reason=None, correction_reason="x",
            actor=KIM, now=NOW, today=TODAY), "determination_on", "cannot be earlier than the submission (2026-09-20)")
    with registry.session() as session:
        assert outcome_patterns(session).requests.by_payer == (OutcomeRow("demo-commercial", approved=1),)
        first = session.get(Determination, first.id)
        fixed = correct_determination(session, first, outcome="denied", decided_on=dt.date(2026, 9, 30),
                                      reason="not medically necessary", correction_reason="misread the letter",
                                      actor=KIM, now=NOW, today=TODAY)
        assert fixed.corrects_id == first.id and not first.current
    with registry.session() as session:
        outcomes = outcome_patterns(session)
        assert outcomes.requests.by_payer == (OutcomeRow("demo-commercial", denied=1),)  # counted once, as corrected
        assert outcomes.requests.decision_days == (10,)
        assert session.get(CaseRecord, fixed.submission.case_pk).status == "denied"
        assert [d.determination for d in session.get(Submission, fixed.submission_id).determinations] == [
            "approved", "denied"]


def test_a_corrected_request_moves_the_case_between_answer_owed_and_follow_up(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-REQUEST", on=dt.date(2026, 9, 25))
        request = record_info_request(session, sub, requested_on=dt.date(2026, 9, 27), due_on=dt.date(2026, 9, 30),
                                      note="plan of care", actor=SAM, now=NOW, today=TODAY)
    with registry.session() as session:
        assert [(i.what, i.days_left) for i in follow_up_queue(session, TODAY)] == [("info_request", -1)]
        request = session.get(InfoRequest, request.id)
        _refused(lambda: correct_info_request(
            session, request, requested_on=dt.date(2026, 9, 27), due_on=None, note=None,
            responded_on=dt.date(2026, 9, 26), correction_reason="x", actor=KIM, now=NOW, today=TODAY),
            "responded_on", "cannot be earlier than the request it answers (2026-09-27)")
        _refused(lambda: correct_info_request(
            session, request, requested_on=dt.date(2026, 9, 24), due_on=None, note=None, responded_on=None,
            correction_reason="x", actor=KIM, now=NOW, today=TODAY),
            "requested_on", "cannot be earlier than the submission (2026-09-25)")
        fixed = correct_info_request(session, request, requested_on=dt.date(2026, 9, 27),
                                     due_on=dt.date(2026, 9, 30), note="plan of care",
                                     responded_on=dt.date(2026, 9, 29), correction_reason="the answer went by fax",
                                     actor=KIM, now=NOW, today=TODAY)
        assert fixed.submission.case.status == "submitted"
    with registry.session() as session:
        # The follow-up falls due again at the payer's interval (10 days) after the answer was sent.
        assert [(i.what, i.due) for i in follow_up_queue(session, TODAY, horizon_days=8)] == [
            ("follow_up", dt.date(2026, 10, 9))]
        assert session.get(InfoRequest, request.id).responded_on is None  # the old record as it was


def test_two_corrections_of_one_determination_racing_keep_the_first(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-RACE")
        decided_id = record_determination(session, sub, determination="approved", decided_on=dt.date(2026, 9, 28),
                                          reason=None, actor=SAM, now=NOW, today=TODAY).id
    with registry.sessions() as first:
        decided = first.get(Determination, decided_id)
        assert decided.submission.current_determination is decided
        first.commit()  # read before the other request corrected it
        with registry.session() as other:
            correct_determination(other, other.get(Determination, decided_id), outcome="denied",
                                  decided_on=dt.date(2026, 9, 28), reason=None, correction_reason="the letter",
                                  actor=KIM, now=NOW, today=TODAY)
        _refused(lambda: correct_determination(
            first, decided, outcome="partially_approved", decided_on=dt.date(2026, 9, 28), reason=None,
            correction_reason="the letter", actor=SAM, now=NOW, today=TODAY),
            None, "this determination has been corrected since; record it against the corrected one")
        first.rollback()
    with registry.session() as session:
        rows = session.scalars(select(Determination).order_by(Determination.id)).all()
        assert [(d.determination, d.current, d.recorded_by) for d in rows] == [
            ("approved", False, "sam"), ("denied", True, "kim")]


def test_two_corrections_of_one_submission_or_request_racing_keep_the_first(registry):
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-RACE-2")
        request_id = record_info_request(session, sub, requested_on=dt.date(2026, 9, 25), due_on=None, note=None,
                                         actor=SAM, now=NOW, today=TODAY).id
        sub_id = sub.id

    def fix_submission(session, row, actor):
        return correct_submission(session, row, build_id=row.build_id, submitted_on=dt.date(2026, 9, 21),
                                  channel="fax", reference=None, follow_up_days=10, correction_reason="date",
                                  actor=actor, now=NOW, today=TODAY)

    def fix_request(session, row, actor):
        return correct_info_request(session, row, requested_on=dt.date(2026, 9, 26), due_on=None, note=None,
                                    responded_on=None, correction_reason="date", actor=actor, now=NOW, today=TODAY)

    for model, pk, fix, words in ((InfoRequest, request_id, fix_request, "request"),
                                  (Submission, sub_id, fix_submission, "submission")):
        with registry.sessions() as first:
            row = first.get(model, pk)
            first.commit()  # read before the other request corrected it
            with registry.session() as other:
                fix(other, other.get(model, pk), KIM)
            _refused(lambda: fix(first, row, SAM), None,
                     f"this {words} has been corrected since; record it against the corrected one")
            first.rollback()
        with registry.session() as session:
            rows = session.scalars(select(model).order_by(model.id)).all()
            assert [(r.current, r.recorded_by) for r in rows] == [(False, "sam"), (True, "kim")]


def test_the_case_tells_each_correction_what_changed_when_by_whom_and_why(registry):
    later = NOW + dt.timedelta(hours=2)
    with registry.session() as session:
        sub = _submitted_case(session, "RA-C-STORY")
        decided = record_determination(session, sub, determination="approved", decided_on=dt.date(2026, 9, 28),
                                       reason=None, actor=SAM, now=NOW, today=TODAY)
        fixed = correct_submission(session, sub, build_id=sub.build_id, submitted_on=dt.date(2026, 9, 21),
                                   channel="fax", reference="REF-1", follow_up_days=10,
                                   correction_reason="sent the next morning", actor=KIM, now=NOW, today=TODAY)
        correct_determination(session, decided, outcome="partially_approved", decided_on=dt.date(2026, 9, 28),
                              reason="2 units", correction_reason="the letter approved 2 of 4 units", actor=SAM,
                              now=later, today=TODAY)
        story = case_corrections(fixed.case)
    assert [(c.record, c.by, c.at, c.reason) for c in story] == [
        ("Determination", "sam", later, "the letter approved 2 of 4 units"),
        ("Submission", "kim", NOW, "sent the next morning"),
    ]
    assert [(ch.label, ch.before, ch.after) for ch in story[0].changes] == [
        ("Determination", "Approved", "Partially approved"), ("Reason given by the payer", "—", "2 units")]
    assert [(ch.label, ch.before, ch.after) for ch in story[1].changes] == [
        ("Submitted on", "2026-09-20", "2026-09-21"), ("Follow up by", "2026-09-30", "2026-10-01")]

"""Submission tracking: case status, submissions, requests for information, determinations, the queue.

Plain functions over the registry tables; the web views only format what
these return. A case row's ``status`` is :func:`case_status` of its builds and
submissions, and only :func:`update_status` writes it: every casebook function
that refreshes a case's checks or adds a build, a submission, a request or a
decision calls it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..registry import DETERMINATIONS, CaseRecord, InfoRequest, Submission
from .audit import Actor, write_audit

#: Follow-up interval when the payer policy names none.
DEFAULT_FOLLOW_UP_DAYS = 14
#: The queue shows what falls due within this many days (and everything overdue).
QUEUE_HORIZON_DAYS = 7

STATUS_WORDS = {
    "blocked": "Blocked",
    "ready": "Ready to build",
    "built": "Built, not submitted",
    "submitted": "Submitted, awaiting decision",
    "info_requested": "More information requested",
    "approved": "Approved",
    "partially_approved": "Partially approved",
    "denied": "Denied",
}
#: Statuses of a case not yet sent to the payer.
UNSUBMITTED = ("blocked", "ready", "built")


def follow_up_due(submitted_on: dt.date, follow_up_days: int | None) -> dt.date:
    """When to chase the payer: the policy's ``follow_up_days`` after submission."""
    return submitted_on + dt.timedelta(days=follow_up_days or DEFAULT_FOLLOW_UP_DAYS)


def open_info_request(submission: Submission) -> InfoRequest | None:
    """The newest request for more information not yet answered, if any."""
    pending = [r for r in submission.info_requests if r.responded_on is None]
    return pending[-1] if pending else None


def case_status(case: CaseRecord) -> str:
    """The case's status word (a key of :data:`STATUS_WORDS`) from its builds and submissions."""
    if case.submissions:
        latest = case.submissions[-1]
        if latest.determination:
            return latest.determination
        return "info_requested" if open_info_request(latest) else "submitted"
    if case.builds:
        return "built"
    return "ready" if case.ready else "blocked"


def update_status(case: CaseRecord) -> None:
    """Store :func:`case_status` in the row, after anything that may move it on."""
    case.status = case_status(case)


@dataclass(frozen=True)
class QueueItem:
    """Something due: a follow-up, an answer to the payer, or a deadline to submit by."""

    case_pk: int
    case_id: str
    payer_id: str
    what: str                 # follow_up | info_request | submit_by
    due: dt.date
    days_left: int
    submission_id: int | None = None
    reference: str | None = None

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def label(self) -> str:
        return {"follow_up": "Follow up with the payer", "info_request": "Send the information the payer asked for",
                "submit_by": "Submit the request"}[self.what]


def follow_up_queue(session: Session, today: dt.date, horizon_days: int = QUEUE_HORIZON_DAYS) -> list[QueueItem]:
    """Everything due within ``horizon_days`` of ``today`` or overdue, soonest first."""
    horizon = today + dt.timedelta(days=horizon_days)
    items: list[QueueItem] = []
    cases = session.scalars(
        select(CaseRecord).options(
            selectinload(CaseRecord.submissions).selectinload(Submission.info_requests),
            selectinload(CaseRecord.builds),
        )
    )
    for case in cases:
        status = case_status(case)
        if status in UNSUBMITTED:
            if case.deadline is not None and case.deadline <= horizon:
                items.append(QueueItem(case.id, case.case_id, case.payer_id, "submit_by", case.deadline,
                                       (case.deadline - today).days))
            continue
        if status in DETERMINATIONS:
            continue
        latest = case.submissions[-1]
        if status == "info_requested":
            request = open_info_request(latest)
            due = request.due_on or request.requested_on
            what = "info_request"
        else:
            due, what = latest.follow_up_due, "follow_up"
        if due <= horizon:
            items.append(QueueItem(case.id, case.case_id, case.payer_id, what, due, (due - today).days,
                                   latest.id, latest.reference))
    return sorted(items, key=lambda i: (i.due, i.case_id))


def record_submission(session: Session, case: CaseRecord, *, build_id: int, submitted_on: dt.date, channel: str,
                      reference: str | None, follow_up_days: int | None, actor: Actor,
                      now: dt.datetime) -> Submission:
    """Record that a packet was sent; the follow-up date comes from the payer's interval."""
    row = Submission(
        case_pk=case.id, build_id=build_id, submitted_on=submitted_on, channel=channel, reference=reference,
        follow_up_due=follow_up_due(submitted_on, follow_up_days), recorded_at=now, recorded_by=actor.name,
    )
    session.add(row)
    case.submissions.append(row)
    _changed(case, actor, now)
    session.flush()
    write_audit(session, actor, "submission.record", "submission", row.id, now=now, detail={
        "case_id": case.case_id, "channel": row.channel, "follow_up_due": row.follow_up_due.isoformat()})
    return row


def record_info_request(session: Session, submission: Submission, *, requested_on: dt.date, due_on: dt.date | None,
                        note: str | None, actor: Actor, now: dt.datetime) -> InfoRequest:
    """Record that the payer asked for more information about ``submission``."""
    row = InfoRequest(submission_id=submission.id, requested_on=requested_on, due_on=due_on, note=note,
                      recorded_at=now, recorded_by=actor.name)
    session.add(row)
    submission.info_requests.append(row)
    _changed(submission.case, actor, now)
    session.flush()
    write_audit(session, actor, "info_request.record", "submission", submission.id, now=now,
                detail={"case_id": submission.case.case_id, "info_request": row.id})
    return row


def answer_info_request(session: Session, request: InfoRequest, *, responded_on: dt.date, actor: Actor,
                        now: dt.datetime) -> None:
    """Record that the information the payer asked for was sent."""
    case = request.submission.case
    request.responded_on = responded_on
    _changed(case, actor, now)
    write_audit(session, actor, "info_request.answered", "submission", request.submission_id, now=now,
                detail={"case_id": case.case_id, "info_request": request.id})


def record_determination(session: Session, submission: Submission, *, determination: str, decided_on: dt.date,
                         reason: str | None, actor: Actor, now: dt.datetime) -> None:
    """Record the payer's decision (one of :data:`~packetizer.registry.DETERMINATIONS`) and the reason given."""
    submission.determination = determination
    submission.determination_on = decided_on
    submission.determination_reason = reason
    submission.determination_by = actor.name
    _changed(submission.case, actor, now)
    write_audit(session, actor, "determination.record", "submission", submission.id, now=now,
                detail={"case_id": submission.case.case_id, "determination": determination})


def _changed(case: CaseRecord, actor: Actor, now: dt.datetime) -> None:
    update_status(case)
    case.updated_at, case.updated_by = now, actor.name

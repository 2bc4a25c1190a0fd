"""Submission tracking: case status, the follow-up queue and outcome patterns.

Plain functions over the registry tables; the web views only format what
these return.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import CaseRecord, InfoRequest, Submission

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
        if not case.submissions:
            if case.deadline is not None and case.deadline <= horizon:
                items.append(QueueItem(case.id, case.case_id, case.payer_id, "submit_by", case.deadline,
                                       (case.deadline - today).days))
            continue
        latest = case.submissions[-1]
        if latest.determination:
            continue
        request = open_info_request(latest)
        if request is not None:
            due = request.due_on or request.requested_on
            what = "info_request"
        else:
            due, what = latest.follow_up_due, "follow_up"
        if due <= horizon:
            items.append(QueueItem(case.id, case.case_id, case.payer_id, what, due, (due - today).days,
                                   latest.id, latest.reference))
    return sorted(items, key=lambda i: (i.due, i.case_id))


@dataclass(frozen=True)
class OutcomeRow:
    """Determinations counted for one payer, service code or late-reason category."""

    label: str
    approved: int = 0
    partially_approved: int = 0
    denied: int = 0

    @property
    def total(self) -> int:
        return self.approved + self.partially_approved + self.denied

    @property
    def approval_rate(self) -> float:
        """Approved share, counting a partial approval as half."""
        return (self.approved + 0.5 * self.partially_approved) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Outcomes:
    """Outcome patterns over every decided submission."""

    by_payer: tuple[OutcomeRow, ...]
    by_service: tuple[OutcomeRow, ...]
    by_late_reason: tuple[OutcomeRow, ...]
    decision_days: tuple[int, ...]
    pending: int

    @property
    def decided(self) -> int:
        return len(self.decision_days)

    @property
    def median_decision_days(self) -> float | None:
        return statistics.median(self.decision_days) if self.decision_days else None


def _rows(counts: dict[str, dict[str, int]]) -> tuple[OutcomeRow, ...]:
    rows = [OutcomeRow(label, **c) for label, c in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.total, r.label)))


def outcome_patterns(session: Session) -> Outcomes:
    """Count the latest determination of every case by payer, service code and late-reason category."""
    by_payer: dict[str, dict[str, int]] = {}
    by_service: dict[str, dict[str, int]] = {}
    by_reason: dict[str, dict[str, int]] = {}
    days: list[int] = []
    pending = 0
    cases = session.scalars(select(CaseRecord).options(selectinload(CaseRecord.submissions)))
    for case in cases:
        if not case.submissions:
            continue
        latest = case.submissions[-1]
        if not latest.determination:
            pending += 1
            continue
        outcome = latest.determination
        for table, label in ((by_payer, case.payer_id), (by_reason, case.late_reason_category)):
            bucket = table.setdefault(label, {"approved": 0, "partially_approved": 0, "denied": 0})
            bucket[outcome] += 1
        for code in sorted(set(case.service_codes.split())):
            bucket = by_service.setdefault(code, {"approved": 0, "partially_approved": 0, "denied": 0})
            bucket[outcome] += 1
        if latest.determination_on is not None:
            days.append(max(0, (latest.determination_on - latest.submitted_on).days))
    return Outcomes(_rows(by_payer), _rows(by_service), _rows(by_reason), tuple(sorted(days)), pending)

"""Submission tracking: case status, submissions, requests for information, determinations, the queue.

Plain functions over the registry tables; the web views only format what
these return. A case row's ``status`` is :func:`case_status` of its builds and
submissions, and only :func:`update_status` writes it: every casebook function
that refreshes a case's checks or adds a build, a submission, a request or a
decision calls it.

Every record is checked before it is stored: it cannot be dated in the future
nor before what it follows (the packet's build, the submission, the request an
answer answers), and a submission has one determination. A record is never
edited: a correction is a new record that supersedes the old one, says why,
and is audited; status, the queue and Outcomes read only current records.
A refusal is a :class:`~packetizer.errors.TrackingError` naming the input.

A determination is recorded per service line when the caller knows the case's
lines (:class:`BilledLine`): one decision for every line (approved: all units,
denied: none), or the units the payer approved on each line when it split the
decision; the determination's value is then derived from its lines (all
approved: approved, all denied: denied, else partially approved). Without the
lines (a decision read from a remittance) it is one case-level value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..errors import TrackingError
from ..registry import DETERMINATIONS, CaseRecord, Determination, DeterminationLine, InfoRequest, Submission
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


def follow_up_interval(submission: Submission) -> dt.timedelta:
    """The payer's follow-up interval, as it was when the submission was recorded."""
    return submission.follow_up_due - submission.submitted_on


def next_follow_up(submission: Submission) -> tuple[dt.date, InfoRequest | None]:
    """When to chase the payer next, and the answered request it counts from (None: from the submission).

    A follow-up falls due at the payer's interval after the submission, and again at the same interval after
    each request for more information has been answered: the payer's clock starts again when it has the
    information it asked for.
    """
    due, after = submission.follow_up_due, None
    for request in submission.current_info_requests:
        if request.responded_on is not None and request.responded_on + follow_up_interval(submission) > due:
            due, after = request.responded_on + follow_up_interval(submission), request
    return due, after


def open_info_request(submission: Submission) -> InfoRequest | None:
    """The newest current request for more information not yet answered, if any."""
    pending = [r for r in submission.current_info_requests if r.responded_on is None]
    return pending[-1] if pending else None


def latest_submission(case: CaseRecord) -> Submission | None:
    """The newest current submission of the case (corrections applied), if any."""
    current = case.current_submissions
    return current[-1] if current else None


def case_status(case: CaseRecord) -> str:
    """The case's status word (a key of :data:`STATUS_WORDS`) from its current builds and submissions."""
    latest = latest_submission(case)
    if latest is not None:
        decided = latest.current_determination
        if decided is not None:
            return decided.determination
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
    what: str                 # follow_up | info_request | submit_by | appeal_by
    due: dt.date
    days_left: int
    submission_id: int | None = None
    reference: str | None = None
    #: A follow-up counted from the answer to a request for information: the day the answer was sent.
    answered_on: dt.date | None = None

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def basis(self) -> str:
        """What the due date counts from, in words."""
        if self.what == "follow_up":
            return (f"after the information sent on {self.answered_on.isoformat()}" if self.answered_on
                    else "after the submission")
        return {"info_request": "the payer's due date", "submit_by": "the payer's deadline",
                "appeal_by": "the payer's appeal window"}.get(self.what, "")

    @property
    def label(self) -> str:
        return {"follow_up": "Follow up with the payer", "info_request": "Send the information the payer asked for",
                "submit_by": "Submit the request", "appeal_by": "Send the appeal"}[self.what]


def tracked_cases(session: Session):
    """Every case with its builds, submissions, requests and determinations loaded (old records too)."""
    return session.scalars(
        select(CaseRecord).options(
            selectinload(CaseRecord.submissions).selectinload(Submission.info_requests),
            selectinload(CaseRecord.submissions).selectinload(Submission.determinations)
            .selectinload(Determination.lines),
            selectinload(CaseRecord.builds),
        )
    )


def follow_up_queue(session: Session, today: dt.date, horizon_days: int = QUEUE_HORIZON_DAYS, *,
                    appeal_due_of=None) -> list[QueueItem]:
    """Everything due within ``horizon_days`` of ``today`` or overdue, soonest first (current records only).

    ``appeal_due_of(case, determination)``, when given, is the appeal deadline of a denied or partially
    approved case (or None): it is listed beside the request deadlines.
    """
    horizon = today + dt.timedelta(days=horizon_days)
    items: list[QueueItem] = []
    for case in tracked_cases(session):
        status = case_status(case)
        if status in UNSUBMITTED:
            if case.deadline is not None and case.deadline <= horizon:
                items.append(QueueItem(case.id, case.case_id, case.payer_id, "submit_by", case.deadline,
                                       (case.deadline - today).days))
            continue
        if status in DETERMINATIONS:
            latest = latest_submission(case)
            due = appeal_due_of(case, latest.current_determination) if appeal_due_of and status != "approved" else None
            if due is not None and due <= horizon:
                items.append(QueueItem(case.id, case.case_id, case.payer_id, "appeal_by", due, (due - today).days,
                                       latest.id, latest.reference))
            continue
        latest = latest_submission(case)
        answered = None
        if status == "info_requested":
            request = open_info_request(latest)
            due = request.due_on or request.requested_on
            what = "info_request"
        else:
            (due, after), what = next_follow_up(latest), "follow_up"
            answered = after.responded_on if after is not None else None
        if due <= horizon:
            items.append(QueueItem(case.id, case.case_id, case.payer_id, what, due, (due - today).days,
                                   latest.id, latest.reference, answered))
    return sorted(items, key=lambda i: (i.due, i.case_id))


# -- What may be recorded ---------------------------------------------------------------------------------------------

def _day(day: dt.date) -> str:
    return day.isoformat()


def _not_future(field: str, day: dt.date, today: dt.date) -> None:
    if day > today:
        raise TrackingError(f"cannot be in the future (today is {_day(today)})", field=field)


def _not_before(field: str, day: dt.date, earlier: dt.date, what: str) -> None:
    if day < earlier:
        raise TrackingError(f"cannot be earlier than {what} ({_day(earlier)})", field=field)


def _not_after(field: str, day: dt.date, later: dt.date, what: str) -> None:
    if day > later:
        raise TrackingError(f"cannot be later than {what} ({_day(later)})", field=field)


def _corrected_since(words: str) -> TrackingError:
    return TrackingError(f"this {words} has been corrected since; record it against the corrected one")


def _current(record, words: str) -> None:
    if not record.current:
        raise _corrected_since(words)


_SECOND_DETERMINATION = "a determination is already recorded for this submission; correct it instead"


def _reason(correction_reason: str | None) -> str:
    text = (correction_reason or "").strip()
    if not text:
        raise TrackingError("say why the record is corrected", field="correction_reason")
    return text


def _check_submission(case: CaseRecord, *, build_id: int, submitted_on: dt.date, today: dt.date,
                      after: Submission | None = None) -> None:
    """Build ≤ submission ≤ today; a corrected submission also stays before what the payer answered."""
    build = next((b for b in case.builds if b.id == build_id), None)
    if build is None:
        raise TrackingError("choose a packet built for this case", field="build_id")
    _not_future("submitted_on", submitted_on, today)
    # The build time is stored in UTC; the office judges dates in the server's time zone, as ``today`` is.
    _not_before("submitted_on", submitted_on, build.created_at.astimezone().date(), "the day that packet was built")
    if after is not None:
        for request in after.current_info_requests:
            _not_after("submitted_on", submitted_on, request.requested_on, "the payer's request for information")
        decided = after.current_determination
        if decided is not None:
            _not_after("submitted_on", submitted_on, decided.decided_on, "the payer's determination")


def _check_info_request(submission: Submission, *, requested_on: dt.date, due_on: dt.date | None,
                        responded_on: dt.date | None, today: dt.date) -> None:
    """Submission ≤ request ≤ today; the answer between the request and today; due no earlier than asked."""
    _not_future("requested_on", requested_on, today)
    _not_before("requested_on", requested_on, submission.submitted_on, "the submission")
    if due_on is not None:
        _not_before("due_on", due_on, requested_on, "the request")
    if responded_on is not None:
        _not_future("responded_on", responded_on, today)
        _not_before("responded_on", responded_on, requested_on, "the request it answers")


def _check_determination(submission: Submission, *, determination: str, decided_on: dt.date,
                         today: dt.date) -> None:
    if determination not in DETERMINATIONS:
        raise TrackingError("choose approved, partially approved or denied", field="determination")
    _not_future("determination_on", decided_on, today)
    _not_before("determination_on", decided_on, submission.submitted_on, "the submission")


# -- Outcomes per service line ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BilledLine:
    """A service line of the case as billed: its code and units (the case file's order, numbered from 1)."""

    code: str
    units: float


def billed_lines(services: Iterable) -> list[BilledLine]:
    """The case's service lines (anything with ``code`` and ``units``) as a determination records them."""
    return [BilledLine(s.code, float(s.units)) for s in services]


def line_outcome(approved: float, billed: float) -> str:
    """One line's outcome: no units approved is denied, all of them approved, anything between partial."""
    if approved <= 0:
        return "denied"
    return "approved" if approved >= billed else "partially_approved"


def derived_determination(outcomes: Iterable[str]) -> str:
    """The case-level value of per-line outcomes: all approved, all denied, or else partially approved."""
    found = set(outcomes)
    return found.pop() if len(found) == 1 and found <= {"approved", "denied"} else "partially_approved"


def _units(value: float) -> str:
    return f"{value:g}"


def _line_rows(determination: str, billed: Sequence[BilledLine] | None,
               approved_units: Sequence[float | None] | None) -> tuple[str, list[DeterminationLine]]:
    """The determination's value and its line rows (none without ``billed``), or a refusal naming the line."""
    if billed is None:
        if determination not in DETERMINATIONS:
            raise TrackingError("choose approved, partially approved or denied", field="determination")
        return determination, []
    if approved_units is None:
        if determination == "partially_approved":
            raise TrackingError("the payer split the decision: choose \"The payer decided line by line\" and "
                                "enter the units approved on each service line", field="determination")
        if determination not in DETERMINATIONS:
            raise TrackingError("choose approved, partially approved or denied", field="determination")
        approved_units = [line.units if determination == "approved" else 0.0 for line in billed]
    if len(approved_units) != len(billed):
        raise TrackingError("the case's service lines have changed since this page was opened; open it again",
                            field="determination")
    rows = []
    for number, (line, units) in enumerate(zip(billed, approved_units), start=1):
        if units is None:
            raise TrackingError(f"Service line {number} ({line.code}): enter the units the payer approved "
                                f"(0 if it denied the line)", field="line_units")
        if not 0 <= units <= line.units:
            raise TrackingError(f"Service line {number} ({line.code}): units approved must be between 0 and "
                                f"{_units(line.units)}, the units billed", field="line_units")
        rows.append(DeterminationLine(line_no=number, code=line.code, units_billed=line.units,
                                      units_approved=float(units), outcome=line_outcome(units, line.units)))
    if not rows:
        raise TrackingError("the case has no service lines to decide", field="determination")
    return derived_determination(r.outcome for r in rows), rows


# -- Recording --------------------------------------------------------------------------------------------------------

def record_submission(session: Session, case: CaseRecord, *, build_id: int, submitted_on: dt.date, channel: str,
                      reference: str | None, follow_up_days: int | None, actor: Actor, now: dt.datetime,
                      today: dt.date) -> Submission:
    """Record that a packet was sent; the follow-up date comes from the payer's interval.

    Raises:
        TrackingError: the packet is not one of the case's, or the date is before its build or after ``today``.
    """
    _check_submission(case, build_id=build_id, submitted_on=submitted_on, today=today)
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
                        note: str | None, actor: Actor, now: dt.datetime, today: dt.date) -> InfoRequest:
    """Record that the payer asked for more information about ``submission``.

    Raises:
        TrackingError: the submission was corrected, or the dates are out of order or in the future.
    """
    _current(submission, "submission")
    _check_info_request(submission, requested_on=requested_on, due_on=due_on, responded_on=None, today=today)
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
                        now: dt.datetime, today: dt.date) -> None:
    """Record that the information the payer asked for was sent (once: a wrong answer date is corrected).

    Raises:
        TrackingError: the request was corrected or already answered, or the date is before it or in the future.
    """
    _current(request, "request")
    if request.responded_on is not None:
        raise TrackingError("the answer to this request is already recorded; correct it instead",
                            field="responded_on")
    _not_future("responded_on", responded_on, today)
    _not_before("responded_on", responded_on, request.requested_on, "the request it answers")
    case = request.submission.case
    request.responded_on = responded_on
    _changed(case, actor, now)
    write_audit(session, actor, "info_request.answered", "submission", request.submission_id, now=now,
                detail={"case_id": case.case_id, "info_request": request.id})


def record_determination(session: Session, submission: Submission, *, determination: str, decided_on: dt.date,
                         reason: str | None, actor: Actor, now: dt.datetime, today: dt.date,
                         billed: Sequence[BilledLine] | None = None,
                         approved_units: Sequence[float | None] | None = None) -> Determination:
    """Record the payer's decision (one of :data:`~packetizer.registry.DETERMINATIONS`) and the reason given.

    With ``billed`` (the case's service lines) the decision is stored line by line: ``approved_units`` gives
    the units approved on each line when the payer split the decision; without it ``determination`` applies
    to every line (a partial approval then needs the units). The stored value is derived from the lines.

    Raises:
        TrackingError: the submission was corrected or already has a determination, the date is before
            the submission or in the future, or a line's units are missing or outside 0 to the units billed.
    """
    _current(submission, "submission")
    if submission.current_determination is not None:
        raise TrackingError(_SECOND_DETERMINATION, field="determination")
    determination, lines = _line_rows(determination, billed, approved_units)
    _check_determination(submission, determination=determination, decided_on=decided_on, today=today)
    row = Determination(submission_id=submission.id, determination=determination, decided_on=decided_on,
                        reason=reason, recorded_at=now, recorded_by=actor.name, lines=lines)
    try:
        session.add(row)
        submission.determinations.append(row)
        _changed(submission.case, actor, now)  # may flush, loading the case
        session.flush()
    except IntegrityError:
        # Another request stored one since this submission was read (a double click): the unique index
        # keeps the first. The caller rolls the session back, as after any refusal.
        raise TrackingError(_SECOND_DETERMINATION, field="determination") from None
    write_audit(session, actor, "determination.record", "submission", submission.id, now=now,
                detail={"case_id": submission.case.case_id, "determination": determination, "lines": len(lines)})
    return row


# -- Corrections ------------------------------------------------------------------------------------------------------
#
# A correction that loses a race to another (both read the record before either stored) hits a unique index
# (a record is corrected once; one current determination per submission) and is refused like any other;
# the caller rolls the session back.

def correct_submission(session: Session, submission: Submission, *, build_id: int, submitted_on: dt.date,
                       channel: str, reference: str | None, follow_up_days: int | None, correction_reason: str,
                       actor: Actor, now: dt.datetime, today: dt.date) -> Submission:
    """Replace ``submission`` with a corrected one; its requests and determination follow it.

    Raises:
        TrackingError: no reason, the submission was corrected already, or the corrected date is out of order.
    """
    why = _reason(correction_reason)
    _current(submission, "submission")
    case = submission.case
    _check_submission(case, build_id=build_id, submitted_on=submitted_on, today=today, after=submission)
    row = Submission(
        case_pk=case.id, build_id=build_id, submitted_on=submitted_on, channel=channel, reference=reference,
        follow_up_due=follow_up_due(submitted_on, follow_up_days), recorded_at=now, recorded_by=actor.name,
        corrects_id=submission.id, correction_reason=why,
    )
    try:
        submission.superseded_at = now
        session.add(row)
        case.submissions.append(row)
        for request in list(submission.info_requests):
            request.submission = row
        for decided in list(submission.determinations):
            decided.submission = row
        _changed(case, actor, now)
        session.flush()
    except IntegrityError:
        raise _corrected_since("submission") from None  # another request corrected it first
    write_audit(session, actor, "submission.correct", "submission", row.id, now=now, detail={
        "case_id": case.case_id, "corrects": submission.id, "changed": _changed_fields(submission, row)})
    return row


def correct_info_request(session: Session, request: InfoRequest, *, requested_on: dt.date, due_on: dt.date | None,
                         note: str | None, responded_on: dt.date | None, correction_reason: str, actor: Actor,
                         now: dt.datetime, today: dt.date) -> InfoRequest:
    """Replace a request for information (and its answer date) with a corrected one.

    Raises:
        TrackingError: no reason, the request was corrected already, or the dates are out of order.
    """
    why = _reason(correction_reason)
    _current(request, "request")
    submission = request.submission
    _check_info_request(submission, requested_on=requested_on, due_on=due_on, responded_on=responded_on,
                        today=today)
    row = InfoRequest(submission_id=submission.id, requested_on=requested_on, due_on=due_on, note=note,
                      responded_on=responded_on, recorded_at=now, recorded_by=actor.name, corrects_id=request.id,
                      correction_reason=why)
    try:
        request.superseded_at = now
        session.add(row)
        submission.info_requests.append(row)
        _changed(submission.case, actor, now)
        session.flush()
    except IntegrityError:
        raise _corrected_since("request") from None  # another request corrected it first
    write_audit(session, actor, "info_request.correct", "submission", submission.id, now=now, detail={
        "case_id": submission.case.case_id, "info_request": row.id, "corrects": request.id,
        "changed": _changed_fields(request, row)})
    return row


def correct_determination(session: Session, determination: Determination, *, outcome: str, decided_on: dt.date,
                          reason: str | None, correction_reason: str, actor: Actor, now: dt.datetime,
                          today: dt.date, billed: Sequence[BilledLine] | None = None,
                          approved_units: Sequence[float | None] | None = None) -> Determination:
    """Replace the payer's determination with a corrected one (``reason`` is the payer's, as before).

    ``billed`` and ``approved_units`` are as for :func:`record_determination`: the corrected determination
    has lines of its own, and the old one keeps its lines.

    Raises:
        TrackingError: no correction reason, the determination was corrected already, the date is out of
            order, or a line's units are missing or out of range.
    """
    why = _reason(correction_reason)
    _current(determination, "determination")
    submission = determination.submission
    outcome, lines = _line_rows(outcome, billed, approved_units)
    _check_determination(submission, determination=outcome, decided_on=decided_on, today=today)
    row = Determination(submission_id=submission.id, determination=outcome, decided_on=decided_on, reason=reason,
                        recorded_at=now, recorded_by=actor.name, corrects_id=determination.id,
                        correction_reason=why, lines=lines)
    try:
        determination.superseded_at = now
        session.flush()  # the old row stops being current before the new one is: one current per submission
        session.add(row)
        submission.determinations.append(row)
        _changed(submission.case, actor, now)
        session.flush()
    except IntegrityError:
        raise _corrected_since("determination") from None  # another request corrected it first
    write_audit(session, actor, "determination.correct", "submission", submission.id, now=now, detail={
        "case_id": submission.case.case_id, "determination": outcome, "corrects": determination.id,
        "changed": _changed_fields(determination, row)})
    return row


# -- What a case page shows of its corrections ------------------------------------------------------------------------

#: The fields a correction may change, with the words the case page uses for them.
CORRECTED_FIELDS = {
    Submission: (("submitted_on", "Submitted on"), ("channel", "Channel"), ("reference", "Payer reference"),
                 ("build_id", "Packet sent"), ("follow_up_due", "Follow up by")),
    InfoRequest: (("requested_on", "Requested on"), ("due_on", "Answer due by"), ("note", "What the payer asked for"),
                  ("responded_on", "Answered on")),
    Determination: (("determination", "Determination"), ("decided_on", "Decided on"),
                    ("reason", "Reason given by the payer"), ("lines_summary", "Per service line")),
}
RECORD_WORDS = {Submission: "Submission", InfoRequest: "Request for more information",
                Determination: "Determination"}


def _changed_fields(old, new) -> list[str]:
    return [name for name, _ in CORRECTED_FIELDS[type(old)] if getattr(old, name) != getattr(new, name)]


@dataclass(frozen=True)
class Change:
    """One field a correction changed, as the case page tells it."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Correction:
    """A record superseded by another: what it was, what changed, when, by whom and why."""

    record: str
    at: dt.datetime
    by: str
    reason: str
    changes: tuple[Change, ...]


def _shown(name: str, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dt.date):
        return value.isoformat()
    if name == "determination":
        return STATUS_WORDS.get(value, value)
    if name == "build_id":
        return f"packet #{value}"
    return str(value)


def case_corrections(case: CaseRecord) -> list[Correction]:
    """Every correction made to the case's tracking records, newest first."""
    rows: list = []
    for submission in case.submissions:
        rows.append(submission)
        rows.extend(submission.info_requests)
        rows.extend(submission.determinations)
    out = []
    for row in rows:
        old = row.corrects
        if old is None:
            continue
        changes = tuple(Change(label, _shown(name, getattr(old, name)), _shown(name, getattr(row, name)))
                        for name, label in CORRECTED_FIELDS[type(row)] if getattr(old, name) != getattr(row, name))
        out.append(Correction(RECORD_WORDS[type(row)], row.recorded_at, row.recorded_by, row.correction_reason or "",
                              changes))
    return sorted(out, key=lambda c: c.at, reverse=True)


def _changed(case: CaseRecord, actor: Actor, now: dt.datetime) -> None:
    update_status(case)
    case.updated_at, case.updated_by = now, actor.name

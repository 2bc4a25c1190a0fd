"""Staff: record submissions, requests for more information and determinations, correct them; the queue; outcomes.

The casebook checks every record (dates in order, none in the future, one
determination per submission, a reason for each correction); a refusal is shown
as the form error of the input it names, and nothing is stored.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from ..casebook.appeals import queue_appeal_due
from ..casebook.outcomes import (CSV_COLUMNS, decision_time_chart, outcome_chart, outcome_patterns, outcome_records,
                                 outcomes_csv)
from ..casebook.tracking import (STATUS_WORDS, BilledLine, answer_info_request, billed_lines, correct_determination,
                                 correct_info_request, correct_submission, follow_up_queue, record_determination,
                                 record_info_request, record_submission)
from ..errors import PacketizerError, TrackingError
from ..registry import CaseRecord, Determination, InfoRequest, Submission
from .casework import build_choices, correction_prefix, get_record, load_case, row_or_404
from .forms import (DETERMINATION_WORDS, DeterminationCorrectionForm, DeterminationForm, InfoAnsweredForm,
                    InfoRequestCorrectionForm, InfoRequestForm, SubmissionCorrectionForm, SubmissionForm)
from .security import blueprint_roles, current_actor, record
from .services import db, services
from .wording import us_dates

bp = Blueprint("tracking", __name__, url_prefix="/tracking")
blueprint_roles(bp, "staff", "admin")


def _back(rec: CaseRecord):
    return redirect(url_for("cases.show", pk=rec.id) + "#tracking")


def _form_errors(form) -> None:
    for field, messages in form.errors.items():
        label = getattr(form, field).label.text if hasattr(form, field) else field
        flash(f"{label}: {messages[0]}", "error")


def _refused(form, exc: TrackingError) -> None:
    """Tell a casebook refusal as the form error of the input it names; store nothing."""
    db().rollback()
    field = getattr(form, exc.field, None) if exc.field else None
    detail = us_dates(exc.detail)  # the dates as the form's date inputs show them
    flash(f"{field.label.text}: {detail}" if field is not None else detail, "error")


def _text(field) -> str | None:
    return (field.data or "").strip() or None


@bp.post("/cases/<int:pk>/submissions")
def submit(pk: int):
    """Record that a packet was sent; the follow-up date comes from the payer's interval."""
    rec = get_record(pk)
    if not rec.builds:
        flash("Build the packet before recording a submission.", "error")
        return _back(rec)
    _case, policy = load_case(rec)
    form = SubmissionForm()
    form.build_id.choices = build_choices(rec)
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(rec)
    try:
        row = record_submission(db(), rec, build_id=form.build_id.data, submitted_on=form.submitted_on.data,
                                channel=form.channel.data, reference=_text(form.reference),
                                follow_up_days=policy.follow_up_days, actor=current_actor(), now=services().now(),
                                today=services().today())
    except TrackingError as exc:
        _refused(form, exc)
        return _back(rec)
    db().commit()
    due = row.follow_up_due  # from the payer's follow-up interval
    flash(f"Submission recorded; follow up by {due:%B} {due.day}, {due.year}.", "success")
    return _back(rec)


@bp.post("/submissions/<int:submission_id>/info-requests")
def info_request(submission_id: int):
    """The payer asked for more information."""
    row = row_or_404(Submission, submission_id)
    form = InfoRequestForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(row.case)
    try:
        record_info_request(db(), row, requested_on=form.requested_on.data, due_on=form.due_on.data,
                            note=_text(form.note), actor=current_actor(), now=services().now(),
                            today=services().today())
    except TrackingError as exc:
        _refused(form, exc)
        return _back(row.case)
    db().commit()
    flash("Request for more information recorded.", "success")
    return _back(row.case)


@bp.post("/info-requests/<int:request_id>/answered")
def info_answered(request_id: int):
    """The information the payer asked for was sent."""
    request_row = row_or_404(InfoRequest, request_id)
    form = InfoAnsweredForm()
    case = request_row.submission.case
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(case)
    try:
        answer_info_request(db(), request_row, responded_on=form.responded_on.data, actor=current_actor(),
                            now=services().now(), today=services().today())
    except TrackingError as exc:
        _refused(form, exc)
        return _back(case)
    db().commit()
    flash("Answer to the payer recorded.", "success")
    return _back(case)


def _approved_units(form, billed: list[BilledLine]) -> list[float | None] | None:
    """The units approved per service line as typed (None where empty), when the payer decided line by line.

    The inputs are ``line_units-<n>`` (with the form's prefix), numbered like the case's service lines.
    """
    if form.determination.data != "partially_approved":
        return None
    values: list[float | None] = []
    for number, line in enumerate(billed, start=1):
        raw = (request.form.get(f"{form._prefix}line_units-{number}") or "").strip()
        if not raw:
            values.append(None)
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise TrackingError(f"Service line {number} ({line.code}): enter the units approved as a number",
                                field="line_units")
        values.append(value)
    return values


def _billed(case_row: CaseRecord) -> list[BilledLine] | None:
    """The case's service lines as billed, or None (and a message) when the case file no longer loads."""
    try:
        case, _policy = load_case(case_row)
    except PacketizerError:
        flash("The case file cannot be read, so the service lines are unknown: open the case to see why, "
              "then record the determination.", "error")
        return None
    return billed_lines(case.services)


@bp.post("/submissions/<int:submission_id>/determination")
def determination(submission_id: int):
    """The payer decided: every service line approved or denied, or line by line (the units approved on each)."""
    row = row_or_404(Submission, submission_id)
    form = DeterminationForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(row.case)
    billed = _billed(row.case)
    if billed is None:
        return _back(row.case)
    try:
        decided = record_determination(db(), row, determination=form.determination.data,
                                       decided_on=form.determination_on.data, reason=_text(form.reason),
                                       actor=current_actor(), now=services().now(), today=services().today(),
                                       billed=billed, approved_units=_approved_units(form, billed))
    except TrackingError as exc:
        _refused(form, exc)
        return _back(row.case)
    db().commit()
    flash(f"Determination recorded: {DETERMINATION_WORDS[decided.determination].lower()}.", "success")
    return _back(row.case)


@bp.post("/submissions/<int:submission_id>/correction")
def correct_submission_view(submission_id: int):
    """A submission recorded wrongly is replaced by a corrected one; the old one stays in the history."""
    row = row_or_404(Submission, submission_id)
    rec = row.case
    _case, policy = load_case(rec)
    form = SubmissionCorrectionForm(prefix=correction_prefix(row))
    form.build_id.choices = build_choices(rec)
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(rec)
    try:
        correct_submission(db(), row, build_id=form.build_id.data, submitted_on=form.submitted_on.data,
                           channel=form.channel.data, reference=_text(form.reference),
                           follow_up_days=policy.follow_up_days, correction_reason=form.correction_reason.data,
                           actor=current_actor(), now=services().now(), today=services().today())
    except TrackingError as exc:
        _refused(form, exc)
        return _back(rec)
    db().commit()
    flash("Submission corrected.", "success")
    return _back(rec)


@bp.post("/info-requests/<int:request_id>/correction")
def correct_info_request_view(request_id: int):
    """A request for more information (or its answer date) recorded wrongly is replaced by a corrected one."""
    row = row_or_404(InfoRequest, request_id)
    case = row.submission.case
    form = InfoRequestCorrectionForm(prefix=correction_prefix(row))
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(case)
    try:
        correct_info_request(db(), row, requested_on=form.requested_on.data, due_on=form.due_on.data,
                             note=_text(form.note), responded_on=form.responded_on.data,
                             correction_reason=form.correction_reason.data, actor=current_actor(),
                             now=services().now(), today=services().today())
    except TrackingError as exc:
        _refused(form, exc)
        return _back(case)
    db().commit()
    flash("Request for more information corrected.", "success")
    return _back(case)


@bp.post("/determinations/<int:determination_id>/correction")
def correct_determination_view(determination_id: int):
    """A determination recorded wrongly is replaced by a corrected one."""
    row = row_or_404(Determination, determination_id)
    case = row.submission.case
    form = DeterminationCorrectionForm(prefix=correction_prefix(row))
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(case)
    billed = _billed(case)
    if billed is None:
        return _back(case)
    try:
        correct_determination(db(), row, outcome=form.determination.data, decided_on=form.determination_on.data,
                              reason=_text(form.reason), correction_reason=form.correction_reason.data,
                              actor=current_actor(), now=services().now(), today=services().today(),
                              billed=billed, approved_units=_approved_units(form, billed))
    except TrackingError as exc:
        _refused(form, exc)
        return _back(case)
    db().commit()
    flash("Determination corrected.", "success")
    return _back(case)


def _appeal_due(rec: CaseRecord, decided: Determination):
    """The appeal deadline of a case's adverse decision under its payer's policy (None when it has none)."""
    return queue_appeal_due(services().payers(), services().cases_dir, rec, decided)


@bp.get("/queue")
def queue():
    """What is due or overdue: follow-ups, answers owed to payers, and deadlines to submit by."""
    today = services().today()
    items = follow_up_queue(db(), today, appeal_due_of=_appeal_due)
    return render_template("tracking/queue.html", items=items, today=today, status_words=STATUS_WORDS)


def _charts(part) -> dict:
    return {
        "payer": outcome_chart(part.by_payer, "Approval by payer"),
        "service": outcome_chart(part.by_service, "Approval by service code"),
        "reason": outcome_chart(part.by_late_reason, "Approval by late-reason category", label_words=True),
        "facility": outcome_chart(part.by_facility, "Approval by facility"),
        "provider": outcome_chart(part.by_provider, "Approval by rendering provider"),
        "time": decision_time_chart(part.decision_days),
    }


@bp.get("/outcomes")
def outcomes():
    """Approval patterns by payer, service code, late-reason category, facility and rendering provider, and time
    to decision; requests and appeals apart."""
    patterns = outcome_patterns(db())
    sections = (("requests", "Requests", patterns.requests, _charts(patterns.requests)),
                ("appeals", "Appeals", patterns.appeals, _charts(patterns.appeals)))
    return render_template("tracking/outcomes.html", patterns=patterns, sections=sections)


@bp.get("/outcomes.csv")
def outcomes_export():
    """Every current decision, one row per service code, as CSV (no patient data; formula cells escaped)."""
    records = outcome_records(db())
    record("outcomes.export", "outcomes", "csv", rows=len(records), columns=len(CSV_COLUMNS))
    db().commit()
    day = services().today().isoformat()
    return Response(outcomes_csv(records).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="outcomes_{day}.csv"'})

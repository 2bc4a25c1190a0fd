"""Staff: record submissions, requests for more information and determinations; the queue; outcomes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from ..casebook.outcomes import decision_time_chart, outcome_chart, outcome_patterns
from ..casebook.tracking import (STATUS_WORDS, answer_info_request, follow_up_queue, record_determination,
                                 record_info_request, record_submission)
from ..registry import CaseRecord, InfoRequest, Submission
from .casework import get_record, load_case
from .forms import DETERMINATION_WORDS, choices, DeterminationForm, InfoAnsweredForm, InfoRequestForm, SubmissionForm
from .security import blueprint_roles, current_actor
from .services import db, services

bp = Blueprint("tracking", __name__, url_prefix="/tracking")
blueprint_roles(bp, "staff", "admin")


def _back(rec: CaseRecord):
    return redirect(url_for("cases.show", pk=rec.id) + "#tracking")


def _form_errors(form) -> None:
    for field, messages in form.errors.items():
        label = getattr(form, field).label.text if hasattr(form, field) else field
        flash(f"{label}: {messages[0]}", "error")


@bp.post("/cases/<int:pk>/submissions")
def submit(pk: int):
    """Record that a packet was sent; the follow-up date comes from the payer's interval."""
    rec = get_record(pk)
    if not rec.builds:
        flash("Build the packet before recording a submission.", "error")
        return _back(rec)
    _case, policy = load_case(rec)
    form = SubmissionForm()
    form.build_id.choices = choices((b.id, b.file_name) for b in rec.builds)
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(rec)
    row = record_submission(db(), rec, build_id=form.build_id.data, submitted_on=form.submitted_on.data,
                            channel=form.channel.data, reference=(form.reference.data or "").strip() or None,
                            follow_up_days=policy.follow_up_days, actor=current_actor(), now=services().now())
    db().commit()
    due = row.follow_up_due  # from the payer's follow-up interval
    flash(f"Submission recorded; follow up by {due:%B} {due.day}, {due.year}.", "success")
    return _back(rec)


def _get_submission(submission_id: int) -> Submission:
    row = db().get(Submission, submission_id)
    if row is None:
        abort(404)
    return row


@bp.post("/submissions/<int:submission_id>/info-requests")
def info_request(submission_id: int):
    """The payer asked for more information."""
    row = _get_submission(submission_id)
    form = InfoRequestForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(row.case)
    record_info_request(db(), row, requested_on=form.requested_on.data, due_on=form.due_on.data,
                        note=(form.note.data or "").strip() or None, actor=current_actor(), now=services().now())
    db().commit()
    flash("Request for more information recorded.", "success")
    return _back(row.case)


@bp.post("/info-requests/<int:request_id>/answered")
def info_answered(request_id: int):
    request_row = db().get(InfoRequest, request_id)
    if request_row is None:
        abort(404)
    form = InfoAnsweredForm()
    case = request_row.submission.case
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(case)
    answer_info_request(db(), request_row, responded_on=form.responded_on.data, actor=current_actor(),
                        now=services().now())
    db().commit()
    flash("Answer to the payer recorded.", "success")
    return _back(case)


@bp.post("/submissions/<int:submission_id>/determination")
def determination(submission_id: int):
    """The payer decided: approved, partially approved or denied, with the reason given."""
    row = _get_submission(submission_id)
    form = DeterminationForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _back(row.case)
    record_determination(db(), row, determination=form.determination.data, decided_on=form.determination_on.data,
                         reason=(form.reason.data or "").strip() or None, actor=current_actor(),
                         now=services().now())
    db().commit()
    flash(f"Determination recorded: {DETERMINATION_WORDS[row.determination].lower()}.", "success")
    return _back(row.case)


@bp.get("/queue")
def queue():
    """What is due or overdue: follow-ups, answers owed to payers, and deadlines to submit by."""
    today = services().today()
    items = follow_up_queue(db(), today)
    return render_template("tracking/queue.html", items=items, today=today, status_words=STATUS_WORDS)


@bp.get("/outcomes")
def outcomes():
    """Approval patterns by payer, service code and late-reason category, and time to decision."""
    patterns = outcome_patterns(db())
    charts = {
        "payer": outcome_chart(patterns.by_payer, "Approval by payer"),
        "service": outcome_chart(patterns.by_service, "Approval by service code"),
        "reason": outcome_chart(patterns.by_late_reason, "Approval by late-reason category", label_words=True),
        "time": decision_time_chart(patterns.decision_days),
    }
    return render_template("tracking/outcomes.html", patterns=patterns, charts=charts)

"""Staff: the case list, the case form and import, uploads, checks, preview and build jobs, and downloads."""

from __future__ import annotations

import json
import logging
import os
import shutil

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import nulls_last, select

from .. import limits
from ..batch.casejob import JobSettings, launch, preview_result_path, send
from ..casebook.cases import add_case, refresh_checks, update_case
from ..casebook.channel import build_currency, channel_limits, megabytes
from ..casebook.folders import CaseFolder, display_name, ingest_message, new_folder_name
from ..casebook.jobs import STAGE_WORDS, mark_lost_jobs, reusable_preview, start_job, this_host
from ..casebook.tracking import STATUS_WORDS
from ..caseio import parse_case_bytes
from ..checks import OVERRIDABLE_CODES
from ..disclosure.redactor import TYPE_WORDS as REDACTION_WORDS
from ..disclosure.plan import plan_disclosure
from ..errors import CaseError, PacketizerError, UploadError
from ..ingest import ingest_attachment
from ..model import Attachment
from ..pipeline import input_fingerprint
from ..registry import Build, CaseRecord, Job
from . import caseform, wording
from .casework import folder_of, get_record, load_case, tracking_forms, validate
from .config import utc_now
from .forms import BuildForm, ImportForm, UploadForm
from .security import blueprint_roles, current_actor, record, restore_typed_work
from .services import db, services

log = logging.getLogger(__name__)

bp = Blueprint("cases", __name__, url_prefix="/cases")
blueprint_roles(bp, "staff", "admin")

#: How often a job page reloads itself while the job runs (a meta refresh: no JavaScript needed).
JOB_REFRESH_SECONDS = 2

@bp.get("/")
def index():
    """Every case, the nearest deadline first."""
    records = db().scalars(
        select(CaseRecord).order_by(nulls_last(CaseRecord.deadline.asc()), CaseRecord.case_id)
    ).all()
    return render_template("cases/index.html", records=records, today=services().today(), status_words=STATUS_WORDS)


def _form_page(form: caseform.CaseForm, problems: list, *, record_: CaseRecord | None):
    """The case form, with the problems found as (input, message): listed on top and told beside each input."""
    errors, kept, extras = caseform.beside_inputs(problems), caseform.kept_as_imported(form), caseform.member_extras(form)
    return render_template(
        "cases/form.html", form=form, errors=errors, error_list=problems, record=record_, kept=kept, extras=extras,
        extras_open=any(f.name in errors or (f.name not in kept and f._value()) for f in extras),
        label=caseform.field_label,
    ), 200 if not problems else 422


@bp.route("/new", methods=["GET", "POST"])
def new():
    """The case form for a new case."""
    form = caseform.case_form(services().payers(), restored=_restored_typing())
    if request.method == "GET" or caseform.lines_edited(form, request.form.get("action", "")):
        return _form_page(form, [], record_=None)
    form.validate()
    doc = caseform.form_to_case(form)
    folder = CaseFolder.at(services().cases_dir, new_folder_name())
    case, problems = validate(doc, folder, services().payers(), case_pk=None)
    problems = caseform.input_problems(form, problems)
    if problems:
        return _form_page(form, problems, record_=None)
    return _create(doc, folder, case, action="case.create")


def _restored_typing():
    """On showing the form: what the user had typed here when their session ended (kept once, then removed)."""
    if request.method != "GET":
        return None
    restored = restore_typed_work()
    if restored is not None:
        flash("Your session had ended; the form shows what you had typed. Check it and save.", "info")
    return restored


def _create(doc: dict, folder: CaseFolder, case, *, action: str, **detail):
    """Write the new case folder and its registry row; neither is left behind if the other fails."""
    folder.write(doc)
    session = db()
    svc = services()
    try:
        rec = add_case(session, folder, case, svc.payers().get(case.payer_id), actor=current_actor(), now=svc.now(),
                       today=svc.today(), action=action, **detail)
        session.commit()
    except BaseException:
        session.rollback()
        shutil.rmtree(folder.root, ignore_errors=True)
        raise
    log.info("case %s created (record %d)", case.case_id, rec.id)
    flash(f"Case {case.case_id} saved.", "success")
    return redirect(url_for("cases.show", pk=rec.id))


@bp.route("/import", methods=["GET", "POST"])
def import_case():
    """Create a case from a case file (YAML or JSON); its documents are uploaded afterwards."""
    form = ImportForm()
    problems: list = []
    if form.validate_on_submit():
        upload = form.file.data
        name = display_name(upload.filename or "case")
        try:
            doc = parse_case_bytes(upload.read(limits.MAX_CASE_FILE_BYTES + 1), name)
        except CaseError as exc:
            problems = [("(file)", exc.message)]
        else:
            listed = doc.pop("attachments", None) or []
            folder = CaseFolder.at(services().cases_dir, new_folder_name())
            case, problems = validate(doc, folder, services().payers(), case_pk=None)
            if not problems:
                if listed:
                    flash(f"The case file lists {len(listed)} document(s); upload them on this page.", "info")
                return _create(doc, folder, case, action="case.import", documents_listed=len(listed))
    return render_template("cases/import.html", form=form, problems=problems, label=caseform.field_label,
                           words=wording.problem_words), 422 if problems else 200


@bp.get("/<int:pk>")
def show(pk: int):
    """The case page: deadline, findings, documents, builds and tracking."""
    rec = get_record(pk)
    try:
        case, policy = load_case(rec)
    except PacketizerError as exc:
        return render_template("cases/broken.html", record=rec, message=exc.message), 409
    result = refresh_checks(rec, case, policy, today=services().today())
    record("case.view", "case", rec.case_id, case_pk=rec.id)
    db().commit()
    folder = folder_of(rec)
    names = folder.display_names()
    currency = build_currency(rec, case, policy)
    return render_template(
        "cases/show.html", record=rec, case=case, policy=policy, result=result, names=names,
        upload_form=UploadForm(), build_form=BuildForm(), today=services().today(),
        overridable=all(f.code in OVERRIDABLE_CODES for f in result.blocking),
        channel=channel_limits(folder, case, policy, rec.builds), currency=currency, page_counts=folder.page_counts(),
        megabytes=megabytes,
        status_words=STATUS_WORDS, **tracking_forms(rec, policy, currency),
    )


@bp.route("/<int:pk>/edit", methods=["GET", "POST"])
def edit(pk: int):
    rec = get_record(pk)
    folder = folder_of(rec)
    stored = folder.read()
    form = caseform.case_form(services().payers(), stored, restored=_restored_typing())
    form.case_id.data = rec.case_id  # the case id names its builds and archive keys: it never changes
    if request.method == "GET" or caseform.lines_edited(form, request.form.get("action", "")):
        return _form_page(form, [], record_=rec)
    form.validate()
    doc = caseform.form_to_case(form, stored)
    case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
    problems = caseform.input_problems(form, problems)
    if problems:
        return _form_page(form, problems, record_=rec)
    kept = {a["file"] for a in doc.get("attachments", [])}
    removed = [a["file"] for a in stored.get("attachments", []) if a["file"] not in kept]
    folder.write(doc)
    for rel in removed:
        folder.remove_upload(rel)
    _changed(rec, case, "case.update", documents_removed=len(removed))
    db().commit()
    flash(f"Case {rec.case_id} saved.", "success")
    return redirect(url_for("cases.show", pk=rec.id))


@bp.post("/<int:pk>/documents")
def upload(pk: int):
    """Add one document: checked by content and size, stored under a random name, converted once to prove it reads."""
    rec = get_record(pk)
    form = UploadForm()
    if not form.validate_on_submit():
        for field, messages in form.errors.items():
            flash(f"{getattr(form, field).label.text if hasattr(form, field) else field}: {messages[0]}", "error")
        return redirect(url_for("cases.show", pk=pk) + "#documents")
    folder = folder_of(rec)
    upload_file = form.file.data
    shown = display_name(upload_file.filename or "upload")
    try:
        rel = folder.save_upload(upload_file.read(), shown)
    except UploadError as exc:
        flash(exc.message, "error")
        return redirect(url_for("cases.show", pk=pk) + "#documents")
    att = Attachment(file=rel, path=folder.root / rel, kind=form.kind.data, date=form.date.data,
                     title=(form.title.data or "").strip() or None)
    try:
        exhibit = ingest_attachment(att)
    except PacketizerError as exc:  # unreadable, encrypted, over a limit, or cannot be rendered
        folder.remove_upload(rel)
        flash(wording.text_words(ingest_message(exc, rel, shown)), "error")
        return redirect(url_for("cases.show", pk=pk) + "#documents")
    doc = folder.read()
    entry = {"file": rel, "kind": att.kind, "date": att.date.isoformat()}
    if att.title:
        entry["title"] = att.title
    doc.setdefault("attachments", []).append(entry)
    case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
    if problems:
        folder.remove_upload(rel)
        flash(f"{shown}: {wording.label(problems[0][0])}: {wording.problem_words(*problems[0])}", "error")
        return redirect(url_for("cases.show", pk=pk) + "#documents")
    folder.write(doc)
    folder.record_pages(rel, exhibit.pages)  # the case page weighs the documents against the channel's page limit
    _changed(rec, case, "document.add", kind=att.kind, pages=exhibit.pages, type=rel.rsplit(".", 1)[-1])
    db().commit()
    flash(f"{shown} added ({exhibit.pages} page{'s' if exhibit.pages != 1 else ''}).", "success")
    return redirect(url_for("cases.show", pk=pk) + "#documents")


@bp.post("/<int:pk>/documents/<int:index>/remove")
def remove_document(pk: int, index: int):
    rec = get_record(pk)
    folder = folder_of(rec)
    doc = folder.read()
    attachments = doc.get("attachments") or []
    if not 0 <= index < len(attachments):
        abort(404)
    removed = attachments.pop(index)
    if not attachments:
        doc.pop("attachments", None)
    case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
    if problems:
        flash(f"{wording.label(problems[0][0])}: {wording.problem_words(*problems[0])}", "error")
        return redirect(url_for("cases.show", pk=pk))
    folder.write(doc)
    folder.remove_upload(removed["file"])
    _changed(rec, case, "document.remove", kind=removed.get("kind"))
    db().commit()
    flash("Document removed.", "success")
    return redirect(url_for("cases.show", pk=pk) + "#documents")


@bp.get("/<int:pk>/preview")
def preview(pk: int):
    """What the packet will include, withhold and redact, before building.

    Converting the documents runs as a preview job; a finished preview of the very
    same inputs (the input fingerprint) is shown from its stored result, so an
    unchanged case is not converted again on each visit.
    """
    rec = get_record(pk)
    try:
        case, policy = load_case(rec)
        plan = plan_disclosure(case, policy)   # decides fields and documents; reads no document
    except PacketizerError as exc:
        flash(exc.message, "error")
        return redirect(url_for("cases.show", pk=pk))
    fingerprint = input_fingerprint(case, policy)
    done = reusable_preview(db(), rec, fingerprint)
    stored = _stored_preview(done, fingerprint) if done is not None else None
    if stored is None:
        job = _start(rec, "preview", fingerprint)
        return redirect(url_for("cases.job", pk=pk, job_id=job.id))
    names = folder_of(rec).display_names()
    included = [{**item, "att": att} for att, item in zip(plan.included_attachments, stored["included"])]
    record("case.preview", "case", rec.case_id, case_pk=rec.id, job=done.id)
    db().commit()
    return render_template("cases/preview.html", record=rec, case=case, policy=policy, plan=plan,
                           included=included, names=names, type_words=REDACTION_WORDS,
                           min_confidence=limits.MIN_OCR_CONFIDENCE)


def _stored_preview(job: Job, fingerprint: str) -> dict | None:
    """The stored result of a finished preview job, when it is there and made from ``fingerprint``."""
    try:
        stored = json.loads(preview_result_path(services().previews_dir, job.id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if stored.get("fingerprint") == fingerprint else None


@bp.post("/<int:pk>/build")
def build(pk: int):
    """Queue a build of the case as a job (or join the one running) and show its page.

    A block is told on the job page with its findings; the case page offers the override box where allowed.
    """
    rec = get_record(pk)
    form = BuildForm()
    if not form.validate_on_submit():
        flash("The override justification is too long.", "error")
        return redirect(url_for("cases.show", pk=pk))
    try:
        case, policy = load_case(rec)
    except PacketizerError as exc:
        flash("Not built: " + wording.message_words(exc.message), "error")
        return redirect(url_for("cases.show", pk=pk))
    reason = (form.override_reason.data or "").strip() or None
    job = _start(rec, "build", input_fingerprint(case, policy), override_reason=reason)
    return redirect(url_for("cases.job", pk=pk, job_id=job.id))


def _start(rec: CaseRecord, kind: str, fingerprint: str, *, override_reason: str | None = None) -> Job:
    """Queue a ``kind`` job for the case and start its process, or join the job already running."""
    svc = services()
    job, new = start_job(db(), rec, kind, fingerprint, actor=current_actor(), now=svc.now(), host=this_host(),
                         pid=os.getpid(), override_reason=override_reason)
    db().commit()
    if new and current_app.config["BROKER_URL"]:
        send(job.id, _job_settings(), current_app.config["BROKER_URL"], svc.registry)
    elif new:
        launch(job.id, _job_settings(), svc.registry)
    elif kind == "build":
        flash("This case is already being built: this page follows that build.", "info")
    return job


def _job_settings() -> JobSettings:
    svc = services()
    config = current_app.config
    return JobSettings(database_url=config["DATABASE_URL"], cases_dir=svc.cases_dir, builds_dir=svc.builds_dir,
                       previews_dir=svc.previews_dir, payers_dir=svc.payers_dir, archive=svc.archive_location,
                       spool=svc.spool, today=svc.today(),
                       built_at=None if config["CLOCK"] is utc_now else svc.now())


@bp.get("/<int:pk>/jobs/<int:job_id>")
def job(pk: int, job_id: int):
    """A build or preview job: its stage and pages while it runs (the page refreshes itself), then its end."""
    rec = get_record(pk)
    svc = services()
    if mark_lost_jobs(db(), host=this_host(), now=svc.now()):
        db().commit()
    row = db().get(Job, job_id)
    if row is None or row.case_pk != rec.id:
        abort(404)
    if row.kind == "preview" and row.state == "done":
        return redirect(url_for("cases.preview", pk=pk))
    return render_template("cases/job.html", record=rec, job=row, stage_words=STAGE_WORDS,
                           refresh_seconds=JOB_REFRESH_SECONDS)


def _changed(rec: CaseRecord, case, action: str, **detail) -> None:
    """After a change to the case file: refresh its row, note who changed it, audit ``action``."""
    svc = services()
    update_case(db(), rec, case, svc.payers().get(case.payer_id), actor=current_actor(), now=svc.now(),
                today=svc.today(), action=action, **detail)


def _get_build(pk: int, build_id: int) -> tuple[CaseRecord, Build]:
    rec = get_record(pk)
    row = db().get(Build, build_id)
    if row is None or row.case_pk != rec.id:
        abort(404)
    return rec, row


_DOWNLOADS = {
    "packet": ("file_name", "application/pdf", "packet.download"),
    "report.json": ("report_name", "application/json", "report.download"),
    "report.html": ("report_html_name", "text/html", "report.download"),
}


@bp.get("/<int:pk>/builds/<int:build_id>/<any('packet', 'report.json', 'report.html'):what>")
def download(pk: int, build_id: int, what: str):
    """Download a built packet or its disclosure report (always as an attachment, never rendered here)."""
    rec, row = _get_build(pk, build_id)
    attr, mimetype, action = _DOWNLOADS[what]
    name = getattr(row, attr)
    path = services().builds_dir.joinpath(*row.folder.split("/"), name)
    if not path.is_file():
        abort(404)
    record(action, "build", row.id, case_id=rec.case_id, file=what)
    db().commit()
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)


@bp.get("/<int:pk>/builds/<int:build_id>/report")
def report(pk: int, build_id: int):
    """The disclosure report of a build as a page of this application."""
    rec, row = _get_build(pk, build_id)
    path = services().builds_dir.joinpath(*row.folder.split("/"), row.report_name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        abort(404)
    record("report.view", "build", row.id, case_id=rec.case_id)
    db().commit()
    return render_template("cases/report.html", record=rec, build=row, report=data)

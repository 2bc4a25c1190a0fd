"""Staff: the case list, the case form and import, uploads, checks, preview and build jobs, and downloads."""

from __future__ import annotations

import json
import logging
import os
import shutil

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .. import limits
from ..batch.casejob import JobSettings, launch, preview_result_path, send, watched
from ..casebook.appeals import appeal_status
from ..casebook.audit import just_acted_on_case
from ..casebook.caselist import DEADLINE_WINDOWS, CaseFilter, case_list_query
from ..casebook.cases import MAX_CHANGED_NAMES, add_case, changed_fields, refresh_checks, update_case
from ..casebook.channel import build_currency, channel_limits, megabytes
from ..casebook.documents import NewDocument, add_documents, audit_rejections
from ..casebook.folders import CaseFolder, display_name, new_folder_name
from ..casebook.jobs import STAGE_WORDS, mark_lost_jobs, pid_alive, reusable_preview, start_job, this_host
from ..casebook.lifecycle import case_id_refusal, correct_case_id, delete_case, deletion_refusal
from ..casebook.outputs import build_outputs, output_path
from ..casebook.tracking import STATUS_WORDS, UNSUBMITTED
from ..casebook.worklist import case_draft, link_case
from ..caseio import parse_case_bytes
from ..checks import OVERRIDABLE_CODES
from ..disclosure.redactor import TYPE_WORDS as REDACTION_WORDS
from ..disclosure.plan import plan_disclosure
from ..errors import CaseError, PacketizerError
from ..pipeline import input_fingerprint
from ..registry import Build, CaseRecord, Job, WorklistItem
from . import caseform, reportview, wording
from .casework import folder_of, get_record, load_case, tracking_forms, validate
from .config import utc_now
from .forms import ActionForm, BuildForm, CaseIdForm, CaseSearchForm, ImportForm, UploadForm
from .security import blueprint_roles, current_actor, record, restore_typed_work
from .services import db, services

log = logging.getLogger(__name__)

bp = Blueprint("cases", __name__, url_prefix="/cases")
blueprint_roles(bp, "staff", "admin")

#: How often a job page reloads itself while the job runs (a meta refresh: no JavaScript needed).
JOB_REFRESH_SECONDS = 2
#: A case page opened within this many seconds of the same user's own audited action on the case adds no view row.
CASE_VIEW_QUIET_SECONDS = 60

@bp.route("/", methods=["GET", "POST"])
def index():
    """The case list: open cases, those still to submit by the nearest deadline first; searched and filtered.

    The search form is posted: the words searched for (names, member ids, claim numbers are patient
    data) never go into a URL, so no access log, history or bookmark holds them. The filters alone
    (payer, status, deadline, closed) may also come in the query string, as the "show closed" link does.
    A search or filter is audited by which filters were used, never by the words searched for.
    """
    svc = services()
    if request.method == "POST":
        form = CaseSearchForm()
    else:
        form = CaseSearchForm(request.args, meta={"csrf": False})
        form.q.data = ""
    form.payer.choices = [("", "Any payer")] + [(p.id, p.name) for p in svc.payers()]
    form.status.choices = [("", "Any status")] + list(STATUS_WORDS.items())
    form.deadline.choices = [("", "Any deadline")] + list(DEADLINE_WINDOWS.items())
    wanted = CaseFilter()
    if (request.method == "POST" or request.args) and form.validate():
        wanted = CaseFilter(words=(form.q.data or "").strip(), payer_id=form.payer.data or "",
                            status=form.status.data or "", deadline=form.deadline.data or "",
                            show_closed=bool(form.closed.data))
    records = db().scalars(case_list_query(wanted, svc.today())).all()
    if wanted.narrowed:
        record("case.search", "case_list", "*", results=len(records), **wanted.used())
        db().commit()
    return render_template("cases/index.html", records=records, today=svc.today(), status_words=STATUS_WORDS,
                           form=form, wanted=wanted, unsubmitted=UNSUBMITTED)


def _form_page(form: caseform.CaseForm, problems: list, *, record_: CaseRecord | None,
               worklist_item: WorklistItem | None = None):
    """The case form, with the problems found as (input, message): listed on top and told beside each input."""
    errors, kept, extras = caseform.beside_inputs(problems), caseform.kept_as_imported(form), caseform.member_extras(form)
    return render_template(
        "cases/form.html", form=form, errors=errors, error_list=problems, record=record_, kept=kept, extras=extras,
        worklist_item=worklist_item,
        extras_open=any(f.name in errors or (f.name not in kept and f._value()) for f in extras),
        label=caseform.field_label,
    ), 200 if not problems else 422


@bp.route("/new", methods=["GET", "POST"])
def new():
    """The case form for a new case; with ``?worklist=<item>``, pre-filled from that worklist claim."""
    item = _worklist_item()
    if item is not None and item.case_pk is not None:
        flash("A request was already started for this claim: this is its case.", "info")
        return redirect(url_for("cases.show", pk=item.case_pk))
    if item is not None and (item.triage != "retro" or item.state != "open"):
        # Only what Start request may start: an open missing-authorization denial.
        flash("This claim cannot start a retro request: it is done, or its denial is not about a missing "
              "authorization. Do what the worklist says instead.", "error")
        return redirect(url_for("worklist.index"))
    draft = case_draft(item) if item is not None else None
    form = caseform.case_form(services().payers(), draft, restored=_restored_typing())
    if request.method == "GET" or caseform.lines_edited(form, request.form.get("action", "")):
        if item is not None and request.method == "GET":
            record("worklist.prefill", "worklist_item", item.id)
            db().commit()
        return _form_page(form, [], record_=None, worklist_item=item)
    form.validate()
    doc = caseform.form_to_case(form, draft)
    folder = CaseFolder.at(services().cases_dir, new_folder_name())
    case, problems = validate(doc, folder, services().payers(), case_pk=None)
    problems = caseform.input_problems(form, problems)
    if problems:
        return _form_page(form, problems, record_=None, worklist_item=item)
    if item is None:
        return _create(doc, folder, case, action="case.create")
    try:
        return _create(doc, folder, case, action="case.create", worklist_item=item.id,
                       then=lambda rec: link_case(db(), item, rec, actor=current_actor(), now=services().now()))
    except IntegrityError:  # the same form saved twice at once (a double click): the other save took the case id
        problems = caseform.input_problems(form, [("case_id", f"{case.case_id} is already used by another case")])
        return _form_page(form, problems, record_=None, worklist_item=item)


def _worklist_item() -> WorklistItem | None:
    """The worklist item a new case is started from (``?worklist=<id>``), if any; 404 when there is none such."""
    raw = request.args.get("worklist")
    if raw is None:
        return None
    # ASCII digits only ("²" is a digit to str.isdigit), and no more than a database integer holds.
    item = db().get(WorklistItem, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    if item is None:
        abort(404)
    return item


def _restored_typing():
    """On showing the form: what the user had typed here when their session ended (kept once, then removed)."""
    if request.method != "GET":
        return None
    restored = restore_typed_work()
    if restored is not None:
        flash("Your session had ended; the form shows what you had typed. Check it and save.", "info")
    return restored


def _create(doc: dict, folder: CaseFolder, case, *, action: str, then=None, **detail):
    """Write the new case folder and its registry row; neither is left behind if the other fails.

    ``then(record)`` runs in the same transaction (a worklist item linked to the new case).
    """
    folder.write(doc)
    session = db()
    svc = services()
    try:
        rec = add_case(session, folder, case, svc.payers().get(case.payer_id), actor=current_actor(), now=svc.now(),
                       today=svc.today(), action=action, **detail)
        if then is not None:
            then(rec)
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
    # A view is recorded unless this user's newest audit row is about this very case and under
    # CASE_VIEW_QUIET_SECONDS old: the page reached by the redirect after their own save, upload,
    # build or tracking record (or a reload just after a view) adds no row, since the row just
    # written already shows they had the case open. Any other arrival is recorded as before.
    actor = current_actor()
    if not just_acted_on_case(db(), actor.name, rec.case_id, rec.id, now=services().now(),
                              within_seconds=CASE_VIEW_QUIET_SECONDS):
        record("case.view", "case", rec.case_id, case_pk=rec.id)
    db().commit()
    folder = folder_of(rec)
    names = folder.display_names()
    currency = build_currency(rec, case, policy)
    appeal = appeal_status(rec, case, policy, today=services().today())
    return render_template(
        "cases/show.html", record=rec, case=case, policy=policy, result=result, names=names,
        upload_form=UploadForm(), build_form=BuildForm(), today=services().today(),
        overridable=all(f.code in OVERRIDABLE_CODES for f in result.blocking),
        channel=channel_limits(folder, case, policy, rec.builds), currency=currency, page_counts=folder.page_counts(),
        megabytes=megabytes, outputs={b.id: build_outputs(services().builds_dir, b) for b in rec.builds},
        status_words=STATUS_WORDS, **tracking_forms(rec, policy, currency),
        appeal=appeal, appeal_overridable_codes=bool(appeal and appeal.check) and all(
            f.code in OVERRIDABLE_CODES for f in appeal.check.blocking),
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
    changed = changed_fields(stored, doc)  # names only (member.last_name, services[1].code), never values
    folder.write(doc)
    for rel in removed:
        folder.remove_upload(rel)
    _changed(rec, case, "case.update", documents_removed=len(removed), fields_changed=len(changed),
             changed=changed[:MAX_CHANGED_NAMES])
    db().commit()
    flash(f"Case {rec.case_id} saved.", "success")
    return redirect(url_for("cases.show", pk=rec.id))


def init_app(app) -> None:
    """Register what must run before CSRFProtect reads a form (call before ``CSRFProtect(app)``)."""
    app.before_request(_raise_documents_limit)


def _raise_documents_limit() -> None:
    # Several documents come in one request; a server configured below the default keeps its own limit.
    if (request.endpoint == "cases.upload" and request.method == "POST"
            and (current_app.config["MAX_CONTENT_LENGTH"] or 0) >= limits.MAX_UPLOAD_REQUEST_BYTES):
        request.max_content_length = limits.MAX_DOCUMENTS_REQUEST_BYTES


def _upload_rows() -> list[NewDocument]:
    """The rows of the upload form that have a file or something typed (each row: file, kind, date, title)."""
    files = request.files.getlist("file")
    form = request.form
    kinds, dates, titles = form.getlist("kind"), form.getlist("date"), form.getlist("title")
    rows = []
    for i in range(max(len(files), len(dates), len(titles))):
        upload_file = files[i] if i < len(files) else None
        date_text = dates[i] if i < len(dates) else ""
        title = (titles[i] if i < len(titles) else "").strip()[:200]
        chosen = upload_file is not None and bool(upload_file.filename)
        if not chosen and not date_text.strip() and not title:
            continue  # an empty row
        name = display_name(upload_file.filename or "upload") if chosen else f"row {i + 1}"
        data = upload_file.read(limits.MAX_ATTACHMENT_BYTES + 1) if chosen else None
        rows.append(NewDocument(row=i + 1, data=data, name=name, kind=kinds[i] if i < len(kinds) else "",
                                date_text=date_text, title=title or None))
    return rows


@bp.post("/<int:pk>/documents")
def upload(pk: int):
    """Add the documents of the upload form's rows, all or none.

    Each is checked by content and size, stored under a random name and converted
    once to prove it reads; a date left empty is read from the file's name. One
    refused file keeps them all out, and every refusal is told and audited.
    """
    rec = get_record(pk)
    back = redirect(url_for("cases.show", pk=pk) + "#documents")
    rows = _upload_rows()
    if not rows:
        flash("Document: choose a file to upload.", "error")
        return back
    if len(rows) > limits.DOCUMENTS_PER_UPLOAD:
        flash(f"Add at most {limits.DOCUMENTS_PER_UPLOAD} documents at once.", "error")
        return back
    folder = folder_of(rec)
    svc = services()
    added, rejected, case = add_documents(
        folder, rows, lambda doc: validate(doc, folder, svc.payers(), case_pk=rec.id))
    if rejected:
        audit_rejections(db(), rec, rejected, actor=current_actor(), now=svc.now())
        db().commit()
        if len(rows) > 1:
            flash(f"None of the {len(rows)} documents was added: {len(rejected)} could not be accepted "
                  "(below). Choose the files again, without or corrected, and add them.", "error")
        for item in rejected:
            told = (f"{wording.label(item.field)}: {wording.problem_words(item.field, item.message)}" if item.field
                    else wording.text_words(item.message))
            flash(f"{item.name}: {told}", "error")
        return back
    _changed(rec, case, "document.add", documents=len(added), kinds=[a.kind for a in added],
             pages=[a.pages for a in added], types=[a.rel.rsplit(".", 1)[-1] for a in added])
    db().commit()
    for item in added:
        flash(f"{item.name} added ({item.pages} page{'s' if item.pages != 1 else ''}).", "success")
    return back


def _document_at(pk: int, index: int):
    rec = get_record(pk)
    folder = folder_of(rec)
    doc = folder.read()
    attachments = doc.get("attachments") or []
    if not 0 <= index < len(attachments):
        abort(404)
    return rec, folder, doc, attachments


@bp.get("/<int:pk>/documents/<int:index>/remove")
def confirm_remove_document(pk: int, index: int):
    """Ask before a document is removed: what it is, and that its file is deleted from the case."""
    rec, folder, _, attachments = _document_at(pk, index)
    try:
        case, _ = load_case(rec)
    except PacketizerError as exc:
        flash(exc.message, "error")
        return redirect(url_for("cases.show", pk=pk))
    att = next(a for a in case.attachments if a.file == attachments[index]["file"])
    return render_template("cases/remove_document.html", record=rec, att=att, index=index,
                           name=folder.display_names().get(att.file, att.file.rsplit("/", 1)[-1]),
                           pages=folder.page_counts().get(att.file), form=ActionForm())


@bp.post("/<int:pk>/documents/<int:index>/remove")
def remove_document(pk: int, index: int):
    rec, folder, doc, attachments = _document_at(pk, index)
    # The confirmation names one document; the list may have changed since (another tab, a colleague).
    if request.form.get("file") != attachments[index]["file"]:
        flash("The case's documents changed after you asked to remove one; nothing was removed. "
              "Choose the document again.", "error")
        return redirect(url_for("cases.show", pk=pk) + "#documents")
    removed = attachments.pop(index)
    if not attachments:
        doc.pop("attachments", None)
    case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
    if problems:
        flash(f"{wording.label(problems[0][0])}: {wording.problem_words(*problems[0])}", "error")
        return redirect(url_for("cases.show", pk=pk))
    shown = folder.display_names().get(removed["file"])
    folder.write(doc)
    folder.remove_upload(removed["file"])
    _changed(rec, case, "document.remove", kind=removed.get("kind"))
    db().commit()
    flash(f"{shown} removed." if shown else "Document removed.", "success")
    return redirect(url_for("cases.show", pk=pk) + "#documents")


@bp.route("/<int:pk>/delete", methods=["GET", "POST"])
def delete(pk: int):
    """Admins: delete a case nothing was submitted for, after a confirmation page (audited ``case.delete``)."""
    if current_user.role != "admin":
        abort(403)
    rec = get_record(pk)
    refusal = deletion_refusal(db(), rec)
    form = ActionForm()
    if request.method == "GET" or refusal is not None or not form.validate_on_submit():
        try:
            documents = len(folder_of(rec).read().get("attachments") or [])
        except PacketizerError:   # a case file that no longer reads can still be deleted
            documents = None
        return render_template("cases/delete.html", record=rec, refusal=refusal, form=form,
                               archived=sum(1 for b in rec.builds if b.archive_prefix), documents=documents,
                               status_words=STATUS_WORDS), 409 if refusal and request.method == "POST" else 200
    svc = services()
    case_id = rec.case_id
    files = delete_case(db(), rec, cases_dir=svc.cases_dir, builds_dir=svc.builds_dir,
                        previews_dir=svc.previews_dir, preview_path=preview_result_path,
                        actor=current_actor(), now=svc.now())
    db().commit()
    files.remove()
    flash(f"Case {case_id} deleted.", "success")
    return redirect(url_for("cases.index"))


@bp.route("/<int:pk>/case-id", methods=["GET", "POST"])
def correct_id(pk: int):
    """Correct a case id typed wrong, while nothing has been built with it (audited ``case.correct_id``)."""
    rec = get_record(pk)
    form = CaseIdForm(case_id=rec.case_id if request.method == "GET" else None)
    refusal = case_id_refusal(db(), rec)
    error = None
    if request.method == "POST" and refusal is None and form.validate_on_submit():
        new_id = form.case_id.data.strip()
        if new_id == rec.case_id:
            flash(f"The case id is still {new_id}.", "info")
            return redirect(url_for("cases.show", pk=pk))
        folder = folder_of(rec)
        try:
            stored = folder.read()
        except PacketizerError as exc:
            stored, error = None, f"the case file no longer reads ({wording.text_words(exc.message)}); open Edit case first"
        if stored is not None:
            doc = {**stored, "case_id": new_id}
            case, problems = validate(doc, folder, services().payers(), case_pk=rec.id)
            error = next((wording.problem_words(field, message) for field, message in problems if field == "case_id"),
                         None)
            if error is None and problems:
                error = ("the case does not check any more; open Edit case and fix it first: "
                         f"{wording.label(problems[0][0])}: {wording.problem_words(*problems[0])}")
        if error is None:
            svc = services()
            try:
                old = correct_case_id(db(), rec, folder, doc, case, svc.payers().get(case.payer_id),
                                      actor=current_actor(), now=svc.now(), today=svc.today())
                db().commit()
            except IntegrityError:
                db().rollback()
                folder.write(stored)
                error = f"{new_id} is already used by another case"
            else:
                flash(f"Case id corrected: {old} is now {new_id}.", "success")
                return redirect(url_for("cases.show", pk=pk))
    elif request.method == "POST" and form.errors:
        error = next(iter(form.errors.values()))[0]
    status = 409 if refusal and request.method == "POST" else 422 if error else 200
    return render_template("cases/case_id.html", record=rec, form=form, refusal=refusal, error=error), status


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
    documents = reportview.preview_documents(case, plan, stored["included"])
    record("case.preview", "case", rec.case_id, case_pk=rec.id, job=done.id)
    db().commit()
    return render_template("cases/preview.html", record=rec, case=case, policy=policy, plan=plan,
                           documents=documents, names=names, type_words=REDACTION_WORDS,
                           field_words=reportview.field_words, date_words=reportview.date_words,
                           min_confidence=limits.MIN_OCR_CONFIDENCE)


def _stored_preview(job: Job, fingerprint: str) -> dict | None:
    """The stored result of a finished preview job, when it is there, made from ``fingerprint``, and
    says how each page was checked (a result stored before it did is converted again)."""
    try:
        stored = json.loads(preview_result_path(services().previews_dir, job.id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored.get("fingerprint") != fingerprint:
        return None
    return stored if all("page_checks" in item for item in stored.get("included", [])) else None


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
    kind = "appeal" if form.kind.data == "appeal" else "build"    # a job kind: build (the request) or appeal
    job = _start(rec, kind, input_fingerprint(case, policy), override_reason=reason)
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
    elif kind in ("build", "appeal"):
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
    # A job this server still waits for is not lost, even if its process is already gone: its thread tells why.
    if mark_lost_jobs(db(), host=this_host(), now=svc.now(), alive=lambda pid: watched(pid) or pid_alive(pid)):
        db().commit()
    row = db().get(Job, job_id)
    if row is None or row.case_pk != rec.id:
        abort(404)
    if row.kind == "preview" and row.state == "done":
        return redirect(url_for("cases.preview", pk=pk))
    outputs = build_outputs(services().builds_dir, row.build) if row.build is not None else []
    return render_template("cases/job.html", record=rec, job=row, stage_words=STAGE_WORDS,
                           refresh_seconds=JOB_REFRESH_SECONDS, outputs=outputs)


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


_OUTPUT_TYPES = {"part": "application/pdf", "fax-tiff": "image/tiff", "pas": "application/fhir+json"}


@bp.get("/<int:pk>/builds/<int:build_id>/outputs/<key>")
def download_output(pk: int, build_id: int, key: str):
    """Download one channel-ready output of a build: a part, a fax TIFF or the FHIR PAS Bundle (SPEC section 11).

    The TIFF and the Bundle are made on first request and kept beside the packet. Every download is
    audited as ``packet.download`` with which output (never a value from the case).
    """
    rec, row = _get_build(pk, build_id)
    svc = services()
    output = next((o for o in build_outputs(svc.builds_dir, row) if o.key == key), None)
    if output is None:
        abort(404)
    case = policy = None
    current = True
    if output.kind == "pas":
        try:
            case, policy = load_case(rec)
        except PacketizerError as exc:
            return render_template("cases/broken.html", record=rec, message=exc.message), 409
        current = not build_currency(rec, case, policy).is_stale(row)
    try:
        path = output_path(svc.builds_dir, row, output, case=case, policy=policy, current=current, created=svc.now())
    except PacketizerError as exc:
        if exc.code == "not_found":
            abort(404)
        flash(f"{output.label}: {wording.message_words(exc.message)}", "error")
        return redirect(url_for("cases.show", pk=rec.id) + "#builds")
    record("packet.download", "build", row.id, case_id=rec.case_id, file=output.key)
    db().commit()
    return send_file(path, mimetype=_OUTPUT_TYPES[output.kind], as_attachment=True, download_name=output.file_name,
                     max_age=0)


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
    files = [(label, url_for("cases.download", pk=rec.id, build_id=row.id, what=what))
             for label, what in (("JSON", "report.json"), ("HTML", "report.html"))]
    return render_template("cases/report.html", record=rec, build=row, view=reportview.report_view(data),
                           report_files=files)

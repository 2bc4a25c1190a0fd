"""Staff: upload a manifest and a ZIP of notes, watch the batch build, download its report and packets.

The batch runs in a background thread of the server process (see
:mod:`packetizer.batch.background`); the built cases join the case list
(:mod:`packetizer.casebook.batchimport`). The progress page reloads itself every two seconds with a
``<meta http-equiv="refresh">`` while it runs, so no JavaScript is needed.
Downloads are named by the batch report only: a packet is served when its
file name is a packet of a row of that batch's report, never as a path the
browser chose.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from .. import limits
from ..batch.background import INPUT_DIR, OUT_DIR, STATE_WORDS, BatchJobs, BatchStatus, RunSettings, remove_folder
from ..batch.manifest import manifest_error, read_manifest
from ..batch.report import REPORT_CSV, REPORT_JSON
from ..batch.zipin import MANIFEST_FIELD, MANIFEST_SUFFIXES, NOTES_FIELD, stage_upload
from ..casebook.audit import SYSTEM, write_audit
from ..casebook.batchimport import CaseList, plain_file_name, read_tracking, track_built_cases, write_tracking
from ..casebook.folders import display_name
from ..errors import ErrorCode, PacketizerError
from .forms import ActionForm
from .security import blueprint_roles, record
from .services import EXTENSION_KEY as SERVICES_KEY, WebServices, db, services
from .wording import megabytes

log = logging.getLogger(__name__)

bp = Blueprint("batches", __name__, url_prefix="/batches")
blueprint_roles(bp, "staff", "admin")

#: Where an app keeps its :class:`BatchJobs`.
EXTENSION_KEY = "packetizer.batches"
UPLOAD_ENDPOINT = "batches.new"
_REPORTS = {REPORT_CSV: "text/csv", REPORT_JSON: "application/json"}


class BatchUploadForm(FlaskForm):
    manifest = FileField("Manifest (.csv, .json or .jsonl)", validators=[FileRequired("choose a manifest file")])
    notes = FileField("Notes (.zip, optional)")


def init_app(app: Flask) -> None:
    """Give ``app`` its background batches, and the batch upload its larger request limit.

    Call it before ``CSRFProtect(app)``: the limit must be raised before anything reads the form,
    and CSRFProtect reads it in its own ``before_request`` hook, which runs in the order hooks
    were added.
    """
    svc: WebServices = app.extensions[SERVICES_KEY]

    def finished(status: BatchStatus) -> None:
        # Runs in the batch thread, outside any request: its own session, the system as actor.
        with svc.registry.session() as session:
            write_audit(session, SYSTEM, "batch.finish", "batch", status.batch_id, now=svc.now(), detail={
                "state": status.state, "started_by": status.created_by, "total": status.total,
                "built": status.built, "skipped": status.skipped, "failed": status.failed})

    def built(status: BatchStatus, folder, manifest, rows) -> None:
        # Runs in the batch thread too: the built cases join the case list, to be tracked there.
        case_list = CaseList(svc.registry, svc.cases_dir, svc.builds_dir, svc.payers(), svc.now, svc.today())
        tracked = track_built_cases(case_list, batch_id=status.batch_id, manifest=manifest,
                                    out_dir=folder / OUT_DIR, rows=rows, started_by=status.created_by,
                                    built_by=f"web:{status.created_by}")
        write_tracking(folder, tracked)

    app.extensions[EXTENSION_KEY] = BatchJobs(svc.instance / "batches", svc.now, on_finish=finished,
                                              on_built=built)
    app.before_request(_raise_upload_limit)


def _raise_upload_limit() -> None:
    # The upload may be far larger than one document.
    if request.endpoint == UPLOAD_ENDPOINT and request.method == "POST":
        request.max_content_length = limits.MAX_BATCH_UPLOAD_REQUEST_BYTES


def jobs() -> BatchJobs:
    return current_app.extensions[EXTENSION_KEY]


@bp.get("/")
def index():
    """The latest batches, newest first (batches past BATCH_KEEP_DAYS are removed first)."""
    _remove_expired()
    return render_template("batches/index.html", batches=jobs().recent(), state_words=STATE_WORDS)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """The upload form; a good upload starts the batch and shows its progress page."""
    form = BatchUploadForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _upload_page(form, []), status
    manifest = form.manifest.data
    shown = display_name(manifest.filename or "manifest")
    data = manifest.read(limits.MAX_MANIFEST_BYTES + 1)
    notes = form.notes.data if getattr(form.notes.data, "filename", None) else None
    store = jobs()
    try:
        _check_manifest(shown, data)
        if store.running_count() >= limits.MAX_RUNNING_WEB_BATCHES:
            raise PacketizerError(f"{limits.MAX_RUNNING_WEB_BATCHES} batches are already running, as many as "
                                  "may run at once; start this one when one has finished",
                                  code=ErrorCode.BUSY)
        _remove_expired()
        batch_id, folder = store.new_folder()
        try:
            saved = stage_upload(shown, data, notes.stream if notes else None, folder / INPUT_DIR)
            cases = _read_cases(saved, shown)
            svc = services()
            settings = RunSettings(archive=svc.archive_location, spool=svc.spool, payers_dir=svc.payers_dir,
                                   today=svc.today(), built_by=f"web:{current_user.username}",
                                   workers=limits.WEB_BATCH_WORKERS)
            store.start(batch_id, folder, saved, created_by=current_user.username, settings=settings,
                        total=cases)
        except BaseException:
            remove_folder(folder)  # a refused upload leaves nothing behind
            raise
    except PacketizerError as exc:
        field = NOTES_FIELD if exc.field == NOTES_FIELD else MANIFEST_FIELD
        return _upload_page(form, [(field, exc.message)]), 400
    record("batch.start", "batch", batch_id, manifest=saved.suffix.lstrip("."), cases=cases,
           notes_zip=notes is not None)
    db().commit()
    flash(f"Batch started: {cases} case{'s' if cases != 1 else ''}.", "success")
    return redirect(url_for("batches.show", batch_id=batch_id))


def _remove_expired() -> None:
    """Remove the folders of batches that ended more than BATCH_KEEP_DAYS ago (packets stay archived)."""
    keep_days = current_app.config["BATCH_KEEP_DAYS"]
    removed = jobs().remove_expired(keep_days)
    for batch_id in removed:
        record("batch.expire", "batch", batch_id, actor="system", role="system", keep_days=keep_days)
    if removed:
        db().commit()


def _kept_until(status: BatchStatus) -> str | None:
    """The day an ended batch's folder will be removed (UTC), or None while it runs."""
    if status.active or not (status.finished or status.created):
        return None
    ended = dt.datetime.strptime(status.finished or status.created, "%Y-%m-%dT%H:%M:%SZ")
    return (ended + dt.timedelta(days=current_app.config["BATCH_KEEP_DAYS"])).date().isoformat()


def _upload_page(form: BatchUploadForm, problems: list[tuple[str, str]]):
    return render_template("batches/new.html", form=form, problems=problems,
                           suffixes=",".join(s for s in MANIFEST_SUFFIXES))


def _check_manifest(name: str, data: bytes) -> None:
    """Cheap checks before anything is written: type by suffix and by content, size, text."""
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix not in MANIFEST_SUFFIXES:
        raise manifest_error(name, f"use a {', '.join(MANIFEST_SUFFIXES)} file")
    if len(data) > limits.MAX_MANIFEST_BYTES:
        # Only one byte past the limit was read: the size itself is unknown.
        raise manifest_error(name, f"it is larger than {megabytes(limits.MAX_MANIFEST_BYTES)}, the largest "
                                   "manifest accepted")
    if b"\0" in data:
        raise manifest_error(name, "not a text file (it holds binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise manifest_error(name, "not UTF-8 text (save the export as CSV UTF-8)") from None
    head = text.lstrip()
    if not head:
        raise manifest_error(name, "the file is empty")
    if suffix == ".json" and head[0] not in "[{":
        raise manifest_error(name, "not JSON (a JSON manifest starts with [ or {)")
    if suffix in (".jsonl", ".ndjson") and head[0] != "{":
        raise manifest_error(name, "not JSON Lines (each line is one case object)")
    if suffix == ".csv" and "case_id" not in head.splitlines()[0]:
        raise manifest_error(name, "the first line must be the CSV header (with a case_id column)")


def _read_cases(saved, shown: str) -> int:
    """Read the staged manifest once so an unusable one is a form error now, not a failed batch later."""
    try:
        entries = read_manifest(saved).entries
    except PacketizerError as exc:
        raise exc.about(shown) from None
    if not entries:
        raise manifest_error(shown, "no cases in it")
    return len(entries)


def _status_or_404(batch_id: str) -> BatchStatus:
    status = jobs().status(batch_id)
    if status is None:
        abort(404)
    return status


@bp.get("/<batch_id>")
def show(batch_id: str):
    """Progress while the batch runs (the page refreshes itself), then the report with downloads."""
    status = _status_or_404(batch_id)
    report = None if status.active else jobs().report(batch_id)
    rows = report["rows"] if report else [row.to_dict() for row in jobs().finished_rows(batch_id)]
    tracking = read_tracking(jobs().folder(batch_id)) if report else {}
    return render_template("batches/show.html", status=status, report=report, rows=rows, tracking=tracking,
                           kept_until=_kept_until(status),
                           state_words=STATE_WORDS, stop_form=ActionForm(),
                           reports=(REPORT_CSV, REPORT_JSON))


@bp.get("/<batch_id>/status")
def status_json(batch_id: str):
    """The status as JSON, for scripts and monitoring (counts only, no PHI)."""
    status = _status_or_404(batch_id)
    return {"batch_id": status.batch_id, "state": status.state, "total": status.total, "done": status.done,
            "built": status.built, "skipped": status.skipped, "failed": status.failed,
            "created": status.created, "finished": status.finished}


@bp.post("/<batch_id>/stop")
def stop(batch_id: str):
    """Stop the batch: cases being built finish, the rest are reported as not built."""
    _status_or_404(batch_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if jobs().stop(batch_id):
        record("batch.stop", "batch", batch_id)
        db().commit()
        flash("Stopping: the cases being built will finish, the rest will not be built.", "info")
    else:
        flash("The batch is not running.", "info")
    return redirect(url_for("batches.show", batch_id=batch_id))


@bp.post("/<batch_id>/delete")
def delete(batch_id: str):
    """Remove an ended batch's folder now; its packets stay archived and its cases in the case list."""
    status = _status_or_404(batch_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not jobs().remove(batch_id):
        flash("A running batch cannot be deleted; stop it first.", "error")
        return redirect(url_for("batches.show", batch_id=batch_id))
    record("batch.delete", "batch", batch_id, state=status.state, built=status.built)
    db().commit()
    flash("Batch deleted. Its packets stay in the archive, and the cases it built stay in the case list.", "info")
    return redirect(url_for("batches.index"))


@bp.get("/<batch_id>/<any('batch-report.csv', 'batch-report.json'):name>")
def download_report(batch_id: str, name: str):
    """The batch report (CSV with formula cells escaped, or JSON), as a download."""
    _status_or_404(batch_id)
    path = jobs().out_dir(batch_id) / name
    if not path.is_file():
        abort(404)
    record("batch.report_download", "batch", batch_id, file=name)
    db().commit()
    return send_file(path, mimetype=_REPORTS[name], as_attachment=True, download_name=name, max_age=0)


@bp.get("/<batch_id>/packets/<name>")
def download_packet(batch_id: str, name: str):
    """A packet the batch built: ``name`` must be the packet of one of the report's rows."""
    _status_or_404(batch_id)
    report = jobs().report(batch_id)
    row = next((r for r in (report or {}).get("rows", [])
                if r.get("packet") == name and r.get("status") in ("built", "skipped")), None)
    if row is None:
        abort(404)
    packet = row["packet"]
    if not plain_file_name(packet):
        abort(404)  # the report is ours, but a packet is always a plain file name in out/
    path = jobs().out_dir(batch_id) / packet
    if not path.is_file():
        abort(404)
    record("batch.packet_download", "batch", batch_id, case_id=row.get("case_id"), file=packet)
    db().commit()
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=packet, max_age=0)

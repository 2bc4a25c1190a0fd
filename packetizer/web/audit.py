"""Auditors: search the archive, read a version's manifest and report, download it, verify it; the audit log."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, abort, flash, make_response, render_template, request
from sqlalchemy import func, select

from ..archive import MANIFEST_OBJECT, check_id, check_sha_prefix, find_versions, list_versions, retrieve_version, verify_version
from ..errors import ErrorCode, IntegrityError, NotFound, PacketizerError, StorageError
from ..casebook.audit import AuditFilter, audit_log_query, log_actions
from ..registry import AuditEntry, verify_audit_chain
from . import reportview
from .forms import ActionForm, ArchiveSearchForm, AuditLogFilterForm
from .security import blueprint_roles, record
from .services import db, services

bp = Blueprint("audit", __name__, url_prefix="/audit")
blueprint_roles(bp, "auditor", "admin")

AUDIT_PAGE_SIZE = 100
_REPORT_OBJECT = "disclosure-report.json"


def _created_date(created: str | None) -> dt.date | None:
    if not created:
        return None
    try:
        return dt.datetime.fromisoformat(created.replace("Z", "+00:00")).date()
    except ValueError:
        return None


@bp.get("/archive")
def archive():
    """Search archived submissions by case id, payer and creation date."""
    form = ArchiveSearchForm(request.args)
    versions, error, searched = [], None, bool(request.args)
    if searched and form.validate():
        case_id = (form.case_id.data or "").strip() or None   # any part of the id, in any case
        payer_id = (form.payer_id.data or "").strip() or None
        try:
            versions = list_versions(services().storage(), case_id_part=case_id, payer_id=payer_id)
        except StorageError as exc:
            error = exc.message
        low, high = form.date_from.data, form.date_to.data
        if low or high:
            versions = [v for v in versions if (created := _created_date(v.created)) is not None
                        and (low is None or created >= low) and (high is None or created <= high)]
        versions = list(reversed(versions))  # newest first
        record("archive.search", "archive", case_id or "*", payer_id=payer_id,
               date_from=low.isoformat() if low else None, date_to=high.isoformat() if high else None,
               results=len(versions))
        db().commit()
    return render_template("audit/archive.html", form=form, versions=versions, error=error, searched=searched)


def _version(payer_id: str, case_id: str, sha: str):
    try:
        check_id(payer_id, "payer_id")
        check_id(case_id, "case_id")
        if len(check_sha_prefix(sha)) != 64:
            abort(404)
        matches = find_versions(services().storage(), case_id, sha, payer_id=payer_id)
    except NotFound:
        abort(404)
    except StorageError as exc:
        if exc.code == ErrorCode.BAD_ID:
            abort(404)
        raise
    if not matches:
        abort(404)
    return matches[-1]


@bp.get("/archive/<payer_id>/<case_id>/<sha>")
def version(payer_id: str, case_id: str, sha: str):
    """One archived version: its manifest, disclosure report and files."""
    found = _version(payer_id, case_id, sha)
    storage = services().storage()
    manifest, report, problem = None, None, None
    try:
        manifest = json.loads(storage.get(found.manifest_key).decode("utf-8"))
        report = manifest.get("disclosure")
    except (PacketizerError, ValueError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "message", "the manifest cannot be read")
    files = [MANIFEST_OBJECT, *sorted((manifest or {}).get("objects", {})), "packet.pdf"]
    record("archive.view", "archive_version", found.prefix, case_id=case_id, sha256=sha[:16])
    db().commit()
    return render_template("audit/version.html", version=found, manifest=manifest, view=_report_view(report),
                           problem=problem, files=files, verify_form=ActionForm(), results=None)


@bp.post("/archive/<payer_id>/<case_id>/<sha>/verify")
def verify(payer_id: str, case_id: str, sha: str):
    """Recompute every hash of the version against its manifest, from the page."""
    found = _version(payer_id, case_id, sha)
    problems = verify_version(services().storage(), found)
    record("archive.verify", "archive_version", found.prefix, case_id=case_id, sha256=sha[:16],
           intact=not problems, problems=len(problems))
    db().commit()
    storage = services().storage()
    try:
        manifest = json.loads(storage.get(found.manifest_key).decode("utf-8"))
    except (PacketizerError, ValueError, UnicodeDecodeError):
        manifest = None
    files = [MANIFEST_OBJECT, *sorted((manifest or {}).get("objects", {})), "packet.pdf"]
    return render_template("audit/version.html", version=found, manifest=manifest,
                           view=_report_view((manifest or {}).get("disclosure")), problem=None, files=files,
                           verify_form=ActionForm(), results=[str(p) for p in problems]), 200 if not problems else 409


def _report_view(report: dict | None) -> reportview.ReportView | None:
    """The archived disclosure report shaped for the page, as on the staff report page."""
    return reportview.report_view(report) if isinstance(report, dict) else None


@bp.get("/archive/<payer_id>/<case_id>/<sha>/files/<name>")
def download(payer_id: str, case_id: str, sha: str, name: str):
    """Exactly the archived bytes, each checked against the manifest before it is sent."""
    found = _version(payer_id, case_id, sha)
    storage = services().storage()
    try:
        files = retrieve_version(storage, found)
    except IntegrityError as exc:
        record("archive.download_refused", "archive_version", found.prefix, case_id=case_id, file=name[:60])
        db().commit()
        flash(f"Not sent: the archived files differ from their manifest ({exc.message}). Run the integrity check.",
              "error")
        return render_template("audit/version.html", version=found, manifest=None, view=None,
                               problem="the archived files differ from their manifest", files=[],
                               verify_form=ActionForm(), results=None), 409
    wanted = {"packet.pdf": files[-1][0]}.get(name, name)
    for file_name, data in files:
        if file_name == wanted:
            break
    else:
        abort(404)
    record("archive.download", "archive_version", found.prefix, case_id=case_id, file=name[:60])
    db().commit()
    response = make_response(data)
    response.headers["Content-Type"] = {"pdf": "application/pdf", "json": "application/json",
                                        "html": "text/html; charset=utf-8"}.get(file_name.rsplit(".", 1)[-1],
                                                                                "application/octet-stream")
    # Always a download: an archived HTML report must not run as a page of this site.
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


def _log_filter_form() -> AuditLogFilterForm:
    form = AuditLogFilterForm(request.args)
    form.action.choices = [("", "Any action")] + [(a, a) for a in log_actions(db())]
    return form


@bp.get("/log")
def log():
    """The audit log, newest first, a page at a time; filtered by user, action, case id and date.

    The page links carry the filters, so paging keeps them.
    """
    page = max(1, request.args.get("page", 1, type=int))
    form = _log_filter_form()
    wanted = AuditFilter()
    if any(request.args.get(name) for name in ("actor", "action", "case_id", "date_from", "date_to")):
        if form.validate():
            wanted = AuditFilter(actor=(form.actor.data or "").strip(), action=form.action.data or "",
                                 case_id=(form.case_id.data or "").strip(), date_from=form.date_from.data,
                                 date_to=form.date_to.data)
    query = audit_log_query(wanted)
    total = db().scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db().scalars(query.order_by(AuditEntry.seq.desc()).offset((page - 1) * AUDIT_PAGE_SIZE)
                        .limit(AUDIT_PAGE_SIZE)).all()
    return render_template("audit/log.html", rows=rows, page=page, total=total, page_size=AUDIT_PAGE_SIZE,
                           verify_form=ActionForm(), result=None, form=form, filters=wanted.as_args(),
                           filtered=wanted.narrowed)


@bp.post("/log/verify")
def log_verify():
    """Check the whole hash chain of the audit log."""
    count, problems = verify_audit_chain(db())
    record("audit_log.verify", "audit_log", "all", rows=count, intact=not problems)
    db().commit()
    rows = db().scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(AUDIT_PAGE_SIZE)).all()
    return render_template("audit/log.html", rows=rows, page=1, total=count + 1, page_size=AUDIT_PAGE_SIZE,
                           verify_form=ActionForm(), result={"count": count, "problems": [str(p) for p in problems]},
                           form=_log_filter_form(), filters={}, filtered=False)

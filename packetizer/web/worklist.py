"""Staff: the denial worklist. Upload the payer's 835 remittances; every denial listed, soonest deadline first.

Each file is read and triaged by :mod:`packetizer.era` and stored by
:mod:`packetizer.casebook.worklist`; a file that is not a well-formed 835 is
refused with the segment and the problem, and nothing of it is stored. The
results are shown on the page that answers the upload, not carried in a
redirect: file names may name a patient, and a flash message would put them
in the session cookie. **Start request** opens the case form pre-filled from
the claim (``/cases/new?worklist=<item>``); saving the case links it to the item.

Audited: ``era.upload`` (per file: counts, never names), ``worklist.view``,
``worklist.start``, ``worklist.prefill`` (the pre-filled case form shown, in cases.py), ``worklist.done`` and
``worklist.reopen`` (item ids only).
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField
from wtforms.validators import Optional

from .. import limits
from ..casebook.folders import display_name
from ..casebook.tracking import STATUS_WORDS
from ..casebook.worklist import (CLAIM_STATUS_WORDS, RESOLUTION_WORDS, STATE_FILTERS, TRIAGE_WORDS, import_file,
                                 read_file, rows, set_done)
from ..errors import PacketizerError
from ..registry import WorklistItem
from .casework import row_or_404
from .forms import ActionForm, choices
from .security import blueprint_roles, current_actor, record
from .services import db, services
from .wording import megabytes

log = logging.getLogger(__name__)

bp = Blueprint("worklist", __name__, url_prefix="/worklist")
blueprint_roles(bp, "staff", "admin")

UPLOAD_ENDPOINT = "worklist.upload"
#: The name the reader is given for a file: the user's file name may name a patient, and the reader's
#: messages could quote it; the page tells each result beside the name the user chose.
READER_NAME = "remittance"

STATE_WORDS = {"open": "Open", "done": "Done", "all": "Open and done"}


class EraUploadForm(FlaskForm):
    files = MultipleFileField("Remittance files (835)")


class WorklistFilterForm(FlaskForm):
    triage = SelectField("Kind of denial", choices=choices([("", "Any kind")] + list(TRIAGE_WORDS.items())),
                         validators=[Optional()])
    state = SelectField("Show", choices=choices(STATE_WORDS.items()), default="open", validators=[Optional()])


def init_app(app) -> None:
    """Raise the upload's request limit before CSRFProtect reads the form (call before ``CSRFProtect(app)``)."""
    app.before_request(_raise_upload_limit)


def _raise_upload_limit() -> None:
    # Several 835 files come in one request; a server configured below the default keeps its own limit.
    if (request.endpoint == UPLOAD_ENDPOINT and request.method == "POST"
            and (current_app.config["MAX_CONTENT_LENGTH"] or 0) >= limits.MAX_UPLOAD_REQUEST_BYTES):
        request.max_content_length = limits.MAX_ERA_UPLOAD_REQUEST_BYTES


def _filters() -> tuple[WorklistFilterForm, str, str]:
    form = WorklistFilterForm(request.args, meta={"csrf": False})
    triage = form.triage.data if form.triage.data in TRIAGE_WORDS else ""
    state = form.state.data if form.state.data in STATE_FILTERS else "open"
    form.triage.data, form.state.data = triage, state
    return form, triage, state


def _page(*, results=None, status: int = 200):
    form, triage, state = _filters()
    svc = services()
    listed = rows(db(), today=svc.today(), triage=triage, state=state)
    record("worklist.view", "worklist", "*", items=len(listed), triage=triage or "any", state=state)
    db().commit()
    return render_template(
        "worklist/index.html", rows=listed, filters=form, upload_form=EraUploadForm(), action_form=ActionForm(),
        results=results, today=svc.today(), triage_words=TRIAGE_WORDS, claim_status_words=CLAIM_STATUS_WORDS,
        resolution_words=RESOLUTION_WORDS, status_words=STATUS_WORDS, files_per_upload=limits.ERA_FILES_PER_UPLOAD,
        largest=megabytes(limits.MAX_REMITTANCE_BYTES), narrowed=bool(triage) or state != "open",
        # Only the known filters are carried into the forms' addresses, never any other query argument.
        filter_args={**({"triage": triage} if triage else {}), **({"state": state} if state != "open" else {})},
    ), status


@bp.get("/")
def index():
    """The worklist: open items soonest deadline first; filtered by kind of denial and open or done."""
    return _page()


@bp.post("/upload")
def upload():
    """Take one or more 835 files into the worklist; each file is imported or refused on its own."""
    form = EraUploadForm()
    if not form.validate_on_submit():
        abort(400)
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        return _page(results=[{"name": None, "refused": "Choose one or more 835 files to upload."}], status=422)
    if len(files) > limits.ERA_FILES_PER_UPLOAD:
        return _page(results=[{"name": None, "refused": f"Upload at most {limits.ERA_FILES_PER_UPLOAD} files at "
                                                        "once."}], status=422)
    svc = services()
    results = []
    for number, upload_file in enumerate(files, start=1):
        shown = display_name(upload_file.filename)
        data = upload_file.read(limits.MAX_REMITTANCE_BYTES + 1)
        if len(data) > limits.MAX_REMITTANCE_BYTES:
            results.append({"name": shown, "refused": f"It is larger than {megabytes(limits.MAX_REMITTANCE_BYTES)}, "
                                                      "the largest remittance file accepted. Nothing was stored."})
            record("era.refuse", "era_upload", "-", file=number, reason="too_large")
            continue
        try:
            read = read_file(data, name=READER_NAME, payers=svc.payers(), today=svc.today())
        except PacketizerError as exc:
            results.append({"name": shown, "refused": _refusal_words(exc)})
            record("era.refuse", "era_upload", "-", file=number, reason=str(exc.code))
            continue
        result = _import(read)
        results.append({"name": shown, "result": result})
        log.info("835 file %d of %d taken into the worklist as upload %d: %d claim(s), %d new",
                 number, len(files), result.upload_id, result.claims, result.new_items)
    db().commit()
    refused_all = all("refused" in r for r in results)
    return _page(results=results, status=422 if refused_all else 200)


def _import(read):
    """Store one read file; when another upload of the same claims stored them first (a double click), again."""
    svc = services()
    for attempt in (1, 2):
        nested = db().begin_nested()
        try:
            result = import_file(db(), read, actor=current_actor(), now=svc.now(), today=svc.today())
        except IntegrityError:  # the unique claim key: the other upload's items are there now, so update them
            nested.rollback()
            if attempt == 2:
                raise
            continue
        nested.commit()
        return result


def _refusal_words(exc: PacketizerError) -> str:
    """A refused file told to staff: the reader's problem (it names the segment), and that nothing was kept."""
    return f"Not a readable 835 remittance, so nothing of it was stored: {exc.detail.rstrip('.')}."


@bp.post("/<int:item_id>/start")
def start(item_id: int):
    """Start a retro request from a missing-authorization denial: the case form, pre-filled from the claim."""
    item = row_or_404(WorklistItem, item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if item.case_pk is not None:
        flash("A request was already started for this claim: this is its case.", "info")
        return redirect(url_for("cases.show", pk=item.case_pk))
    if item.triage != "retro":
        flash("This denial is not about a missing authorization: fix what the worklist says instead.", "error")
        return redirect(url_for("worklist.index"))
    record("worklist.start", "worklist_item", item.id)
    db().commit()
    return redirect(url_for("cases.new", worklist=item.id))


@bp.post("/<int:item_id>/done")
def done(item_id: int):
    """Mark an item done (it leaves the open list), or open it again."""
    item = row_or_404(WorklistItem, item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    finish = request.form.get("done") == "1"
    set_done(db(), item, finish, actor=current_actor(), now=services().now())
    db().commit()
    flash("Marked done." if finish else "Open again.", "success")
    return redirect(url_for("worklist.index", **{k: v for k, v in request.args.items() if k in ("triage", "state")}))

"""What the case views share: find a case or 404, check a case mapping as the form shows it, the tracking forms."""

from __future__ import annotations

from flask import abort

from ..casebook.cases import case_folder, load_stored_case, validate_case
from ..casebook.channel import BuildCurrency
from ..casebook.folders import CaseFolder
from ..casebook.tracking import case_corrections, latest_submission, next_follow_up, open_info_request
from ..checks.validation import check_document
from ..model import Case, PayerPolicy
from ..policy import PayerRegistry
from ..registry import CaseRecord, Determination, InfoRequest, Submission
from .caseform import missing_required
from .forms import (DETERMINATION_WORDS, DeterminationCorrectionForm, DeterminationForm, InfoAnsweredForm,
                    InfoRequestCorrectionForm, InfoRequestForm, SubmissionCorrectionForm, SubmissionForm, choices)
from .services import db, services


def row_or_404(model, pk: int):
    """The ``model`` row with primary key ``pk``, or a 404 page."""
    row = db().get(model, pk)
    if row is None:
        abort(404)
    return row


def get_record(pk: int) -> CaseRecord:
    return row_or_404(CaseRecord, pk)


def folder_of(record: CaseRecord) -> CaseFolder:
    return case_folder(services().cases_dir, record)


def load_case(record: CaseRecord) -> tuple[Case, PayerPolicy]:
    """The stored case and its payer policy (CaseError / PolicyError when they no longer load)."""
    return load_stored_case(services().cases_dir, record, services().payers())


def validate(doc: dict, folder: CaseFolder, payers: PayerRegistry, *, case_pk: int | None) -> tuple[Case | None, list]:
    """Check a case mapping the way every door does; return the case or every problem found as (path, message).

    Every required form field left empty is listed first, each beside its input.
    A case refused for these is also given the field checks a saved case gets on
    its page (NPI check digits, billable ICD-10-CM codes, dates in the future,
    see :func:`~packetizer.checks.validation.check_document`) for every value
    that is well formed, so one save tells every problem (issue 16).
    """
    missing = missing_required(doc)
    case, problems = validate_case(db(), doc, folder, payers, case_pk=case_pk)
    if missing:
        case, problems = None, _merge(missing, problems)
    if case is None:
        told = {path for path, _ in problems}
        problems += [(f.field, f.message) for f in check_document(doc, services().today())
                     if f.field not in told and _parent(f.field) not in told]
    return case, problems


def _parent(path: str) -> str:
    """``services[0].diagnosis_codes[1]`` -> ``services[0].diagnosis_codes`` (the input the list is typed in)."""
    return path.rsplit("[", 1)[0] if path.endswith("]") else path


def _merge(first: list, second: list) -> list:
    """Both lists of (path, message), each path's first message only, in order."""
    seen, out = set(), []
    for path, message in first + second:
        if path not in seen:
            seen.add(path)
            out.append((path, message))
    return out


def build_choices(rec: CaseRecord, currency: BuildCurrency | None = None) -> list:
    """The case's packets, newest first, as the "Packet sent" select offers them, after an empty first choice.

    With ``currency``, a packet built from an older version of the case or its
    documents says so in its label: it can still be chosen, but deliberately.
    """
    def label(b) -> str:
        stale = " — OUT OF DATE" if currency is not None and currency.is_stale(b) else ""
        return f"{b.file_name} ({b.pages} pp., {b.created_at:%Y-%m-%d %H:%M} UTC){stale}"

    return choices([("", "— choose the packet sent —"), *((b.id, label(b)) for b in reversed(rec.builds))])


_PREFIXES = {Submission: "sub", InfoRequest: "req", Determination: "det"}


def correction_prefix(row: Submission | InfoRequest | Determination) -> str:
    """The input names of one record's correction form (a page holds one per record, each its own)."""
    return f"{_PREFIXES[type(row)]}{row.id}"


def correction_forms(rec: CaseRecord, currency: BuildCurrency | None = None) -> dict[str, object]:
    """A correction form for every current record of the case, filled with the record as it stands."""
    forms: dict[str, object] = {}
    for sub in rec.current_submissions:
        form = SubmissionCorrectionForm(prefix=correction_prefix(sub), formdata=None, submitted_on=sub.submitted_on,
                                        channel=sub.channel, reference=sub.reference, build_id=sub.build_id)
        form.build_id.choices = build_choices(rec, currency)
        forms[correction_prefix(sub)] = form
        for req in sub.current_info_requests:
            forms[correction_prefix(req)] = InfoRequestCorrectionForm(
                prefix=correction_prefix(req), formdata=None, requested_on=req.requested_on, due_on=req.due_on,
                note=req.note, responded_on=req.responded_on)
        decided = sub.current_determination
        if decided is not None:
            forms[correction_prefix(decided)] = DeterminationCorrectionForm(
                prefix=correction_prefix(decided), formdata=None, determination=decided.determination,
                determination_on=decided.decided_on, reason=decided.reason)
    return forms


def tracking_forms(rec: CaseRecord, policy: PayerPolicy, currency: BuildCurrency | None = None) -> dict:
    """The tracking forms for the case page, filled with sensible defaults, and the corrections made so far.

    The submission form preselects the newest packet built from the case as it is
    now (``currency``), and none when every packet is out of date.
    """
    today = services().today()
    submission = SubmissionForm(submitted_on=today, channel=policy.channel or "fax",
                                build_id=currency.preselected if currency is not None else None)
    submission.build_id.choices = build_choices(rec, currency)
    latest = latest_submission(rec)
    return {
        "submission_form": submission,
        "info_form": InfoRequestForm(requested_on=today),
        "answered_form": InfoAnsweredForm(responded_on=today),
        "determination_form": DeterminationForm(determination_on=today),
        "latest_submission": latest,
        "open_request": open_info_request(latest) if latest else None,
        "follow_up_days": policy.follow_up_days,
        "determination_words": DETERMINATION_WORDS,
        "correction_forms": correction_forms(rec, currency),
        "correction_prefix": correction_prefix,
        "corrections": case_corrections(rec),
        "next_follow_up": next_follow_up,
    }

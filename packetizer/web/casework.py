"""What the case views share: find a case or 404, check a case mapping as the form shows it, the tracking forms."""

from __future__ import annotations

from flask import abort

from ..casebook.cases import case_folder, load_stored_case, validate_case
from ..casebook.folders import CaseFolder
from ..casebook.tracking import open_info_request
from ..model import Case, PayerPolicy
from ..policy import PayerRegistry
from ..registry import CaseRecord
from .caseform import missing_required
from .forms import DETERMINATION_WORDS, DeterminationForm, InfoAnsweredForm, InfoRequestForm, SubmissionForm, choices
from .services import db, services


def get_record(pk: int) -> CaseRecord:
    record = db().get(CaseRecord, pk)
    if record is None:
        abort(404)
    return record


def folder_of(record: CaseRecord) -> CaseFolder:
    return case_folder(services().cases_dir, record)


def load_case(record: CaseRecord) -> tuple[Case, PayerPolicy]:
    """The stored case and its payer policy (CaseError / PolicyError when they no longer load)."""
    return load_stored_case(services().cases_dir, record, services().payers())


def validate(doc: dict, folder: CaseFolder, payers: PayerRegistry, *, case_pk: int | None) -> tuple[Case | None, list]:
    """Check a case mapping the way every door does; return the case or every problem found as (path, message).

    Every required form field left empty is listed first, each beside its input.
    """
    missing = missing_required(doc)
    case, problems = validate_case(db(), doc, folder, payers, case_pk=case_pk)
    if missing:
        return None, _merge(missing, problems)
    return case, problems


def _merge(first: list, second: list) -> list:
    """Both lists of (path, message), each path's first message only, in order."""
    seen, out = set(), []
    for path, message in first + second:
        if path not in seen:
            seen.add(path)
            out.append((path, message))
    return out


def tracking_forms(rec: CaseRecord, policy: PayerPolicy) -> dict:
    """The tracking forms for the case page, filled with sensible defaults."""
    today = services().today()
    submission = SubmissionForm(submitted_on=today, channel=policy.channel or "fax")
    submission.build_id.choices = choices((b.id, f"{b.file_name} ({b.pages} pp., {b.created_at:%Y-%m-%d %H:%M} UTC)")
                                          for b in reversed(rec.builds))
    latest = rec.submissions[-1] if rec.submissions else None
    return {
        "submission_form": submission,
        "info_form": InfoRequestForm(requested_on=today),
        "answered_form": InfoAnsweredForm(responded_on=today),
        "determination_form": DeterminationForm(determination_on=today),
        "latest_submission": latest,
        "open_request": open_info_request(latest) if latest else None,
        "follow_up_days": policy.follow_up_days,
        "determination_words": DETERMINATION_WORDS,
    }

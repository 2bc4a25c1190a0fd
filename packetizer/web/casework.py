"""Shared steps of the case views: find a case, validate a case mapping, keep the registry row current."""

from __future__ import annotations

import datetime as dt

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from ..caseio import case_from_mapping
from ..checks import CheckResult, run_checks
from ..errors import CaseError, PolicyError
from ..model import Case, PayerPolicy
from ..policy import PayerRegistry
from ..registry import CaseRecord
from ..registry.tracking import case_status
from ..schemas import schema_errors
from .casefiles import CaseFolder
from .caseform import missing_required
from .services import db, services


def get_record(pk: int) -> CaseRecord:
    record = db().get(CaseRecord, pk)
    if record is None:
        abort(404)
    return record


def folder_of(record: CaseRecord) -> CaseFolder:
    return CaseFolder.at(services().cases_dir, record.folder)


def load_case(record: CaseRecord) -> tuple[Case, PayerPolicy]:
    """The stored case and its payer policy (CaseError / PolicyError when they no longer load)."""
    case = folder_of(record).load()
    return case, services().payers().get(case.payer_id)


def validate(doc: dict, folder: CaseFolder, payers: PayerRegistry, *, case_pk: int | None) -> tuple[Case | None, list]:
    """Check a case mapping the way every door does; return the case or every problem found as (path, message)."""
    problems = _merge(missing_required(doc), schema_errors("case", doc))
    if not problems:
        try:
            case = case_from_mapping(doc, folder.root, source_name="case")
        except CaseError as exc:
            problems = [(exc.field or "(top level)", exc.told(beside_field=True))]
        else:
            try:
                payers.get(case.payer_id)
            except PolicyError:
                problems = [("payer_id", "is not a payer in the policy registry")]
            taken = db().scalar(select(CaseRecord.id).where(CaseRecord.case_id == case.case_id))
            if taken is not None and taken != case_pk:
                problems.append(("case_id", f"{case.case_id} is already used by another case"))
            if not problems:
                return case, []
    return None, problems


def refresh_checks(record: CaseRecord, case: Case, policy: PayerPolicy, *, today: dt.date | None = None) -> CheckResult:
    """Run the checks and copy what the case list needs into the registry row (time moves deadlines on).

    ``today`` defaults to the app's date; code outside a request (a batch thread) passes it.
    """
    result = run_checks(case, policy, today=today or services().today())
    record.case_id = case.case_id
    record.payer_id = case.payer_id
    record.first_date_of_service = case.first_date_of_service
    record.deadline = result.deadline
    record.ready = result.ready
    record.late_reason_category = case.late_reason.category
    record.service_codes = " ".join(sorted({s.code for s in case.services}))
    record.status = case_status(record)
    return result


def _merge(first: list, second: list) -> list:
    """Both lists of (path, message), each path's first message only, in order."""
    seen, out = set(), []
    for path, message in first + second:
        if path not in seen:
            seen.add(path)
            out.append((path, message))
    return out


def sync_record(record: CaseRecord, case: Case, policy: PayerPolicy) -> CheckResult:
    """After a change to the case: refresh the row and note who changed it when."""
    result = refresh_checks(record, case, policy)
    now = services().now()
    record.updated_at, record.updated_by = now, current_user.username
    if record.created_at is None:
        record.created_at, record.created_by = now, current_user.username
    return result

"""Case rows: a case file in its folder, and the registry row that lists and tracks it.

A case is checked the way every door checks one (:func:`packetizer.caseio.case_from_mapping`,
the payer registry, :func:`packetizer.pipeline.check_case`); its row copies what
the case list needs (ids, dates, deadline, readiness, codes) and what it is
searched by (member name, member id, claim number: patient data, which no log
line or audit row repeats).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..caseio import case_from_mapping
from ..checks import CheckResult
from ..errors import CaseError, PacketizerError, PolicyError
from ..model import Case, PayerPolicy
from ..pipeline import check_case
from ..policy import PayerRegistry
from ..registry import CaseRecord
from ..resources import schemas_dir
from .audit import Actor, write_audit
from .caselist import search_fold
from .folders import CaseFolder
from .tracking import update_status

#: Where a problem with the case as a whole is shown.
TOP_LEVEL = "(top level)"
#: At most this many changed field names go into one ``case.update`` audit row (the count is always there).
MAX_CHANGED_NAMES = 40


def case_folder(cases_dir: Path, record: CaseRecord) -> CaseFolder:
    return CaseFolder.at(cases_dir, record.folder)


def load_stored_case(cases_dir: Path, record: CaseRecord, payers: PayerRegistry) -> tuple[Case, PayerPolicy]:
    """The stored case and its payer policy.

    Raises:
        CaseError, PolicyError: they no longer load (a policy file was edited, say).
    """
    case = case_folder(cases_dir, record).load()
    return case, payers.get(case.payer_id)


def validate_case(session: Session, doc: dict, folder: CaseFolder, payers: PayerRegistry, *,
                  case_pk: int | None) -> tuple[Case | None, list[tuple[str, str]]]:
    """Check a case mapping as every door does, and that its payer is known and its case id free.

    A case that does not validate is still checked for its payer and case id
    (when they are text), so every problem is told in one round.

    Returns:
        The case and no problems, or None and every problem found as (field, message told beside it).
    """
    try:
        case = case_from_mapping(doc, folder.root, source_name="case")
    except CaseError as exc:
        case, problems = None, list(exc.problems) or [(exc.field or TOP_LEVEL, exc.told(beside_field=True))]
    else:
        problems = []
    told = {field for field, _ in problems}
    payer_id, case_id = (case.payer_id, case.case_id) if case is not None else (doc.get("payer_id"), doc.get("case_id"))
    if isinstance(payer_id, str) and payer_id and "payer_id" not in told:
        try:
            payers.get(payer_id)
        except PolicyError:
            problems.append(("payer_id", "is not a payer in the policy registry"))
    if isinstance(case_id, str) and case_id and "case_id" not in told:
        taken = session.scalar(select(CaseRecord.id).where(CaseRecord.case_id == case_id))
        if taken is not None and taken != case_pk:
            problems.append(("case_id", f"{case_id} is already used by another case"))
    return (None, problems) if problems else (case, [])


def refresh_checks(record: CaseRecord, case: Case, policy: PayerPolicy, *, today: dt.date) -> CheckResult:
    """Run the checks and copy what the case list needs into the row (time moves deadlines on)."""
    result = check_case(case, policy, today=today)
    record.case_id = case.case_id
    record.payer_id = case.payer_id
    record.first_date_of_service = case.first_date_of_service
    record.deadline = result.deadline
    record.ready = result.ready
    record.late_reason_category = case.late_reason.category
    record.service_codes = " ".join(sorted({s.code for s in case.services}))
    record.facility_name = case.facility.name[:200] if case.facility is not None and case.facility.name else None
    record.rendering_provider = case.rendering_provider.name[:200] or None
    copy_search_fields(record, case.raw)
    update_status(record)
    return result


def copy_search_fields(record: CaseRecord, doc: Mapping[str, Any]) -> None:
    """Copy what the case list is searched by (member name and id, claim number) from a case mapping."""
    member = doc.get("member") if isinstance(doc.get("member"), Mapping) else {}
    claim = doc.get("claim") if isinstance(doc.get("claim"), Mapping) else {}

    def text(part: Mapping, key: str, size: int) -> str | None:
        value = part.get(key)
        return None if value is None else (str(value).strip()[:size] or None)

    record.member_first_name = text(member, "first_name", 100)
    record.member_last_name = text(member, "last_name", 100)
    record.member_id = text(member, "member_id", 64)
    record.claim_number = text(claim, "claim_number", 64)
    record.search_text = search_fold(" ".join(filter(None, (
        record.member_first_name, record.member_last_name, record.member_id, record.claim_number))))[:400]


#: Rows the start-up fill of the search fields reads and commits at a time.
SEARCH_FILL_BATCH = 200


def fill_search_fields(session: Session, cases_dir: Path, *, after_id: int = 0,
                       limit: int | None = None) -> tuple[int, int | None]:
    """Fill the search fields of up to ``limit`` rows made before they existed (ids above ``after_id``,
    in id order), from their case files; the caller commits.

    A row whose case file cannot be read keeps them empty (it is tried again at the next start).
    Returns how many rows were filled, and the last id read (None when there were none left).
    """
    filled, last = 0, None
    rows = session.scalars(select(CaseRecord).where(CaseRecord.search_text.is_(None), CaseRecord.id > after_id)
                           .order_by(CaseRecord.id).limit(limit or SEARCH_FILL_BATCH))
    for record in rows:
        last = record.id
        try:
            doc = case_folder(cases_dir, record).read()
        except PacketizerError:   # the file is gone or damaged (CaseFolder.read says which)
            continue
        if isinstance(doc, Mapping):
            copy_search_fields(record, doc)
            filled += 1
    return filled, last


def changed_fields(before: Any, after: Any) -> list[str]:
    """The names of the fields that differ between two case mappings (``member.last_name``, ``services[1]``).

    Only names, never values. A list entry or part present on one side only is named whole;
    any change to the documents is named ``attachments``; text differing only in blank space
    around it or in line endings is not a change. A key the case file format does not name
    (an imported case may carry any key, even one spelling a patient's name) is never
    written out: its change is named by the field that holds it (``services[0]``, or
    ``other fields`` at the top).
    """
    return sorted(set(_differences(before, after, "")), key=_natural)


@functools.cache
def _known_keys() -> frozenset[str]:
    """Every key the case file format names (any level), and the member's usual source-system identifiers."""
    names: set[str] = set()
    stack = [json.loads((schemas_dir() / "case.schema.json").read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names | {"ssn", "mrn", "phone", "email", "address"})


def _differences(before: Any, after: Any, path: str) -> Iterator[str]:
    if path == "attachments":
        if before != after:
            yield path
    elif isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in set(before) | set(after):
            if key not in _known_keys():
                if before.get(key) != after.get(key):
                    yield path or TOP_LEVEL
                continue
            where = f"{path}.{key}" if path else str(key)
            if key not in before or key not in after:
                yield where
            else:
                yield from _differences(before[key], after[key], where)
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            if index >= len(before) or index >= len(after):
                yield f"{path}[{index}]"
            else:
                yield from _differences(before[index], after[index], f"{path}[{index}]")
    elif _plain(before) != _plain(after):
        yield path or TOP_LEVEL


def _plain(value: Any) -> Any:
    """Text as a person reads it: line endings and the blank space around it do not make a change."""
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else value


def _natural(name: str) -> list:
    """Sort ``services[10]`` after ``services[9]``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def add_case(session: Session, folder: CaseFolder, case: Case, policy: PayerPolicy, *, actor: Actor,
             now: dt.datetime, today: dt.date, action: str = "case.create", **detail: Any) -> CaseRecord:
    """Add the row of a case whose file is in ``folder``, and audit ``action``; the caller commits.

    ``detail`` joins the audit row (ids, counts and codes only).
    """
    record = CaseRecord(folder=folder.root.name, status="draft", created_at=now, created_by=actor.name,
                        updated_at=now, updated_by=actor.name)
    refresh_checks(record, case, policy, today=today)
    session.add(record)
    session.flush()
    write_audit(session, actor, action, "case", case.case_id, now=now,
                detail={"case_pk": record.id, "payer_id": case.payer_id, **detail})
    return record


def update_case(session: Session, record: CaseRecord, case: Case, policy: PayerPolicy, *, actor: Actor,
                now: dt.datetime, today: dt.date, action: str, **detail: Any) -> CheckResult:
    """After a change to the case file: refresh the row, note who changed it when, audit ``action``."""
    result = refresh_checks(record, case, policy, today=today)
    record.updated_at, record.updated_by = now, actor.name
    write_audit(session, actor, action, "case", record.case_id, now=now, detail={"case_pk": record.id, **detail})
    return result

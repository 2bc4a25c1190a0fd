"""The denial worklist: remittance (835) files read into one work item per claim, and what became of each.

An 835 is read and triaged by :mod:`packetizer.era`; here its claims become
rows of the registry. The same claim imported again (the same file twice, or a
later file that repeats it) updates its item, found by
:func:`packetizer.era.claim_key`; nothing is duplicated. A request started from
an item links the item to its case. A later 835 that pays or denies the same claim
(:func:`packetizer.era.claim_identity`) when its item is linked to a case with a
submitted request records the payer's
determination on that case through :mod:`.tracking` (so it is checked like one
typed in), with an ``era.determination`` audit row saying it came from the 835.

Every function takes the session and the acting :class:`~.audit.Actor` and
leaves the commit to its caller. The claim JSON holds the member's name and id
(patient data): audit rows carry item ids, case ids and counts only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..errors import TrackingError
from ..era import action_words, claim_identity, claim_key, draft_case, read_remittance, worklist as triage_remittance
from ..era.reader import PAYMENT_REASONS
from ..era.worklist import RETRO_ACTION
from ..policy import PayerRegistry
from ..registry import CaseRecord, EraUpload, WorklistItem
from .audit import Actor, write_audit
from .tracking import BilledLine, derived_determination, latest_submission, line_outcome, record_determination

#: Triage words a billing clerk reads on the worklist (section 2's triage values).
TRIAGE_WORDS = {
    "retro": "Missing authorization",
    "eligibility": "Eligibility",
    "coding": "Coding",
    "unknown": "Not sorted",
}
#: The claim's status on the remittance, in a clerk's words.
CLAIM_STATUS_WORDS = {
    "paid": "Paid",
    "partially_paid": "Partly paid",
    "denied": "Denied",
    "reversed": "Reversed",
}
#: Why an item is done.
RESOLUTION_WORDS = {
    "paid": "Paid on the remittance",
    "determination": "Payer's decision recorded on the case",
    "staff": "Marked done",
}
#: How a later remittance's claim status reads as the payer's determination on a submitted request.
DETERMINATION_OF_STATUS = {"paid": "approved", "partially_paid": "partially_approved", "denied": "denied"}
#: The worklist's filters: which states each choice lists.
STATE_FILTERS = {"open": ("open",), "done": ("done",), "all": ("open", "done")}


@dataclass(frozen=True)
class ReadFile:
    """An 835 read and triaged, not yet stored."""

    sha256: str
    size: int
    answer: dict


def read_file(data: bytes, *, name: str, payers: PayerRegistry, today: dt.date) -> ReadFile:
    """Read one 835 and triage its claims; nothing is stored.

    Raises:
        PacketizerError: the file is not a well-formed 835 (the message names the segment and the problem).
    """
    remittance = read_remittance(data, name=name)
    return ReadFile(hashlib.sha256(data).hexdigest(), len(data), triage_remittance(remittance, payers, today=today))


@dataclass(frozen=True)
class RecordedDetermination:
    """A payer's determination recorded on a case from a remittance (or why it could not be)."""

    case_pk: int
    case_id: str
    determination: str
    refused: str | None = None   # the tracking refusal, in a user's words, when it was not recorded


@dataclass
class ImportResult:
    """What one file added to the worklist."""

    upload_id: int
    claims: int = 0
    new_items: int = 0
    updated_items: int = 0
    errors: list = field(default_factory=list)    # the reader's per-claim errors, as it gave them
    determinations: list[RecordedDetermination] = field(default_factory=list)


def import_file(session: Session, read: ReadFile, *, actor: Actor, now: dt.datetime,
                today: dt.date) -> ImportResult:
    """Store the claims of a read 835 as work items (one per claim key), and audit ``era.upload``.

    A claim already on the worklist updates its item (its state and case link stay); a paid claim needs no
    work and its new item is done at once. Then :func:`record_determinations` looks for submitted requests
    the file decides.
    """
    claims = read.answer.get("claims") or []
    errors = read.answer.get("errors") or []
    upload = EraUpload(sha256=read.sha256, size=read.size, uploaded_at=now, uploaded_by=actor.name,
                       claims=len(claims), new_items=0, errors=len(errors))
    session.add(upload)
    session.flush()
    result = ImportResult(upload.id, claims=len(claims), errors=list(errors))
    items: list[tuple[WorklistItem, Mapping[str, Any]]] = []
    for claim in claims:
        key = claim_key(claim)
        item = session.scalar(select(WorklistItem).where(WorklistItem.claim_key == key))
        if item is None:
            item = WorklistItem(claim_key=key, state="open", first_upload_id=upload.id, created_at=now)
            session.add(item)
            result.new_items += 1
        else:
            result.updated_items += 1
        _fill(item, claim, upload_id=upload.id, now=now)
        if item.state == "open" and item.case_pk is None and item.claim_status == "paid":
            _done(item, "paid", by=actor.name, now=now)
        items.append((item, claim))
    session.flush()
    upload.new_items = result.new_items
    result.determinations = record_determinations(session, items, upload_id=upload.id, actor=actor, now=now,
                                                  today=today)
    write_audit(session, actor, "era.upload", "era_upload", upload.id, now=now, detail={
        "claims": result.claims, "new_items": result.new_items, "updated_items": result.updated_items,
        "errors": len(errors), "determinations": sum(1 for d in result.determinations if d.refused is None),
        "sha256": read.sha256})
    return result


def _fill(item: WorklistItem, claim: Mapping[str, Any], *, upload_id: int, now: dt.datetime) -> None:
    item.claim_identity = claim_identity(claim)
    item.claim_number = str(claim.get("claim_number") or "")[:64]
    item.payer_id = claim.get("payer_id")
    item.claim = json.dumps(claim, sort_keys=True, separators=(",", ":"), default=str)
    item.claim_status = str(claim.get("status") or "")[:16]
    item.triage = str(claim.get("triage") or "unknown")[:16]
    deadline = claim.get("deadline")
    item.deadline = dt.date.fromisoformat(deadline) if isinstance(deadline, str) else deadline
    item.last_upload_id = upload_id
    item.updated_at = now


def _done(item: WorklistItem, resolution: str, *, by: str, now: dt.datetime) -> None:
    item.state, item.resolution, item.resolved_at, item.resolved_by = "done", resolution, now, by


def _decided_on(claim: Mapping[str, Any]) -> dt.date | None:
    value = claim.get("denial_date")
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return None


def _line_paid_as_agreed(line: Mapping[str, Any]) -> bool:
    """Every adjustment of the line is a payment reason (deductible, coinsurance, contractual reduction)."""
    return all(str(code).split("-", 1)[-1] in PAYMENT_REASONS for code in line.get("denial_codes") or [])


def _remittance_lines(claim: Mapping[str, Any], outcome: str) -> tuple[list[BilledLine] | None, list[float] | None]:
    """The claim's service lines and the units the payer approved on each, when the 835 tells them exactly.

    A paid claim approves every line, a denied claim denies every line. On a partly paid claim a line paid
    nothing is denied and a line paid as agreed (only payment-reason adjustments) approved; a line paid in part
    for another reason tells no units approved, and then the determination stays one case-level value.
    """
    billed, approved = [], []
    for line in claim.get("lines") or []:
        try:
            units, paid = float(line["units"]), Decimal(str(line["paid"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return None, None
        if not units > 0 or not line.get("code"):
            return None, None
        if outcome == "approved" or (outcome == "partially_approved" and paid > 0 and _line_paid_as_agreed(line)):
            share = units
        elif outcome == "denied" or paid <= 0:
            share = 0.0
        else:
            return None, None
        billed.append(BilledLine(str(line["code"]), units))
        approved.append(share)
    if not billed or derived_determination(line_outcome(a, b.units) for a, b in zip(approved, billed)) != outcome:
        return None, None
    return billed, approved


#: Why a determination was not recorded on a case whose member differs from the remittance's claim.
MEMBER_DIFFERS = "the remittance's claim is for another member id than the case's"


def _member_key(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isalnum()).casefold()


def same_member(claim_member_id: Any, case_member_id: Any) -> bool:
    """True when the claim's member id (NM1*QC/IL) is the case's, ignoring case, spaces and dashes; a missing one on
    either side is not the same."""
    claim, case = _member_key(claim_member_id), _member_key(case_member_id)
    return bool(claim) and claim == case


def record_determinations(session: Session, items: Iterable[tuple[WorklistItem, Mapping[str, Any]]], *,
                          upload_id: int, actor: Actor, now: dt.datetime,
                          today: dt.date) -> list[RecordedDetermination]:
    """Record the payer's determination on each case whose submitted request a claim of this file decides.

    A claim decides a request when an item of the same claim (:func:`packetizer.era.claim_identity`: payer,
    claim number, lines) is linked to a case whose newest submission has no determination yet, and the
    remittance is dated on or after that submission: the remittance that led to the request is older, so
    importing it again records nothing; on the submission's own date the claim must also differ from the
    linked item's (:func:`packetizer.era.claim_key`), so the same remittance line re-sent that day records
    nothing either. A claim whose member id differs from the case's records nothing (audited
    ``era.determination_skipped``, ids only). Paid reads as approved, partly paid as partially approved, denied as
    denied; a reversal decides nothing. The determination is checked like one typed in; a refusal is
    returned, not raised, and stores nothing.
    """
    recorded: list[RecordedDetermination] = []
    seen: set[int] = set()
    for item, claim in items:
        outcome = DETERMINATION_OF_STATUS.get(str(claim.get("status")))
        decided_on = _decided_on(claim)
        if outcome is None or decided_on is None:
            continue
        linked = session.scalars(select(WorklistItem).where(WorklistItem.claim_identity == item.claim_identity,
                                                            WorklistItem.case_pk.is_not(None))).all()
        for other in linked:
            if other.case_pk in seen:
                continue
            case = session.get(CaseRecord, other.case_pk)
            submission = latest_submission(case)
            if submission is None or submission.current_determination is not None:
                continue
            if decided_on < submission.submitted_on or (decided_on == submission.submitted_on
                                                         and claim_key(claim) == other.claim_key):
                continue  # the remittance that led to the request (re-sent, or uploaded again): it decides nothing
            seen.add(case.id)
            if not same_member(claim.get("member_id"), case.member_id):
                # Another patient's claim that happens to share the claim number, codes and dates: nothing is
                # recorded on this case, and the audit log says so (ids only).
                write_audit(session, actor, "era.determination_skipped", "case", case.case_id, now=now, detail={
                    "case_pk": case.id, "submission": submission.id, "reason": "member_id_differs", "source": "835",
                    "era_upload": upload_id, "worklist_item": other.id})
                recorded.append(RecordedDetermination(case.id, case.case_id, outcome, refused=MEMBER_DIFFERS))
                continue
            codes = [str(code) for code in claim.get("denial_codes") or []]
            reason = (f"From the payer's remittance (835): claim {CLAIM_STATUS_WORDS.get(claim.get('status'), '')}"
                      .rstrip() + (f"; codes {', '.join(codes)}" if codes else ""))
            nested = session.begin_nested()
            try:
                billed, approved = _remittance_lines(claim, outcome)
                record_determination(session, submission, determination=outcome, decided_on=decided_on,
                                     reason=reason, actor=actor, now=now, today=today, billed=billed,
                                     approved_units=approved)
            except TrackingError as exc:
                nested.rollback()
                recorded.append(RecordedDetermination(case.id, case.case_id, outcome, refused=exc.detail))
                continue
            nested.commit()
            write_audit(session, actor, "era.determination", "case", case.case_id, now=now, detail={
                "case_pk": case.id, "submission": submission.id, "determination": outcome, "source": "835",
                "era_upload": upload_id, "worklist_item": other.id})
            for done in {other, item}:
                if done.case_pk in (None, case.id):
                    done.case_pk = case.id
                    _done(done, "determination", by=actor.name, now=now)
            recorded.append(RecordedDetermination(case.id, case.case_id, outcome))
    return recorded


# -- The list --------------------------------------------------------------------------------------------------------

def worklist_query(*, triage: str = "", state: str = "open") -> Select:
    """The items to list, soonest deadline first (no deadline last), then in the order they came."""
    query = select(WorklistItem).where(WorklistItem.state.in_(STATE_FILTERS.get(state, STATE_FILTERS["open"])))
    if triage:
        query = query.where(WorklistItem.triage == triage)
    return query.order_by(WorklistItem.deadline.is_(None), WorklistItem.deadline, WorklistItem.id)


@dataclass(frozen=True)
class Row:
    """One item as the worklist shows it."""

    item: WorklistItem
    claim: dict
    days_left: int | None

    @property
    def member(self) -> str:
        patient = self.claim.get("patient") or {}
        return " ".join(p for p in (patient.get("first_name"), patient.get("last_name")) if p)

    @property
    def next_action(self) -> str:
        """What to do, as the reader worded it on import; a retro deadline passed since then is told as passed."""
        told = str(self.claim.get("next_action") or "")
        if (self.item.triage == "retro" and self.days_left is not None and self.days_left < 0
                and told.startswith(RETRO_ACTION)):
            return (f"deadline passed on {self.item.deadline.isoformat()}: appeal the denial, "
                    "or record an override reason")
        return action_words(self.claim)

    @property
    def startable(self) -> bool:
        """A request can be started: a missing-authorization denial, open, not started yet."""
        return self.item.triage == "retro" and self.item.state == "open" and self.item.case_pk is None


def rows(session: Session, *, today: dt.date, triage: str = "", state: str = "open") -> list[Row]:
    out = []
    for item in session.scalars(worklist_query(triage=triage, state=state)):
        left = (item.deadline - today).days if item.deadline is not None else None
        out.append(Row(item, json.loads(item.claim), left))
    return out


def claim_of(item: WorklistItem) -> dict:
    return json.loads(item.claim)


def case_draft(item: WorklistItem) -> dict:
    """The case the item's claim starts: everything the 835 knows, the rest left for staff."""
    return draft_case(claim_of(item))


# -- What staff do with an item ---------------------------------------------------------------------------------------

def link_case(session: Session, item: WorklistItem, case: CaseRecord, *, actor: Actor, now: dt.datetime) -> None:
    """The request started from ``item`` was saved as ``case``: link them (audited ``worklist.link``)."""
    item.case_pk = case.id
    item.updated_at = now
    write_audit(session, actor, "worklist.link", "worklist_item", item.id, now=now,
                detail={"case_id": case.case_id, "case_pk": case.id})


def set_done(session: Session, item: WorklistItem, done: bool, *, actor: Actor, now: dt.datetime) -> None:
    """Staff mark an item done (it leaves the open list) or open again; audited ``worklist.done``/``reopen``."""
    if done:
        _done(item, "staff", by=actor.name, now=now)
    else:
        item.state, item.resolution, item.resolved_at, item.resolved_by = "open", None, None, None
    item.updated_at = now
    write_audit(session, actor, "worklist.done" if done else "worklist.reopen", "worklist_item", item.id, now=now,
                detail={})

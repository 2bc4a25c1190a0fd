"""The denial worklist (SPEC section 9): every adjusted claim of a remittance, triaged, with its deadline.

Triage is the one ``check`` uses (:func:`packetizer.checks.triage.triage_claim` on the claim's denial
codes); the deadline is the matched payer policy's retro window counted by
:func:`packetizer.checks.deadlines.compute_deadline` from the claim's first date of service or its
denial date, exactly as ``check`` counts it for a case; ``days_left`` is ``deadline - today``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass

from ..checks import Findings
from ..checks.deadlines import compute_deadline
from ..checks.triage import CARC_TABLE, CODING, ELIGIBILITY, RETRO, parse_denial_code, triage_claim
from ..model import Claim, PayerPolicy, ServiceLine
from ..policy import PayerRegistry
from .reader import RemitClaim, Remittance, amount_text


@dataclass(frozen=True)
class _DeadlineFacts:
    """What :func:`compute_deadline` reads of a case (its service lines and claim), built from a remittance."""

    services: tuple[ServiceLine, ...]
    claim: Claim


def payer_index(registry: PayerRegistry) -> dict[str, PayerPolicy]:
    """Each ``era_payer_ids`` entry of the registry's policies -> its policy (the first policy by id wins)."""
    index: dict[str, PayerPolicy] = {}
    for policy in registry:
        for payer_id in policy.era_payer_ids:
            index.setdefault(payer_id, policy)
    return index


def match_payer(claim: RemitClaim, index: dict[str, PayerPolicy]) -> PayerPolicy | None:
    """The policy whose ``era_payer_ids`` holds N1*PR's id, else REF*2U, else TRN03."""
    for payer_id in claim.payer_ids:
        if payer_id in index:
            return index[payer_id]
    return None


def worklist(remittance: Remittance, registry: PayerRegistry, *, today: dt.date) -> dict:
    """The SPEC section 9 JSON object: ``{"claims": [...], "errors": [...]}``.

    Only claims with at least one CAS (on the claim or a line) are listed, ordered by deadline, soonest
    first, claims without one last, otherwise in file order. ``errors`` lists the claims that could not
    be read (``{"claim": <position among the file's claims>, "segment": <number>, "problem": ...}``).
    """
    pairs = listed_claims(remittance, registry, today=today)
    return {"claims": [entry for entry, _ in pairs], "errors": [e.to_dict() for e in remittance.errors]}


def listed_claims(remittance: Remittance, registry: PayerRegistry, *,
                  today: dt.date) -> list[tuple[dict, RemitClaim]]:
    """The worklist's entries in its order, each with the claim it was made from (for :func:`draft_case`)."""
    index = payer_index(registry)
    pairs = [(claim_entry(claim, match_payer(claim, index), today=today), claim)
             for claim in remittance.claims if claim.adjusted]
    pairs.sort(key=lambda pair: (pair[0]["status"] in NO_WORK, pair[0]["deadline"] is None, pair[0]["deadline"] or ""))
    return pairs


#: Claim statuses that are no work: no deadline, listed after every denial.
NO_WORK = frozenset({"paid", "reversed"})


#: Keys of a worklist entry that are not SPEC section 9's: the web app keeps them, `era import --json` leaves them out.
INTERNAL_KEYS = ("payer_identification",)


def payer_identification(claim: RemitClaim) -> str:
    """The payer as the 835 identifies it: N1*PR's id (XV or PI), else REF*2U, else TRN03, else N1*PR's name.

    The claim keys are built from this, never from the matched registry policy, so that editing a payer
    policy's ``era_payer_ids`` does not change the keys of claims already on the worklist.
    """
    return claim.payer_ids[0] if claim.payer_ids else (claim.payer_name or "")


def claim_entry(claim: RemitClaim, policy: PayerPolicy | None, *, today: dt.date) -> dict:
    """One worklist entry, keys in SPEC order, then ``payer_identification`` (what the claim keys are built on).

    A paid or reversed claim is no work: it has no deadline and no days left.
    """
    codes = claim.denial_codes
    triage = _triage(tuple(codes))
    deadline = _deadline(claim, policy) if claim.status not in NO_WORK else None
    days_left = (deadline - today).days if deadline else None
    return {
        "claim_number": claim.claim_number,
        "payer_claim_number": claim.payer_claim_number,
        "payer_id": policy.id if policy else None,
        "payer_name": claim.payer_name,
        "member_id": claim.member_id,
        "patient": {"first_name": claim.first_name, "last_name": claim.last_name},
        "status": claim.status,
        "denial_codes": list(codes),
        "denial_date": claim.denial_date.isoformat() if claim.denial_date else None,
        "lines": [_line(line) for line in claim.lines],
        "triage": triage,
        "deadline": deadline.isoformat() if deadline else None,
        "days_left": days_left,
        "next_action": next_action(claim, triage, policy, deadline, days_left),
        "payer_identification": payer_identification(claim),
    }


def _line(line) -> dict:
    """A line's entry; a line the 835 dates with a range (DTM*150/151) also has its ``end_date``."""
    entry = {
        "code": line.code,
        "modifiers": list(line.modifiers),
        "units": _units(line.units),
        "date_of_service": line.start.isoformat() if line.start else None,
        "charge": amount_text(line.charge),
        "paid": amount_text(line.paid),
        "denial_codes": line.denial_codes,
    }
    if line.start and line.end and line.end != line.start:
        entry["end_date"] = line.end.isoformat()
    return entry


@functools.lru_cache(maxsize=4096)
def _triage(codes: tuple[str, ...]) -> str:
    """``check``'s triage class for these denial codes (a pure function of them; a remittance repeats a few
    combinations thousands of times)."""
    return triage_claim(Claim(None, codes, None), Findings())


def _units(value):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def service_dates(claim: RemitClaim) -> list[tuple[dt.date, dt.date]]:
    """(start, end) of every line with a date, else the claim's statement period (DTM*232/233)."""
    dates = [(line.start, line.end or line.start) for line in claim.lines if line.start]
    if not dates and claim.period_start:
        dates = [(claim.period_start, claim.period_end or claim.period_start)]
    return dates


def _deadline(claim: RemitClaim, policy: PayerPolicy | None) -> dt.date | None:
    if policy is None or not policy.retro_allowed or policy.window is None:
        return None
    services = tuple(ServiceLine(code="", start=start, end=end) for start, end in service_dates(claim))
    facts = _DeadlineFacts(services, Claim(claim.claim_number, (), claim.denial_date))
    found = compute_deadline(facts, policy.window)  # type: ignore[arg-type]  (reads .services and .claim only)
    return found.date if found else None


def _reasons(codes: list[str], cls: str) -> str:
    found = []
    for raw in codes:
        code = parse_denial_code(raw)
        if not code.is_remark and CARC_TABLE.get(code.code, ("", ""))[0] == cls:
            found.append(f"{raw} {CARC_TABLE[code.code][1]}")
    return "; ".join(found)


#: The next action of a retro-path claim, exactly as SPEC section 9 words it.
RETRO_ACTION = "build a retro request"


def action_words(claim_entry: dict) -> str:
    """The next action as staff read it in a table: a retro request's action with its deadline
    (``build a retro request by 2026-10-14``); any other action as the entry words it."""
    told = str(claim_entry.get("next_action") or "")
    if told == RETRO_ACTION and claim_entry.get("deadline"):
        return f"{RETRO_ACTION} by {claim_entry['deadline']}"
    if told == RETRO_ACTION and not claim_entry.get("payer_id"):
        return f"{RETRO_ACTION} (no payer policy matched this payer: check its deadline)"
    if told == RETRO_ACTION:
        return f"{RETRO_ACTION} (deadline unknown: the remittance gives no date the window counts from)"
    return told


def next_action(claim: RemitClaim, triage: str, policy: PayerPolicy | None, deadline: dt.date | None,
                days_left: int | None) -> str:
    """What staff do next, in their words."""
    if claim.status == "reversed":
        return "no action: the payer reversed this claim; expect its corrected claim on a later remittance"
    if triage == ELIGIBILITY:
        return (f"fix eligibility, not a retro request: {_reasons(claim.denial_codes, ELIGIBILITY)}; confirm the "
                "member's coverage on the dates of service, then correct the eligibility record or bill the "
                "responsible payer")
    if triage == CODING:
        return (f"fix the claim, not a retro request: {_reasons(claim.denial_codes, CODING)}; correct the claim "
                "and resubmit it")
    if triage != RETRO:
        if claim.status == "paid":
            return "no action: paid as adjusted"
        shown = ", ".join(c for c in claim.denial_codes if not parse_denial_code(c).is_remark)
        return f"look up {shown} on the remittance: not in the triage table, so the fix is not known"
    if policy is not None and not policy.retro_allowed:
        return f"not allowed by payer: {policy.name} accepts no retro requests; appeal the denial instead"
    if days_left is not None and days_left < 0:
        return f"deadline passed on {deadline.isoformat()}: appeal the denial, or record an override reason"
    return RETRO_ACTION  # the deadline is its own field (null when no policy matched or no date counts)


def _payer_part(claim_entry: dict) -> str:
    # Entries stored before ``payer_identification`` existed fall back to the payer's name as sent.
    return claim_entry.get("payer_identification") or claim_entry.get("payer_name") or ""


def _hash(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def claim_key(claim_entry: dict) -> str:
    """A stable key for one claim across files: the same adjudication of the same claim gives the same key.

    Built from the payer as the 835 identifies it (:func:`payer_identification`, never the matched registry
    policy), the member id (NM1*QC/IL), CLP01, CLP07, the status and each line's code and date; a short
    SHA-256 so it carries no PHI when stored or shown.
    """
    lines = ";".join(f"{line['code']}@{line['date_of_service']}" for line in claim_entry.get("lines", []))
    return _hash([_payer_part(claim_entry), claim_entry.get("member_id") or "", claim_entry.get("claim_number") or "",
                  claim_entry.get("payer_claim_number") or "", claim_entry.get("status") or "", lines])


def claim_identity(claim_entry: dict) -> str:
    """A stable key for the claim itself, whatever the payer decided: the payer as the 835 identifies it, the
    member id, CLP01 and each line's code and date.

    A later remittance that pays, denies or reverses the same claim gives the same identity (while
    :func:`claim_key` changes with the status), which is how a determination finds the case it belongs to;
    another patient's claim with the same claim number does not.
    """
    lines = ";".join(sorted(f"{line['code']}@{line['date_of_service']}" for line in claim_entry.get("lines", [])))
    return _hash([_payer_part(claim_entry), claim_entry.get("member_id") or "", claim_entry.get("claim_number") or "",
                  lines])

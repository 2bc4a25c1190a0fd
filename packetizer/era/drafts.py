"""Pre-filled case files (SPEC section 1) for the worklist's retro-path claims.

A draft carries everything the 835 knows: the payer (when a policy matched), the member id and name, the
claim number, denial codes and date, and the service lines with their codes, modifiers, units (when the 835
gives a count above 0) and dates (``start_date``/``end_date`` for a DTM*150/151 range).
With the claim at hand it also carries the rendering provider (NM1*82, else the payee, with the NPI when
the qualifier is XX). What a remittance cannot know is left out on purpose, so that ``packetizer check``
on the draft names each field staff must still fill in: the member's date of birth, the late reason, the
medical-necessity summary and the contact (and, for lines the 835 does not date, the date of service).
Diagnosis codes and place of service are optional in a case and not in an 835 either.
"""

from __future__ import annotations

from ..checks.triage import CARC_TABLE, RETRO, parse_denial_code
from .reader import RemitClaim
from .worklist import claim_key


def is_retro_path(claim_entry: dict) -> bool:
    """True for a worklist entry a retro request can fix (triage retro, not paid or reversed)."""
    return claim_entry["triage"] == RETRO and claim_entry["status"] in ("denied", "partially_paid")


def draft_name(claim_entry: dict) -> str:
    """The draft's file name: ``draft-<key>.yaml`` from :func:`claim_key`, so it carries no PHI."""
    return f"draft-{claim_key(claim_entry)[:16]}.yaml"


def draft_case(claim_entry: dict, claim: RemitClaim | None = None) -> dict:
    """A case mapping pre-filled from one worklist entry (keys in the order of SPEC section 1).

    Args:
        claim_entry: The entry as :func:`~packetizer.era.worklist` lists it.
        claim: The claim it was made from (:func:`~packetizer.era.worklist.listed_claims`), when at hand:
            it adds the rendering provider the remittance names (NM1*82, else the payee).
    """
    case: dict = {"case_id": f"ERA-{claim_key(claim_entry)[:16].upper()}"}
    if claim_entry.get("payer_id"):
        case["payer_id"] = claim_entry["payer_id"]
    member = {"member_id": claim_entry.get("member_id"),
              "first_name": (claim_entry.get("patient") or {}).get("first_name"),
              "last_name": (claim_entry.get("patient") or {}).get("last_name")}
    case["member"] = {key: value for key, value in member.items() if value}
    facts = {"claim_number": claim_entry.get("claim_number"),
             "payer_claim_number": claim_entry.get("payer_claim_number"),
             "denial_codes": list(claim_entry.get("denial_codes") or []),
             "denial_date": claim_entry.get("denial_date")}
    case["claim"] = {key: value for key, value in facts.items() if value}
    services = [_service(line) for line in _retro_lines(claim_entry)]
    if services:
        case["services"] = services
    if claim is not None and claim.rendering_name:
        provider = {"name": claim.rendering_name}
        if claim.rendering_npi:
            provider["npi"] = claim.rendering_npi
        case["rendering_provider"] = provider
    return case


def _is_retro_code(raw: str) -> bool:
    code = parse_denial_code(raw)
    return not code.is_remark and CARC_TABLE.get(code.code, ("", ""))[0] == RETRO


def _retro_lines(claim_entry: dict) -> list[dict]:
    """The lines denied for authorization; every line when the denial sits on the claim as a whole."""
    lines = list(claim_entry.get("lines") or [])
    denied = [line for line in lines if any(_is_retro_code(c) for c in line.get("denial_codes") or [])]
    return denied or lines


def _service(line: dict) -> dict:
    service: dict = {}
    if line.get("date_of_service") and line.get("end_date"):   # a range (DTM*150/151)
        service["start_date"], service["end_date"] = line["date_of_service"], line["end_date"]
    elif line.get("date_of_service"):
        service["date_of_service"] = line["date_of_service"]
    service["code"] = line["code"]
    if line.get("modifiers"):
        service["modifiers"] = list(line["modifiers"])
    if line.get("units") is not None:
        service["units"] = line["units"]
    return service

"""Trigger triage: is a retro authorization the right fix for this denial?

The payer's remittance explains a denial with Claim Adjustment Reason Codes
(CARC, X12 code list 139), each usually behind a group code (``CO-`` contractual
obligation, ``PR-`` patient responsibility, ``OA-`` other adjustment, ``PI-``
payer-initiated reduction, ``CR-`` correction/reversal), and with Remittance
Advice Remark Codes (RARC: ``M…``, ``N…``, ``MA…``) that add detail.

We sort the CARCs into three classes (table below, descriptions in our words):

``retro``
    Authorization was missing, did not cover the service, or came too late.
    This is what a retro-authorization request is for.
``eligibility``
    The member was not covered by this plan on that day, or another payer is
    responsible. A retro authorization cannot fix that: fix the coverage
    record or bill the right payer.
``coding``
    The claim itself is wrong or incomplete (codes, modifiers, diagnosis,
    place of service, NPI, missing documentation). Correct and resubmit the
    claim instead.

How a case is classified:

* No claim or no denial codes: ``retro``. A retro request may be sent before
  a claim is billed (SPEC section 1), and then nothing contradicts it.
* Otherwise the class is the most fundamental one present, in this order:
  eligibility, then coding, then retro. A claim denied both for missing
  authorization and for eligibility needs the eligibility fixed first.
* Eligibility and coding classes are blocking findings that say what to fix.
* CARCs not in the table are warnings (``triage_unknown_code``); when no CARC
  is known the class is ``unknown``. RARCs never change the class; known ones
  are quoted in the message to help explain it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import Findings
from ..model import Claim

RETRO = "retro"
ELIGIBILITY = "eligibility"
CODING = "coding"
UNKNOWN = "unknown"

GROUP_CODES = {"CO", "PR", "OA", "PI", "CR"}

# CARC -> (class, what it means, in our words).
CARC_TABLE: dict[str, tuple[str, str]] = {
    # Authorization-related: the retro path.
    "15": (RETRO, "authorization number missing, invalid or not matching the service or provider"),
    "62": (RETRO, "authorization absent or exceeded (retired code, still seen on older remittances)"),
    "197": (RETRO, "precertification/authorization/notification absent"),
    "198": (RETRO, "precertification/authorization/notification exceeded"),
    "210": (RETRO, "authorization not received in time"),
    "284": (RETRO, "authorization number may be valid but does not cover the billed services"),
    "302": (RETRO, "time limit for precertification/authorization/notification expired"),
    # Eligibility or coverage: fix coverage or bill the right payer.
    "22": (ELIGIBILITY, "another payer may be primary (coordination of benefits)"),
    "24": (ELIGIBILITY, "covered under a capitation agreement or managed care plan"),
    "26": (ELIGIBILITY, "services before coverage began"),
    "27": (ELIGIBILITY, "services after coverage ended"),
    "31": (ELIGIBILITY, "patient cannot be identified as a member of this plan"),
    "32": (ELIGIBILITY, "patient is not an eligible dependent"),
    "33": (ELIGIBILITY, "the subscriber has no dependent coverage"),
    "34": (ELIGIBILITY, "the subscriber has no newborn coverage"),
    "109": (ELIGIBILITY, "not covered by this payer; send the claim to the correct payer"),
    "140": (ELIGIBILITY, "member id and name do not match"),
    "177": (ELIGIBILITY, "patient did not meet the eligibility requirements"),
    "200": (ELIGIBILITY, "services during a lapse in coverage"),
    "239": (ELIGIBILITY, "claim spans eligible and ineligible periods; bill them separately"),
    # Coding or missing information: correct the claim.
    "4": (CODING, "procedure code inconsistent with the modifier, or a required modifier missing"),
    "5": (CODING, "procedure code or bill type inconsistent with the place of service"),
    "6": (CODING, "procedure inconsistent with the patient's age"),
    "7": (CODING, "procedure inconsistent with the patient's sex"),
    "8": (CODING, "procedure inconsistent with the provider type or specialty"),
    "9": (CODING, "diagnosis inconsistent with the patient's age"),
    "10": (CODING, "diagnosis inconsistent with the patient's sex"),
    "11": (CODING, "diagnosis inconsistent with the procedure"),
    "12": (CODING, "diagnosis inconsistent with the provider type"),
    "16": (CODING, "claim lacks information or has billing errors (see the remark codes)"),
    "146": (CODING, "diagnosis invalid for the date of service"),
    "163": (CODING, "attachment referenced on the claim not received"),
    "164": (CODING, "attachment referenced on the claim not received in time"),
    "181": (CODING, "procedure code invalid on the date of service"),
    "182": (CODING, "modifier invalid on the date of service"),
    "189": (CODING, "unlisted/NOC code billed where a specific code exists"),
    "199": (CODING, "revenue code and procedure code do not match"),
    "206": (CODING, "NPI missing"),
    "207": (CODING, "NPI in an invalid format"),
    "208": (CODING, "NPI not matched"),
    "226": (CODING, "information requested from the provider was not sent, was late or incomplete"),
    "250": (CODING, "the wrong attachment was received; the expected one is still missing"),
    "251": (CODING, "the attachment received was incomplete or deficient"),
    "252": (CODING, "an attachment or other documentation is required"),
}

# RARC -> what it adds, in our words. Informational only.
RARC_NOTES: dict[str, str] = {
    "M51": "procedure code missing, incomplete or invalid",
    "M62": "treatment authorization code missing, incomplete or invalid",
    "M76": "diagnosis missing, incomplete or invalid",
    "MA130": "claim unprocessable: incomplete or invalid information, resubmit a corrected claim",
    "N30": "patient ineligible for this service",
    "N52": "patient not enrolled in the billing provider's managed care plan on the date of service",
    "N54": "claim does not match the services that were pre-certified/authorized",
    "N56": "procedure code not correct or valid for the service or date billed",
}

_CODE = re.compile(r"^(?:(CO|PR|OA|PI|CR)-?)?([A-Z0-9]{1,6})$")
_RARC = re.compile(r"^(?:MA|M|N)[0-9]{1,4}$")

_FIX = {
    ELIGIBILITY: (
        "triage_eligibility",
        "an eligibility or coverage reason",
        "A retro authorization will not fix this: confirm the member's coverage with this plan on the dates of "
        "service, then correct the eligibility record or bill the responsible payer instead.",
    ),
    CODING: (
        "triage_coding",
        "a coding or missing-information reason",
        "A retro authorization will not fix this: correct the claim (procedure and diagnosis codes, modifiers, "
        "place of service, provider identifiers, requested documents) and resubmit it instead.",
    ),
}


@dataclass(frozen=True)
class DenialCode:
    """One code from ``claim.denial_codes``, parsed."""

    raw: str
    group: str | None
    code: str
    is_remark: bool

    @property
    def label(self) -> str:
        return f"RARC {self.code}" if self.is_remark else f"CARC {self.code}"


def parse_denial_code(raw: str) -> DenialCode:
    """Split ``CO-197`` into group ``CO`` and CARC ``197``; ``N54`` is a RARC (no group)."""
    text = raw.strip().upper()
    match = _CODE.match(text)
    if not match:
        return DenialCode(raw, None, text, False)
    group, code = match.groups()
    if _RARC.match(code):
        return DenialCode(raw, group, code, True)
    if code.isdigit():
        # Leading zeros are not part of CARCs ("016" on some paper remits is 16).
        code = code.lstrip("0") or "0"
    return DenialCode(raw, group, code, False)


def classify(code: DenialCode) -> str:
    """The triage class of one parsed code (RARCs and unknown CARCs are ``unknown``)."""
    if code.is_remark:
        return UNKNOWN
    return CARC_TABLE.get(code.code, (UNKNOWN, ""))[0]


def triage_claim(claim: Claim | None, out: Findings) -> str:
    """Classify the claim's denial codes, adding findings to ``out``; returns the triage class."""
    if claim is None or not claim.denial_codes:
        return RETRO
    parsed = [(f"claim.denial_codes[{i}]", parse_denial_code(raw)) for i, raw in enumerate(claim.denial_codes)]
    carcs = [(where, c) for where, c in parsed if not c.is_remark]
    remarks = [c for _, c in parsed if c.is_remark]
    by_class: dict[str, list[tuple[str, DenialCode]]] = {}
    for where, code in carcs:
        by_class.setdefault(classify(code), []).append((where, code))

    for where, code in by_class.get(UNKNOWN, []):
        out.warn(
            "triage_unknown_code",
            f"Denial code {code.raw} ({where}) is not in Packetizer's triage table, so it cannot tell whether a "
            "retro authorization is the right fix for it. Look the code up on the remittance before sending.",
            where,
        )
    if not carcs:
        shown = ", ".join(c.raw for c in remarks)
        out.warn(
            "triage_no_carc",
            f"claim.denial_codes lists only remark codes ({shown}); add the claim adjustment reason code "
            "(e.g. CO-197) from the remittance so the denial can be triaged.",
            "claim.denial_codes",
        )

    notes = "".join(f" {c.label}: {RARC_NOTES[c.code]}." for c in remarks if c.code in RARC_NOTES)
    retro_codes = by_class.get(RETRO, [])
    for cls in (ELIGIBILITY, CODING):
        hits = by_class.get(cls)
        if not hits:
            continue
        code, reason, fix = _FIX[cls]
        listed = "; ".join(f"{c.raw}: {CARC_TABLE[c.code][1]}" for _, c in hits)
        then = ""
        if retro_codes:
            then = (f" The authorization denial ({', '.join(c.raw for _, c in retro_codes)}) can go down the "
                    "retro path once this is resolved.")
        out.block(code, f"The claim was denied for {reason} ({listed}).{notes} {fix}{then}", hits[0][0])

    for cls in (ELIGIBILITY, CODING, RETRO):
        if by_class.get(cls):
            return cls
    return UNKNOWN

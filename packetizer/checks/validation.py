"""Field validation: code shapes, ICD-10-CM, NPI check digits, dates and note coverage.

What each rule accepts:

* Procedure codes: CPT Category I (5 digits), CPT Category II, III and PLA
  codes (4 digits + ``F``, ``T`` or ``U``), HCPCS Level II (a letter + 4 digits).
* Modifiers: exactly 2 letters or digits.
* Diagnoses: ICD-10-CM codes, with or without the dot, that exist in the code
  set (the table :mod:`packetizer.icd10cm` ships, made from the one
  ``simple-icd-10-cm`` ships) **and are billable** (a leaf of the tabular list:
  no more specific code below it).
* NPIs: 10 digits whose last digit is the Luhn check digit computed over
  ``80840`` + the first 9 digits (the CMS NPI standard).
* Dates: no service starts after ``today``; the denial is neither before the
  first date of service nor after ``today``; discharge is not before the
  service starts.
* Note coverage (the "code and note mismatch" pitfall): every service line is
  covered by at least one clinical attachment dated within the payer's
  ``relevance_window_days`` of it. Clinical kinds are ``clinical_note``,
  ``evaluation``, ``plan_of_care``, ``imaging`` and ``lab``; a
  ``psychotherapy_note`` or ``substance_use_record`` counts only when the
  matching consent is true, since it is withheld otherwise. Referrals,
  orders and correspondence support a request but do not document that a
  service was delivered, so they do not count.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from . import Finding, Findings
from .. import icd10cm
from ..model import Attachment, Case, PayerPolicy, ServiceLine

_PROCEDURE = re.compile(r"^(?:[0-9]{5}|[0-9]{4}[FTU]|[A-Z][0-9]{4})$")
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
_NPI = re.compile(r"^[0-9]{10}$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ICD_SHAPE = re.compile(r"^[A-Za-z][0-9A-Za-z]{2}(\.?[0-9A-Za-z]{1,4})?$")  # the case schema's pattern

CLINICAL_KINDS = ("clinical_note", "evaluation", "plan_of_care", "imaging", "lab")
CONSENT_KINDS = {
    "psychotherapy_note": ("psychotherapy_notes", "45 CFR 164.508(a)(2)"),
    "substance_use_record": ("part2_records", "42 CFR Part 2"),
}

KIND_WORDS = {
    "clinical_note": "clinical note",
    "evaluation": "evaluation",
    "plan_of_care": "plan of care",
    "imaging": "imaging report",
    "lab": "lab result",
    "referral": "referral",
    "order": "order",
    "correspondence": "correspondence",
    "denial_letter": "denial letter",
    "psychotherapy_note": "psychotherapy note",
    "substance_use_record": "substance use disorder record",
    "other": "other document",
}


def npi_is_valid(npi: str) -> bool:
    """True when ``npi`` is 10 digits with a correct Luhn check digit (prefix 80840)."""
    if not _NPI.match(npi):
        return False
    total = 0
    for i, ch in enumerate(reversed("80840" + npi)):
        digit = int(ch)
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def icd10cm_description(code: str) -> str:
    """The code set's description of ``code`` ("Radiculopathy, lumbar region"), or "" if it has none."""
    item = icd10cm.lookup(code)
    return item.description if item is not None else ""


def icd10cm_problem(code: str) -> tuple[str, str] | None:
    """Why ``code`` cannot be billed as ICD-10-CM, as (finding code, reason); None when it is billable."""
    item = icd10cm.lookup(code)
    if item is None or item.kind == icd10cm.GROUP:
        return "icd10_unknown", f"{code} is not an ICD-10-CM code; check it against the code book"
    if item.kind == icd10cm.LEAF:
        return None
    if item.extended:
        return "icd10_not_billable", (
            f"{code} ({item.description}) is not billable: it needs a 7th character (such as the encounter type), "
            f"e.g. {item.first_child}")
    return "icd10_not_billable", (
        f"{code} ({item.description}) is not billable: needs more specificity; it is a category with "
        f"{item.children} more detailed code(s) under it, use the one the note supports")


def attachment_words(index: int, att: Attachment) -> str:
    """``attachments[2] (clinical note dated 2026-09-14)``: names an attachment without its file name."""
    return f"attachments[{index}] ({KIND_WORDS[att.kind]} dated {att.date.isoformat()})"


def days_from_service(day: dt.date, line: ServiceLine) -> int:
    """Calendar days between ``day`` and the nearest day of the service line (0 inside a span)."""
    if day < line.start:
        return (line.start - day).days
    if day > line.end:
        return (day - line.end).days
    return 0


def is_relevant(att: Attachment, case: Case, policy: PayerPolicy) -> bool:
    """True when ``att`` is dated within the payer's relevance window of some service line."""
    if att.kind == "denial_letter":   # the relevance window never withholds a denial letter
        return True
    return any(days_from_service(att.date, line) <= policy.relevance_window_days for line in case.services)


def consent_missing(att: Attachment, case: Case) -> str | None:
    """The consent field that must be true for ``att`` to be sent, when it is false."""
    if att.kind not in CONSENT_KINDS:
        return None
    consent, _ = CONSENT_KINDS[att.kind]
    return None if getattr(case.consents, consent) else consent


def check_fields(case: Case, policy: PayerPolicy, today: dt.date, out: Findings) -> None:
    """Validate codes, identifiers, dates and note coverage, adding findings to ``out``."""
    for i, line in enumerate(case.services):
        _check_line(f"services[{i}]", line, today, out)
    _check_npis(case, out)
    _check_claim_dates(case, today, out)
    _check_attachment_dates(case, today, out)
    _check_coverage(case, policy, out)


def check_document(doc: Mapping[str, Any], today: dt.date) -> list[Finding]:
    """The blocking findings of the field checks on a case mapping that is not a valid case (yet).

    A form that is refused for a format error should still tell every other
    problem in the same round: each value that is well formed (a code, an NPI,
    a date) is checked here by the same rules as :func:`check_fields`; a value
    that is not is left to the schema's report. Checks that need the whole
    case (note coverage) wait for a valid case.
    """
    out = Findings()
    services = doc.get("services")
    starts = []
    for i, row in enumerate(services if isinstance(services, list) else []):
        if not isinstance(row, Mapping):
            continue
        where = f"services[{i}]"
        code = row.get("code")
        if isinstance(code, str) and code.strip():
            _check_code(where, code.strip().upper(), out)
        modifiers = row.get("modifiers")
        if isinstance(modifiers, list):
            _check_modifiers(where, tuple(m.upper() for m in modifiers if isinstance(m, str)), out)
        codes = row.get("diagnosis_codes")
        if isinstance(codes, list) and all(isinstance(c, str) and _ICD_SHAPE.match(c) for c in codes):
            _check_diagnoses(where, tuple(c.upper() for c in codes), out)
        dates = {key: _iso_date(row.get(key)) for key in ("date_of_service", "start_date", "end_date",
                                                         "discharge_date")}
        start, end = dates["start_date"], dates["end_date"]
        if "date_of_service" in row:
            start = end = dates["date_of_service"]
        starts.append(start)
        if start is not None and end is not None:
            _check_line_dates(where, start, end, dates["discharge_date"], today, out)
    for where in ("rendering_provider", "referring_provider", "facility"):
        provider = doc.get(where)
        npi = provider.get("npi") if isinstance(provider, Mapping) else None
        if isinstance(npi, str):
            _check_npi(where, npi, out)
    claim = doc.get("claim")
    denied = _iso_date(claim.get("denial_date")) if isinstance(claim, Mapping) else None
    if denied is not None and starts and None not in starts:   # the first date of service is known
        _check_denial(denied, min(starts), today, out)
    elif denied is not None and denied > today:
        _check_denial(denied, denied, today, out)
    return out.blocking


def _iso_date(value: Any) -> dt.date | None:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _check_line(where: str, line: ServiceLine, today: dt.date, out: Findings) -> None:
    _check_code(where, line.code, out)
    _check_modifiers(where, line.modifiers, out)
    if not line.diagnosis_codes:
        out.warn(
            "diagnosis_missing",
            f"{where} has no diagnosis_codes; the payer reviews medical necessity against the diagnosis, "
            "so add the ICD-10-CM code(s) from the claim.",
            f"{where}.diagnosis_codes",
        )
    _check_diagnoses(where, line.diagnosis_codes, out)
    _check_line_dates(where, line.start, line.end, line.discharge_date, today, out)


def _check_code(where: str, code: str, out: Findings) -> None:
    if not _PROCEDURE.match(code):
        out.block(
            "cpt_shape",
            f"{where}.code {code} is not a CPT or HCPCS code: use 5 digits (CPT), 4 digits + F, T or U "
            "(CPT Category II, III or PLA) or a letter + 4 digits (HCPCS Level II).",
            f"{where}.code",
        )


def _check_modifiers(where: str, modifiers: tuple[str, ...], out: Findings) -> None:
    for j, modifier in enumerate(modifiers):
        if not _MODIFIER.match(modifier):
            out.block(
                "modifier_shape",
                f"{where}.modifiers[{j}] {modifier} is not a modifier: modifiers are exactly 2 letters or digits "
                "(e.g. GP, 59).",
                f"{where}.modifiers[{j}]",
            )


def _check_diagnoses(where: str, codes: tuple[str, ...], out: Findings) -> None:
    for j, code in enumerate(codes):
        problem = icd10cm_problem(code)
        if problem:
            finding, reason = problem
            out.block_at(finding, f"{reason}.", f"{where}.diagnosis_codes[{j}]")


def _check_line_dates(where: str, start: dt.date, end: dt.date, discharge: dt.date | None, today: dt.date,
                      out: Findings) -> None:
    date_field = f"{where}.start_date" if start != end else f"{where}.date_of_service"
    if end < start:
        out.block(
            "service_dates_reversed",
            f"{where}.end_date {end} is before its start_date {start}.",
            f"{where}.end_date",
        )
    if start > today:
        out.block(
            "service_in_future",
            f"{date_field} {start} is after today ({today}); a retro authorization covers services already "
            "delivered. Request prior authorization for future services instead.",
            date_field,
        )
    elif end > today:
        out.warn(
            "service_end_in_future",
            f"{where}.end_date {end} is after today ({today}); the part of the span still to come needs a "
            "prior authorization, not a retro one.",
            f"{where}.end_date",
        )
    if discharge and discharge < start:
        out.block(
            "discharge_before_service",
            f"{where}.discharge_date {discharge} is before the service started ({start}).",
            f"{where}.discharge_date",
        )


def _check_npis(case: Case, out: Findings) -> None:
    providers = [
        ("rendering_provider", case.rendering_provider),
        ("referring_provider", case.referring_provider),
        ("facility", case.facility),
    ]
    for where, provider in providers:
        if provider is None:
            continue
        if provider.npi is None:
            if where == "rendering_provider":
                out.warn(
                    "npi_missing",
                    "rendering_provider has no npi; payers match retro requests to the claim by the rendering "
                    "provider's NPI.",
                    "rendering_provider.npi",
                )
            continue
        _check_npi(where, provider.npi, out)


def _check_npi(where: str, npi: str, out: Findings) -> None:
    if not _NPI.match(npi):
        out.block("npi_shape", f"{where}.npi {npi} is not an NPI: NPIs are exactly 10 digits.", f"{where}.npi")
    elif not npi_is_valid(npi):
        out.block(
            "npi_check_digit",
            f"{where}.npi {npi} fails the NPI check digit (Luhn with prefix 80840); a digit is "
            "probably mistyped. Copy it from NPPES or the claim.",
            f"{where}.npi",
        )


def _check_claim_dates(case: Case, today: dt.date, out: Findings) -> None:
    if case.claim is None or case.claim.denial_date is None or not case.services:
        return
    _check_denial(case.claim.denial_date, case.first_date_of_service, today, out)


def _check_denial(denied: dt.date, first: dt.date, today: dt.date, out: Findings) -> None:
    if denied < first:
        out.block(
            "denial_before_service",
            f"claim.denial_date {denied} is before the first date of service ({first}); a claim cannot be denied "
            "before the service. Check both dates against the remittance.",
            "claim.denial_date",
        )
    if denied > today:
        out.block(
            "denial_in_future",
            f"claim.denial_date {denied} is after today ({today}); check it against the remittance.",
            "claim.denial_date",
        )


def _check_attachment_dates(case: Case, today: dt.date, out: Findings) -> None:
    for i, att in enumerate(case.attachments):
        if att.date > today:
            out.warn(
                "attachment_in_future",
                f"{attachment_words(i, att)} is dated after today ({today}); check the document date.",
                f"attachments[{i}].date",
            )


def _check_coverage(case: Case, policy: PayerPolicy, out: Findings) -> None:
    window = policy.relevance_window_days
    clinical = [
        att for att in case.attachments
        if att.kind in CLINICAL_KINDS or (att.kind in CONSENT_KINDS and not consent_missing(att, case))
    ]
    for i, line in enumerate(case.services):
        if any(days_from_service(att.date, line) <= window for att in clinical):
            continue
        when = f"{line.start}" if not line.is_span else f"{line.start} to {line.end}"
        out.block(
            "service_not_covered_by_note",
            f"services[{i}] ({line.code} on {when}) has no clinical attachment (clinical note, evaluation, plan of "
            f"care, imaging or lab) dated within {window} days of it, so nothing in the packet documents that "
            f"service. Attach the note for that date (the {policy.name} policy's relevance window is {window} days).",
            f"services[{i}]",
        )

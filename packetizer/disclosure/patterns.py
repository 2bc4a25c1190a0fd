"""Pattern detectors: identifiers recognised by their shape, without knowing the case.

Each detector is one regular expression and the group that is removed (a
label such as ``SSN:`` stays, the number after it goes). They are tuned for
precision on clinical text: an NPI, a claim number, a CPT or ICD-10 code and
every usual date format must not look like any of them. The shapes:

- SSN: ``123-45-6789`` (valid area and group), or any 9-digit spelling after a
  label (``SSN``, ``Social Security No.``), masked ones (``XXX-XX-6789``) too,
  and one character per table cell (``S | S | N | 4 | 7 | 8 ...``).
- Phone and fax: North American numbers with separators (``(612) 555-0147``,
  ``612.555.0147``, ``+1 612 555 0147``, extensions), or 10 bare digits after a
  label (``Fax: 6125550147``). Ten bare digits alone are an NPI, not a phone.
- Email addresses.
- MRN: a value with a digit after a label (``MRN``, ``Medical record #``,
  ``Chart no.``, ``Patient ID``, ``Account number``), never a date.
- Street address: house number, capitalised street name and a street suffix
  (``1420 Elm Street, Apt 3B``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Detector:
    """One identifier shape: ``regex`` finds it, ``group`` is the part removed."""

    type: str
    regex: re.Pattern
    group: int = 0


_SSN_DASHED = re.compile(
    r"(?<![\w\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-])"
)
# A table that gives each character its own cell ("S | S | N | 4 | 7 | 8 ...")
# reaches the text as characters between line breaks or runs of spaces.
_CELL = r"[\s|]{0,4}"
_SSN_LABELLED = re.compile(
    # One leading "\bS" for every label: the search skips ahead on it (twice as fast as an alternation).
    rf"\bS(?:{_CELL}S{_CELL}N(?![A-Za-z])|S\s?#|\.S\.N\.?"
    r"|oc(?:ial)?\.?\s*sec(?:urity)?\.?(?:\s*(?:number|num|no\.?|#))?)"
    r"[\s:#=.\-|]{0,8}(?:is\s+)?"
    r"(\d(?:[\s.\-|]{0,8}\d){8}|[X*]{3}[\s.\-]{0,2}[X*]{2}[\s.\-]{0,2}\d{4})(?!\d)",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w.\-/+])"
    r"(?:\+?1[\s.\-]?)?"
    r"(?:\(\s*[2-9]\d{2}\s*\)\s*|[2-9]\d{2}[\s.\-])"
    r"[2-9]\d{2}[\s.\-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?"
    r"(?![\w\-]|[./]\d)",
    re.IGNORECASE,
)
_PHONE_LABELLED = re.compile(
    r"\b(?:phone|ph|tel|telephone|cell|mobile|fax|home|work)\b\.?\s*(?:#|no\.?|number)?\s*[:.#\-]?\s*"
    r"(\+?1?\d{10})(?!\d)",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}(?![\w\-])",
    re.IGNORECASE,
)
_MRN_LABELLED = re.compile(
    r"\b(?:MRN|MR\s?#|MR\s?(?:no|num|number)\.?"
    r"|med(?:ical)?\.?\s*rec(?:ord)?\.?(?:\s*(?:number|num|no\.?|#))?"
    r"|chart\s*(?:number|num|no\.?|#)|record\s*(?:number|num|no\.?|#)"
    r"|patient\s*(?:id|identifier|number|num|no\.?|#)|pt\.?\s*(?:id|#)"
    r"|acct\.?\s*(?:number|num|no\.?|#)?|account\s*(?:number|num|no\.?|#))"
    r"[\s:#=.\-]{0,4}(?:is\s+)?"
    # The value: has a digit, is not an ISO or slashed date.
    r"((?!\d{4}-\d{2}-\d{2}(?![\w\-]))(?=[A-Z0-9\-]*\d)[A-Z0-9][A-Z0-9\-]{3,24})(?![\w\-])",
    re.IGNORECASE,
)
_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Place|Pl|Way|Terrace|Ter"
    "|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq"
)
# Upper-case spellings that are also clinical abbreviations (CT scan, ST
# segment, SQ injection, PL, DR) count only at the end of an address line.
_AMBIGUOUS_UPPER = {"ST", "DR", "CT", "PL", "SQ", "TER", "CIR", "TRL"}
_SUFFIX_ALTERNATIVES = "|".join(sorted(
    {*_SUFFIXES.split("|"), *(w for w in _SUFFIXES.upper().split("|") if w not in _AMBIGUOUS_UPPER)} - {"Dr", "St"},
    key=len, reverse=True,
))
_H = r"[ \t\u00a0]"    # an address stays on one line: never match across line breaks
_STREET = re.compile(
    rf"(?<![\w#/.\-])\d{{1,6}}[A-Za-z]?{_H}+"
    rf"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?{_H}+)?"
    rf"(?:(?:[A-Z][A-Za-z'\-]*|\d{{1,3}}(?:st|nd|rd|th))\.?{_H}+){{1,4}}?"
    # "Dr. Roe" and "St. Mary's" are people and saints, not street suffixes.
    rf"(?:(?:Dr|St)(?!\.?{_H}+[A-Z][a-z])|(?:{'|'.join(sorted(_AMBIGUOUS_UPPER))})(?={_H}*(?:,|$))"
    rf"|(?:{_SUFFIX_ALTERNATIVES}))\b\.?"
    rf"(?:,?{_H}*(?:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|Rm|Room|#)\.?{_H}*#?{_H}*[A-Za-z0-9\-]{{1,6}}\b)?",
    re.MULTILINE,
)

DETECTORS: tuple[Detector, ...] = (
    Detector("ssn", _SSN_DASHED),
    Detector("ssn", _SSN_LABELLED, 1),
    Detector("phone", _PHONE),
    Detector("phone", _PHONE_LABELLED, 1),
    Detector("email", _EMAIL),
    Detector("mrn", _MRN_LABELLED, 1),
    Detector("street_address", _STREET),
)

# The detectors strong enough to fail a finished packet on their own: a
# dashed or labelled SSN has no business anywhere in a retro request.
VERIFY_DETECTORS: tuple[Detector, ...] = DETECTORS[:2]

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
    """One identifier shape: ``regex`` finds it, ``group`` is the part removed.

    ``hint``, when given, is a cheap search that finds something in every text
    ``regex`` finds something in: a text it finds nothing in is not searched
    with ``regex`` at all.
    """

    type: str
    regex: re.Pattern
    group: int = 0
    hint: re.Pattern | None = None


# Speed: Python's ``re`` skips ahead in C only to where a pattern's first
# character can be, and only when that first character is a literal or a
# class of characters that case does not change; a pattern that opens with a
# lookbehind or ``\b`` is tried at every position (10-25 ns each). So each
# pattern here opens with the character class its matches start with, and the
# lookbehind that used to stand before it comes right after it, looking back
# over that character too: ``(?<![\w\-])\d`` is ``\d(?<![\w\-]\d)``, and
# ``\bS`` (S being a word character) is ``S(?<!\w.)``. Where the class holds
# letters of a case-blind pattern it is spelled out case-sensitively, with
# every character ``re.IGNORECASE`` matches to them (``ſ`` is an ``s``).
# tests/test_disclosure_patterns.py keeps the plainer spellings these replace
# and checks that both find the same spans.

_SSN_DASHED = re.compile(
    # (?<![\w\-])(?!000|666|9\d\d)\d{3}: the first digit, then the lookbehind and the excluded areas.
    r"\d(?<![\w\-]\d)(?<!9)(?!(?<=0)00|(?<=6)66)\d{2}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-])"
)
# A table that gives each character its own cell ("S | S | N | 4 | 7 | 8 ...")
# reaches the text as characters between line breaks or runs of spaces.
_CELL = r"[\s|]{0,4}"
_SSN_LABELLED = re.compile(
    # One leading "\bS" for every label, written as an S (any case, or the long s) that follows no word character.
    rf"(?-i:[Ss\u017f])(?<!\w.)(?:{_CELL}S{_CELL}N(?![A-Za-z])|S\s?#|\.S\.N\.?"
    r"|oc(?:ial)?\.?\s*sec(?:urity)?\.?(?:\s*(?:number|num|no\.?|#))?)"
    r"[\s:#=.\-|]{0,8}(?:is\s+)?"
    r"(\d(?:[\s.\-|]{0,8}\d){8}|[X*]{3}[\s.\-]{0,2}[X*]{2}[\s.\-]{0,2}\d{4})(?!\d)",
    re.IGNORECASE,
)
# The number, after an optional "+1" or "1", as "(612) " or "612-"; the first
# character says which of the four openings it is.
_AREA = r"(?:\(\s*[2-9]\d{2}\s*\)\s*|[2-9]\d{2}[\s.\-])"
_PHONE = re.compile(
    r"[(+1-9](?<![\w.\-/+].)"
    rf"(?:(?<=\+)1[\s.\-]?{_AREA}|(?<=1)[\s.\-]?{_AREA}|(?<=\()\s*[2-9]\d{{2}}\s*\)\s*|(?<=[2-9])\d{{2}}[\s.\-])"
    r"[2-9]\d{2}[\s.\-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?"
    r"(?![\w\-]|[./]\d)",
    re.IGNORECASE,
)
_PHONE_LABELLED = re.compile(
    # \b(?:phone|ph|tel|telephone|cell|mobile|fax|home|work): the first letter, then the rest of the word it starts.
    r"(?-i:[CcFfHhMmPpTtWw])(?<!\w.)"
    r"(?:(?<=p)(?:hone|h)|(?<=t)(?:el|elephone)|(?<=c)ell|(?<=m)obile|(?<=f)ax|(?<=h)ome|(?<=w)ork)"
    r"\b\.?\s*(?:#|no\.?|number)?\s*[:.#\-]?\s*"
    r"(\+?1?\d{10})(?!\d)",
    re.IGNORECASE,
)
# No first character to skip ahead to (an address starts with any letter or
# digit, and a lookbehind cannot look back over the whole name before the @):
# the detector runs only on texts with an "@" in them.
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}(?![\w\-])",
    re.IGNORECASE,
)
_AT = re.compile("@")
_NUMBER_WORD = r"(?:number|num|no\.?|#)"
_MRN_LABELLED = re.compile(
    # \b(?:MRN|MR #|MR no|medical record|chart #|record #|patient id|pt id|acct|account #): the first letter,
    # then the rest of the labels it starts.
    r"(?-i:[AaCcMmPpRr])(?<!\w.)"
    r"(?:(?<=m)(?:RN|R\s?#|R\s?(?:no|num|number)\.?"
    rf"|ed(?:ical)?\.?\s*rec(?:ord)?\.?(?:\s*{_NUMBER_WORD})?)"
    rf"|(?<=c)hart\s*{_NUMBER_WORD}|(?<=r)ecord\s*{_NUMBER_WORD}"
    rf"|(?<=p)(?:atient\s*(?:id|identifier|number|num|no\.?|#)|t\.?\s*(?:id|#))"
    rf"|(?<=a)(?:cct\.?\s*{_NUMBER_WORD}?|ccount\s*{_NUMBER_WORD}))"
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
    rf"\d(?<![\w#/.\-]\d)\d{{0,5}}[A-Za-z]?{_H}+"    # (?<![\w#/.\-])\d{1,6}
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
    Detector("email", _EMAIL, hint=_AT),
    Detector("mrn", _MRN_LABELLED, 1),
    Detector("street_address", _STREET),
)

# The detectors strong enough to fail a finished packet on their own: a
# dashed or labelled SSN has no business anywhere in a retro request.
VERIFY_DETECTORS: tuple[Detector, ...] = DETECTORS[:2]

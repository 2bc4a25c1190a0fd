"""The case's own identifiers: what to search documents for, and what must stay.

A withheld value becomes a :class:`Needle`: a regular expression that finds it
in its common spellings (an SSN with or without dashes or spaces, a phone
number with or without area-code brackets, dots or a country code, an email
address also as ``name [at] host [dot] org``, a street line with ``St`` or
``Street``). Values the payer needs (member id, claim number, NPIs, the
practice's own phone and email, the payer's fax) form the *keep* set: a match
equal to one of them is never removed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable

# Key words (in the field path) that say what kind of identifier a value is.
_KEY_TYPES = (
    (re.compile(r"ssn|social|sin\b|tax_?id|tin\b", re.I), "ssn"),
    (re.compile(r"e_?mail", re.I), "email"),
    (re.compile(r"phone|fax|tel|mobile|cell|pager", re.I), "phone"),
    (re.compile(r"mrn|medical_?record|record_?(?:number|no)|chart|patient_?id|account|acct", re.I), "mrn"),
    (re.compile(r"address|street|addr|line_?[12]", re.I), "street_address"),
)
# Parts of an address mapping that are not the street line.
_NOT_STREET = re.compile(r"city|state|zip|postal|country|county|region|province|town", re.I)
_UNIT_WORDS = {"apt", "apartment", "unit", "suite", "ste", "fl", "floor", "rm", "room", "#"}
_STREET_SPELLINGS = [
    ("street", "st"), ("avenue", "ave", "av"), ("road", "rd"), ("boulevard", "blvd"), ("drive", "dr"),
    ("lane", "ln"), ("court", "ct"), ("place", "pl"), ("terrace", "ter"), ("circle", "cir"),
    ("parkway", "pkwy"), ("highway", "hwy"), ("trail", "trl"), ("square", "sq"), ("way",),
    ("north", "n"), ("south", "s"), ("east", "e"), ("west", "w"),
    ("apartment", "apt", "#"), ("suite", "ste"), ("unit",), ("floor", "fl"), ("room", "rm"),
]
_SPELLING = {word: group for group in _STREET_SPELLINGS for word in group}
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}/\d{1,2}/\d{2,4}$")
_SEP = r"[\s.\-/]{0,3}"        # between the groups of a number
_WORD_SEP = r"[\s,.#\-]*"      # between the words of a street line


@dataclass(frozen=True)
class Needle:
    """One withheld value as two searches: ``strict`` on text as extracted,
    ``loose`` on the same text with all white space removed (a value broken
    across lines or hyphenated by the layout is still found)."""

    type: str
    field: str
    strict: re.Pattern
    loose: re.Pattern
    # Letters and digits found, in this order, in every spelling the searches
    # accept: a text whose letters and digits do not contain it is skipped.
    anchor: str = ""


def normalise(value: str) -> str:
    """Letters and digits only, upper case: how identifiers are compared."""
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def phone_digits(value: str) -> str | None:
    """The 10 digits of a North American number, or None."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def keep_key(type_: str, text: str) -> str:
    """The form in which a matched text is looked up in the keep set."""
    if type_ == "phone":
        return phone_digits(text) or normalise(text)
    if type_ == "email":
        return text.strip().lower()
    return normalise(text)


def keep_keys(values: Iterable[str]) -> frozenset[str]:
    """Every lookup form of the values that must stay in documents."""
    keys: set[str] = set()
    for value in values:
        value = str(value)
        keys.add(normalise(value))
        keys.add(value.strip().lower())
        for match in re.finditer(r"\+?[\d()][\d()\s.\-]{8,}\d", value):
            digits = phone_digits(match.group(0))
            if digits:
                keys.add(digits)
    keys.discard("")
    return frozenset(keys)


def classify(path: str, value: Any) -> str | None:
    """The identifier type of a withheld leaf value, or None when it is not one we search for.

    Free text, names, dates, booleans and short codes are withheld from the
    packet's fields but not hunted in documents: removing every "F" or "2026"
    would wreck the clinical content.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (dt.date, float)):
        return None
    text = str(value).strip()
    if not text or len(text) > 200 or _DATE_SHAPE.match(text):
        return None
    key = path.rsplit(".", 1)[-1]
    for pattern, type_ in _KEY_TYPES:
        if pattern.search(path):
            if type_ == "street_address" and _NOT_STREET.search(key):
                return None
            return _check(type_, text)
    if _EMAIL_SHAPE.match(text):
        return "email"
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", text):
        return "ssn"
    if re.fullmatch(r"\+?1?[\s.\-]?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}", text):
        return "phone"
    return _check("identifier", text)


def _check(type_: str, text: str) -> str | None:
    """Whether ``text`` is specific enough to search for as ``type_``."""
    digits = re.sub(r"\D", "", text)
    if type_ == "ssn":
        return "ssn" if len(digits) == 9 else _check("identifier", text)
    if type_ == "phone":
        return "phone" if phone_digits(text) or len(digits) == 7 else _check("identifier", text)
    if type_ == "email":
        return "email" if _EMAIL_SHAPE.match(text) else None
    if type_ == "street_address":
        return "street_address" if len(re.findall(r"[A-Za-z0-9]+", _street_line(text))) >= 2 else None
    # MRNs and other identifiers: long enough and with a digit, so that a word
    # or a short number is never hunted through the notes.
    alnum = normalise(text)
    if " " in text.strip() and len(text.split()) > 3:
        return None
    if len(alnum) < 5 or not digits or (alnum.isdigit() and len(alnum) < 6):
        return None
    return type_


def _street_line(text: str) -> str:
    """The street part of an address written on one line (``1420 Elm St, Apt 3B, Minneapolis, MN``)."""
    parts = [p.strip() for p in re.split(r"[\n,]", text) if p.strip()]
    if not parts:
        return ""
    line = parts[0]
    if len(parts) > 1 and parts[1].split()[0].lower().strip(".") in _UNIT_WORDS:
        line += " " + parts[1]
    return line


def build_needle(type_: str, field: str, value: str) -> Needle | None:
    """The searches for one withheld value, or None when the value is too vague to search for."""
    value = str(value).strip()
    if type_ == "ssn":
        core = _digit_groups(re.sub(r"\D", "", value), (3, 2, 4))
        anchor = re.sub(r"\D", "", value)
    elif type_ == "phone":
        core = _phone(value)
        anchor = re.sub(r"\D", "", value)[-7:]
    elif type_ == "email":
        core = _email(value)
        anchor = normalise(value.partition("@")[0])
    elif type_ == "street_address":
        line = _street_line(value)
        core = _street(line)
        anchor = normalise(line.split()[0]) if line.split() else ""
    else:
        core = _identifier(value)
        anchor = normalise(value).lstrip("0") or normalise(value)
    if core is None:
        return None
    strict = re.compile(rf"(?<![A-Za-z0-9])(?:{core})(?![A-Za-z0-9])", re.IGNORECASE)
    # Without white space, word boundaries are gone; digits still need theirs,
    # or 123456789 would be found inside 91234567890.
    loose = re.compile(_digit_bounded(core, value), re.IGNORECASE)
    return Needle(type_, field, strict, loose, anchor)


def _digit_bounded(core: str, value: str) -> str:
    value = value.strip()
    head = r"(?<!\d)" if value[:1].isdigit() or value[:1] in "+(" else ""
    tail = r"(?!\d)" if value[-1:].isdigit() else ""
    return f"{head}(?:{core}){tail}"


def _digit_groups(digits: str, groups: tuple[int, ...]) -> str | None:
    if len(digits) != sum(groups):
        return None
    parts, start = [], 0
    for size in groups:
        parts.append(digits[start:start + size])
        start += size
    return _SEP.join(parts)


def _phone(value: str) -> str | None:
    digits = phone_digits(value)
    if digits:
        area, exchange, line = digits[:3], digits[3:6], digits[6:]
        full = rf"(?:(?:\+\s*)?1{_SEP})?(?:\(\s*{area}\s*\)|{area}){_SEP}{exchange}{_SEP}{line}"
        # Written without the area code, a local number still has its separator.
        local = rf"(?<![\d\-]){exchange}[\s.\-]{line}"
        return f"{full}|{local}"
    raw = re.sub(r"\D", "", value)
    if len(raw) == 7:
        return rf"{raw[:3]}[\s.\-]?{raw[3:]}"
    return None


def _email(value: str) -> str | None:
    if "@" not in value:
        return None
    local, _, domain = value.partition("@")
    at = r"\s*(?:@|\(at\)|\[at\]|\s+at\s+)\s*"
    dot = r"(?:\.|\s*(?:\(dot\)|\[dot\]|\s+dot\s+)\s*)"
    return re.escape(local) + at + dot.join(re.escape(part) for part in domain.split("."))


def _street(line: str) -> str | None:
    words = re.findall(r"[A-Za-z0-9]+|#", line)
    if len(words) < 2:
        return None
    # The part before a unit word (Apt, Suite, #) is the core; the unit is optional.
    cut = next((i for i, w in enumerate(words) if w.lower() in _UNIT_WORDS and i >= 2), len(words))
    core = _WORD_SEP.join(_spellings(w) for w in words[:cut])
    if cut < len(words):
        core += f"(?:{_WORD_SEP}{_WORD_SEP.join(_spellings(w) for w in words[cut:])})?"
    return core


def _spellings(word: str) -> str:
    group = _SPELLING.get(word.lower())
    if not group:
        return re.escape(word)
    return "(?:" + "|".join(re.escape(w) for w in sorted(group, key=len, reverse=True)) + ")"


def _identifier(value: str) -> str | None:
    """Any grouping of the value's letters and digits: ``00731942``, ``0073-1942``, ``0073 1942``.

    One space, dash or slash at most between two characters; never a dot,
    which would make decimals ("73.19 42") spell a record number.
    """
    chars = normalise(value)
    if not chars:
        return None
    between = r"[ \t\-/]?"
    spellings = [between.join(re.escape(c) for c in chars)]
    # A record number printed without its leading zeros is the same record.
    if chars.isdigit() and chars.startswith("0") and len(chars.lstrip("0")) >= 5:
        spellings.append(between.join(chars.lstrip("0")))
    return "|".join(spellings)

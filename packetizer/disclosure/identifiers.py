"""The case's own identifiers: what to search documents for, and what must stay.

A withheld value becomes a :class:`Needle`: a regular expression that finds it
in its common spellings (an SSN with or without dashes or spaces, a phone
number with or without area-code brackets, dots or a country code, an email
address also as ``name [at] host [dot] org``, a street line with ``St`` or
``Street``, a name or other words as the same words in any case, across line
breaks). Values the payer needs (member id, claim number, NPIs, the
practice's own phone and email, the payer's fax) form the *keep* set: a match
equal to one of them is never removed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .textfold import fold

# Key words (in the field path) that say what kind of identifier a value is.
_KEY_TYPES = (
    (re.compile(r"ssn|social|sin\b|tax_?id|tin\b", re.I), "ssn"),
    (re.compile(r"e_?mail", re.I), "email"),
    (re.compile(r"phone|fax|tel|mobile|cell|pager", re.I), "phone"),
    (re.compile(r"mrn|medical_?record|record_?(?:number|no)|chart|patient_?id|account|acct", re.I), "mrn"),
    (re.compile(r"address|street|addr|line_?[12]", re.I), "street_address"),
)
# Parts of an address mapping that are not the street line: some narrow down
# where a person lives (hunted), the others are shared by millions (not).
_NOT_STREET = re.compile(r"city|state|zip|postal|country|county|region|province|town", re.I)
_ADDRESS_PARTS = frozenset({"city", "zip", "zipcode", "postal", "postcode", "county", "town"})
# Key words of values that describe rather than identify: categories many
# people share, clinical content, and free-text notes. Hunting them would
# wreck the notes the payer needs ("F", "English", "penicillin").
_NOT_HUNTED_KEYS = frozenset("""
    sex gender race ethnicity ethnic language languages lang marital religion religious relationship relation
    pronoun pronouns orientation nationality citizenship veteran
    allergy allergies medication medications meds drug drugs diagnosis diagnoses dx condition conditions
    problem problems symptom symptoms procedure procedures treatment therapy icd cpt hcpcs code codes
    modifier modifiers units
    note notes comment comments remark remarks description reason status type kind category method
""".split())
# Words that say nothing about a person ("unknown", "see above", "June").
_EMPTY_WORDS = frozenset("""
    none null nil unknown other pending self same na yes no true false declined refused applicable see
    above below on file as patient the a an of and or to in at for with by is not n/a tbd
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
""".split())
_MAX_WORDS = 8          # longer values are free text, not something a person is named by
_MIN_WORD_LETTERS = 4   # a single shorter word ("Ann", "Lee") is in too many other words' places
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
_STREET_SHAPE = re.compile(
    r"^\d{1,6}[a-z]?\s+(?:[a-z0-9'.\-]+\s+){1,4}?"
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|court|ct|place|pl|terrace|ter"
    r"|circle|cir|parkway|pkwy|highway|hwy|trail|trl|square|sq|way)\b",
    re.IGNORECASE,
)
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
    loose: re.Pattern | None
    # Letters and digits found, in this order, in every spelling the searches
    # accept: a text whose letters and digits do not contain it is skipped.
    anchor: str = ""


# Compiled once: normalise and phone_digits run for every find of a build, and for every token near one.
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_NOT_DIGIT = re.compile(r"\D+")


def normalise(value: str) -> str:
    """Letters and digits only, upper case: how identifiers are compared."""
    return _NOT_ALNUM.sub("", value).upper()


def phone_digits(value: str) -> str | None:
    """The 10 digits of a North American number, or None."""
    digits = _NOT_DIGIT.sub("", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def keep_key(type_: str, text: str) -> str:
    """The form in which a matched text is looked up in the keep set."""
    text = fold(text).text
    if type_ == "phone":
        return phone_digits(text) or normalise(text)
    if type_ == "email":
        return text.strip().lower()
    return normalise(text)


def keep_keys(values: Iterable[str]) -> frozenset[str]:
    """Every lookup form of the values that must stay in documents."""
    keys: set[str] = set()
    for value in values:
        value = fold(str(value)).text     # a member id typed in full-width letters is still that id
        keys.add(normalise(value))
        keys.add(value.strip().lower())
        for match in re.finditer(r"\+?[\d()][\d()\s.\-]{8,}\d", value):
            digits = phone_digits(match.group(0))
            if digits:
                keys.add(digits)
    keys.discard("")
    return frozenset(keys)


def classify(path: str, value: Any) -> str | None:
    """The identifier type of a withheld leaf value, or None when it is not searched for.

    Identifiers are typed by their key (``member.ssn``, ``chart_number``) or
    their shape (``123-45-6789``, ``1420 elm street``). Every other withheld
    string specific enough to name someone (a name, an employer, a city) is
    searched too, as its words, with the type ``identifier``: names are the
    first of HIPAA's identifiers, and the report's and the packet's set of
    types stays the one payers and tools already read ("[identifier removed]").
    Not searched: dates, booleans, short numbers, single short words,
    categories (sex, language), clinical values and free text, whose removal
    would wreck the notes the payer needs.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (dt.date, float)):
        return None
    text = fold(str(value)).text.strip()
    if not text or len(text) > 200 or _DATE_SHAPE.match(text):
        return None
    key = re.sub(r"\[\d+\]", "", path.rsplit(".", 1)[-1])
    key_words = _key_words(key)
    for pattern, type_ in _KEY_TYPES:
        if pattern.search(path):
            if type_ == "street_address" and _NOT_STREET.search(key):
                return _address_part(key_words, text)
            return _check(type_, text)
    if key_words & _ADDRESS_PARTS:
        return _address_part(key_words, text)
    if key_words & _NOT_HUNTED_KEYS:
        return None
    if _EMAIL_SHAPE.match(text):
        return "email"
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", text):
        return "ssn"
    if re.fullmatch(r"\+?1?[\s.\-]?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}", text):
        return "phone"
    if _STREET_SHAPE.match(_street_line(text)):
        return "street_address"
    if isinstance(value, int):
        return _check("identifier", text)
    return _check("identifier", text) or _words_check(text)


def _key_words(key: str) -> set[str]:
    """The words of a key, lower case: ``preferredLanguage``, ``marital_status`` -> {preferred, language}, ..."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", key)}


def _address_part(key_words: set[str], text: str) -> str | None:
    """A city, town, county or ZIP code is searched (as an address); a state or country is not."""
    if not key_words & _ADDRESS_PARTS:
        return None
    if re.fullmatch(r"[\d\s\-]+", text):
        return "street_address" if len(re.sub(r"\D", "", text)) >= 5 else None
    return "street_address" if _words_check(text) else None


def _words_check(text: str) -> str | None:
    """Whether ``text`` is words specific enough to search for (see :func:`classify`)."""
    words = _WORD.findall(text)
    if not words or len(text.split()) > _MAX_WORDS:
        return None
    telling = [w for w in words if not w.isdigit() and w.lower() not in _EMPTY_WORDS]
    if not telling:
        return None
    if len(words) == 1 and sum(c.isalpha() for c in words[0]) < _MIN_WORD_LETTERS:
        return None
    return "identifier"


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
    # or a short number is never hunted through the notes. A value the case
    # itself calls a record or account number is trusted from five characters
    # (clinics do use 5-digit MRNs); any other number needs six.
    alnum = normalise(text)
    if " " in text.strip() and len(text.split()) > 3:
        return None
    if len(alnum) < 5 or not digits or (alnum.isdigit() and len(alnum) < 6 and type_ != "mrn"):
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
    value = fold(str(value)).text.strip()
    if type_ in ("street_address", "identifier") and _is_words(type_, value):
        return _words_needle(type_, field, value)
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


def _is_words(type_: str, value: str) -> bool:
    """Whether ``value`` is searched as its words rather than as a number or a street line."""
    if type_ == "street_address":
        return _street(_street_line(value)) is None
    return _check("identifier", value) is None


def _words_needle(type_: str, field: str, value: str) -> Needle | None:
    """The same words in the same order, in any case, across spaces, line breaks, commas and dots.

    No whitespace-free search: without spaces, a short name would be found
    inside longer words ("Anna Lee" in "Hannaleeds").
    """
    words = _WORD.findall(value)
    if not words:
        return None
    core = r"[\s,.]+".join(re.escape(w) for w in words)
    strict = re.compile(rf"(?<!\w)(?:{core})(?!\w)", re.IGNORECASE)
    return Needle(type_, field, strict, None, normalise("".join(words)))


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

"""The pattern detectors, rewritten for speed, find exactly what their plainer spellings found.

Each detector's pattern in ``packetizer.disclosure.patterns`` opens with the
character class its matches start with, so that Python's ``re`` can skip
ahead in C (see the comment there). ``REFERENCE`` below keeps the patterns as
they were written before that rewrite; every test here compares the two
spellings span for span (the whole match and the removed group) on the texts
of the test suite and on a few thousand generated strings.
"""

from __future__ import annotations

import ast
import random
import re
import sys
from pathlib import Path

import pytest

from packetizer.disclosure.patterns import DETECTORS, Detector
from packetizer.disclosure.textfold import fold, ocr_reading

TESTS = Path(__file__).parent

# --------------------------------------------------------------------------
# The pre-optimisation reference: the detector patterns as written before
# they were rewritten to open with a character class (copied unchanged).
# --------------------------------------------------------------------------

_REF_SSN_DASHED = re.compile(
    r"(?<![\w\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-])"
)
_REF_CELL = r"[\s|]{0,4}"
_REF_SSN_LABELLED = re.compile(
    rf"\bS(?:{_REF_CELL}S{_REF_CELL}N(?![A-Za-z])|S\s?#|\.S\.N\.?"
    r"|oc(?:ial)?\.?\s*sec(?:urity)?\.?(?:\s*(?:number|num|no\.?|#))?)"
    r"[\s:#=.\-|]{0,8}(?:is\s+)?"
    r"(\d(?:[\s.\-|]{0,8}\d){8}|[X*]{3}[\s.\-]{0,2}[X*]{2}[\s.\-]{0,2}\d{4})(?!\d)",
    re.IGNORECASE,
)
_REF_PHONE = re.compile(
    r"(?<![\w.\-/+])"
    r"(?:\+?1[\s.\-]?)?"
    r"(?:\(\s*[2-9]\d{2}\s*\)\s*|[2-9]\d{2}[\s.\-])"
    r"[2-9]\d{2}[\s.\-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?"
    r"(?![\w\-]|[./]\d)",
    re.IGNORECASE,
)
_REF_PHONE_LABELLED = re.compile(
    r"\b(?:phone|ph|tel|telephone|cell|mobile|fax|home|work)\b\.?\s*(?:#|no\.?|number)?\s*[:.#\-]?\s*"
    r"(\+?1?\d{10})(?!\d)",
    re.IGNORECASE,
)
_REF_EMAIL = re.compile(
    r"(?<![\w.%+\-])[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}(?![\w\-])",
    re.IGNORECASE,
)
_REF_MRN_LABELLED = re.compile(
    r"\b(?:MRN|MR\s?#|MR\s?(?:no|num|number)\.?"
    r"|med(?:ical)?\.?\s*rec(?:ord)?\.?(?:\s*(?:number|num|no\.?|#))?"
    r"|chart\s*(?:number|num|no\.?|#)|record\s*(?:number|num|no\.?|#)"
    r"|patient\s*(?:id|identifier|number|num|no\.?|#)|pt\.?\s*(?:id|#)"
    r"|acct\.?\s*(?:number|num|no\.?|#)?|account\s*(?:number|num|no\.?|#))"
    r"[\s:#=.\-]{0,4}(?:is\s+)?"
    r"((?!\d{4}-\d{2}-\d{2}(?![\w\-]))(?=[A-Z0-9\-]*\d)[A-Z0-9][A-Z0-9\-]{3,24})(?![\w\-])",
    re.IGNORECASE,
)
_REF_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Place|Pl|Way|Terrace|Ter"
    "|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq"
)
_REF_AMBIGUOUS_UPPER = {"ST", "DR", "CT", "PL", "SQ", "TER", "CIR", "TRL"}
_REF_SUFFIX_ALTERNATIVES = "|".join(sorted(
    {*_REF_SUFFIXES.split("|"),
     *(w for w in _REF_SUFFIXES.upper().split("|") if w not in _REF_AMBIGUOUS_UPPER)} - {"Dr", "St"},
    key=len, reverse=True,
))
_REF_H = r"[ \t\u00a0]"
_REF_STREET = re.compile(
    rf"(?<![\w#/.\-])\d{{1,6}}[A-Za-z]?{_REF_H}+"
    rf"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?{_REF_H}+)?"
    rf"(?:(?:[A-Z][A-Za-z'\-]*|\d{{1,3}}(?:st|nd|rd|th))\.?{_REF_H}+){{1,4}}?"
    rf"(?:(?:Dr|St)(?!\.?{_REF_H}+[A-Z][a-z])|(?:{'|'.join(sorted(_REF_AMBIGUOUS_UPPER))})(?={_REF_H}*(?:,|$))"
    rf"|(?:{_REF_SUFFIX_ALTERNATIVES}))\b\.?"
    rf"(?:,?{_REF_H}*(?:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|Rm|Room|#)\.?{_REF_H}*#?{_REF_H}*[A-Za-z0-9\-]{{1,6}}\b)?",
    re.MULTILINE,
)

# (name, reference pattern, the detector that replaces it), in DETECTORS order.
PAIRS = [
    ("ssn_dashed", _REF_SSN_DASHED, DETECTORS[0]),
    ("ssn_labelled", _REF_SSN_LABELLED, DETECTORS[1]),
    ("phone", _REF_PHONE, DETECTORS[2]),
    ("phone_labelled", _REF_PHONE_LABELLED, DETECTORS[3]),
    ("email", _REF_EMAIL, DETECTORS[4]),
    ("mrn_labelled", _REF_MRN_LABELLED, DETECTORS[5]),
    ("street_address", _REF_STREET, DETECTORS[6]),
]
IDS = [name for name, _, _ in PAIRS]


def reference_spans(reference: re.Pattern, group: int, text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    return [(m.span(), m.span(group)) for m in reference.finditer(text)]


def detector_spans(detector: Detector, text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """What the redactor takes from ``detector`` (see ``Redactor._scan``): nothing when its hint finds nothing."""
    if detector.hint is not None and detector.hint.search(text) is None:
        return []
    return [(m.span(), m.span(detector.group)) for m in detector.regex.finditer(text)]


def assert_same(texts: list[str]) -> dict[str, int]:
    """Both spellings of every detector find the same spans in each text; per detector, the texts with a find."""
    found = dict.fromkeys(IDS, 0)
    for name, reference, detector in PAIRS:
        for text in texts:
            expected = reference_spans(reference, detector.group, text)
            assert detector_spans(detector, text) == expected, (name, text)
            found[name] += bool(expected)
    return found


def test_the_pairs_are_the_detectors_in_order():
    """This test ensures every detector is compared with its reference, and the removed group is the same one."""
    assert [d for _, _, d in PAIRS] == list(DETECTORS)
    assert [d.type for _, _, d in PAIRS] == ["ssn", "ssn", "phone", "phone", "email", "mrn", "street_address"]
    assert [reference.groups >= d.group for _, reference, d in PAIRS] == [True] * len(PAIRS)
    assert [d.group for d in DETECTORS] == [0, 1, 0, 1, 0, 1, 0]


# --------------------------------------------------------------------------
# (i) The texts of the test suite
# --------------------------------------------------------------------------

TEXT_FIXTURES = {".txt", ".md", ".csv", ".yaml", ".json", ".jsonl", ".835"}


def suite_texts() -> list[str]:
    """Every string written in a test module or its helpers, and the text fixtures, as given, folded and as OCR reads."""
    strings: set[str] = set()
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                # An f-string: its literal parts joined with a few stand-ins for the values.
                for stand_in in ("", " ", "301", "612-555-0147"):
                    strings.add(stand_in.join(p.value for p in node.values
                                              if isinstance(p, ast.Constant) and isinstance(p.value, str)))
    for path in sorted((TESTS / "fixtures").rglob("*")):
        if path.suffix in TEXT_FIXTURES and path.stat().st_size < 300_000:
            strings.add(path.read_text(encoding="utf-8", errors="replace"))
    texts = set(strings)
    for text in strings:
        folded = fold(text).text
        texts.add(folded)
        texts.add(ocr_reading(folded))
    return sorted(texts)


def test_the_suites_examples_are_found_alike():
    """This test ensures that on every string of the test suite (the detectors' positive and negative examples
    among them), folded and read as OCR text, the rewritten detectors find what the reference patterns found."""
    texts = suite_texts()
    found = assert_same(texts)
    # The examples do exercise every detector.
    assert all(count >= 3 for count in found.values()), found


# --------------------------------------------------------------------------
# (ii) Generated strings
# --------------------------------------------------------------------------

LABELS = [
    "SSN", "ssn", "S S N", "S | S | N", "S\nS\nN", "SS#", "SS #", "S.S.N.", "S.S.N", "Soc. Sec. No.", "Soc Sec #",
    "Social Security Number", "social security num", "SOCIAL SECURITY NO", "Soc. Sec.", "\u017fsn",
    "MRN", "mrn", "MR #", "MR#", "MR no.", "MR number", "Med. Rec. No.", "Medical record #", "medical record number",
    "Med rec", "Chart no.", "CHART #", "Record #", "record number", "Patient ID", "patient identifier",
    "Patient #", "Pt. ID", "pt #", "Acct #", "Acct.", "acct number", "Account number", "ACCOUNT #",
    "Phone", "PHONE", "ph", "Ph.", "Tel", "tel.", "Telephone", "Cell", "Mobile", "Fax", "FAX", "Home", "Work",
    "Phone #", "phone no.", "Fax number", "ext.", "ext", "x", "extension", "is", "is ",
]
WORDS = [
    "Elm", "Oak", "Cedar", "Maple", "Juniper", "Mary's", "Roe", "St.", "St", "ST", "Dr", "Dr.", "DR", "Street",
    "Avenue", "Ave", "Ave.", "Lane", "Ln", "Rd", "Road", "Blvd", "Way", "CT", "Ct", "PL", "Pl", "SQ", "Sq",
    "Pkwy", "Hwy", "Trl", "Ter", "Circle", "Cir", "Apt", "Apt.", "Apartment", "Suite", "Ste", "Unit", "Fl",
    "Floor", "Rm", "Room", "N", "S", "E", "W", "NE", "SW", "North", "West", "1st", "22nd", "3rd", "45th",
    "the", "pain", "seen", "notes", "XXX", "XX", "***", "**", "X", "j.doe", "a+b", "pt_1", "mail", "example",
    "org", "co", "a-b", "x1", "O'Brien", "Ann-Marie", "KELVIN", "\u212aelvin", "\u0130stanbul", "\u0131",
    "\u017ftreet", "caf\u00e9", "\u00c5se",
]
SEPARATORS = ["-", ".", " ", "  ", "|", "\n", "(", ")", "+", "/", "#", ":", ",", "@", "%", "_", "\t", "\u00a0",
              "=", "*", "'", " | ", " - ", "\r\n", "\n\n", ";"]
OTHER_DIGITS = ["\u0663", "\u0669", "\u096a", "\uff11"]       # Arabic-Indic, Devanagari and full-width digits


def digits(rnd: random.Random) -> str:
    """A run of digits, often one that matters at a boundary (000, 666, 9.., 00, 0000, an area code)."""
    kind = rnd.randrange(8)
    if kind == 0:
        return rnd.choice(["000", "666", "900", "999", "00", "0000", "1", "+1", "0", "6", "9", "10", "01"])
    if kind == 1:
        return "".join(rnd.choice("0123456789") for _ in range(rnd.choice([3, 2, 4, 9, 10, 11])))
    if kind == 2:
        return rnd.choice(OTHER_DIGITS) + "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(4)))
    return "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 12)))


def shaped(rnd: random.Random) -> str:
    """A phone, SSN, email or address, well formed or nearly: the shapes the detectors are about."""
    d = lambda n: "".join(rnd.choice("0123456789") for _ in range(n))       # noqa: E731
    sep = lambda: rnd.choice(["-", ".", " ", "", "  ", "|", " - ", "\n"])  # noqa: E731
    kind = rnd.randrange(6)
    if kind == 0:
        area = rnd.choice(["000", "666", "912", d(3), d(3), d(3)])
        first, second = (sep(), sep()) if rnd.random() < 0.3 else ("-", "-")
        return f"{area}{first}{rnd.choice(['00', d(2), d(2)])}{second}{rnd.choice(['0000', d(4), d(4)])}"
    if kind == 1:
        area, exchange = f"{rnd.randint(100, 999)}", f"{rnd.randint(100, 999)}"
        body = rnd.choice([f"({area}) {exchange}-{d(4)}", f"({area}){exchange}-{d(4)}", f"{area}-{exchange}-{d(4)}",
                           f"{area}.{exchange}.{d(4)}", f"{area} {exchange} {d(4)}", f"( {area} )  {exchange}.{d(4)}",
                           f"{area}{exchange}{d(4)}"])
        head = rnd.choice(["", "", "+1 ", "1-", "1", "+1", "+", "+1(", "11 "])
        tail = rnd.choice(["", "", " x204", " ext. 12", "ext7", " extension 1234567", ".5", "/2", "-", "a"])
        return head + body + tail
    if kind == 2:
        local = rnd.choice(["j.doe", "a+b", "x", "A.B-C", "pt_1", "m%n", ".a", "a."])
        domain = rnd.choice(["mail.example.org", "ex-ample.co", "a.b", "host", "-x.com", "x-.com", "b.c1",
                             "sub.domain.museum", "EXAMPLE.NET"])
        return f"{local}{rnd.choice(['@', '@', ' @', '@@'])}{domain}"
    if kind == 3:
        number = rnd.choice([d(rnd.randint(1, 7)), d(3) + rnd.choice("AbZ"), "1420"])
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 5)))
        unit = rnd.choice(["", "", ", Apt 3B", " Suite 200", ",#12", " Apt. # 4-C", " Rm 1234567"])
        return f"{number}{rnd.choice([' ', '  ', chr(9), chr(0xa0), '']) }{words}{unit}"
    if kind == 4:
        cell = rnd.choice([" ", " | ", "\n", "   ", "\n\n", ""])
        masked = rnd.choice(["XXX-XX-", "***-**-", "xxx xx ", "XX-XX-", "XXX.XX."]) + d(4)
        value = rnd.choice([cell.join(d(9)), d(9), masked, f"{d(3)} {d(2)} {d(4)}", d(8), d(10)])
        return f"{rnd.choice(LABELS)}{rnd.choice([': ', ' ', '#', '=', ' is ', ':', ' - ', '', ' | '])}{value}"
    value = rnd.choice([d(rnd.randint(3, 12)), "K55-" + d(5), "A-" + d(5), f"{d(4)}-{d(2)}-{d(2)}", "pending",
                        "ABC", "1", d(26), "+1" + d(10), "1" + d(10), d(10), d(10)])
    return f"{rnd.choice(LABELS)}{rnd.choice([': ', ' ', '# ', '.', ' is ', ':', ' - ', '', '-'])}{value}"


def piece(rnd: random.Random) -> str:
    kind = rnd.randrange(10)
    if kind < 3:
        return shaped(rnd)
    if kind < 5:
        return digits(rnd)
    if kind < 7:
        return rnd.choice(SEPARATORS)
    if kind < 8:
        return rnd.choice(LABELS)
    return rnd.choice(WORDS)


def generated(count: int, seed: int) -> list[str]:
    """``count`` strings of a few pieces each, joined with nothing, a space or a separator."""
    rnd = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = [piece(rnd) for _ in range(rnd.randint(1, 8))]
        text = parts[0]
        for part in parts[1:]:
            text += rnd.choice(["", " ", " ", rnd.choice(SEPARATORS)]) + part
        texts.append(text)
    return texts


def test_generated_strings_are_found_alike():
    """This test ensures that on 6,000 generated strings (digits, separators, labels, near-identifiers, at the
    start and end of the text) the rewritten detectors find what the reference patterns found, span for span."""
    texts = generated(6000, seed=20261201)
    found = assert_same(texts)
    # The generator does reach every detector often enough for the comparison to mean something.
    assert all(count >= 50 for count in found.values()), found


def test_generated_strings_are_found_alike_inside_longer_texts():
    """This test ensures the same for the generated strings joined into page-long texts, as a page reaches the
    detectors (where one find's end decides where the next search starts)."""
    texts = generated(3000, seed=7)
    pages = ["\n".join(texts[i:i + 30]) for i in range(0, len(texts), 30)]
    assert_same(pages)


# --------------------------------------------------------------------------
# Case: the first character of a case-blind label
# --------------------------------------------------------------------------

ALL_CHARACTERS = "".join(map(chr, range(sys.maxunicode + 1)))

LABELLED = {
    "ssn_labelled": (["SSN", "SS#", "S.S.N.", "Social Security No.", "Soc. Sec. #"], "301227788"),
    "phone_labelled": (["phone", "ph", "tel", "telephone", "cell", "mobile", "fax", "home", "work"], "6125550147"),
    "mrn_labelled": (["MRN", "MR #", "MR no.", "Medical record #", "Med. Rec.", "chart no.", "record #",
                      "patient id", "pt. id", "acct", "account number"], "K55-20931"),
}


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_every_character_that_case_blindly_starts_a_label_still_starts_it(name):
    """This test ensures that a label is found whatever character Python's case-blind matching takes for its
    first letter (S, s and the long s; any Unicode character case-folding to it), as the reference found it."""
    _, reference, detector = next(pair for pair in PAIRS if pair[0] == name)
    labels, value = LABELLED[name]
    for label in labels:
        firsts = re.findall(re.escape(label[0]), ALL_CHARACTERS, re.IGNORECASE)
        assert len(firsts) >= 2
        for first in firsts:
            for before in ("", " ", "x", "-", "\n"):
                text = f"{before}{first}{label[1:]}: {value}"
                expected = reference_spans(reference, detector.group, text)
                assert detector_spans(detector, text) == expected, (name, text)
                # Found, unless a letter before it makes it part of a longer word.
                assert any(span[0] == len(before) for span, _ in expected) == (before != "x"), text


# --------------------------------------------------------------------------
# The redactor's shortcuts around the detectors
# --------------------------------------------------------------------------

def test_the_redactors_token_keys_and_letters_and_digits_are_the_plain_ones():
    """This test ensures the redactor's regex-free spellings (the lookup key of a token next to a find, the
    letters and digits a needle's anchor is looked for in) give what normalise and a regex gave, on the
    suite's texts and generated ones."""
    from packetizer.disclosure.identifiers import normalise
    from packetizer.disclosure.redactor import _NOT_ALNUM_BYTES, _TOKEN, _UPPER_BYTES, _token_key

    texts = suite_texts() + generated(2000, seed=3)
    tokens = {token for text in texts for token in _TOKEN.findall(text)}
    assert len(tokens) > 1000
    assert [_token_key(t) for t in sorted(tokens)] == [normalise(t) for t in sorted(tokens)]
    for text in texts:
        plain = re.sub(r"[^0-9A-Za-z]+", "", text).upper()
        assert text.encode("ascii", "ignore").translate(_UPPER_BYTES, _NOT_ALNUM_BYTES) == plain.encode("ascii")

"""The review's attacks on pixel truth (issue 12) stay fixed: each leaked a withheld SSN before.

A reviewer's proofs of concept got a withheld value through the redaction path
with fonts and maps that hide digits from the text layer, shapes and shadings
that draw digits, tricks that kept a page from OCR (#-escaped /ActualText, an
indirect /PatternType, deeply nested forms), pictures OCR did not read (white
on black, a fax turned round with the label glued to the value, a stamp at an
angle), marks around each digit of a plain-text note, and a value split by a
page break behind three running lines. :mod:`tests.support.review_attacks`
rebuilds each one at test time.

Each goes through the real path, ``ingest_attachment(att, redactor=plan.redactor)``
with the plan of a case that withholds the planted values, and is judged the
way a user relies on it: neither pypdf nor PDFium extracts the value from the
exhibit, no object of the file holds it, and the pixels where the value was
drawn (found by rendering the original with and without it, at 300 dpi) are
black in the exhibit rendered at 300 dpi, while the words beside it stay
legible and searchable; or, for the stamp OCR reads no word from, the page is
reported ``unchecked``. Where the fix is "the page goes to OCR", the page says
it was checked by OCR and why, in the words of :mod:`packetizer.ingest.trust`.
No mocks: real PDFium, pypdf, poppler and Tesseract.

Not covered, as README's "What is checked and how" documents it: a Unicode map
that lies consistently with plausible characters (digits mapped to letters or
to other digits) on an otherwise plain page stays vector and is not read by OCR.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageOps, ImageStat

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import plan_disclosure
from packetizer.disclosure.pdfredact import NO_WORDS
from packetizer.ingest import ingest_attachment, trust
from packetizer.model import Attachment
from packetizer.pagecheck import OCR, UNCHECKED
from packetizer.policy import load_registry
from tests.support.hostile_pdfs import (SSN, case_mapping, fold, fold_ocr, object_texts, pdfium_pages, pypdf_pages,
                                        squash, tesseract)
from tests.support.review_attacks import ATTACKS, FOLD_VARIANTS, Attack, folded_note

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
NOTE_DATE = dt.date(2026, 10, 11)
READ_DPI = 300
NAMES = list(ATTACKS)
BURNT_ATTACKS = [name for name, attack in ATTACKS.items() if attack.burnt]
KEEPING_ATTACKS = [name for name, attack in ATTACKS.items() if "keep" in attack.parts]
OCR_ATTACKS = [name for name, attack in ATTACKS.items() if attack.reason and attack.burnt]

BURNT = 0.97          # mean darkness (0 white .. 1 black) of a value's box in the exhibit: burnt out (a third of
                      # each digit left showing, as a box burnt too short leaves it, is about 0.87)
DRAWN = 0.75          # the same box in the original is lighter than that: the value is drawn there, not a box
INK_CHANGE = 64       # grey levels by which a pixel differs with and without a part: the part drew it

# What must not be extracted, letters and digits only: the SSN, the parts that give it away (first
# five, last six, last four digits), the MRN; up to three separators of any kind between two characters.
_SEP = r"[^0-9a-z]{0,3}"
EXTRACTED = [re.compile(_SEP.join(fragment)) for fragment in ("478261935", "47826", "261935", "1935", "44861")]
# File data is full of numbers: there, whole values only (and the SSN's first half as written).
IN_FILE = [re.compile(rf"(?<!\d)478{_SEP}26{_SEP}1935(?!\d)"), re.compile(r"(?<!\d)478-26-"),
           re.compile(r"(?<!\d)44861(?!\d)")]


def found(text: str, patterns: list[re.Pattern]) -> list[str]:
    """Each pattern found in already folded ``text``, with some context."""
    hits = []
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            hits.append(f"...{text[max(0, match.start() - 20):match.end() + 10]!r}...")
    return hits


def render(pdf: bytes) -> list[Image.Image]:
    """Every page in grey at READ_DPI, as a reader's screen or printer shows it."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].render(scale=READ_DPI / 72, grayscale=True).to_pil().convert("L")
                for i in range(len(document))]
    finally:
        document.close()


def darkness(page: Image.Image, box: tuple[int, int, int, int]) -> float:
    return 1 - ImageStat.Stat(page.crop(box)).mean[0] / 255


# --------------------------------------------------------------------------- the work, once


@dataclass
class Outcome:
    """One attack: its document, where each planted part was drawn, the exhibit and its pages."""

    attack: Attack
    original: bytes
    original_pages: list[Image.Image]
    boxes: dict[str, tuple[int, tuple[int, int, int, int]]] = field(default_factory=dict)  # part -> (page, box)
    exhibit: object = None
    error: BaseException | None = None
    exhibit_pages: list[Image.Image] = field(default_factory=list)

    def done(self):
        """The exhibit, or the redaction's own failure re-raised."""
        if self.error is not None:
            raise self.error
        return self.exhibit


def _where_drawn(outcome: Outcome, part: str) -> tuple[int, tuple[int, int, int, int]]:
    """The page and pixel box of what ``part`` draws: the original rendered with and without it, compared."""
    page = outcome.attack.parts[part]
    without = render(outcome.attack.make(frozenset({part})))
    changed = ImageChops.difference(outcome.original_pages[page], without[page])
    box = changed.point(lambda level: 255 if level > INK_CHANGE else 0).getbbox()
    assert box is not None, f"{part} draws nothing on page {page + 1}"
    return page, box


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    case = case_from_mapping(case_mapping(), tmp_path_factory.mktemp("case"))
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


@pytest.fixture(scope="module")
def outcomes(plan, tmp_path_factory) -> dict[str, Outcome]:
    folder = tmp_path_factory.mktemp("attacks")
    results = {}
    for name, attack in ATTACKS.items():
        data = attack.make(frozenset())
        outcome = results[name] = Outcome(attack, data, render(data))
        outcome.boxes = {part: _where_drawn(outcome, part) for part in attack.parts}
        path = folder / attack.file_name
        path.write_bytes(data)
        try:
            outcome.exhibit = ingest_attachment(
                Attachment(file=path.name, path=path, kind="clinical_note", date=NOTE_DATE), redactor=plan.redactor)
        except Exception as exc:  # noqa: BLE001 - each test of this attack reports it
            outcome.error = exc
            continue
        outcome.exhibit_pages = render(outcome.exhibit.pdf)
    return results


# --------------------------------------------------------------------------- the attacks are what they claim


@pytest.mark.parametrize("name", NAMES)
def test_the_attack_draws_the_value_where_the_text_layer_does_not_say_it(outcomes, name):
    """This test ensures each attack is meaningful: the original draws each planted part on its page
    (a box of ink, not already a black box), and PDFium, whose character boxes are burnt, does not read
    the whole SSN in the original (pypdf, which ignores /ActualText, may)."""
    outcome = outcomes[name]
    for part, (page, box) in outcome.boxes.items():
        assert 0.02 < darkness(outcome.original_pages[page], box) < DRAWN, (part, page, box)
    assert found(fold("\n".join(pdfium_pages(outcome.original))), EXTRACTED[:1]) == []


# --------------------------------------------------------------------------- what the user relies on


@pytest.mark.parametrize("name", NAMES)
def test_no_text_extractor_finds_the_value(outcomes, name):
    """This test ensures neither pypdf nor PDFium extracts the SSN (or the MRN, or the parts of them that
    give them away; folded, any separators, across page breaks) from the redacted exhibit."""
    pdf = outcomes[name].done().pdf
    for extractor, pages in (("pypdf", pypdf_pages(pdf)), ("pdfium", pdfium_pages(pdf))):
        assert found(fold("\n".join(pages)), EXTRACTED) == [], extractor


@pytest.mark.parametrize("name", NAMES)
def test_no_object_of_the_file_holds_the_value(outcomes, name):
    """This test ensures no string or stream (raw or decoded) of the redacted exhibit holds the value."""
    for text in object_texts(outcomes[name].done().pdf):
        assert found(fold(text), IN_FILE) == []


@pytest.mark.parametrize("name", BURNT_ATTACKS)
def test_the_pixels_that_drew_the_value_are_black(outcomes, name):
    """This test ensures the exhibit, rendered at 300 dpi, is black over the box of every pixel the
    planted value drew on the original (each half of a value split by a page break on its own page)."""
    outcome = outcomes[name]
    exhibit = outcome.done()
    assert exhibit.pages == len(outcome.original_pages)
    for part in outcome.attack.withheld:
        page, box = outcome.boxes[part]
        picture = outcome.exhibit_pages[page]
        assert abs(picture.width - outcome.original_pages[page].width) <= 2
        assert abs(picture.height - outcome.original_pages[page].height) <= 2
        seen = darkness(picture, box)
        assert seen >= BURNT, f"{part} on page {page + 1} at {box}: mean darkness {seen:.2f} < {BURNT}"


@pytest.mark.parametrize("name", BURNT_ATTACKS)
def test_what_was_removed_is_reported(outcomes, name):
    """This test ensures the disclosure report counts each removed value under its type on the page
    it was drawn on."""
    outcome = outcomes[name]
    reported = {(r.type, r.page) for r in outcome.done().redactions}
    for part in outcome.attack.withheld:
        page, _ = outcome.boxes[part]
        assert ("mrn" if part == "mrn" else "ssn", page + 1) in reported, part


@pytest.mark.parametrize("name", KEEPING_ATTACKS)
def test_the_words_beside_the_value_stay_legible_and_searchable(outcomes, name):
    """This test ensures the redaction did not black out the page: the words planted beside the value
    are not burnt (their box is as light as on the original) and are in the exhibit's text layer."""
    outcome = outcomes[name]
    exhibit = outcome.done()
    page, box = outcome.boxes["keep"]
    before, after = darkness(outcome.original_pages[page], box), darkness(outcome.exhibit_pages[page], box)
    assert after < before + 0.2, f"the words' box went from {before:.2f} to {after:.2f} dark"
    assert squash(outcome.attack.keep) in squash(" ".join(pdfium_pages(exhibit.pdf)))


@pytest.mark.parametrize("name", OCR_ATTACKS)
def test_the_page_was_sent_to_ocr_and_says_why(outcomes, name):
    """This test ensures the page whose text layer lied (or could not be followed) was read by OCR,
    sent as a picture of itself, and says why in the trust check's words."""
    outcome = outcomes[name]
    exhibit = outcome.done()
    checks = {check.page: check for check in exhibit.page_checks}
    assert sorted(checks) == list(range(1, exhibit.pages + 1))
    for page in {page for page, _ in outcome.boxes.values()}:
        check = checks[page + 1]
        assert check.method in (OCR, UNCHECKED), check
        assert outcome.attack.reason in check.reason.split("; "), check
        assert page + 1 in exhibit.rasterized


def test_a_value_split_by_a_page_break_is_found_behind_three_running_lines_each_side(outcomes):
    """This test ensures a page-break join skips a three-line footer and a three-line header: both
    halves are removed, and neither page is left unchecked."""
    exhibit = outcomes["split_behind_running_lines"].done()
    assert [check.method for check in exhibit.page_checks if check.method == UNCHECKED] == []
    assert {("ssn", 1), ("ssn", 2)} <= {(r.type, r.page) for r in exhibit.redactions}


def test_a_page_ocr_reads_no_word_from_is_reported_unchecked(outcomes):
    """This test ensures a page with ink on which OCR reads no word (a diagonal SSN stamp) is not
    passed as checked: it is ``unchecked``, says that OCR read no words, and is listed for review."""
    outcome = outcomes["diagonal_stamp"]
    exhibit = outcome.done()
    (check,) = exhibit.page_checks
    assert check.method == UNCHECKED, check
    assert set(check.reason.split("; ")) == {trust.PICTURE, NO_WORDS}, check
    assert exhibit.unchecked_pages == (1,)


# --------------------------------------------------------------------------- marks around each digit of a .txt note


@pytest.fixture(scope="module")
def folded_notes(plan, tmp_path_factory) -> dict[str, tuple[object, str]]:
    """Each variant's exhibit, and what Tesseract reads on its pages."""
    folder = tmp_path_factory.mktemp("notes")
    exhibits = {}
    for variant in FOLD_VARIANTS:
        path = folder / f"{variant}.txt"
        path.write_bytes(folded_note(variant))
        exhibits[variant] = ingest_attachment(
            Attachment(file=path.name, path=path, kind="clinical_note", date=NOTE_DATE), redactor=plan.redactor)
    pictures = []
    for exhibit in exhibits.values():
        # The note's few lines: the page cut to its ink (with a margin), quicker to read than the page.
        page = render(exhibit.pdf)[0]
        left, top, right, bottom = ImageOps.invert(page).getbbox()
        out = io.BytesIO()
        page.crop((max(0, left - 60), max(0, top - 60), right + 60, bottom + 60)).save(out, format="PPM")
        pictures.append(out.getvalue())
    return {variant: (exhibit, text) for (variant, exhibit), text in zip(exhibits.items(), tesseract(pictures))}


@pytest.mark.parametrize("variant", list(FOLD_VARIANTS))
def test_marks_around_each_digit_of_a_text_note_do_not_hide_the_value(folded_notes, variant):
    """This test ensures an SSN in a .txt note with a combining underline under each digit (or a
    variation selector or a blank combining vowel between them) is removed: no extractor finds it,
    Tesseract cannot read it on the page, the removal is reported and the rest of the line stays."""
    exhibit, seen = folded_notes[variant]
    note = folded_note(variant).decode("utf-8")
    # The note holds the value as a reader sees it (marks dropped), not as NFKC spells it.
    assert SSN in "".join(char for char in note if unicodedata.category(char) != "Mn")
    assert SSN not in fold(note)
    for extractor, pages in (("pypdf", pypdf_pages(exhibit.pdf)), ("pdfium", pdfium_pages(exhibit.pdf))):
        text = "\n".join(pages)
        assert found(fold(text), EXTRACTED) == [], extractor
        assert "verified" in text
    assert found(fold_ocr(seen), EXTRACTED) == [], seen
    assert "verified" in seen
    assert ("ssn", 1) in {(r.type, r.page) for r in exhibit.redactions}


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abZ9.,;-\t \r\n\u00a0\u2003\x1c\u200b\u00ad\u180e\ufeff", max_size=16))
def test_the_blanks_looked_at_are_white_space_beside_no_letter_and_format_characters(text):
    """This test ensures the blank characters whose ink is looked at are exactly the white space that is not a
    line break and has no ASCII letter before it or none after it, and every format character."""
    from packetizer.ingest.trust import _BLANK

    def letter(index: int) -> bool:
        return 0 <= index < len(text) and text[index].isascii() and text[index].isalpha()

    expected = [index for index, char in enumerate(text)
                if (char.isspace() and char not in "\r\n" and not (letter(index - 1) and letter(index + 1)))
                or unicodedata.category(char) == "Cf"]
    assert [match.start() for match in _BLANK.finditer(text)] == expected

"""Pixel truth (issue 12): what a reader can see on a redacted exhibit is what was checked.

Each document of :mod:`tests.support.hostile_pdfs` plants a withheld value of
one case where a text layer does not show it (a scan beside a text header, a
Type3 font, a lying ToUnicode map, /ActualText, a pattern, outlines, JPEG
metadata, samples under a clip, mask or box, Unicode spellings, a table, a
page break, a private key, a fax). It goes through the real redaction path,
``ingest_attachment(att, redactor=plan.redactor)``, and the result is judged
the way a user relies on it: neither pypdf nor PDFium extracts the value, no
object of the file holds it, real Tesseract does not read it on the page as
rendered nor in any image's own samples, pages whose text layer cannot be
trusted say they were checked by OCR, and what is not an identifier stays
readable and searchable. No mocks: real Tesseract, real extractors.

The work is done once per module: the originals are read by one background
Tesseract process while the documents are redacted one by one, then the
redacted pages (and images that are not just the page) are read in one batch
shared by single-threaded Tesseract processes, so the module stays quick on
two cores.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageStat
from pypdf import PdfReader

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import find_leaks, pdfredact, plan_disclosure
from packetizer.disclosure.pdftext import stream_digest
from packetizer.ingest import ingest_attachment
from packetizer.ingest.image import images_to_pdf
from packetizer.model import Attachment
from packetizer.pipeline import build_packet
from packetizer.policy import load_registry
from tests.support.hostile_pdfs import (GENERATORS, SMALL_PAGE, SSN, Hostile, TesseractBatch, address_in_lower_case,
                                        case_mapping, clean_vector_note, fax_pdf_pages, fold, fold_ocr, object_texts,
                                        pdfium_pages, pypdf_pages, raw_images, render_pages, scan, squash, tesseract,
                                        to_fax)

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
NOTE_DATE = dt.date(2026, 10, 11)
TODAY = dt.date(2026, 10, 25)
NAMES = list(GENERATORS)

# What must not be found of each planted value, letters and digits only: the whole value and the
# parts that would still give it away (the SSN's first five and last four digits, a phone's line number).
# Up to three separators of any kind may stand between two of its characters: dashes, spaces, line
# breaks, table-cell borders. The email is a pattern: the member's name alone is not a leak.
FRAGMENTS = {
    "ssn": ("478261935", "47826", "261935", "1935"),
    "mrn": ("44861",),
    "phone": ("6515550182", "5550182"),
    "email": (re.compile(r"lindqvist[^0-9a-z]{0,3}(?:@|©|\(a\)|at\b)"), re.compile(r"example[^0-9a-z]{0,3}net")),
    "street": ("3187juniper",),
}
# The type each planted value is reported under when it is removed.
REPORTED_AS = {"ssn": "ssn", "mrn": "mrn", "phone": "phone", "email": "email", "street": "street_address"}


def _pattern(fragment) -> re.Pattern:
    if isinstance(fragment, re.Pattern):
        return fragment
    return re.compile(r"[^0-9a-z]{0,3}".join(re.escape(c) for c in fragment))


PATTERNS = {key: [_pattern(f) for f in fragments] for key, fragments in FRAGMENTS.items()}
# File data is full of numbers (cross-reference offsets, coordinates): there only whole values count,
# their digit groups not run into other digits.
_SEP = r"[^0-9a-z]{0,3}"
STRICT = {
    "ssn": [re.compile(rf"(?<!\d)478{_SEP}26{_SEP}1935(?!\d)")],
    "mrn": [re.compile(r"(?<!\d)44861(?!\d)")],
    "phone": [re.compile(rf"(?<!\d)555{_SEP}0182(?!\d)")],
    "email": PATTERNS["email"],
    "street": [re.compile(rf"3187{_SEP}juniper")],
}


def found_in(text: str, planted: tuple[str, ...], patterns: dict = PATTERNS) -> list[str]:
    """Each planted value's fragment found in already folded ``text``, with some context."""
    hits = []
    for key in planted:
        for pattern in patterns[key]:
            match = pattern.search(text)
            if match:
                hits.append(f"{key}: ...{text[max(0, match.start() - 20):match.end() + 10]!r}...")
                break
    return hits


# --------------------------------------------------------------------------- the work, once


@dataclass
class Run:
    """One hostile document, its redaction and what the readers made of both."""

    hostile: Hostile
    exhibit: object = None
    error: BaseException | None = None
    input_ocr: list[str] = field(default_factory=list)         # per page of the original
    input_image_ocr: list[str] = field(default_factory=list)   # per image of the original, raw samples
    output_ocr: list[str] = field(default_factory=list)        # per page of the redacted exhibit
    output_image_ocr: list[str] = field(default_factory=list)  # per image of the redacted exhibit, raw samples

    def done(self):
        """The exhibit, or the redaction's own failure re-raised."""
        if self.error is not None:
            raise self.error
        return self.exhibit


def _original_pdf(hostile: Hostile) -> bytes:
    if hostile.suffix == ".pdf":
        return hostile.data
    return images_to_pdf(hostile.data, name=hostile.file_name)[0]


def _same_picture(one: bytes, other: bytes) -> bool:
    """Whether two pictures show the same thing (within a pixel of size, a level of grey on average)."""
    first, second = Image.open(io.BytesIO(one)).convert("L"), Image.open(io.BytesIO(other)).convert("L")
    if abs(first.width - second.width) > 2 or abs(first.height - second.height) > 2:
        return False
    difference = ImageChops.difference(first.resize(second.size), second)
    return ImageStat.Stat(difference).mean[0] < 1.0


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    case = case_from_mapping(case_mapping(), tmp_path_factory.mktemp("case"))
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


@pytest.fixture(scope="module")
def runs(plan, tmp_path_factory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("hostile")
    results = {name: Run(make()) for name, make in {**GENERATORS, "clean_vector_note": clean_vector_note}.items()}
    # The originals are read in the background by one Tesseract process while the documents are
    # redacted one by one (a one-page redaction leaves the other core idle).
    before: list[tuple[list[str], bytes]] = []   # (where the text goes, picture)
    for run in results.values():
        hostile = run.hostile
        original = _original_pdf(hostile)
        # A page that came upside down is read turned half round too.
        before += [(run.input_ocr, picture)
                   for picture in render_pages(original, (0, 180) if hostile.read_rotated else (0,))]
        if not hostile.visible:
            before += [(run.input_image_ocr, picture) for picture in raw_images(original)]
    reading = TesseractBatch([picture for _, picture in before], processes=1)
    try:
        for run in results.values():
            path = folder / run.hostile.file_name
            path.write_bytes(run.hostile.data)
            att = Attachment(file=path.name, path=path, kind="clinical_note", date=NOTE_DATE)
            try:
                run.exhibit = ingest_attachment(att, redactor=plan.redactor)
            except Exception as exc:  # noqa: BLE001 - each test of this document reports it
                run.error = exc
    finally:
        texts = reading.texts()
    for (target, _), text in zip(before, texts):
        target.append(text)

    after: list[tuple[list[str], bytes]] = []
    for run in results.values():
        if run.exhibit is None:
            continue
        # A redacted page is read every way round, in case it was turned the wrong way.
        pages = render_pages(run.exhibit.pdf, (0, 90, 180, 270) if run.hostile.read_rotated else (0,))
        after += [(run.output_ocr, picture) for picture in pages]
        # An image that is the page as rendered (an OCR'd page's picture) needs no second reading.
        after += [(run.output_image_ocr, picture) for picture in raw_images(run.exhibit.pdf)
                  if not any(_same_picture(picture, page) for page in pages)]
    for (target, _), text in zip(after, tesseract([picture for _, picture in after])):
        target.append(text)
    return results


# --------------------------------------------------------------------------- the fixtures are what they claim


@pytest.mark.parametrize("name", NAMES)
def test_the_original_really_carries_the_identifier(runs, name):
    """This test ensures each hostile document is meaningful: Tesseract reads the planted value on the
    original page, or, where it is hidden, in the file's bytes or in an image's own samples."""
    run = runs[name]
    hostile = run.hostile
    if hostile.visible:
        for key in hostile.planted:
            assert found_in(fold_ocr(" ".join(run.input_ocr)), (key,)), f"{key} not legible on the original"
    else:
        texts = object_texts(hostile.data) if hostile.suffix == ".pdf" else [hostile.data.decode("latin-1")]
        data = "\n".join(fold(text) for text in texts)
        samples = " ".join(fold_ocr(t) for t in run.input_image_ocr)
        for key in hostile.planted:
            assert found_in(data, (key,), STRICT) or found_in(samples, (key,)), f"{key} not hidden in the original"
    for word in hostile.keep:
        assert squash(word) in squash(" ".join(run.input_ocr)), f"{word!r} not legible on the original"


GLYPH_TRAPS = ("type3_digits", "no_tounicode_meaningless_names", "tounicode_private_use",
               "tounicode_control_characters", "actual_text_disguise", "text_in_tiling_pattern", "text_as_outlines",
               "stencil_mask_digits")


@pytest.mark.parametrize("name", GLYPH_TRAPS)
def test_the_glyph_traps_fool_pdfium(runs, name):
    """This test ensures the class 2 documents are hostile: PDFium's text of the original lacks the value
    that the glyphs draw (so only the pixels can tell)."""
    hostile = runs[name].hostile
    assert found_in(fold(" ".join(pdfium_pages(hostile.data))), hostile.planted) == []


# --------------------------------------------------------------------------- what the user relies on


@pytest.mark.parametrize("name", NAMES)
def test_no_text_extractor_finds_the_identifier(runs, name):
    """This test ensures that neither pypdf nor PDFium extracts any planted value (folded: NFKC,
    no invisible characters, any separators) from the redacted exhibit, across its page breaks too."""
    run = runs[name]
    pdf = run.done().pdf
    for extractor, pages in (("pypdf", pypdf_pages(pdf)), ("pdfium", pdfium_pages(pdf))):
        assert found_in(fold("\n".join(pages)), run.hostile.planted) == [], extractor


@pytest.mark.parametrize("name", NAMES)
def test_no_object_of_the_file_holds_the_identifier(runs, name):
    """This test ensures no string, stream (raw or decoded), metadata or unreferenced object of the
    redacted exhibit holds a planted value: JPEG EXIF, XMP and comments and private keys are gone."""
    run = runs[name]
    for text in object_texts(run.done().pdf):
        assert found_in(fold(text), run.hostile.planted, STRICT) == []


@pytest.mark.parametrize("name", NAMES)
def test_tesseract_cannot_read_the_identifier_on_the_page(runs, name):
    """This test ensures real Tesseract, reading the redacted pages rendered at 300 dpi, finds no planted
    value, digit look-alikes (44B61) counted as digits."""
    run = runs[name]
    run.done()
    assert run.output_ocr, "no page was rendered"
    assert found_in(fold_ocr("\n".join(run.output_ocr)), run.hostile.planted) == []


@pytest.mark.parametrize("name", NAMES)
def test_no_image_keeps_samples_of_the_identifier(runs, name):
    """This test ensures every image in the redacted exhibit carries only what was visible: Tesseract
    reading each image's own samples (clips, masks and boxes ignored) finds no planted value."""
    run = runs[name]
    run.done()
    for text in run.output_image_ocr:
        assert found_in(fold_ocr(text), run.hostile.planted) == []


@pytest.mark.parametrize("name", NAMES)
def test_pages_are_checked_by_what_can_be_trusted(runs, name):
    """This test ensures every page says how it was checked: by OCR where its text layer cannot be
    trusted (pictures, odd fonts, /ActualText, patterns, outlines), and never "unchecked" here."""
    run = runs[name]
    exhibit = run.done()
    checks = {check.page: check for check in exhibit.page_checks}
    assert sorted(checks) == list(range(1, exhibit.pages + 1))
    for page, check in checks.items():
        assert check.method in ("text_layer", "ocr"), (page, check)
        if page in run.hostile.untrusted:
            assert check.method == "ocr", (page, check)
            assert check.reason, "a page that was not trusted says why"
            assert check.confidence is not None
    assert exhibit.unchecked_pages == ()


@pytest.mark.parametrize("name", NAMES)
def test_what_was_removed_is_reported(runs, name):
    """This test ensures every visible identifier that was burnt out is counted under its type (the
    disclosure report lists them), and every count names a page of the exhibit."""
    run = runs[name]
    exhibit = run.done()
    reported = {r.type for r in exhibit.redactions}
    if run.hostile.visible:
        assert {REPORTED_AS[key] for key in run.hostile.planted} <= reported
    assert all(1 <= r.page <= exhibit.pages for r in exhibit.redactions)


@pytest.mark.parametrize("name", NAMES)
def test_the_rest_of_the_page_stays_readable_and_searchable(runs, name):
    """This test ensures the words planted next to the identifier are still read by Tesseract on the
    redacted page and are in its text layer (an OCR'd page carries an invisible one)."""
    run = runs[name]
    pdf = run.done().pdf
    seen = squash(" ".join(run.output_ocr))
    searchable = squash(" ".join(pdfium_pages(pdf)))
    for word in run.hostile.keep:
        assert squash(word) in seen, f"{word!r} no longer legible"
        assert squash(word) in searchable, f"{word!r} not in the text layer"


@pytest.mark.parametrize("name", ["clean_vector_note", "private_key_in_page_dictionary"])
def test_a_trustworthy_vector_page_stays_vector(runs, name):
    """This test ensures a page with well-formed fonts, no pictures and nothing visible to remove keeps
    its text layer: checked as "text_layer", no image on it, the same text as before."""
    run = runs[name]
    exhibit = run.done()
    assert [check.method for check in exhibit.page_checks] == ["text_layer"] * exhibit.pages
    assert exhibit.rasterized == ()
    reader = PdfReader(io.BytesIO(exhibit.pdf))
    assert all(len(page.images) == 0 for page in reader.pages)
    assert [squash(t) for t in pdfium_pages(exhibit.pdf)] == [squash(t) for t in pdfium_pages(run.hostile.data)]


@pytest.mark.parametrize("name", ["clean_vector_note", "private_key_in_page_dictionary"])
def test_the_streams_of_a_page_kept_as_it_is_are_bound_for_the_proof(runs, plan, name):
    """This test ensures the redaction of an exhibit reports the SHA-256 of the content of every page it kept
    as it is (searched as the proof searches and found clean), so the proof of the packet need not search
    it again, and that the proof passes on the exhibit with that binding."""
    exhibit = runs[name].done()
    reader = PdfReader(io.BytesIO(exhibit.pdf))
    contents = [page.get_contents().get_data() for page in reader.pages]
    assert {stream_digest(data) for data in contents} <= set(exhibit.streams_searched)
    assert find_leaks(exhibit.pdf, plan.redactor, exhibit.pictures_read, exhibit.streams_searched) == []


def test_an_address_under_an_unknown_key_and_in_lower_case_is_removed(tmp_path):
    """This test ensures a street line the case keeps under a key nobody planned for (member.residence),
    written in lower case in a note, is gone from the text and the pixels of the exhibit."""
    case = case_from_mapping(case_mapping(residence=True), tmp_path)
    plan = plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))
    hostile = address_in_lower_case()
    path = tmp_path / hostile.file_name
    path.write_bytes(hostile.data)
    exhibit = ingest_attachment(Attachment(file=path.name, path=path, kind="clinical_note", date=NOTE_DATE),
                                redactor=plan.redactor)
    assert found_in(fold("\n".join(pdfium_pages(exhibit.pdf) + pypdf_pages(exhibit.pdf))), ("street",)) == []
    seen = tesseract(render_pages(exhibit.pdf) + render_pages(hostile.data))
    assert found_in(fold_ocr(seen[0]), ("street",)) == []
    assert found_in(fold_ocr(seen[1]), ("street",)) != []      # it was there to be read
    assert squash("negotiation") in squash(seen[0])
    assert "street_address" in {r.type for r in exhibit.redactions}


# --------------------------------------------------------------------------- a whole packet


BUILT = ("private_key_in_page_dictionary", "value_split_across_pages", "value_joined_only_in_reading_order",
         "text_as_outlines", "scan_with_misread_ocr_layer")


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    (root / "notes").mkdir()
    attachments = []
    for name in BUILT:
        hostile = GENERATORS[name]()
        (root / "notes" / hostile.file_name).write_bytes(hostile.data)
        attachments.append({"file": f"notes/{hostile.file_name}", "kind": "clinical_note", "date": NOTE_DATE.isoformat()})
    case = case_from_mapping(case_mapping(attachments), root)
    policy = load_registry(PAYERS).get("dx-plain")
    return build_packet(case, policy, out_dir=root / "out", today=TODAY), plan_disclosure(case, policy)


def test_a_packet_of_hostile_exhibits_is_built_and_holds_nothing_withheld(packet):
    """This test ensures a build with a private key in a page dictionary, a value split across pages (one
    joined only in reading order, as poppler reads the packet), outlines and a misread OCR layer is not
    refused, and its packet gives up no planted value to text extraction, to any object of the file, or to
    the proof's own search."""
    built, plan = packet
    pdf = built.path.read_bytes()
    planted = tuple(FRAGMENTS)
    # A whole packet's text has numbers of its own (dates, codes, page numbers): whole values only.
    assert found_in(fold("\n".join(pdfium_pages(pdf))), planted, STRICT) == []
    assert found_in(fold("\n".join(pypdf_pages(pdf))), planted, STRICT) == []
    for text in object_texts(pdf):
        assert found_in(fold(text), planted, STRICT) == []
    assert find_leaks(pdf, plan.redactor) == []
    assert not [w for w in built.warnings if w.code == "page_not_checked"]


# --------------------------------------------------------------------------- burnt, then read again


def test_a_value_beside_a_burnt_box_that_the_first_reading_missed_is_burnt_in_the_next_round(plan, tmp_path):
    """This test ensures the round after a burn reads again the lines the burn changed, on the picture as
    sent: a second SSN on the same line that the first reading is made to miss is found there and burnt,
    the page reports both removals, and Tesseract reads neither on the final picture while the rest of the
    page stays legible."""
    picture = to_fax(scan([f"SSN {SSN} old record {SSN}", "Therapy plan continues twice weekly"], SMALL_PAGE))
    document = pdfium.PdfDocument(fax_pdf_pages([picture], size=SMALL_PAGE))
    page = pdfredact._Page(0, "", None, doubt="picture")
    pdfredact._read(document, [page], tmp_path)
    first = plan.redactor.find(page.reading.text()[0], ocr=True)
    assert [hit.type for hit in first] == ["ssn", "ssn"]
    # As if the first reading had missed the second copy: only the first is burnt.
    page.new_boxes = pdfredact._word_boxes(page.reading, first[:1])
    counts = Counter({("ssn", 1): 1})
    pdfredact._burn_until_clean(document, [page], plan.redactor, tmp_path, counts)
    document.close()
    assert counts[("ssn", 1)] == 2
    (seen,) = tesseract([page.picture.read_bytes()])
    assert found_in(fold_ocr(seen), ("ssn",)) == []
    assert squash("Therapy plan continues") in squash(seen)

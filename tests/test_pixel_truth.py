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

The work is done once per module: every document is redacted first, then all
pictures (originals, outputs, their images) are read by Tesseract in a few
threads, one Tesseract thread each, so the module stays quick on two cores.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import tempfile
import unicodedata
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, ByteStringObject, DictionaryObject, IndirectObject, StreamObject, TextStringObject

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import find_leaks, plan_disclosure
from packetizer.ingest import ingest_attachment
from packetizer.model import Attachment
from packetizer.pipeline import build_packet
from packetizer.policy import load_registry
from tests.support.hostile_pdfs import GENERATORS, Hostile, case_mapping, clean_vector_note

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
NOTE_DATE = dt.date(2026, 10, 11)
TODAY = dt.date(2026, 10, 25)
READ_DPI = 300
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

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# How OCR misreads digits; applied only to tokens that are mostly digits.
_CONFUSABLE = str.maketrans({"o": "0", "d": "0", "q": "0", "i": "1", "l": "1", "|": "1", "!": "1", "j": "1",
                             "z": "2", "s": "5", "$": "5", "b": "8", "g": "6", "t": "7"})


def fold(text: str) -> str:
    """NFKC, invisible characters removed, lower case: how a reader compares text."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).lower()


def fold_ocr(text: str) -> str:
    """:func:`fold`, then digit look-alikes read as digits in tokens that are mostly digits."""
    tokens = re.split(r"(\s+)", fold(text))
    out = []
    for token in tokens:
        digits = sum(c.isdigit() for c in token)
        out.append(token.translate(_CONFUSABLE) if digits >= 2 and digits * 2 >= len(token.strip()) else token)
    return "".join(out)


def _pattern(fragment) -> re.Pattern:
    if isinstance(fragment, re.Pattern):
        return fragment
    return re.compile(r"[^0-9a-z]{0,3}".join(re.escape(c) for c in fragment))


PATTERNS = {key: [_pattern(f) for f in fragments] for key, fragments in FRAGMENTS.items()}


def found_in(text: str, planted: tuple[str, ...]) -> list[str]:
    """Each planted value's fragment found in already folded ``text``, with some context."""
    hits = []
    for key in planted:
        for pattern in PATTERNS[key]:
            match = pattern.search(text)
            if match:
                hits.append(f"{key}: ...{text[max(0, match.start() - 20):match.end() + 10]!r}...")
                break
    return hits


def squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", fold(text))


# --------------------------------------------------------------------------- reading documents


def pypdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def pdfium_pages(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def render_pages(pdf: bytes) -> list[bytes]:
    """Every page as PNG at READ_DPI, as a reader's screen or printer shows it (PDFium: not thread-safe)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [_png(document[i].render(scale=READ_DPI / 72, grayscale=True).to_pil().convert("L"))
                for i in range(len(document))]
    finally:
        document.close()


def raw_images(pdf: bytes) -> list[bytes]:
    """Every image drawn on a page as its own samples, ignoring clips, masks and what is drawn over it."""
    pictures = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            picture = image.image
            if picture.width < 32 or picture.height < 32:
                continue
            # A soft mask becomes an alpha channel: drop it, the samples under it are what counts.
            picture = picture.convert("RGB").convert("L") if "A" in picture.mode else picture.convert("L")
            pictures.append(_png(picture))
    return pictures


def object_texts(pdf: bytes) -> list[str]:
    """The file as a forensic reader dumps it: its bytes, every string, every stream raw and decoded,
    and every compressed stream body found in the bytes (objects nothing points to included)."""
    texts = [pdf.decode("latin-1")]
    for body in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.DOTALL):
        try:
            texts.append(zlib.decompressobj().decompress(body, 1 << 26).decode("latin-1"))
        except zlib.error:
            pass
    reader = PdfReader(io.BytesIO(pdf))
    seen: set = set()

    def walk(obj, depth=0):
        if depth > 60:
            return
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key not in seen:
                seen.add(key)
                walk(obj.get_object(), depth + 1)
            return
        if isinstance(obj, StreamObject):
            texts.append(bytes(obj._data).decode("latin-1"))
            if obj.get("/Subtype") != "/Image":
                try:
                    texts.append(obj.get_data().decode("latin-1"))
                except Exception:  # noqa: BLE001 - an undecodable stream is still searched raw
                    pass
        if isinstance(obj, DictionaryObject):
            for key, value in obj.items():
                texts.append(str(key))
                walk(value, depth + 1)
        elif isinstance(obj, ArrayObject):
            for value in obj:
                walk(value, depth + 1)
        elif isinstance(obj, TextStringObject):
            texts.append(str(obj))
        elif isinstance(obj, ByteStringObject):
            texts.append(bytes(obj).decode("latin-1"))

    walk(reader.trailer)
    for number in range(1, reader.trailer.get("/Size", 0)):
        try:
            walk(IndirectObject(number, 0, reader))
        except Exception:  # noqa: BLE001 - free or damaged entries
            pass
    return texts


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tesseract(pictures: list[bytes], processes: int = max(2, os.cpu_count() or 2)) -> list[str]:
    """Real Tesseract 5 on each picture (page segmentation 3, as a reader's OCR tool would run it).

    The pictures are shared among a few Tesseract processes, each reading its share as one batch
    (the model loads once per process, not once per picture) on one thread (OMP_THREAD_LIMIT).
    Tesseract is called directly, not through pytesseract, for the batch and the thread limit.
    """
    if not pictures:
        return []
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, png in enumerate(pictures):
            path = Path(folder) / f"{index:04d}.png"
            path.write_bytes(png)
            paths.append(str(path))
        shares = [paths[i::processes] for i in range(processes)]

        def read(share: list[str]) -> list[str]:
            if not share:
                return []
            listing = Path(folder) / f"list-{share[0].rsplit('/', 1)[-1]}.txt"
            listing.write_text("\n".join(share) + "\n")
            done = subprocess.run(["tesseract", str(listing), "stdout", "-l", "eng", "--psm", "3"],
                                  capture_output=True, timeout=600, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]
            # A form feed separates the texts of the pictures (empty pictures too).
            texts = done.stdout.decode("utf-8", errors="replace").split("\f")
            if len(texts) == len(share) + 1 and not texts[-1].strip():
                texts.pop()
            assert len(texts) == len(share), (len(texts), len(share))
            return texts

        with ThreadPoolExecutor(max_workers=processes) as pool:
            results = list(pool.map(read, shares))
    texts: list[str] = [""] * len(pictures)
    for worker, share in enumerate(results):
        for position, text in enumerate(share):
            texts[worker + position * processes] = text
    return texts


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
    from packetizer.ingest.image import images_to_pdf

    return images_to_pdf(hostile.data, name=hostile.file_name)[0]


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    case = case_from_mapping(case_mapping(), tmp_path_factory.mktemp("case"))
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


@pytest.fixture(scope="module")
def runs(plan, tmp_path_factory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("hostile")
    results: dict[str, Run] = {}
    jobs: list[tuple[list[str], bytes]] = []   # (where the text goes, picture)
    for name, make in {**GENERATORS, "clean_vector_note": clean_vector_note}.items():
        hostile = make()
        run = results[name] = Run(hostile)
        path = folder / hostile.file_name
        path.write_bytes(hostile.data)
        att = Attachment(file=hostile.file_name, path=path, kind="clinical_note", date=NOTE_DATE)
        try:
            run.exhibit = ingest_attachment(att, redactor=plan.redactor)
        except Exception as exc:  # noqa: BLE001 - each test of this document reports it
            run.error = exc
        original = _original_pdf(hostile)
        jobs += [(run.input_ocr, png) for png in render_pages(original)]
        if not hostile.visible:
            jobs += [(run.input_image_ocr, png) for png in raw_images(original)]
        if run.exhibit is not None:
            jobs += [(run.output_ocr, png) for png in render_pages(run.exhibit.pdf)]
            jobs += [(run.output_image_ocr, png) for png in raw_images(run.exhibit.pdf)]
    texts = tesseract([png for _, png in jobs])
    for (target, _), text in zip(jobs, texts):
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
        hidden = fold(hostile.data.decode("latin-1")) + " ".join(fold_ocr(t) for t in run.input_image_ocr)
        for key in hostile.planted:
            assert found_in(hidden, (key,)), f"{key} not hidden in the original"
    for word in hostile.keep:
        assert squash(word) in squash(" ".join(run.input_ocr)), f"{word!r} not legible on the original"


def test_the_glyph_traps_fool_pdfium():
    """This test ensures the class 2 documents are hostile: PDFium's text of the original lacks the value
    that the glyphs draw (so only the pixels can tell)."""
    for name, hostile in ((n, GENERATORS[n]()) for n in NAMES if n in {
            "type3_digits", "no_tounicode_meaningless_names", "tounicode_private_use",
            "tounicode_control_characters", "actual_text_disguise", "text_in_tiling_pattern", "text_as_outlines"}):
        assert found_in(fold(" ".join(pdfium_pages(hostile.data))), hostile.planted) == [], name


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
        assert found_in(fold(text), run.hostile.planted) == []


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


# --------------------------------------------------------------------------- a whole packet


BUILT = ("private_key_in_page_dictionary", "value_split_across_pages", "text_as_outlines", "scan_with_misread_ocr_layer")


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
    """This test ensures a build with a private key in a page dictionary, a value split across pages,
    outlines and a misread OCR layer is not refused, and its packet gives up no planted value to text
    extraction, to any object of the file, or to the proof's own search."""
    built, plan = packet
    pdf = built.path.read_bytes()
    planted = tuple(FRAGMENTS)
    assert found_in(fold("\n".join(pdfium_pages(pdf))), planted) == []
    assert found_in(fold("\n".join(pypdf_pages(pdf))), planted) == []
    for text in object_texts(pdf):
        assert found_in(fold(text), planted) == []
    assert find_leaks(pdf, plan.redactor) == []
    assert not [w for w in built.warnings if w.code == "page_not_checked"]

"""PDF attachments: every odd or hostile corpus file ingests cleanly or fails with a clear message."""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import re
import signal
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import weasyprint
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from packetizer.errors import IngestError, LimitExceeded
from packetizer.ingest import ExhibitDocument, ingest_attachment
from packetizer.ingest.pdf import sanitise_pdf
from packetizer.sandbox import run_sandboxed
from packetizer.limits import MAX_ATTACHMENT_BYTES, MAX_PDF_PAGES
from packetizer.model import Attachment

# Odd and hostile PDFs copied into the repository (licences and origins in its SOURCES.md).
PDFS = Path(__file__).parent / "fixtures" / "corpus" / "pdfs"

ENCRYPTED = "is encrypted; remove the password and upload it again"
DAMAGED = "is damaged and cannot be read"
NOT_PDF = "not a PDF file (content does not match the .pdf extension)"
NO_PAGES = "has no pages"

# Expected outcome per file in PDFS: a page count, or the end of the error message.
EXPECTED: dict[str, int | str] = {
    "actions/openaction-javascript-bad-xref.pdf": 1,
    "actions/sf424-page2-form-javascript.pdf": 1,
    "actions/xfa-dd0293-form.pdf": ENCRYPTED,   # RC4 with an empty user password: still refused
    "baseline/minimal.pdf": 1,
    "embedded/attachments-utf16le-names.pdf": 1,
    "embedded/two-attachments.pdf": 1,
    "encrypted/bad-encryption-length.pdf": ENCRYPTED,
    "encrypted/fuzz-encrypt-dict-91bytes.pdf": NOT_PDF,   # no %PDF- header at all
    "encrypted/r2-rc4-40-user-password.pdf": ENCRYPTED,
    "encrypted/r4-aes128-user-password.pdf": ENCRYPTED,
    "encrypted/r5-aes256-empty-password.pdf": ENCRYPTED,
    "encrypted/r6-aes256-owner-password-only.pdf": ENCRYPTED,
    "encrypted/r6-aes256-user-foo-owner-bar.pdf": ENCRYPTED,
    "encrypted/r6-aes256-user-pw-empty-owner-pw.pdf": ENCRYPTED,
    "encrypted/r6-encrypted-attachments-only.pdf": ENCRYPTED,
    "encrypted/short-O-U.pdf": ENCRYPTED,
    "forms/acroform-field-types.pdf": 1,
    "images/ccitt-endofline-true.pdf": 1,
    "images/content-stream-errors.pdf": 4,
    "images/corrupt-jpeg-stream.pdf": 1,
    "images/jbig2.pdf": 1,
    "images/jpeg2000.pdf": 1,
    "images/scanned-book-page-no-text.pdf": 1,
    "images/scanned-jpeg-page.pdf": 1,
    "images/zlib-data-error.pdf": DAMAGED,
    "incremental/acroform-filled-by-acrobat.pdf": 3,
    "incremental/digitally-signed.pdf": 1,
    "incremental/incremental-3-revisions-delete-reuse.pdf": 1,
    "nesting/cyclic-outline.pdf": 1,
    "nesting/deep-page-tree.pdf": DAMAGED,
    "nesting/deeply-nested-array.pdf": DAMAGED,
    "nesting/deeply-nested-dictionary.pdf": DAMAGED,
    "nesting/object-stream-self-reference.pdf": DAMAGED,
    "nesting/page-tree-loop.pdf": DAMAGED,
    "nonlatin/multilang.pdf": 1,
    "pages/inherited-rotate.pdf": 1,
    "pages/page-without-contents.pdf": 1,
    "pages/rotated-0-90-180-270.pdf": 20,
    "pages/zero-pages.pdf": NO_PAGES,
    "truncated/acroform-filled-by-acrobat-cut-at-50pct.pdf": DAMAGED,
    "truncated/fuzz-predictor-columns-overflow.pdf": NOT_PDF,
    "truncated/fuzz-startxref-int-overflow-23-bytes.pdf": NOT_PDF,
    "truncated/not-a-pdf-5-bytes.pdf": NOT_PDF,
    "truncated/trailing-nul-padding.pdf": 1,
    "xref/bad-xref-entry.pdf": 1,
    "xref/empty-xref-stream-garbage.pdf": NOT_PDF,
    "xref/hybrid-xref.pdf": 30,
    "xref/leading-junk.pdf": ENCRYPTED,   # qpdf's leading-junk fixture is also RC4-encrypted
    "xref/object-zero-reference.pdf": 1,
    "xref/recover-xref-stream-damaged-tail.pdf": 1,
    "xref/xref-errors.pdf": 1,
    "xref/xref-prev-pointer-loop.pdf": 1,
    "xref/xref-reconstruction-loop.pdf": DAMAGED,
    "xref/xref-stream-W-zero.pdf": NOT_PDF,
    "xref/zero-offset.pdf": 1,
}

# Names that must never appear in a sanitised PDF (as dictionary keys or values).
HOSTILE_NAMES = {
    "/JavaScript", "/JS", "/OpenAction", "/AA", "/EmbeddedFile", "/EmbeddedFiles", "/EF",
    "/XFA", "/AcroForm", "/Launch", "/URI", "/Annots", "/Names", "/Metadata", "/PieceInfo",
    "/SubmitForm", "/GoToR", "/Filespec",
}
HOSTILE_BYTES = re.compile(
    rb"/(JavaScript|JS|OpenAction|AA|EmbeddedFiles?|XFA|Launch|URI|AcroForm|Annots|SubmitForm)(?![A-Za-z0-9])"
)


def attachment(path: Path, file: str | None = None) -> Attachment:
    return Attachment(file=file or path.name, path=path, kind="clinical_note", date=dt.date(2026, 9, 14))


def walk_objects(pdf: bytes):
    """Yield every dictionary and array reachable from the trailer, each object once."""
    reader = PdfReader(io.BytesIO(pdf))
    seen: set[int] = set()
    stack = [reader.trailer]
    while stack:
        obj = stack.pop()
        reference = getattr(obj, "idnum", None)
        if reference is not None:
            if reference in seen:
                continue
            seen.add(reference)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            yield obj
            stack.extend(obj.raw_get(key) if hasattr(obj, "raw_get") else obj[key] for key in obj)
        elif isinstance(obj, ArrayObject):
            yield obj
            stack.extend(obj)


def assert_clean(pdf: bytes) -> None:
    """This test ensures a sanitised PDF carries no actions, scripts, forms, files, links or metadata."""
    reader = PdfReader(io.BytesIO(pdf))
    assert "/Info" not in reader.trailer
    assert "/Encrypt" not in reader.trailer
    for obj in walk_objects(pdf):
        if isinstance(obj, DictionaryObject):
            assert not HOSTILE_NAMES & set(obj.keys()), sorted(HOSTILE_NAMES & set(obj.keys()))
            assert not {str(v) for v in obj.values() if isinstance(v, NameObject)} & HOSTILE_NAMES
        else:
            assert not {str(v) for v in obj if isinstance(v, NameObject)} & HOSTILE_NAMES
    # pypdf writes no object streams, so every dictionary is visible in the raw bytes.
    outside_streams = re.sub(rb"stream\r?\n.*?endstream", b"", pdf, flags=re.S)
    assert not HOSTILE_BYTES.search(outside_streams)


def text_of(pdf: bytes) -> str:
    """All page text as PDFium extracts it (it follows nested form XObjects, as viewers do)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def make_text_pdf(pages: int, *, inherited: bool = False) -> bytes:
    """A plain text PDF written with pypdf: ``pages`` pages of 45 lines each.

    With ``inherited``, /Resources, /MediaBox and /Rotate sit on the /Pages
    node only, so every page depends on inheritance to show anything.
    """
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for number in range(1, pages + 1):
        page = writer.add_blank_page(612, 792)
        lines = [
            f"BT /F1 10 Tf 72 {740 - 14 * k} Td (Page {number} line {k}: patient tolerated therapy well.) Tj ET"
            for k in range(45)
        ]
        content = DecodedStreamObject()
        content.set_data("\n".join(lines).encode())
        page[NameObject("/Contents")] = writer._add_object(content)
        if inherited:
            del page["/MediaBox"]
        else:
            page[NameObject("/Resources")] = resources
    if inherited:
        tree = writer._root_object["/Pages"].get_object()
        tree[NameObject("/Resources")] = resources
        tree[NameObject("/MediaBox")] = ArrayObject([NumberObject(0), NumberObject(0), NumberObject(612), NumberObject(792)])
        tree[NameObject("/Rotate")] = NumberObject(90)
        for page in writer.pages:
            page.pop("/Resources", None)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def pdf_200() -> bytes:
    return make_text_pdf(200)


# --------------------------------------------------------------------------
# Stand-ins for corpus files that stay outside the repository
# --------------------------------------------------------------------------
# Six files of the shared corpus are CC-BY-SA-4.0 (OCRmyPDF's and py-pdf/sample-files' test
# files), so they are not copied into tests/fixtures/corpus; these builders make files with the
# same traits at test time (see tests/fixtures/corpus/SOURCES.md).


def raw_pdf(objects: list[bytes] | dict[int, bytes], *, header: bytes = b"%PDF-1.4") -> bytes:
    """A PDF written by hand, object 1 the catalog: ``objects`` numbered from 1, or by number
    (written in the dict's order, which need not be the numbers' order), with a classic xref table."""
    numbered = objects if isinstance(objects, dict) else dict(enumerate(objects, start=1))
    out = bytearray(header + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in numbered.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    size = max(numbered) + 1
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, start)
    return bytes(out)


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s >>\nstream\n%s\nendstream" % (dictionary, data)


def g4_strip(image: Image.Image) -> bytes:
    """``image`` (mode "1") coded as CCITT Group 4, as a fax or document scanner stores it."""
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression="group4", tiffinfo={278: image.height})   # one strip
    tiff = Image.open(io.BytesIO(buffer.getvalue()))
    offset, length = tiff.tag_v2[273][0], tiff.tag_v2[279][0]
    return buffer.getvalue()[offset:offset + length]


@functools.cache
def needsrendering_stub() -> bytes:
    """A LiveCycle-style stub: the catalog says /NeedsRendering true (dynamic XFA) over one empty page."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /NeedsRendering true >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Resources << >> /Contents 4 0 R >>",
        stream(b"/Length 0", b""),
    ], header=b"%PDF-1.7")


@functools.cache
def ccitt_g4_indirect_lengths() -> bytes:
    """A one-page fax scan the way a document scanner wrote it: a CCITT Group 4 image (/K -1),
    stream lengths that are indirect references to objects written after the streams, objects
    out of order (page first, catalog last), and an outline whose /First names a missing object
    and whose /Last names itself."""
    scan = Image.new("1", (1914, 930), 1)
    draw = ImageDraw.Draw(scan)
    draw.rectangle((30, 30, 1884, 900), outline=0, width=5)
    draw.text((140, 380), "FAX 2026-09-14 PAGE 1 OF 1", fill=0, font_size=110)
    image = g4_strip(scan)
    content = b"q\n459 0 0 223 0 0 cm\n/Im0 Do\nQ\n"
    return raw_pdf({
        4: b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 459 223] /Contents 5 0 R"
           b" /Resources << /XObject << /Im0 7 0 R >> /ProcSet [/PDF /ImageB] >> >>",
        5: stream(b"/Length 6 0 R", content),
        6: b"%d" % len(content),
        7: stream(
            b"/Type /XObject /Subtype /Image /Width 1914 /Height 930 /BitsPerComponent 1 /ColorSpace /DeviceGray"
            b" /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns 1914 /BlackIs1 true >> /Length 8 0 R",
            image,
        ),
        8: b"%d" % len(image),
        2: b"<< /Producer (Scanner firmware    ) /Creator (Document Imaging     ) >>",
        1: b"<< /Type /Catalog /Pages 3 0 R /Outlines 9 0 R >>",
        3: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        9: b"<< /Type /Outlines /First 10 0 R /Last 9 0 R /Count 0 >>",
    })


BOMB_SIDE = 35000


@functools.cache
def ccitt_decompression_bomb() -> bytes:
    """A 5 KB file whose one image decodes to 35000 x 35000 pixels (150 MB at 1 bit, 1.2 GB at 8).

    In Group 4 an all-white row under an all-white row is one bit ("1", vertical mode 0), so
    35000 rows take 35000 bits. The page is 8400 pt square, drawn from that image only.
    """
    image = b"\xff" * (BOMB_SIDE // 8)
    content = b"q 8400 0 0 8400 0 0 cm /Im1 Do Q\n"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 8400 8400] /Contents 4 0 R"
        b" /Resources << /XObject << /Im1 5 0 R >> /ProcSet [/ImageB] >> >>",
        stream(b"/Length %d" % len(content), content),
        stream(
            b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 1 /ColorSpace /DeviceGray"
            b" /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns %d /Rows %d >> /Length %d"
            % (BOMB_SIDE, BOMB_SIDE, BOMB_SIDE, BOMB_SIDE, len(image)),
            image,
        ),
    ], header=b"%PDF-1.1")


def header_then_eof_only() -> bytes:
    """A PDF header, one line of text and an end-of-file marker: no objects, no xref, no trailer."""
    return b"%PDF-1.3\nA header and an end marker with nothing in between\n%%EOF\n"


HABIBI = "حبيبي"


@functools.cache
def arabic_rotated() -> bytes:
    """Four pages of right-to-left Arabic text (real glyphs, ToUnicode), rotated 0, 90, 180 and 270 by pypdf."""
    pages = "".join(
        f'<p dir="rtl" lang="ar" style="break-after: page">{HABIBI} {number}</p>' for number in range(1, 5)
    )
    html = f'<style>@page {{ size: 300pt 200pt }} p {{ font: 48pt "DejaVu Sans" }}</style>{pages}'
    writer = PdfWriter(clone_from=io.BytesIO(weasyprint.HTML(string=html).write_pdf()))
    for page, angle in zip(writer.pages, (0, 90, 180, 270)):
        page.rotate(angle)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


LONG_PAGES = 117


@functools.cache
def long_linked_document() -> bytes:
    """A 117-page lecture script the way LaTeX and PDF optimisers leave one: an outline of two levels,
    five link annotations a page (four to other sections, one /URI), everything in object streams."""
    sections = []
    for number in range(1, LONG_PAGES + 1):
        targets = [(number * 7 + k) % LONG_PAGES + 1 for k in range(4)]
        links = ", ".join(f'<a href="#s{target}">section {target}</a>' for target in targets)
        sections.append(
            f'<h1 id="s{number}">Section {number}</h1>'
            f"<p>Lecture text of section {number}; see {links} and "
            f'<a href="https://example.org/script/{number}">the notes online</a>.</p>'
            f"<h2>Exercises {number}</h2><p>Exercise text of section {number}.</p>"
        )
    html = "<style>@page { size: A4 } h1 { break-before: page }</style>" + "".join(sections)
    return weasyprint.HTML(string=html).write_pdf()


# The CC-BY-SA corpus file each stands in for is named in tests/fixtures/corpus/SOURCES.md.
MADE: dict[str, tuple] = {
    "made/actions/needsrendering-stub.pdf": (needsrendering_stub, 1),
    "made/images/ccitt-g4-indirect-lengths.pdf": (ccitt_g4_indirect_lengths, 1),
    "made/nesting/ccitt-35000x35000-decompression-bomb.pdf": (ccitt_decompression_bomb, 1),   # copied, never decoded
    "made/nonlatin/arabic-rotated-4-pages.pdf": (arabic_rotated, 4),
    "made/pages/many-pages-117-linked-outline-objstm.pdf": (long_linked_document, LONG_PAGES),
    "made/truncated/header-then-eof-only.pdf": (header_then_eof_only, DAMAGED),
}


def corpus_file(relative: str, tmp_path: Path) -> Path:
    """The file for ``relative``: a copied corpus file, or a stand-in made into tmp_path."""
    if relative in MADE:
        path = tmp_path / Path(relative).name
        path.write_bytes(MADE[relative][0]())
        return path
    return PDFS / relative


# --------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------


def test_every_corpus_pdf_has_an_expected_outcome():
    """This test ensures a PDF added to tests/fixtures/corpus is not silently left untested."""
    present = {p.relative_to(PDFS).as_posix() for p in PDFS.rglob("*.pdf")}
    assert present == set(EXPECTED)


@pytest.mark.parametrize("relative", sorted(EXPECTED) + sorted(MADE))
def test_corpus_pdf_ingests_cleanly_or_fails_clearly(relative, tmp_path):
    """This test ensures each odd or hostile PDF either becomes a clean PDF or raises a clear IngestError
    (the time each takes is a figure of make bench: bench/bench_ingest.py)."""
    path = corpus_file(relative, tmp_path)
    expected = EXPECTED[relative] if relative in EXPECTED else MADE[relative][1]
    if isinstance(expected, int):
        exhibit = ingest_attachment(attachment(path))
        assert isinstance(exhibit, ExhibitDocument)
        assert exhibit.pages == expected
        assert len(PdfReader(io.BytesIO(exhibit.pdf)).pages) == expected
        assert_clean(exhibit.pdf)
    else:
        with pytest.raises(IngestError) as caught:
            ingest_attachment(attachment(path))
        assert str(caught.value) == f"{path.name}: {expected}"
        assert not isinstance(caught.value, LimitExceeded)


def test_encrypted_pdf_that_opens_without_password_is_still_refused():
    """This test ensures "encrypted but readable" files (owner password only) are refused, not decrypted."""
    path = PDFS / "encrypted" / "r6-aes256-owner-password-only.pdf"
    with pytest.raises(IngestError, match="is encrypted; remove the password"):
        ingest_attachment(attachment(path, "notes/owner-only.pdf"))


def test_error_message_names_the_file_as_the_user_gave_it():
    """This test ensures messages use att.file (the case file's path), not the resolved path."""
    path = PDFS / "pages" / "zero-pages.pdf"
    with pytest.raises(IngestError) as caught:
        ingest_attachment(attachment(path, "notes/2026-09-14-empty.pdf"))
    assert caught.value.message == "notes/2026-09-14-empty.pdf: has no pages"
    assert str(PDFS) not in caught.value.message


@pytest.mark.parametrize(
    "relative",
    [
        "actions/openaction-javascript-bad-xref.pdf",
        "actions/sf424-page2-form-javascript.pdf",
        "made/actions/needsrendering-stub.pdf",
        "embedded/two-attachments.pdf",
        "embedded/attachments-utf16le-names.pdf",
        "forms/acroform-field-types.pdf",
        "incremental/digitally-signed.pdf",
    ],
)
def test_actions_scripts_forms_and_attachments_are_removed(relative, tmp_path):
    """This test ensures the action-laden inputs really had hostile parts, and the outputs have none."""
    path = corpus_file(relative, tmp_path)
    original = path.read_bytes()
    assert re.search(rb"/(JavaScript|JS|OpenAction|AA|EmbeddedFiles?|AcroForm|NeedsRendering)\b", original)
    exhibit = ingest_attachment(attachment(path))
    assert_clean(exhibit.pdf)
    assert b"/NeedsRendering" not in exhibit.pdf


def test_embedded_file_contents_do_not_survive():
    """This test ensures the bytes of embedded attachments are not carried into the exhibit."""
    original = PdfReader(PDFS / "embedded" / "two-attachments.pdf")
    names = list(original.attachments)
    assert names
    exhibit = ingest_attachment(attachment(PDFS / "embedded" / "two-attachments.pdf"))
    cleaned = PdfReader(io.BytesIO(exhibit.pdf))
    assert dict(cleaned.attachments) == {}
    for name in names:
        for content in original.attachments[name]:
            if len(content) >= 8:
                assert content not in exhibit.pdf


def test_printed_form_values_are_kept_as_page_content():
    """This test ensures filled-in form values (printable widgets) stay visible once the form is removed."""
    filled = ingest_attachment(attachment(PDFS / "incremental" / "acroform-filled-by-acrobat.pdf"))
    assert "abc potato" in text_of(filled.pdf)
    # A form saved with /NeedAppearances has no appearance for its value yet; PDFium builds one.
    generated = ingest_attachment(attachment(PDFS / "forms" / "acroform-field-types.pdf"))
    assert "salad" in text_of(generated.pdf)


def test_inherited_rotate_is_resolved_with_the_page_value_winning():
    """This test ensures a page's own /Rotate wins over the /Pages node's, and media boxes survive."""
    source = PdfReader(PDFS / "pages" / "inherited-rotate.pdf")
    exhibit = ingest_attachment(attachment(PDFS / "pages" / "inherited-rotate.pdf"))
    page = PdfReader(io.BytesIO(exhibit.pdf)).pages[0]
    assert page.rotation == source.pages[0].rotation == 90
    assert list(page.mediabox) == list(source.pages[0].mediabox)


def test_inherited_resources_mediabox_and_rotate_are_copied_onto_pages(tmp_path):
    """This test ensures pages that inherit everything from /Pages keep their text, size and rotation."""
    path = tmp_path / "inherited.pdf"
    path.write_bytes(make_text_pdf(3, inherited=True))
    raw = PdfReader(path)
    first_page = raw.trailer["/Root"]["/Pages"]["/Kids"][0].get_object()   # read before pypdf flattens
    assert "/Resources" not in first_page and "/Rotate" not in first_page and "/MediaBox" not in first_page
    exhibit = ingest_attachment(attachment(path))
    reader = PdfReader(io.BytesIO(exhibit.pdf))
    assert [p.rotation for p in reader.pages] == [90, 90, 90]
    assert [float(v) for v in reader.pages[2].mediabox] == [0, 0, 612, 792]
    assert "Page 3 line 44" in reader.pages[2].extract_text()


def test_rotated_right_to_left_pages_keep_their_rotation_and_text(tmp_path):
    """This test ensures rotated pages of Arabic text keep each page's /Rotate and their text, in reading order."""
    path = corpus_file("made/nonlatin/arabic-rotated-4-pages.pdf", tmp_path)
    exhibit = ingest_attachment(attachment(path))
    assert [page.rotation for page in PdfReader(io.BytesIO(exhibit.pdf)).pages] == [0, 90, 180, 270]
    assert text_of(exhibit.pdf).split("\n") == [f"{HABIBI} {number}" for number in range(1, 5)]


def test_scanned_pages_are_reported_without_text_layer():
    """This test ensures that, without a redactor, scans are reported as unchecked pages and text pages are not."""
    scan = ingest_attachment(attachment(PDFS / "images" / "scanned-jpeg-page.pdf"))
    assert scan.unchecked_pages == (1,)
    assert scan.page_checks == ()
    text = ingest_attachment(attachment(PDFS / "pages" / "rotated-0-90-180-270.pdf"))
    assert text.unchecked_pages == ()


# Words printed on each public-domain scan, read off a rendering of the page.
SCAN_WORDS = {
    # Adventures of Huckleberry Finn, page 22 (Project Gutenberg), a JPEG scan.
    "images/scanned-book-page-no-text.pdf": ("tip-toeing", "garden", "kitchen", "Watson", "listening"),
    # A message of the President to Congress, 1871 (US Congressional Record), a JPEG scan.
    "images/scanned-jpeg-page.pdf": ("CONGRESS", "PRESIDENT", "consular", "Japan", "WASHINGTON"),
    # A German equipment checklist table, a CCITT fax image with /EndOfLine true.
    "images/ccitt-endofline-true.pdf": ("Datum", "Artikel", "Werkstatt", "Easyjob", "wirklich"),
    # The same 1871 message, a JBIG2 image.
    "images/jbig2.pdf": ("CONGRESS", "PRESIDENT", "consular", "Representatives", "WASHINGTON"),
}


@pytest.fixture(scope="module")
def ocr_exhibits():
    """The scans ingested with a redactor (OCR: 1-3 s a page), each once for the module."""
    from packetizer.disclosure.redactor import Redactor

    redactor = Redactor()
    done: dict[str, ExhibitDocument] = {}

    def exhibit(relative: str) -> ExhibitDocument:
        if relative not in done:
            done[relative] = ingest_attachment(attachment(PDFS / relative), redactor=redactor)
        return done[relative]

    return exhibit


@pytest.mark.parametrize("relative", sorted(SCAN_WORDS))
def test_corpus_scans_come_out_searchable(ocr_exhibits, relative):
    """This test ensures a scan ingested with a redactor is read by OCR and leaves with a searchable text layer."""
    words = SCAN_WORDS[relative]
    source = (PDFS / relative).read_bytes()
    assert not any(word in text_of(source) for word in words)   # the scan itself has no text layer
    exhibit = ocr_exhibits(relative)
    assert exhibit.pages == 1
    assert [check.method for check in exhibit.page_checks] == ["ocr"] * exhibit.pages
    assert [check.page for check in exhibit.page_checks] == list(range(1, exhibit.pages + 1))
    assert exhibit.unchecked_pages == ()
    by_pdfium = text_of(exhibit.pdf)
    by_pypdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(exhibit.pdf)).pages)
    for word in words:
        assert word in by_pdfium, (word, by_pdfium)
        assert word in by_pypdf, (word, by_pypdf)


def test_sanitising_is_deterministic():
    """This test ensures the same input gives byte-identical output, run after run."""
    data = (PDFS / "actions" / "sf424-page2-form-javascript.pdf").read_bytes()
    first = sanitise_pdf(data, name="a.pdf").pdf
    second = sanitise_pdf(data, name="a.pdf").pdf
    assert first == second


# --------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------


def test_metadata_thumbnails_and_page_extras_are_dropped(tmp_path):
    """This test ensures Info, XMP, page metadata, piece info and thumbnails never reach the exhibit."""
    writer = PdfWriter(clone_from=io.BytesIO(make_text_pdf(2)))
    writer.add_metadata({"/Author": "Ana Ortiz", "/Title": "PT note for Ana Ortiz", "/Subject": "DOB 1971-04-09"})
    xmp = DecodedStreamObject()
    xmp.set_data(b"<x:xmpmeta><dc:creator>Ana Ortiz XMP</dc:creator></x:xmpmeta>")
    xmp.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})
    writer._root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    page = writer.pages[0]
    page[NameObject("/Metadata")] = writer._add_object(xmp)
    page[NameObject("/PieceInfo")] = DictionaryObject(
        {NameObject("/App"): DictionaryObject({NameObject("/Private"): TextStringObject("Ana Ortiz private")})}
    )
    thumb = DecodedStreamObject()
    thumb.set_data(b"THUMBNAIL-PIXELS-Ana-Ortiz")
    page[NameObject("/Thumb")] = writer._add_object(thumb)
    path = tmp_path / "meta.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    assert b"Ana Ortiz" in path.read_bytes()

    exhibit = ingest_attachment(attachment(path))
    assert b"Ana Ortiz" not in exhibit.pdf
    assert b"Ana-Ortiz" not in exhibit.pdf
    reader = PdfReader(io.BytesIO(exhibit.pdf))
    assert reader.metadata is None
    assert "/Metadata" not in reader.trailer["/Root"]
    assert_clean(exhibit.pdf)
    assert "Page 2 line 0" in text_of(exhibit.pdf)


def test_link_annotations_and_uri_actions_are_removed(tmp_path):
    """This test ensures clickable links (which carry actions) are gone while the text stays."""
    writer = PdfWriter(clone_from=io.BytesIO(make_text_pdf(1)))
    from pypdf.annotations import Link

    writer.add_annotation(0, Link(rect=(72, 700, 300, 720), url="https://evil.example/phish"))
    script = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('hi');"),
        }
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(script)
    writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): script.indirect_reference})
    path = tmp_path / "links.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    original = path.read_bytes()   # pypdf escapes "." and "/" in strings, so look for plain words
    assert b"evil" in original and b"alert" in original
    exhibit = ingest_attachment(attachment(path))
    assert b"evil" not in exhibit.pdf
    assert b"alert" not in exhibit.pdf
    assert_clean(exhibit.pdf)
    assert "Page 1 line 0" in text_of(exhibit.pdf)


def test_200_page_pdf_is_rebuilt_with_every_page_intact(pdf_200):
    """This test ensures a 200-page text PDF is rebuilt with every page and its text (its speed is a figure
    of make bench: bench/bench_ingest.py)."""
    clean = sanitise_pdf(pdf_200, name="long.pdf")
    assert clean.pages == 200
    assert clean.text_layer_missing == ()
    reader = PdfReader(io.BytesIO(clean.pdf))
    assert "Page 200 line 44" in reader.pages[199].extract_text()


def test_more_pages_than_the_limit_is_refused(tmp_path):
    """This test ensures a PDF over MAX_PDF_PAGES raises LimitExceeded quoting value > limit."""
    writer = PdfWriter()
    for _ in range(MAX_PDF_PAGES + 1):
        writer.add_blank_page(612, 792)
    path = tmp_path / "huge.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == f"huge.pdf: {MAX_PDF_PAGES + 1} pages > MAX_PDF_PAGES ({MAX_PDF_PAGES})"


def test_slow_parse_is_killed_at_the_deadline(pdf_200):
    """This test ensures the wall-clock limit kills the child and says which limit was hit."""
    started = time.monotonic()
    with pytest.raises(IngestError) as caught:
        sanitise_pdf(pdf_200, name="slow.pdf", timeout=0.001)
    assert time.monotonic() - started < 10   # generous: the call returns once the child is killed, not hung on it
    assert caught.value.message == "slow.pdf: took longer than MAX_PDF_PARSE_SECONDS (0.001 s) to open"


def test_child_that_runs_out_of_memory_reports_it():
    """This test ensures the address-space limit stops a runaway allocation and is reported as "memory"."""
    status, meta, _ = run_sandboxed(lambda data: (bytearray(2 << 30), b""), b"", timeout=10, memory=64 << 20)
    assert status == "memory"
    assert meta == {"status": "memory", "stages_done": 0}


def test_sandbox_survives_a_crashing_child():
    """This test ensures a child killed by a signal (as a parser segfault would) is reported, not fatal."""
    status, _, _ = run_sandboxed(lambda data: os.kill(os.getpid(), signal.SIGSEGV), b"", timeout=5, memory=1 << 30)
    assert status == "crashed"


def test_sandbox_kills_a_hanging_child_and_reaps_it():
    """This test ensures a hang ends at the deadline and leaves no zombie behind."""
    started = time.monotonic()
    status, _, _ = run_sandboxed(lambda data: time.sleep(30), b"", timeout=0.3, memory=1 << 30)
    assert status == "timeout"
    assert time.monotonic() - started < 15   # generous, and still half the 30 s the child would have slept
    assert not zombie_children()


def zombie_children() -> list[int]:
    """Process ids of this process's children that exited but were never reaped."""
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(stat.parent.name))
    return zombies


def test_html_named_pdf_is_refused_by_content(tmp_path):
    """This test ensures a file whose bytes are not PDF is refused whatever its name says."""
    path = tmp_path / "note.pdf"
    path.write_text("<!DOCTYPE html><html><body>Not a PDF</body></html>")
    with pytest.raises(IngestError) as caught:
        ingest_attachment(attachment(path, "notes/note.pdf"))
    assert caught.value.message == "notes/note.pdf: not a PDF file (content does not match the .pdf extension)"


def test_oversized_attachment_is_refused_before_reading(tmp_path):
    """This test ensures a file over MAX_ATTACHMENT_BYTES raises LimitExceeded with value > limit."""
    path = tmp_path / "big.pdf"
    with open(path, "wb") as handle:
        handle.truncate(MAX_ATTACHMENT_BYTES + 1)   # sparse: no disk or time spent
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == (
        f"big.pdf: {MAX_ATTACHMENT_BYTES + 1} bytes > MAX_ATTACHMENT_BYTES ({MAX_ATTACHMENT_BYTES})"
    )


def test_missing_and_unsupported_files_get_clear_messages(tmp_path):
    """This test ensures a missing file and an unsupported extension are IngestErrors, not OSErrors."""
    with pytest.raises(IngestError, match=r"^notes/gone\.pdf: file not found$"):
        ingest_attachment(Attachment("notes/gone.pdf", tmp_path / "gone.pdf", "clinical_note", dt.date(2026, 9, 14)))
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(IngestError, match=r"^tool\.exe: unsupported file type \.exe"):
        ingest_attachment(attachment(exe))

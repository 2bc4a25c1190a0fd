"""DOCX attachments: content in document order, structure kept, text escaped, hostile packages refused."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import re
import struct
import time
import zipfile
import zlib
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches
from PIL import Image
from pypdf import PdfReader

from packetizer.errors import IngestError, LimitExceeded
from packetizer.ingest import ingest_attachment
from packetizer.ingest.docx import docx_to_html
from packetizer.limits import (
    MAX_DOCX_IMAGES,
    MAX_DOCX_PARAGRAPHS,
    MAX_DOCX_TABLE_NESTING,
    MAX_DOCX_UNCOMPRESSED_BYTES,
    MAX_DOCX_XML_PART_BYTES,
    MAX_IMAGE_PIXELS,
)
from packetizer.model import Attachment

FIXTURES = Path(__file__).parent / "fixtures" / "ingest" / "docx"
CORPUS_DOCX = sorted(FIXTURES.glob("*.docx"))


def attachment(path: Path, file: str | None = None) -> Attachment:
    return Attachment(file=file or path.name, path=path, kind="clinical_note", date=dt.date(2026, 9, 14))


def pdf_text(pdf: bytes) -> str:
    """Page text joined, whitespace collapsed, as PDFium extracts it."""
    document = pdfium.PdfDocument(pdf)
    try:
        text = " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()
    return re.sub(r"\s+", " ", text)


def in_order(text: str, *parts: str) -> bool:
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def save(document, path: Path) -> Path:
    document.save(path)
    return path


def jpeg_with_exif(secret: str) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = secret          # ImageDescription
    exif[0x013B] = secret          # Artist
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 120, 200)).save(buffer, "JPEG", exif=exif.tobytes(), comment=secret.encode())
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height``: enough for any size check."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def rewrite_member(source: Path, target: Path, member: str, data: bytes) -> Path:
    """Copy a DOCX package, replacing one member's bytes."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, data if info.filename == member else old.read(info.filename))
    return target


@pytest.fixture(scope="module")
def rich_docx(tmp_path_factory) -> Path:
    """A DOCX with the structures a clinical note uses, plus tracked changes, hidden text and a photo."""
    document = docx.Document()
    header = document.sections[0].header
    header.paragraphs[0].text = "Lake Street PT letterhead"
    document.sections[0].footer.paragraphs[0].text = "Confidential footer"

    document.add_heading("Assessment", 1)
    paragraph = document.add_paragraph("Patient ")
    paragraph.add_run("tolerated").bold = True
    paragraph.add_run(" therapy ")
    paragraph.add_run("well").italic = True
    paragraph.add_run(" HIDDEN-TEXT").font.hidden = True
    document.add_heading("Plan", 2)
    document.add_paragraph("first bullet", style="List Bullet")
    document.add_paragraph("second bullet", style="List Bullet")
    document.add_paragraph("nested bullet", style="List Bullet 2")
    document.add_paragraph("step one", style="List Number")
    document.add_paragraph("step two", style="List Number")
    document.add_paragraph("Interrupting paragraph")
    document.add_paragraph("step three", style="List Number")
    document.add_heading("Details", 3)

    table = document.add_table(rows=3, cols=3)
    for r in range(3):
        for c in range(3):
            table.cell(r, c).text = f"r{r}c{c}"
    table.cell(0, 0).merge(table.cell(0, 1)).text = "MERGED-H"
    table.cell(1, 2).merge(table.cell(2, 2)).text = "MERGED-V"

    document.add_paragraph("<script>alert(1)</script> & <b>not bold</b>")

    tracked = document.add_paragraph("Kept text ")
    insertion = OxmlElement("w:ins")
    insertion.set(qn("w:id"), "1")
    insertion.set(qn("w:author"), "Reviewer")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "INSERTED-TEXT"
    run.append(text)
    insertion.append(run)
    tracked._p.append(insertion)
    deletion = OxmlElement("w:del")
    deletion.set(qn("w:id"), "2")
    deletion.set(qn("w:author"), "Reviewer")
    run = OxmlElement("w:r")
    gone = OxmlElement("w:delText")
    gone.text = "DELETED-TEXT"
    run.append(gone)
    deletion.append(run)
    tracked._p.append(deletion)

    # A block content control (w:sdt) around a paragraph, as EHR templates use.
    controlled = document.add_paragraph("CONTROLLED-TEXT")
    sdt = OxmlElement("w:sdt")
    content = OxmlElement("w:sdtContent")
    controlled._p.addprevious(sdt)
    content.append(controlled._p)
    sdt.append(content)

    document.add_picture(io.BytesIO(jpeg_with_exif("PATIENT-EXIF-SECRET")), width=Inches(2))
    document.add_paragraph("Closing line")
    return save(document, tmp_path_factory.mktemp("docx") / "rich.docx")


# --------------------------------------------------------------------------
# Corpus files
# --------------------------------------------------------------------------


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _cell_paragraphs(tables):
    """Paragraphs of every cell of ``tables``, nested tables included (python-docx repeats merged cells)."""
    for table in tables:
        for row in table.rows:
            for cell in row.cells:
                yield from cell.paragraphs
                yield from _cell_paragraphs(cell.tables)


def _pictures(element) -> int:
    """Pictures drawn in a part: DrawingML blips and legacy VML image data."""
    return sum(1 for _ in element.iter(qn("a:blip"), "{urn:schemas-microsoft-com:vml}imagedata"))


@dataclasses.dataclass
class WordContent:
    """What python-docx reads in a Word file, and Word's own page count from docProps/app.xml."""

    body: list[str]          # the body's top-level paragraphs, in order
    cells: list[str]         # paragraphs in table cells
    frame: list[str]         # the first section's default header and footer (an exhibit shows those once)
    pictures: int            # in the body and in that header and footer
    page_breaks: int         # manual page breaks in the body
    word_pages: int


def word_content(path: Path) -> WordContent:
    document = docx.Document(str(path))
    body = document.element.body
    frame: list[str] = []
    pictures = _pictures(body)
    first = document.sections[0]
    for part in (first.header, first.footer):
        if not part.is_linked_to_previous:   # a first section linked "to previous" has no header or footer
            frame += [p.text for p in [*part.paragraphs, *_cell_paragraphs(part.tables)]]
            pictures += _pictures(part.part.element)
    app = zipfile.ZipFile(path).read("docProps/app.xml").decode()
    return WordContent(
        body=[_words(p.text) for p in document.paragraphs if p.text.strip()],
        cells=[_words(p.text) for p in _cell_paragraphs(document.tables) if p.text.strip()],
        frame=[_words(text) for text in frame if text.strip()],
        pictures=pictures,
        page_breaks=len(body.xpath('.//w:br[@w:type="page"]')),
        word_pages=int(re.search(r"<Pages>(\d+)</Pages>", app)[1]),
    )


def pdf_images(pdf: bytes) -> int:
    """Picture objects drawn on the PDF's pages (inside form XObjects too)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return sum(1 for page in document
                   for _ in page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_IMAGE], max_depth=8))
    finally:
        document.close()


@pytest.mark.parametrize("path", CORPUS_DOCX, ids=lambda p: p.name)
def test_every_corpus_docx_shows_its_text_and_pictures_on_a_sane_number_of_pages(path):
    """This test ensures each real Word file (missing styles, core properties, odd headers) becomes an exhibit
    a reader can check against the original: every paragraph python-docx reads in the body (in order), in
    table cells and in the first section's header and footer is in the PDF's text; every picture of those
    parts is drawn; the pages number at least one plus the manual page breaks, and at most what Word counted
    when it saved the file."""
    word = word_content(path)
    exhibit = ingest_attachment(attachment(path))
    text = pdf_text(exhibit.pdf)

    missing = [part for part in [*word.body, *word.cells, *word.frame] if part not in text]
    assert not missing, (missing, text)
    assert in_order(text, *word.body), text
    if word.body or word.cells or word.frame or word.pictures:
        assert "This document has no visible content." not in text
    else:
        assert text.strip() == "[This document has no visible content.]"
    assert pdf_images(exhibit.pdf) == word.pictures

    assert 1 + word.page_breaks <= exhibit.pages <= word.word_pages
    assert len(PdfReader(io.BytesIO(exhibit.pdf)).pages) == exhibit.pages
    assert exhibit.unchecked_pages == ()


def test_corpus_has_all_ten_files():
    """This test ensures the fixtures copied from the shared corpus are all here."""
    assert len(CORPUS_DOCX) == 10


def test_paragraphs_and_tables_keep_document_order():
    """This test ensures body paragraphs and (nested) tables interleave as in the document."""
    exhibit = ingest_attachment(attachment(FIXTURES / "blk-paras-and-tables.docx"))
    text = pdf_text(exhibit.pdf)
    assert in_order(
        text,
        "Left-side", "Right-side",                        # header
        "Lorem ipsum dolor sit amet",
        "Text before", "Table", "Between", "Text after",  # a table nested in a cell
        "Donec semper facilisis",
        "Copyright", "Page-number",                       # footer
    ), text


def test_merged_cells_show_their_text_once():
    """This test ensures gridSpan/vMerge cells are rendered once, with colspan/rowspan, not repeated."""
    path = FIXTURES / "tbl-cell-access.docx"
    # Whitespace is dropped: text extraction may or may not put a space between cells on one line.
    digits = "".join(pdf_text(ingest_attachment(attachment(path)).pdf).split())
    assert digits == (
        "123456789"   # plain 3x3
        "12346789"    # "4" spans two columns
        "12345679"    # "5" spans two rows
        "123469"      # "4" spans two columns and two rows
    )
    html = docx_to_html(path.read_bytes(), name=path.name)
    assert '<td colspan="2" rowspan="2"><p>4</p></td>' in html
    assert '<td rowspan="2"><p>5</p></td>' in html


def test_default_header_and_footer_of_first_section_are_shown():
    """This test ensures the first section's default header/footer text frames the body."""
    text = pdf_text(ingest_attachment(attachment(FIXTURES / "hdr-header-footer.docx")).pdf)
    assert in_order(text, "Header for section-1", "section with header", "section without header", "Footer for section 1")
    odd_even = pdf_text(ingest_attachment(attachment(FIXTURES / "doc-odd-even-hdrs.docx")).pdf)
    assert "Odd page header." in odd_even
    assert "Even page header" not in odd_even


def test_hyperlinks_keep_their_text_but_not_their_targets():
    """This test ensures hyperlink text split over runs is kept and no link or URI reaches the PDF."""
    exhibit = ingest_attachment(attachment(FIXTURES / "par-hyperlinks.docx"))
    text = pdf_text(exhibit.pdf)
    assert "One awesome hyperlink." in text
    assert "Three hyperlinks: the first one here, the second one, and the third." in text
    assert b"/URI" not in exhibit.pdf
    assert all("/Annots" not in page for page in PdfReader(io.BytesIO(exhibit.pdf)).pages)


def test_comments_are_not_disclosed():
    """This test ensures reviewer comments (not part of the document) stay out of the exhibit."""
    text = pdf_text(ingest_attachment(attachment(FIXTURES / "comments-rich-para.docx")).pdf)
    assert "Document text" in text
    assert "Text with hyperlink" not in text


def test_inline_images_are_embedded_as_data_uris():
    """This test ensures pictures (and the header's) are inlined as re-encoded PNG data."""
    path = FIXTURES / "having-images.docx"
    html = docx_to_html(path.read_bytes(), name=path.name)
    uris = re.findall(r'<img src="data:image/(png|jpeg);base64,', html)
    assert len(uris) == 6   # 5 drawings in the body plus 1 in the header
    assert "file:" not in html and "http" not in html
    exhibit = ingest_attachment(attachment(path))
    images = [image for page in PdfReader(io.BytesIO(exhibit.pdf)).pages for image in page.images]
    assert len(images) >= 3


@pytest.mark.parametrize("name", ["sty-having-no-styles-part.docx", "doc-no-coreprops.docx"])
def test_documents_without_styles_or_core_properties_work(name):
    """This test ensures packages missing optional parts open; an empty body says it is empty."""
    text = pdf_text(ingest_attachment(attachment(FIXTURES / name)).pdf)
    assert "This document has no visible content." in text


def test_manual_page_breaks_start_new_pages():
    """This test ensures a paragraph holding only a page break becomes a page break, not a blank line."""
    html = docx_to_html((FIXTURES / "sct-first-page-hdrftr.docx").read_bytes(), name="x.docx")
    assert html.count('<div class="page-break"></div>') == 4
    assert "<p><br></p>" not in html


# --------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------


def test_structure_is_converted(rich_docx):
    """This test ensures headings, emphasis, lists with numbering and merged tables are converted."""
    html = docx_to_html(rich_docx.read_bytes(), name=rich_docx.name)
    assert "<h2>Assessment</h2>" in html
    assert "<h3>Plan</h3>" in html
    assert "<h4>Details</h4>" in html
    assert "<strong>tolerated</strong>" in html and "<em>well</em>" in html
    assert re.search(r"<ul><li>first bullet</li><li>second bullet<ul><li>nested bullet</li></ul></li></ul>", html.replace("\n", ""))
    assert '<li style="counter-set: list-item 0">step one' in html
    assert '<li style="counter-set: list-item 1">step two' in html
    # Numbering continues after the interruption, as Word shows it.
    assert '<li style="counter-set: list-item 2">step three' in html
    assert html.count("MERGED-H") == 1 and '<td colspan="2"><p>MERGED-H</p></td>' in html
    assert html.count("MERGED-V") == 1 and '<td rowspan="2"><p>MERGED-V</p></td>' in html


def test_hidden_deleted_and_inserted_text(rich_docx):
    """This test ensures hidden and deleted text is not shown while tracked insertions and content controls are."""
    text = pdf_text(ingest_attachment(attachment(rich_docx)).pdf)
    assert "HIDDEN-TEXT" not in text
    assert "DELETED-TEXT" not in text
    assert "Kept text INSERTED-TEXT" in text
    assert "CONTROLLED-TEXT" in text


def test_user_text_is_escaped_not_interpreted(rich_docx):
    """This test ensures markup typed into a note is shown literally, never parsed as HTML."""
    html = docx_to_html(rich_docx.read_bytes(), name=rich_docx.name)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;not bold&lt;/b&gt;" in html
    assert "<script>" not in html and "<b>" not in html
    text = pdf_text(ingest_attachment(attachment(rich_docx)).pdf)
    assert "<script>alert(1)</script> & <b>not bold</b>" in text


def test_everything_appears_in_order(rich_docx):
    """This test ensures header, body blocks and footer come out in document order."""
    text = pdf_text(ingest_attachment(attachment(rich_docx)).pdf)
    assert in_order(
        text,
        "Lake Street PT letterhead", "Assessment", "Patient tolerated therapy well", "Plan",
        "first bullet", "nested bullet", "step one", "step three", "Details", "MERGED-H",
        "not bold", "INSERTED-TEXT", "CONTROLLED-TEXT", "Closing line", "Confidential footer",
    ), text


def test_picture_metadata_is_stripped(rich_docx):
    """This test ensures EXIF and comments of an embedded photo reach neither the HTML nor the PDF."""
    raw = zipfile.ZipFile(rich_docx).read(
        next(n for n in zipfile.ZipFile(rich_docx).namelist() if n.startswith("word/media/"))
    )
    assert b"PATIENT-EXIF-SECRET" in raw
    html = docx_to_html(rich_docx.read_bytes(), name=rich_docx.name)
    (payload,) = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html)
    assert b"PATIENT-EXIF-SECRET" not in base64.b64decode(payload)
    assert b"PATIENT-EXIF-SECRET" not in ingest_attachment(attachment(rich_docx)).pdf


def add_footnote_part(source: Path, target: Path, note_text: str) -> Path:
    """Copy ``source`` adding a footnotes part with one real note (id 1) after the separators."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    footnotes = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="{w}">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote>'
        f'<w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {note_text}</w:t></w:r></w:p></w:footnote>'
        "</w:footnotes>"
    ).encode()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/word/footnotes.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.wordprocessingml.footnotes+xml"/></Types>',
                )
            elif info.filename == "word/_rels/document.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdNotes" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/footnotes" Target="footnotes.xml"/></Relationships>',
                )
            new.writestr(info.filename, data)
        new.writestr("word/footnotes.xml", footnotes)
    return target


def test_footnotes_follow_the_body_with_their_marks(tmp_path):
    """This test ensures footnote text is not lost: the mark stays in the text and the note follows the body."""
    document = docx.Document()
    paragraph = document.add_paragraph("Gait improved")
    reference = OxmlElement("w:footnoteReference")
    reference.set(qn("w:id"), "1")
    paragraph.add_run()._r.append(reference)
    paragraph.add_run(" over six visits.")
    document.add_paragraph("Body ends here.")
    path = add_footnote_part(save(document, tmp_path / "plain.docx"), tmp_path / "notes.docx", "Measured with a 10 m walk test.")
    html = docx_to_html(path.read_bytes(), name=path.name)
    assert "Gait improved<sup>1</sup> over six visits." in html
    assert '<div class="docx-notes"><p><sup>1</sup> Measured with a 10 m walk test.</p></div>' in html
    text = pdf_text(ingest_attachment(attachment(path)).pdf)
    assert in_order(text, "Gait improved", "over six visits.", "Body ends here.", "Measured with a 10 m walk test.")


def test_output_is_deterministic(rich_docx, monkeypatch):
    """This test ensures the same DOCX gives the same PDF bytes (with SOURCE_DATE_EPOCH set, as builds set it)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    first = ingest_attachment(attachment(rich_docx)).pdf
    time.sleep(1.05)   # cross a second boundary: a clock-dependent byte would show
    assert ingest_attachment(attachment(rich_docx)).pdf == first


def char_left(pdf: bytes, needle: str) -> float:
    """The left edge, in points, of the first character of ``needle`` on page 1."""
    document = pdfium.PdfDocument(pdf)
    try:
        text_page = document[0].get_textpage()
        index = text_page.get_text_range().index(needle)
        return text_page.get_charbox(index)[0]
    finally:
        document.close()


def test_table_columns_keep_the_proportions_of_the_word_grid(tmp_path):
    """This test ensures a table is laid out on Word's column grid, not re-measured from its content."""
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    table.cell(0, 0).text = "LEFTCOL long words that would make an automatic layout widen this column"
    table.cell(0, 1).text = "RIGHTCOL"
    for column, width in zip(table.columns, (Inches(1.5), Inches(4.5))):
        column.width = width
        for cell in column.cells:
            cell.width = width
    pdf = ingest_attachment(attachment(save(document, tmp_path / "grid.docx"))).pdf
    left, right = char_left(pdf, "LEFTCOL"), char_left(pdf, "RIGHTCOL")
    # A quarter of the 6.9 in text width is 1.725 in (124 pt); the cell padding is a few points.
    assert 118 < right - left < 132


def test_a_grid_with_too_few_columns_falls_back_to_sizing_by_content(tmp_path):
    """This test ensures a stale Word grid (fewer columns than the rows use) cannot squeeze a column to nothing."""
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("FIRSTCOLUMN", "SECONDCOLUMN", "THIRDCOLUMN")):
        cell.text = text
    grid = table._tbl.tblGrid
    grid.remove(grid.gridCol_lst[-1])
    path = save(document, tmp_path / "stale-grid.docx")
    assert "docx-grid" not in docx_to_html(path.read_bytes(), name=path.name)
    text = pdf_text(ingest_attachment(attachment(path)).pdf)
    assert "FIRSTCOLUMN" in text and "SECONDCOLUMN" in text and "THIRDCOLUMN" in text


def test_runs_of_spaces_are_kept(tmp_path):
    """This test ensures column-aligned text keeps its spacing, as Word shows it."""
    document = docx.Document()
    document.add_paragraph("Name: A    DOB: B")
    document.add_paragraph("Name: A DOB: B")
    pdf = ingest_attachment(attachment(save(document, tmp_path / "spaces.docx"))).pdf
    document = pdfium.PdfDocument(pdf)
    try:
        text_page = document[0].get_textpage()
        text = text_page.get_text_range()
        first, second = (text_page.get_charbox(i)[0] for i in (text.index("DOB"), text.rindex("DOB")))
    finally:
        document.close()
    # Three more spaces of DejaVu Sans at 10 pt: about 9.5 pt further right.
    assert 8 < first - second < 11


# --------------------------------------------------------------------------
# Hostile and broken packages
# --------------------------------------------------------------------------


def test_too_many_paragraphs_is_refused(rich_docx, tmp_path):
    """This test ensures paragraphs + rows over MAX_DOCX_PARAGRAPHS raise LimitExceeded with value > limit."""
    count = MAX_DOCX_PARAGRAPHS + 1
    body = "<w:p/>" * count
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    ).encode()
    path = rewrite_member(rich_docx, tmp_path / "long.docx", "word/document.xml", xml)
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == (
        f"long.docx: {count} paragraphs and table rows > MAX_DOCX_PARAGRAPHS ({MAX_DOCX_PARAGRAPHS})"
    )


def test_zip_bomb_is_refused_before_inflating(rich_docx, tmp_path):
    """This test ensures a package whose members inflate past MAX_DOCX_UNCOMPRESSED_BYTES is refused."""
    path = tmp_path / "bomb.docx"
    size = MAX_DOCX_UNCOMPRESSED_BYTES + 1
    with zipfile.ZipFile(rich_docx) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info.filename))
        with new.open("word/media/padding.bin", "w") as member:
            block = bytes(1 << 20)
            written = 0
            while written < size:
                chunk = block[: min(len(block), size - written)]
                member.write(chunk)
                written += len(chunk)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(LimitExceeded, match=r"bytes uncompressed > MAX_DOCX_UNCOMPRESSED_BYTES \(209715200\)$"):
        ingest_attachment(attachment(path))


def test_oversized_xml_part_is_refused(rich_docx, tmp_path):
    """This test ensures one huge XML part (which lxml would hold several times over) is refused."""
    path = rewrite_member(rich_docx, tmp_path / "huge-xml.docx", "word/document.xml", b" " * (MAX_DOCX_XML_PART_BYTES + 1))
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == (
        f"huge-xml.docx: one XML part is {MAX_DOCX_XML_PART_BYTES + 1} bytes"
        f" > MAX_DOCX_XML_PART_BYTES ({MAX_DOCX_XML_PART_BYTES})"
    )


def test_deeply_nested_tables_are_refused(tmp_path):
    """This test ensures tables nested past MAX_DOCX_TABLE_NESTING raise LimitExceeded."""
    document = docx.Document()
    cell = document.add_table(rows=1, cols=1).cell(0, 0)
    for _ in range(MAX_DOCX_TABLE_NESTING):
        cell = cell.add_table(rows=1, cols=1).cell(0, 0)
    cell.text = "deep"
    path = save(document, tmp_path / "nested.docx")
    with pytest.raises(LimitExceeded, match=rf"nested {MAX_DOCX_TABLE_NESTING + 1} deep > MAX_DOCX_TABLE_NESTING"):
        ingest_attachment(attachment(path))


def test_picture_over_the_pixel_limit_is_refused(tmp_path):
    """This test ensures a decompression-bomb picture inside a DOCX raises LimitExceeded."""
    document = docx.Document()
    document.add_paragraph("See picture")
    document.add_picture(io.BytesIO(png_header_only(10_000, 10_000)), width=Inches(1))
    path = save(document, tmp_path / "bomb-picture.docx")
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == (
        f"bomb-picture.docx: image frame 1 has 10000x10000 = 100000000 pixels > MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS})"
    )


def test_too_many_pictures_are_refused(tmp_path):
    """This test ensures more than MAX_DOCX_IMAGES distinct pictures raise LimitExceeded."""
    document = docx.Document()
    paragraph = document.add_paragraph()
    for index in range(MAX_DOCX_IMAGES + 1):
        buffer = io.BytesIO()
        Image.new("L", (2, 2), index % 256).save(buffer, "PNG", pnginfo=None, dpi=(index + 1, 1))
        paragraph.add_run().add_picture(buffer, width=Inches(0.1))
    path = save(document, tmp_path / "gallery.docx")
    with pytest.raises(LimitExceeded, match=rf"more than MAX_DOCX_IMAGES \({MAX_DOCX_IMAGES}\) pictures"):
        ingest_attachment(attachment(path))


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda good: good[: len(good) // 2], "is damaged and cannot be read"),
        (lambda good: _zip_with({"notes.txt": b"hello"}), "is damaged and cannot be read"),
        (lambda good: _zip_with({"[Content_Types].xml": b"<Types", "word/document.xml": b"<w:document"}), "is damaged and cannot be read"),
        (lambda good: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "is password-protected or an old .doc file"),
        (lambda good: b"%PDF-1.7\n", "not a Word (.docx) file (content does not match the .docx extension)"),
    ],
    ids=["truncated", "zip-not-docx", "bad-xml", "ole-container", "pdf-named-docx"],
)
def test_broken_packages_get_clear_messages(rich_docx, tmp_path, content, message):
    """This test ensures corrupt, foreign and encrypted packages raise IngestError naming the file."""
    path = tmp_path / "note.docx"
    path.write_bytes(content(rich_docx.read_bytes()))
    with pytest.raises(IngestError) as caught:
        ingest_attachment(attachment(path, "notes/note.docx"))
    assert not isinstance(caught.value, LimitExceeded)
    assert caught.value.message.startswith(f"notes/note.docx: {message}")


def _zip_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for name, data in members.items():
            package.writestr(name, data)
    return buffer.getvalue()

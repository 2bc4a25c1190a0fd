"""The packet's merge (``packetizer.assemble``): what it keeps of its parts, and what it adds."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zlib

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NullObject, NumberObject

from packetizer.assemble import Bookmark, PartPdf, assemble_packet
from packetizer.errors import AssemblyError
from packetizer.render import html_to_pdf

CREATED = dt.datetime(2026, 10, 6, 12, 0, tzinfo=dt.timezone.utc)


def _picture_page_pdf(raw: bytes, filters: list[str], *, version: str = "1.4") -> bytes:
    """One page drawing a 4x4 grey picture whose stream holds ``raw`` under ``filters``, as a scanner may
    write it (no filter at all, or one a writer could decode and compress again)."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    image = DecodedStreamObject()
    image.set_data(raw)
    image.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(4), NameObject("/Height"): NumberObject(4),
        NameObject("/ColorSpace"): NameObject("/DeviceGray"), NameObject("/BitsPerComponent"): NumberObject(8),
    })
    if filters:
        image[NameObject("/Filter")] = ArrayObject(NameObject(name) for name in filters)
    content = DecodedStreamObject()
    content.set_data(b"q 100 0 0 100 50 50 cm /Im0 Do Q")
    page[NameObject("/Contents")] = writer._add_object(content)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})})
    writer.pdf_header = f"%PDF-{version}".encode()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _picture_digests(pdf: bytes) -> list[str]:
    """The SHA-256 of each picture's stream data as PDFium gives it (what the proof compares with the
    pictures OCR read)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    digests = []
    for page in document:
        for obj in page.get_objects():
            if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                size = pdfium_c.FPDFImageObj_GetImageDataRaw(obj.raw, None, 0)
                buffer = (ctypes.c_char * size)()
                pdfium_c.FPDFImageObj_GetImageDataRaw(obj.raw, buffer, size)
                digests.append(hashlib.sha256(bytes(buffer)).hexdigest())
    return digests


@pytest.mark.parametrize("raw, filters", [
    (bytes(range(0, 256, 16)), []),                                   # no filter: nothing to compress it with
    (bytes(range(0, 256, 16)).hex().upper().encode() + b">", ["/ASCIIHexDecode"]),   # a filter qpdf could undo
    (zlib.compress(bytes(range(0, 256, 16)).hex().encode() + b">"), ["/FlateDecode", "/ASCIIHexDecode"]),
], ids=["unfiltered", "hex", "flate-over-hex"])
def test_exhibit_pictures_keep_their_bytes_so_the_proof_knows_them(raw, filters):
    """A picture that redaction read by OCR is known to the no-leak proof by the SHA-256 of its stream data
    as sent: the merge writes every stream of a part as it was, with no filter taken off or put on."""
    exhibit = _picture_page_pdf(raw, filters)
    before = _picture_digests(exhibit)
    pdf, pages = assemble_packet([PartPdf(html_to_pdf("<p>Cover</p>").pdf, fit=False),
                                  PartPdf(exhibit, fit=True, label="Exhibit A")],
                                 case_id="RA-1", bookmarks=[Bookmark("Cover", 1), Bookmark("Exhibit A", 2)],
                                 created=CREATED)
    assert pages == 2
    assert _picture_digests(pdf) == before
    text = pdfium.PdfDocument(pdf)[1].get_textpage().get_text_range()
    assert "RA-1 \u00b7 Page 2 of 2" in text and "Exhibit A" in text


def test_the_packet_declares_the_newest_version_of_its_parts():
    """A part written as PDF 1.7 may use what 1.7 brings: the packet does not claim an older version."""
    old = _picture_page_pdf(b"\x00" * 16, [], version="1.3")
    newer = _picture_page_pdf(b"\x00" * 16, [], version="1.7")
    pdf, _ = assemble_packet([PartPdf(old, fit=True), PartPdf(newer, fit=True)], case_id="RA-1", bookmarks=[],
                             created=CREATED)
    assert pdf.startswith(b"%PDF-1.7")
    assert [page.mediabox[2:] for page in PdfReader(io.BytesIO(pdf)).pages] == [[612, 792], [612, 792]]


def test_a_part_that_is_not_a_pdf_is_named_by_its_number():
    with pytest.raises(AssemblyError, match="packet part 2 could not be read back"):
        assemble_packet([PartPdf(html_to_pdf("<p>Cover</p>").pdf, fit=False), PartPdf(b"%PDF-1.7\nnot a pdf", fit=True)],
                        case_id="RA-1", bookmarks=[], created=CREATED)


def test_a_page_without_a_usable_media_box_is_placed_on_letter():
    """A sanitised page whose /MediaBox is null (a damaged original's, kept as PDFium draws it) is placed on a
    Letter page like any other, its text intact (pypdf's merge stopped with a ValueError on it)."""
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 12 Tf 72 700 Td (Visit note kept) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(content)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({
        NameObject("/F1"): writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica")}))})})
    page[NameObject("/MediaBox")] = NullObject()
    out = io.BytesIO()
    writer.write(out)
    damaged = out.getvalue()
    pdf, pages = assemble_packet([PartPdf(damaged, fit=True, label="Exhibit A")], case_id="RA-1", bookmarks=[],
                                 created=CREATED)
    page = pdfium.PdfDocument(pdf)[0]
    assert pages == 1 and page.get_size() == (612, 792)
    assert "Visit note kept" in page.get_textpage().get_text_range()

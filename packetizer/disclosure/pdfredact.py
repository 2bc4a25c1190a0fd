"""True redaction of PDF exhibits: burn boxes into a raster of only the affected pages.

Drawing a black box over text leaves the text in the file; a reader copies it
out. So a page with something to remove is replaced by a picture of itself:
PDFium locates the characters, black rectangles are added to the page, the
page is rendered at ``REDACTION_DPI`` and the picture becomes the new page.
Pages without findings are copied untouched and stay vector. The result is
then checked: a replaced page must hold no text at all, or the attachment fails
rather than going through (the finished packet is searched again in full).

The work runs in the same sandboxed child that sanitises the attachment
(:func:`packetizer.ingest.pdf.run_sandboxed`), right after it: PDFium parses
content streams that came from an uploaded file, and one child instead of two
saves a fork and a second reading of every page.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageChops
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject, StreamObject

from ..errors import DisclosureError, IngestError, LimitExceeded
from ..ingest.pdf import copy_layer_visibility, run_sandboxed, sanitise_failure, sanitise_in_child, stage_done
from ..limits import (MAX_PDF_PARSE_MEMORY_BYTES, MAX_PDF_PARSE_SECONDS, MAX_PDF_REDACT_SECONDS,
                      MAX_REDACTED_PAGE_PIXELS)
from .redactor import Redaction

log = logging.getLogger(__name__)

REDACTION_DPI = 200            # the floor: fine print stays legible, faxes well
_PROBE_DPI = 24                # a thumbnail is enough to tell colour from black and white
_JPEG_QUALITY = 85
_BOX_PADDING = 1.0             # points around each character box: antialiased glyph edges are covered
_COLOUR_THRESHOLD = 24         # channel difference below which a pixel counts as grey


@dataclass(frozen=True)
class RedactedPdf:
    """A PDF with identifiers burnt out, and what was done."""

    pdf: bytes
    pages: int
    redactions: tuple[Redaction, ...] = ()
    text_layer_missing: tuple[int, ...] = ()
    rasterized: tuple[int, ...] = ()


def redact_pdf(data: bytes, redactor, *, name: str, timeout: float = MAX_PDF_REDACT_SECONDS,
               parse_timeout: float = MAX_PDF_PARSE_SECONDS, memory: int = MAX_PDF_PARSE_MEMORY_BYTES) -> RedactedPdf:
    """Sanitise a PDF attachment and burn identifiers out of it, in one sandboxed child.

    The child has ``parse_timeout`` seconds to open and sanitise the file (as
    :func:`packetizer.ingest.pdf.sanitise_pdf` does), then ``timeout`` seconds
    to redact it; a failure is reported for the step that failed.

    Args:
        data: the attachment's bytes.
        redactor: the build's :class:`~.redactor.Redactor`.
        name: the attachment's file name as the user gave it (for messages).

    Raises:
        IngestError: encrypted, damaged or empty, or not processed in time.
        DisclosureError: an identifier could not be located or is still there afterwards.
        LimitExceeded: too many pages, a page too large to rasterise, or the work needs too much memory.
    """
    status, meta, payload = run_sandboxed(lambda pdf: _sanitise_and_redact_in_child(pdf, redactor), data,
                                          timeout=parse_timeout, memory=memory, next_timeouts=(timeout,))
    if status == "ok":
        redactions = tuple(Redaction(t, p, n) for t, p, n in meta["redactions"])
        return RedactedPdf(
            pdf=payload, pages=meta["pages"], redactions=redactions,
            text_layer_missing=tuple(meta["no_text"]), rasterized=tuple(meta["rasterized"]),
        )
    if meta.get("stages_done", 0) < 1:   # it failed while opening and sanitising
        raise sanitise_failure(status, meta, name=name, timeout=parse_timeout, memory=memory)
    if status == "timeout":
        raise IngestError(f"{name}: redaction took longer than MAX_PDF_REDACT_SECONDS ({timeout:g} s)")
    if status == "memory":
        raise LimitExceeded(f"{name}: needs more memory than MAX_PDF_PARSE_MEMORY_BYTES ({memory}) to redact")
    if status == "too_large":
        raise LimitExceeded(
            f"{name}: page {meta['page']} is {meta['pixels']} pixels at {REDACTION_DPI} dpi"
            f" > MAX_REDACTED_PAGE_PIXELS ({MAX_REDACTED_PAGE_PIXELS})"
        )
    if status == "unlocatable":
        raise DisclosureError(
            f"{name}: page {meta['page']}: a {meta['type'].replace('_', ' ')} was found but cannot be located"
            " on the page, so it cannot be removed; the attachment was not used", code="redaction_failed",
        )
    if status == "leak":
        raise DisclosureError(
            f"{name}: page {meta['page']}: a {meta['type'].replace('_', ' ')} is still present after redaction;"
            " the attachment was not used", code="redaction_failed",
        )
    log.info("PDF redaction failed: %s", status)
    raise DisclosureError(f"{name}: could not be checked for identifiers (the PDF could not be processed)",
                          code="redaction_failed")


# --------------------------------------------------------------------------
# Inside the child.
# --------------------------------------------------------------------------


def _sanitise_and_redact_in_child(data: bytes, redactor) -> tuple[dict, bytes]:
    meta, clean = sanitise_in_child(data, find_text=False)
    if meta["status"] != "ok":
        return meta, b""
    stage_done()
    meta, pdf = _redact_in_child(clean, redactor)
    if meta["status"] != "ok":
        return meta, b""
    return meta, pdf if meta["changed"] else clean


def _redact_in_child(data: bytes, redactor) -> tuple[dict, bytes]:
    document = pdfium.PdfDocument(data)
    try:
        count = len(document)
        no_text: list[int] = []
        counts: Counter = Counter()
        pictures: dict[int, tuple] = {}
        for index in range(count):
            page = document[index]
            try:
                text_page = page.get_textpage()
                try:
                    text = page_text(text_page)
                    if not text.strip():
                        no_text.append(index + 1)
                        continue
                    hits = redactor.find(text)
                    if not hits:
                        continue
                    for hit in hits:
                        boxes = _boxes(text_page, text, hit)
                        if not boxes:
                            return {"status": "unlocatable", "page": index + 1, "type": hit.type}, b""
                        for box in boxes:
                            _burn(page, box)
                        counts[(hit.type, index + 1)] += 1
                finally:
                    text_page.close()
                picture = _picture(page)
                if isinstance(picture, dict):
                    picture["page"] = index + 1
                    return picture, b""
                pictures[index] = picture
            finally:
                page.close()
    finally:
        document.close()
    meta = {
        "status": "ok", "pages": count, "no_text": no_text, "changed": bool(pictures),
        "rasterized": [i + 1 for i in sorted(pictures)],
        "redactions": [[t, p, n] for (t, p), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
    }
    if not pictures:
        return meta, b""
    pdf = _rebuild(data, pictures)
    leak = _still_present(pdf, sorted(pictures))
    if leak:
        return {"status": "leak", **leak}, b""
    return meta, pdf


# PDFium marks a hyphen it thinks breaks a word at a line end with \x02 (one
# call) or \ufffe (the other); as white space, the pieces join again when the
# redactor searches the text without white space.
_SOFT_HYPHENS = str.maketrans({"\x02": " ", "\ufffe": " ", "\xad": " ", "\x00": " "})


def page_text(text_page) -> str:
    """The page's characters, one per PDFium character index (so positions map to boxes)."""
    count = text_page.count_chars()
    if count <= 0:
        return ""
    text = text_page.get_text_range()
    if len(text) != count:
        # Rare: the bulk call dropped or added characters; ask for each one.
        chars = []
        for i in range(count):
            code = pdfium_c.FPDFText_GetUnicode(text_page.raw, i)
            chars.append(chr(code) if 0 < code < 0x110000 else "\ufffd")
        text = "".join(chars)
    return text.translate(_SOFT_HYPHENS)


def _boxes(text_page, text: str, hit) -> list[tuple[float, float, float, float]]:
    """Page-space boxes (left, bottom, right, top) of the visible characters of ``hit``."""
    boxes = []
    for i in range(hit.start, hit.end):
        if text[i].isspace():
            continue
        left, bottom, right, top = text_page.get_charbox(i, loose=True)
        if right <= left or top <= bottom:
            # A generated or degenerate character: fall back to the tight box.
            left, bottom, right, top = text_page.get_charbox(i)
        if right > left or top > bottom:
            boxes.append((left, bottom, right, top))
    return _join_on_lines(boxes)


def _join_on_lines(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Neighbouring boxes on one line become one bar (no white gaps where spaces were)."""
    joined: list[tuple[float, float, float, float]] = []
    for left, bottom, right, top in boxes:
        if joined:
            l0, b0, r0, t0 = joined[-1]
            height = max(t0 - b0, top - bottom)
            same_line = min(t0, top) - max(b0, bottom) > 0.5 * height
            if same_line and 0 <= left - r0 <= 1.5 * height:
                joined[-1] = (l0, min(b0, bottom), max(r0, right), max(t0, top))
                continue
        joined.append((left, bottom, right, top))
    return joined


def _burn(page, box) -> None:
    """Add a filled black rectangle over ``box`` on top of everything else on the page."""
    left, bottom, right, top = box
    pad = _BOX_PADDING
    rect = pdfium_c.FPDFPageObj_CreateNewRect(
        left - pad, bottom - pad, max(right - left, 0.5) + 2 * pad, max(top - bottom, 0.5) + 2 * pad
    )
    pdfium_c.FPDFPageObj_SetFillColor(rect, 0, 0, 0, 255)
    pdfium_c.FPDFPath_SetDrawMode(rect, pdfium_c.FPDF_FILLMODE_WINDING, 0)
    # The page takes ownership of the object.
    pdfium_c.FPDFPage_InsertObject(page.raw, rect)


def _picture(page):
    """Render the page with its boxes; a JPEG and its geometry, or a failure dict."""
    width_pt, height_pt = page.get_size()   # after /Rotate, as the renderer draws it
    scale = REDACTION_DPI / 72.0
    pixels = round(width_pt * scale) * round(height_pt * scale)
    if pixels > MAX_REDACTED_PAGE_PIXELS:
        return {"status": "too_large", "pixels": pixels}
    # Black-and-white pages (most notes) are rendered grey: a third of the
    # pixels to push through, and a smaller file. A thumbnail decides.
    probe = page.render(scale=_PROBE_DPI / 72.0, may_draw_forms=False, rev_byteorder=True).to_pil()
    colour = _has_colour(probe)
    bitmap = page.render(scale=scale, may_draw_forms=False, grayscale=not colour, rev_byteorder=True)
    image = bitmap.to_pil()
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if colour else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=False, progressive=False)
    return buffer.getvalue(), image.width, image.height, image.mode, width_pt, height_pt


def _has_colour(image: Image.Image) -> bool:
    if image.mode != "RGB":
        image = image.convert("RGB")
    red, green, blue = image.split()
    spread = max(ImageChops.difference(red, green).getextrema()[1], ImageChops.difference(green, blue).getextrema()[1])
    return spread > _COLOUR_THRESHOLD


def _rebuild(data: bytes, pictures: dict[int, tuple]) -> bytes:
    """A new PDF: untouched pages copied as they are, redacted pages as pictures.

    A fresh writer copies only what the kept pages reach, so the content
    streams of replaced pages (which hold the text) are not carried along as
    orphans.
    """
    reader = PdfReader(io.BytesIO(data), strict=False)
    writer = PdfWriter()
    for index, page in enumerate(reader.pages):
        if index in pictures:
            _add_picture_page(writer, *pictures[index])
        else:
            writer.add_page(page)
    copy_layer_visibility(reader, writer)
    writer.metadata = None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_picture_page(writer: PdfWriter, jpeg: bytes, px_w: int, px_h: int, mode: str,
                      width_pt: float, height_pt: float) -> None:
    image = StreamObject()
    image.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(px_w),
        NameObject("/Height"): NumberObject(px_h),
        NameObject("/ColorSpace"): NameObject("/DeviceRGB" if mode == "RGB" else "/DeviceGray"),
        NameObject("/BitsPerComponent"): NumberObject(8),
        NameObject("/Filter"): NameObject("/DCTDecode"),
    })
    image._data = jpeg   # already encoded: pypdf writes the bytes as they are
    content = DecodedStreamObject()
    content.set_data(f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm /Im0 Do Q".encode())
    page = PageObject.create_blank_page(width=width_pt, height=height_pt)
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)}),
    })
    page[NameObject("/Contents")] = writer._add_object(content)
    writer.add_page(page)


def _still_present(pdf: bytes, rasterized: list[int]) -> dict | None:
    """Check that each rasterised page of the rebuilt PDF holds no text at all.

    The other pages are copies of pages that had no findings; the no-leak
    proof of the finished packet searches every page again anyway.
    """
    document = pdfium.PdfDocument(pdf)
    try:
        for index in rasterized:
            page = document[index]
            text_page = page.get_textpage()
            try:
                if text_page.count_chars() > 0:
                    return {"page": index + 1, "type": "identifier"}
            finally:
                text_page.close()
                page.close()
    finally:
        document.close()
    return None

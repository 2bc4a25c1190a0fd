"""Can a page's text layer be trusted to say what a reader of the page sees?

A page stays vector, and is searched through its text layer alone, only when
every mark on it is text whose characters the file states plainly: fonts with
Unicode maps (or standard encodings), no pictures, no tiling patterns or soft
masks (which can paint anything), no ``/ActualText`` (which can say one thing
while the glyphs draw another), no drawings complex enough to be letters turned
into outlines, no characters that map to nothing readable, and two extractors
(PDFium and poppler) reading the same words. Any doubt sends the page to OCR,
which reads the pixels instead. The decision is cheap: it reads the page's
resources and PDFium's objects, and never renders anything.

Runs inside the sandboxed child that sanitises and redacts an attachment.
"""

from __future__ import annotations

import re
import unicodedata

import pypdfium2.raw as pdfium_c
from pypdf._codecs.adobe_glyphs import adobe_glyphs
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

from ..limits import MAX_OUTLINE_CURVES, MAX_OUTLINE_PATH_SEGMENTS

# Why a page went to OCR, in words for staff (the disclosure report quotes them).
PICTURE = "a picture is drawn on the page"
TYPE3 = "a font draws its letters as pictures (Type 3)"
NO_UNICODE = "a font has no usable Unicode map"
UNREADABLE = "some characters map to nothing readable"
PATTERN = "a tiling pattern can paint text or pictures"
SOFT_MASK = "a soft mask can hide or show parts of the page"
ACTUAL_TEXT = "/ActualText replaces what the letters say"
OUTLINES = "drawings on the page may be text turned into outlines"
DISAGREE = "two text extractors read different words"
HIDDEN_DATA = "page data outside the visible text holds an identifier"
UNLOCATABLE = "an identifier in the text layer has no place on the page"
UNREADABLE_PAGE = "the page's structure could not be read"

_STANDARD_ENCODINGS = {"/WinAnsiEncoding", "/MacRomanEncoding", "/StandardEncoding", "/PDFDocEncoding"}
_STANDARD_14 = {
    "/Times-Roman", "/Times-Bold", "/Times-Italic", "/Times-BoldItalic", "/Helvetica", "/Helvetica-Bold",
    "/Helvetica-Oblique", "/Helvetica-BoldOblique", "/Courier", "/Courier-Bold", "/Courier-Oblique",
    "/Courier-BoldOblique", "/Symbol", "/ZapfDingbats", "/Arial", "/ArialMT", "/TimesNewRoman", "/CourierNew",
}
_MAX_DEPTH = 12
# Characters a faithful text layer does not produce: private use, controls,
# the replacement character, unassigned code points. PDFium's own markers
# (\x02 and \ufffe for a soft hyphen at a line end, \r\n between lines) are fine.
_PDFIUM_MARKERS = frozenset("\x02\ufffe\r\n\t ")


def text_layer_doubt(pypdf_page, pdfium_page, pdfium_text: str) -> str:
    """Why ``pdfium_text`` may not be what the page shows, or "" when nothing in the page says so.

    The comparison with a second extractor (:func:`extractors_agree`) comes
    on top, once that extractor has read the whole file.

    Args:
        pypdf_page: the page as pypdf reads it (resources and content streams).
        pdfium_page: the same page open in PDFium (its objects).
        pdfium_text: PDFium's text of the page.
    """
    try:
        reason = _resource_doubt(pypdf_page)
    except Exception:  # noqa: BLE001 - a structure we cannot read is not one we can trust
        return UNREADABLE_PAGE
    if reason:
        return reason
    reason = _object_doubt(pdfium_page)
    if reason:
        return reason
    if _unreadable_characters(pdfium_text):
        return UNREADABLE
    return ""


def _resource_doubt(page) -> str:
    """Walk the resources of the page, its forms, patterns and Type 3 fonts."""
    stack = [(page, 0)]
    seen: set[int] = set()
    while stack:
        holder, depth = stack.pop()
        if depth > _MAX_DEPTH or id(holder) in seen:
            continue
        seen.add(id(holder))
        if b"/ActualText" in _content(holder):
            return ACTUAL_TEXT
        resources = _get(holder, "/Resources")
        if not isinstance(resources, DictionaryObject):
            continue
        for font in _values(_get(resources, "/Font")):
            reason = font_doubt(font)
            if reason:
                return reason
        for xobject in _values(_get(resources, "/XObject")):
            if not isinstance(xobject, StreamObject):
                continue
            subtype = xobject.get("/Subtype")
            if subtype == "/Image":
                return PICTURE
            if subtype == "/Form":
                stack.append((xobject, depth + 1))
        for pattern in _values(_get(resources, "/Pattern")):
            if isinstance(pattern, DictionaryObject) and pattern.get("/PatternType") == 1:
                return PATTERN
        for state in _values(_get(resources, "/ExtGState")):
            if isinstance(state, DictionaryObject):
                mask = _get(state, "/SMask")
                if isinstance(mask, DictionaryObject):
                    return SOFT_MASK
    return ""


def font_doubt(font) -> str:
    """Why a font's character codes may not say which letters it draws, or ""."""
    if not isinstance(font, DictionaryObject):
        return NO_UNICODE
    subtype = font.get("/Subtype")
    if subtype == "/Type3":
        return TYPE3
    if "/ToUnicode" in font:
        return ""
    if subtype == "/Type0":
        return NO_UNICODE
    descriptor = _get(font, "/FontDescriptor")
    embedded = isinstance(descriptor, DictionaryObject) and any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    encoding = _get(font, "/Encoding")
    if isinstance(encoding, NameObject):
        return "" if encoding in _STANDARD_ENCODINGS else NO_UNICODE
    if isinstance(encoding, DictionaryObject):
        base = encoding.get("/BaseEncoding")
        if base is not None and base not in _STANDARD_ENCODINGS:
            return NO_UNICODE
        differences = _get(encoding, "/Differences")
        names = [n for n in (differences if isinstance(differences, ArrayObject) else ())
                 if isinstance(n, NameObject)]
        # Glyph names a reader can turn into letters; "/g12" or "/glyph7" cannot be.
        if all(n in adobe_glyphs or re.fullmatch(r"/uni[0-9A-Fa-f]{4,6}|/u[0-9A-Fa-f]{4,6}", n) for n in names):
            return ""
        return NO_UNICODE
    # No encoding at all: a standard font by name uses its built-in one; an
    # embedded font's own built-in encoding maps codes to glyphs, not to letters.
    if not embedded and font.get("/BaseFont") in _STANDARD_14:
        return ""
    return NO_UNICODE


def _object_doubt(pdfium_page) -> str:
    """PDFium's view: pictures anywhere (inline, in forms), and path drawings that may be letters."""
    segments = curves = 0
    for obj in pdfium_page.get_objects(max_depth=_MAX_DEPTH):
        kind = obj.type
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            return PICTURE
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        count = pdfium_c.FPDFPath_CountSegments(obj.raw)
        segments += max(count, 0)
        if count > 5:   # lines and rectangles have at most five segments; letters have curves
            for i in range(count):
                segment = pdfium_c.FPDFPath_GetPathSegment(obj.raw, i)
                if pdfium_c.FPDFPathSegment_GetType(segment) == pdfium_c.FPDF_SEGMENT_BEZIERTO:
                    curves += 1
        if segments > MAX_OUTLINE_PATH_SEGMENTS or curves > MAX_OUTLINE_CURVES:
            return OUTLINES
    return ""


def _unreadable_characters(text: str) -> bool:
    for char in text:
        if char in _PDFIUM_MARKERS:
            continue
        category = unicodedata.category(char)
        if category in ("Co", "Cc", "Cs", "Cn") or char == "\ufffd":
            return True
    return False


_WORD = re.compile(r"[0-9A-Za-z]{3,}")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")


def extractors_agree(pdfium_text: str, second_text: str) -> bool:
    """Whether every word the second extractor reads (three letters or digits or more) is also in PDFium's text.

    The search runs on PDFium's text; another extractor decodes fonts its own
    way, so a word only it reads is text the search would miss. Spacing differs
    between the two, so the comparison ignores everything but letters and digits.
    """
    wanted = _WORD.findall(unicodedata.normalize("NFKC", second_text))
    if not wanted:
        return True
    have = _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", pdfium_text)).upper()
    return all(word.upper() in have for word in wanted)


def _content(holder) -> bytes:
    try:
        if hasattr(holder, "get_contents"):
            content = holder.get_contents()
            return content.get_data() if content is not None else b""
        return holder.get_data() if isinstance(holder, StreamObject) else b""
    except Exception:  # noqa: BLE001 - unreadable content draws nothing a reader sees
        return b""


def _get(holder, key):
    value = holder.get(key) if isinstance(holder, DictionaryObject) else None
    return value.get_object() if value is not None else None


def _values(mapping) -> list:
    if not isinstance(mapping, DictionaryObject):
        return []
    return [value.get_object() for value in mapping.values() if value is not None]

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

import ctypes
import re
import unicodedata
from typing import Any, Iterator

import pypdfium2.raw as pdfium_c
from pypdf._codecs.adobe_glyphs import adobe_glyphs
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

from ..limits import MAX_OUTLINE_CURVES, MAX_OUTLINE_PATH_SEGMENTS, MAX_OUTLINE_SMALL_SHAPES

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
BREAK_JOIN = "another text extractor reads an identifier across the break with the next or the previous page"
HIDDEN_DATA = "page data outside the visible text holds an identifier"
UNLOCATABLE = "an identifier in the text layer has no place on the page"
UNREADABLE_PAGE = "the page's structure could not be read"
SHADING = "a shading can paint shapes"
NESTED = "forms are nested too deep to follow"

_STANDARD_ENCODINGS = {"/WinAnsiEncoding", "/MacRomanEncoding", "/StandardEncoding", "/PDFDocEncoding"}
_STANDARD_14 = {
    "/Times-Roman", "/Times-Bold", "/Times-Italic", "/Times-BoldItalic", "/Helvetica", "/Helvetica-Bold",
    "/Helvetica-Oblique", "/Helvetica-BoldOblique", "/Courier", "/Courier-Bold", "/Courier-Oblique",
    "/Courier-BoldOblique", "/Symbol", "/ZapfDingbats", "/Arial", "/ArialMT", "/TimesNewRoman", "/CourierNew",
}
_MAX_DEPTH = 24                 # forms inside forms; deeper than this, the pixels decide
_GLYPH_SIZE = 72.0              # points: a shape no larger than this either way may be a letter
_INK_POINTS = 0.5               # a character box smaller than this either way cannot hold a glyph
_INK_DPI = 150                  # the small rendering that shows whether a blank character draws ink
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# Characters a faithful text layer does not produce: private use, controls,
# the replacement character, unassigned code points. PDFium's own markers
# (\x02 and \ufffe for a soft hyphen at a line end, \r\n between lines) are fine.
_PDFIUM_MARKERS = frozenset("\x02\ufffe\r\n\t ")


def text_layer_doubt(pypdf_page, pdfium_page, text_page, pdfium_text: str) -> str:
    """Why ``pdfium_text`` may not be what the page shows, or "" when nothing in the page says so.

    The comparison with a second extractor (:func:`extractors_agree`) comes
    on top, once that extractor has read the whole file.

    Args:
        pypdf_page: the page as pypdf reads it (resources and content streams).
        pdfium_page: the same page open in PDFium (its objects).
        text_page: PDFium's text page of it (character boxes).
        pdfium_text: PDFium's text of the page, one character per character index.
    """
    try:
        reason = _resource_doubt(pypdf_page) or _object_doubt(pdfium_page)
        if not reason and (_unreadable_characters(pdfium_text)
                           or _blank_characters_with_ink(pdfium_page, text_page, pdfium_text)):
            reason = UNREADABLE
    except Exception:  # noqa: BLE001 - a structure we cannot read is not one we can trust: the pixels decide
        return UNREADABLE_PAGE
    return reason


def _resource_doubt(page) -> str:
    """Walk the resources of the page and its forms (patterns and Type 3 fonts are doubts of their own)."""
    stack = [(page, 0)]
    seen: set[int] = set()
    while stack:
        holder, depth = stack.pop()
        if id(holder) in seen:
            continue
        if depth > _MAX_DEPTH:
            return NESTED
        seen.add(id(holder))
        if _says_actual_text(_content(holder)):
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
            subtype = _get(xobject, "/Subtype")
            if subtype == "/Image":
                return PICTURE
            if subtype == "/Form":
                stack.append((xobject, depth + 1))
        for pattern in _values(_get(resources, "/Pattern")):
            kind = _get(pattern, "/PatternType")
            if kind == 1:
                return PATTERN
            if kind == 2 and _painting_shading(_get(pattern, "/Shading")):
                return SHADING
        for shading in _values(_get(resources, "/Shading")):
            if _painting_shading(shading):
                return SHADING
        for state in _values(_get(resources, "/ExtGState")):
            if isinstance(_get(state, "/SMask"), DictionaryObject):
                return SOFT_MASK
            font = _get(state, "/Font")
            if isinstance(font, ArrayObject) and font and font_doubt(font[0].get_object()):
                return NO_UNICODE
    return ""


def _painting_shading(shading) -> bool:
    """Axial and radial shadings are gradients; function-based and mesh shadings can draw any shape."""
    if not isinstance(shading, DictionaryObject):
        return False
    return _get(shading, "/ShadingType") not in (2, 3)


def font_doubt(font) -> str:
    """Why a font's character codes may not say which letters it draws, or "".

    An embedded font draws whatever its program says: only a Unicode map
    (``/ToUnicode``) states which letters that is, and even then the glyphs
    are checked against the map only where they are blank (see
    :func:`_blank_characters_with_ink`). A font that is not embedded is drawn
    from the reader's own fonts, by glyph names that say what they are.
    """
    if not isinstance(font, DictionaryObject):
        return NO_UNICODE
    subtype = _get(font, "/Subtype")
    if subtype == "/Type3":
        return TYPE3
    if "/ToUnicode" in font:
        return ""
    descriptor = _get(font, "/FontDescriptor")
    if subtype == "/Type0":
        return NO_UNICODE
    if isinstance(descriptor, DictionaryObject) and any(
            k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
        return NO_UNICODE
    encoding = _get(font, "/Encoding")
    if isinstance(encoding, NameObject):
        return "" if encoding in _STANDARD_ENCODINGS else NO_UNICODE
    if isinstance(encoding, DictionaryObject):
        base = _get(encoding, "/BaseEncoding")
        if base is not None and base not in _STANDARD_ENCODINGS:
            return NO_UNICODE
        differences = _get(encoding, "/Differences")
        names = [n for n in (differences if isinstance(differences, ArrayObject) else ())
                 if isinstance(n, NameObject)]
        # Glyph names a reader can turn into letters; "/g12" or "/glyph7" cannot be.
        if all(n in adobe_glyphs or re.fullmatch(r"/uni[0-9A-Fa-f]{4,6}|/u[0-9A-Fa-f]{4,6}", n) for n in names):
            return ""
        return NO_UNICODE
    # No encoding at all: a standard font by name uses its built-in one.
    return "" if _get(font, "/BaseFont") in _STANDARD_14 else NO_UNICODE


def _object_doubt(pdfium_page) -> str:
    """PDFium's view: pictures anywhere (inline, in forms), and drawings that may be letters.

    Letters turned into outlines are small filled shapes with many segments
    (curves, or straight lines where the curves were flattened), or a crowd of
    tiny rectangles (seven-segment digits). Table rules and boxes are long,
    thin or few; form check boxes and radio buttons are few.
    """
    glyph_segments = curves = small_shapes = 0
    bounds = [ctypes.c_float() for _ in range(4)]
    for kind, raw in page_objects(pdfium_page, _MAX_DEPTH):
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            return PICTURE
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        count = max(pdfium_c.FPDFPath_CountSegments(raw), 0)
        if not pdfium_c.FPDFPageObj_GetBounds(raw, *bounds):
            raise ValueError("a drawing without bounds")   # the pixels decide (text_layer_doubt)
        left, bottom, right, top = (value.value for value in bounds)
        small = right - left <= _GLYPH_SIZE and top - bottom <= _GLYPH_SIZE
        if count > 5:
            if small:
                glyph_segments += count
            for i in range(count):
                segment = pdfium_c.FPDFPath_GetPathSegment(raw, i)
                if pdfium_c.FPDFPathSegment_GetType(segment) == pdfium_c.FPDF_SEGMENT_BEZIERTO:
                    curves += 1
        elif small and min(right - left, top - bottom) > 0.2:
            small_shapes += 1
        if glyph_segments > MAX_OUTLINE_PATH_SEGMENTS or curves > MAX_OUTLINE_CURVES \
                or small_shapes > MAX_OUTLINE_SMALL_SHAPES:
            return OUTLINES
    return ""


def page_objects(pdfium_page, max_depth: int) -> Iterator[tuple[int, Any]]:
    """(type, raw handle) of every object on the page, and of the objects inside its forms down to
    ``max_depth`` levels, in the order pypdfium2's ``PdfPage.get_objects`` gives them, without making a
    Python object of each (a typed page holds dozens; a drawing, thousands).

    The handles belong to ``pdfium_page``: use them while it is open.

    Raises:
        ValueError: PDFium could not count or give an object.
    """
    def walk(parent, count_objects, get_object, level: int) -> Iterator[tuple[int, Any]]:
        count = count_objects(parent)
        if count < 0:
            raise ValueError("PDFium could not count the objects")
        for index in range(count):
            raw = get_object(parent, index)
            if not raw:
                raise ValueError("PDFium could not give an object")
            kind = pdfium_c.FPDFPageObj_GetType(raw)
            yield kind, raw
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM and level < max_depth - 1:
                yield from walk(raw, pdfium_c.FPDFFormObj_CountObjects, pdfium_c.FPDFFormObj_GetObject, level + 1)

    return walk(pdfium_page.raw, pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject, 0)


def _unreadable_characters(text: str) -> bool:
    if "\ufffd" not in text and _without_markers(text).isprintable():
        return False   # the usual page, in one pass: no control, private-use, surrogate or unassigned character
    for char in text:
        if char in _PDFIUM_MARKERS:
            continue
        category = unicodedata.category(char)
        if category in ("Co", "Cc", "Cs", "Cn") or char == "\ufffd":
            return True
    return False


def _without_markers(text: str) -> str:
    """``text`` without PDFium's markers (one search a character: str.translate takes 0.2 ms a page of text
    holding any character past ASCII)."""
    for marker in _PDFIUM_MARKERS:
        text = text.replace(marker, "")
    return text


def _blank_characters_with_ink(pdfium_page, text_page, text: str) -> bool:
    """Whether a character the text layer calls blank (a space, a zero-width or format character) draws
    ink: a Unicode map that turns digits into spaces hides them from every extractor.

    Many fonts give their space a box, so the page is rendered once, small,
    and the middle of each such box is looked at for dark pixels.
    """
    boxes = []
    for match in _BLANK.finditer(text):
        index = match.start()
        if pdfium_c.FPDFText_IsGenerated(text_page.raw, index) == 1:
            continue   # PDFium's own spaces between words have no glyph
        left, bottom, right, top = text_page.get_charbox(index)
        if right - left > _INK_POINTS and top - bottom > _INK_POINTS:
            boxes.append((left, bottom, right, top))
    if not boxes:
        return False
    scale = _INK_DPI / 72.0
    picture = pdfium_page.render(scale=scale, grayscale=True, may_draw_forms=False).to_pil().convert("L")
    for box in boxes:
        # The middle of the box: neighbouring letters may reach into its edges.
        x0, y0, x1, y1 = box_in_pixels(pdfium_page, picture.size, box)
        inset_x, inset_y = (x1 - x0) // 4, (y1 - y0) // 4
        region = picture.crop((x0 + inset_x, y0 + inset_y, x1 - inset_x, y1 - inset_y))
        if region.width > 0 and region.height > 0 and region.getextrema()[0] < 128:
            return True
    return False


def box_in_pixels(pdfium_page, size: tuple[int, int], box) -> tuple[int, int, int, int]:
    """A page-space box (left, bottom, right, top) as (left, top, right, bottom) in pixels of the page
    rendered at ``size``, rotation included, as PDFium renders it."""
    left, bottom, right, top = box
    xs, ys = [], []
    for x, y in ((left, bottom), (right, top), (left, top), (right, bottom)):
        dx, dy = pdfium_c.c_int(), pdfium_c.c_int()
        pdfium_c.FPDF_PageToDevice(pdfium_page.raw, 0, 0, size[0], size[1], 0, x, y, dx, dy)
        xs.append(dx.value)
        ys.append(dy.value)
    return min(xs), min(ys), max(xs), max(ys)


# Characters that show nothing: white space but line breaks, and the format characters (Unicode "Cf").
# A blank between two letters is a word space; digits mapped to blanks leave runs of them, or blanks
# beside digits and punctuation, and only those are looked at.
_CF = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
       "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
       "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
# (The white space first, then what is beside it: the regex engine skips ahead to each blank in C, where a
# pattern opening with a look-behind was tried at every character, a third slower.)
_BLANK = re.compile(f"[^\\S\\r\\n](?:(?<![A-Za-z].)|(?![A-Za-z]))|[{_CF}]")
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


def _says_actual_text(content: bytes) -> bool:
    """Whether content names /ActualText, also spelt with #-escapes (``/Actual#54ext``)."""
    if b"/ActualText" in content:
        return True
    return b"#" in content and b"/ActualText" in _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), content)


def _content(holder) -> bytes:
    try:
        if hasattr(holder, "get_contents"):
            content = holder.get_contents()
            return content.get_data() if content is not None else b""
        return holder.get_data() if isinstance(holder, StreamObject) else b""
    except Exception:  # noqa: BLE001 - unreadable content draws nothing a reader sees
        return b""


def _get(holder, key):
    """``holder[key]`` resolved (an indirect value compares like a direct one), or None."""
    value = holder.get(key) if isinstance(holder, DictionaryObject) else None
    return value.get_object() if value is not None else None


def _values(mapping) -> list:
    if not isinstance(mapping, DictionaryObject):
        return []
    return [value.get_object() for value in mapping.values() if value is not None]

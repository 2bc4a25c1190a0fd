"""The review's attacks on pixel-truth redaction (issue 12), as documents made at test time.

A reviewer's proofs of concept leaked a withheld SSN (and MRN) through the
redaction path: fonts and maps that hide digits from every extractor, shapes
that only look like digits, tricks that kept a page off OCR, pictures OCR did
not read (white on black, turned, no word at all), Unicode marks around each
digit, and a value split across a page break behind long running lines. Each
is rebuilt here from code, deterministically, with the helpers of
:mod:`tests.support.hostile_pdfs` (nothing is fetched, no file is written).

Every generator takes ``omit``: the names of the planted parts to leave
undrawn, without moving anything else on the page (the rest of the line keeps
its place: the part is drawn invisibly, in the background colour, or it ends
its line). Rendering the document with and without one part shows exactly
which pixels that part drew: the tests look there in the redacted exhibit.
Part names are ``ssn`` (the whole value), ``ssn_head``/``ssn_tail`` (its two
halves either side of a page break), ``mrn``, and ``keep`` (words beside the
value that are no identifier and must stay readable).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Callable

from PIL import Image, ImageDraw

from packetizer.ingest import trust
from tests.support.hostile_pdfs import (FAX_DPI, MRN, SMALL_PAGE, SSN, RawPdf, _digit_font, _draw_image,
                                        _embedded_truetype, _encode_digits, _font, _GLYPH_CODES, _px, _text,
                                        fax_pdf_pages, outline_ops, scan, to_fax, truetype_subset)

@dataclass(frozen=True)
class Attack:
    """One attack of the review.

    Attributes:
        name: a short name (also the attachment's file stem).
        poc: the reviewer's proof of concept it comes from.
        make: the document's bytes, with the parts named in its argument left undrawn.
        parts: each planted part -> the 0-based page it is drawn on ("keep" included).
        keep: the words of the "keep" part, which must stay in the exhibit's text layer.
        reason: what a page of it must be sent to OCR for (a :mod:`packetizer.ingest.trust`
            constant), or "" where the fix is not "the page goes to OCR".
        burnt: the value's pixels must come out black; False where the page is reported
            ``unchecked`` instead.
        what: one line on the trap.
    """

    name: str
    poc: str
    make: Callable[[frozenset], bytes]
    parts: dict[str, int]
    keep: str
    reason: str = ""
    burnt: bool = True
    what: str = ""

    @property
    def withheld(self) -> tuple[str, ...]:
        return tuple(part for part in self.parts if part != "keep")

    @property
    def file_name(self) -> str:
        return self.name + ".pdf"


# --------------------------------------------------------------------------- digits in a font that hides them

LABEL_X, VALUE_X, LINE_Y, KEEP_Y = 24, 90, 220, 160


def _label_digits_keep(digits_font: str, keep: str, omit: frozenset, *, encode=_encode_digits) -> str:
    """``SSN`` in Helvetica, the digits in ``digits_font`` beside it, a line of plain words below."""
    return (_text(LABEL_X, LINE_Y, "SSN", size=22)
            + _text(VALUE_X, LINE_Y, encode(SSN), size=22, font=digits_font, mode=3 if "ssn" in omit else 0)
            + _text(LABEL_X, KEEP_Y, keep, size=18, mode=3 if "keep" in omit else 0))


def symbolic_truetype_winansi(omit: frozenset = frozenset()) -> bytes:
    """poc_winansi: DejaVu's digits in an embedded symbolic TrueType font under codes A..K, declared
    /WinAnsiEncoding, no ToUnicode: every extractor reads letters, the glyphs draw the SSN."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    names = {char: f"g{i + 1}" for i, char in enumerate("0123456789-")}
    font, widths = truetype_subset({names[c]: c for c in names},
                                   {code: names[char] for char, code in _GLYPH_CODES.items()}, symbolic=True)
    digits = _embedded_truetype(pdf, font, {code: widths[names[char]] for char, code in _GLYPH_CODES.items()},
                                flags=4, encoding="/Encoding /WinAnsiEncoding")
    pdf.page(_label_digits_keep("/F2", "Nerve glides tolerated", omit),
             f"<< /Font << /F1 {helvetica} 0 R /F2 {digits} 0 R >> >>")
    return pdf.finish()


def _lying_map(blank: str) -> Callable[[frozenset], bytes]:
    def make(omit: frozenset = frozenset()) -> bytes:
        pdf = RawPdf()
        helvetica = pdf.helvetica()
        digits = _digit_font(pdf, to_unicode={code: blank for code in _GLYPH_CODES.values()}, meaningless_names=False)
        pdf.page(_label_digits_keep("/F2", "Nerve glides tolerated", omit),
                 f"<< /Font << /F1 {helvetica} 0 R /F2 {digits} 0 R >> >>")
        return pdf.finish()
    return make


tounicode_zero_width = _lying_map("\u200b")
tounicode_zero_width.__doc__ = """poc_tounicode: a ToUnicode map that turns every digit and the hyphen into U+200B."""
tounicode_space = _lying_map(" ")
tounicode_space.__doc__ = """poc_tounicode: a ToUnicode map that turns every digit and the hyphen into a space."""


_STANDARD_NAMES = "/zero /one /two /three /four /five /six /seven /eight /nine /hyphen"


def _renamed_helvetica(pdf: RawPdf) -> int:
    """Helvetica drawing the digits and hyphen under codes A..K by their standard glyph names (a well-formed font)."""
    return pdf.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding"
                   f" /BaseEncoding /WinAnsiEncoding /Differences [{_GLYPH_CODES['0']} {_STANDARD_NAMES}] >> >>")


def actual_text_escaped(omit: frozenset = frozenset()) -> bytes:
    """poc_actualtext2: the digits inside ``/Span << /Actual#54ext (on file) >> BDC``: the name is
    /ActualText spelt with a #-escape, so every extractor reads "on file" where the SSN is drawn."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    renamed = _renamed_helvetica(pdf)
    content = _label_digits_keep("/F2", "Core stabilisation progressed", omit)
    value = _text(VALUE_X, LINE_Y, _encode_digits(SSN), size=22, font="/F2", mode=3 if "ssn" in omit else 0)
    content = content.replace(value, "/Span << /Actual#54ext (on file) >> BDC\n" + value + "EMC\n")
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R /F2 {renamed} 0 R >> >>")
    return pdf.finish()


def tiling_pattern_indirect_type(omit: frozenset = frozenset()) -> bytes:
    """poc_indirect2: the SSN painted by a tiling pattern whose /PatternType is an indirect object
    (``/PatternType 5 0 R`` where object 5 is ``1``): a direct comparison with 1 misses it."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    renamed = _renamed_helvetica(pdf)
    one = pdf.add("1")
    cell = (_text(4, 10, "SSN", size=22)
            + _text(70, 10, _encode_digits(SSN), size=22, font="/F2", mode=3 if "ssn" in omit else 0))
    pattern = pdf.stream(f"/Type /Pattern /PatternType {one} 0 R /PaintType 1 /TilingType 1 /BBox [0 0 260 36]"
                         f" /XStep 260 /YStep 36 /Matrix [1 0 0 1 24 210]"
                         f" /Resources << /Font << /F1 {helvetica} 0 R /F2 {renamed} 0 R >> >>", cell.encode())
    content = ("q /Pattern cs /P0 scn 24 210 260 36 re f Q\n"
               + _text(LABEL_X, KEEP_Y - 20, "Home program reviewed", size=18, mode=3 if "keep" in omit else 0))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> /Pattern << /P0 {pattern} 0 R >> >>")
    return pdf.finish()


# --------------------------------------------------------------------------- shapes that are digits


def _flatten(ops: str) -> str:
    """Every cubic ``x1 y1 x2 y2 x3 y3 c`` replaced by a straight line to its end: no curve left."""
    return re.sub(r"(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) c", r"\5 \6 l", ops)


def _outlined_line(omit: frozenset) -> str:
    label, x = outline_ops("SSN ", LABEL_X, LINE_Y, 22)
    value, _ = outline_ops(SSN, x, LINE_Y, 22)
    return label + ("" if "ssn" in omit else value)


def outlines_flattened(omit: frozenset = frozenset()) -> bytes:
    """poc_outlines: "SSN 478-26-1935" as DejaVu outlines with every curve flattened to a straight line
    (about 290 line segments, no Bezier): a count of curves alone misses it."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    content = ("0 g\n" + _flatten(_outlined_line(omit))
               + _text(LABEL_X, KEEP_Y, "Gait training scheduled", size=18, mode=3 if "keep" in omit else 0))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> >>")
    return pdf.finish()


def outlines_short_strokes(omit: frozenset = frozenset()) -> bytes:
    """poc_outlines (second part): the same outlines, curves kept, each segment stroked as a path of its
    own (hollow letters): no path has more than two segments."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    strokes, current = [], None
    for line in _outlined_line(omit).splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[-1] == "m":
            current = parts[:2]
        elif parts[-1] in ("l", "c"):
            strokes.append(f"{current[0]} {current[1]} m {' '.join(parts)} S")
            current = parts[-3:-1]
    content = ("0 G 1.2 w\n" + "\n".join(strokes) + "\n"
               + _text(LABEL_X, KEEP_Y, "Gait training scheduled", size=18, mode=3 if "keep" in omit else 0))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> >>")
    return pdf.finish()


def mesh_shading(omit: frozenset = frozenset()) -> bytes:
    """poc_mesh: "SSN 478-26-1935" drawn by a Type 4 (free-form triangle mesh) shading: every dark pixel
    of a 22-px bitmap of the line becomes two black triangles, one point a side."""
    width, height = SMALL_PAGE
    bitmap = Image.new("L", (260, 30), 255)
    ImageDraw.Draw(bitmap).text((2, 2), "SSN" if "ssn" in omit else f"SSN {SSN}", font=_font(22), fill=0)
    x0, y0 = 24, 200
    data = bytearray()

    def vertex(x: float, y: float) -> None:
        data.extend(struct.pack(">BHHB", 0, int(x / width * 65535), int(y / height * 65535), 0))

    for j in range(bitmap.height):
        for i in range(bitmap.width):
            if bitmap.getpixel((i, j)) < 128:
                x, y = x0 + i, y0 + bitmap.height - j
                vertex(x, y), vertex(x + 1, y), vertex(x, y - 1)
                vertex(x + 1, y), vertex(x + 1, y - 1), vertex(x, y - 1)
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    shading = pdf.stream("/ShadingType 4 /ColorSpace /DeviceGray /BitsPerCoordinate 16 /BitsPerComponent 8"
                         f" /BitsPerFlag 8 /Decode [0 {width:g} 0 {height:g} 0 1]", bytes(data))
    content = ("q /Sh0 sh Q\n"
               + _text(LABEL_X, 140, "Home program reviewed", size=18, mode=3 if "keep" in omit else 0))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> /Shading << /Sh0 {shading} 0 R >> >>")
    return pdf.finish()


# --------------------------------------------------------------------------- pictures


def _nested_forms(depth: int) -> Callable[[frozenset], bytes]:
    def make(omit: frozenset = frozenset()) -> bytes:
        pdf = RawPdf()
        helvetica = pdf.helvetica()
        picture = scan(["SSN" if "ssn" in omit else f"SSN {SSN}"], (300, 40), font_pt=18, margin_pt=8)
        image = pdf.gray_image(picture)
        # The innermost form draws the picture; each form around it draws the one inside.
        form = pdf.stream("/Type /XObject /Subtype /Form /BBox [0 0 432 288]"
                          f" /Resources << /XObject << /Im0 {image} 0 R >> >>", b"q 300 0 0 40 24 200 cm /Im0 Do Q")
        for _ in range(depth - 1):
            form = pdf.stream("/Type /XObject /Subtype /Form /BBox [0 0 432 288]"
                              f" /Resources << /XObject << /Fx {form} 0 R >> >>", b"/Fx Do")
        content = "/Fx Do\n" + _text(LABEL_X, 140, "Home program reviewed", size=18, mode=3 if "keep" in omit else 0)
        pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> /XObject << /Fx {form} 0 R >> >>")
        return pdf.finish()
    make.__doc__ = f"poc_nested: a scanned SSN line drawn by the innermost of {depth} nested form XObjects."
    return make


image_in_20_nested_forms = _nested_forms(20)
image_in_30_nested_forms = _nested_forms(30)


def white_on_black_banner(omit: frozenset = frozenset()) -> bytes:
    """poc_inverted2: a scanned note whose patient banner is white on black: "PATIENT SSN 478-26-1935
    MRN 44861". OCR without its inverted-text pass reads nothing there."""
    body = ["", "", "Progress note 10/11/2026", "Low back pain improved.",
            "" if "keep" in omit else "Oswestry index improved"]
    picture = scan(body, SMALL_PAGE, font_pt=16, line_gap=1.5)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, _px(12), picture.width, _px(46)), fill=0)
    font = _font(_px(15))
    x, y = _px(20), _px(20)
    for text, part in (("PATIENT SSN ", None), (SSN, "ssn"), ("  MRN ", None), (MRN, "mrn")):
        # A part left out is drawn in the banner's own black: nothing moves.
        draw.text((x, y), text, font=font, fill=0 if part in omit else 255)
        x += round(font.getlength(text))
    pdf = RawPdf()
    image = pdf.gray_image(picture)
    pdf.page(_draw_image("Im0", 0, 0, *SMALL_PAGE), f"<< /XObject << /Im0 {image} 0 R >> >>")
    return pdf.finish()


def _turned_fax(turn: int) -> Callable[[frozenset], bytes]:
    def make(omit: frozenset = frozenset()) -> bytes:
        lines = ["FROM: JUNIPER PT 10/12/2026", "REFERRAL FOR THERAPY",
                 "Patient ID:" if "ssn" in omit else f"Patient ID:{SSN}",
                 "" if "keep" in omit else "Diagnosis: radiculopathy"]
        page = scan(lines, (612, 396), dpi=FAX_DPI, font_pt=18, margin_pt=40, noise=20, seed=7)
        size = (612, 396) if turn == 180 else (396, 612)
        return fax_pdf_pages([to_fax(page.rotate(turn, expand=True))], size=size)
    make.__doc__ = (f"poc_turned: a Group 4 fax page turned {turn} degrees whose label is glued to the value,"
                    f" 'Patient ID:{SSN}': OCR reads it turned, and the hit is part of a word.")
    return make


fax_turned_180 = _turned_fax(180)
fax_turned_90 = _turned_fax(90)


def diagonal_stamp(omit: frozenset = frozenset()) -> bytes:
    """poc_noword: nothing on the page but "SSN 478-26-1935" stamped at 35 degrees: OCR reads no word."""
    width, height = _px(SMALL_PAGE[0]), _px(SMALL_PAGE[1])
    page = Image.new("L", (width, height), 255)
    if "ssn" not in omit:
        stamp = Image.new("L", (_px(330), _px(40)), 255)
        ImageDraw.Draw(stamp).text((5, 5), f"SSN {SSN}", font=_font(_px(20)), fill=0)
        stamp = stamp.rotate(35, expand=True, fillcolor=255)
        page.paste(stamp, ((width - stamp.width) // 2, (height - stamp.height) // 2))
    pdf = RawPdf()
    image = pdf.gray_image(page)
    pdf.page(_draw_image("Im0", 0, 0, *SMALL_PAGE), f"<< /XObject << /Im0 {image} 0 R >> >>")
    return pdf.finish()


# --------------------------------------------------------------------------- a value split by a page break


def split_behind_running_lines(omit: frozenset = frozenset()) -> bytes:
    """poc_pagebreak: "478-26-" ends page 1 and "1935" starts page 2, with a three-line running footer
    below the first half and a three-line running header above the second (plain Helvetica text)."""
    head, tail = SSN[:7], SSN[7:]
    pdf = RawPdf()
    helvetica = pdf.helvetica()

    def line(y: float, text: str, part: str | None = None, size: float = 16, x: float = LABEL_X) -> str:
        return _text(x, y, text, size=size, mode=3 if part in omit else 0)

    first = (line(250, "Progress note") + line(222, "Subjective: back pain improved.")
             + line(194, "Intake form lists SSN") + line(194, head, "ssn_head", x=205)
             + line(54, "Page 1 of 2", size=10) + line(40, "Printed 10/12/2026 09:14 by jdoe", size=10)
             + line(26, "CONFIDENTIAL", size=10))
    second = (line(268, "Juniper Physical Therapy", size=10) + line(254, "Lindqvist, Maya", size=10)
              + line(240, "Progress note (continued)", size=10)
              + line(206, tail, "ssn_tail") + line(206, "verified at intake.", x=70)
              + line(178, "Gait training progressed", "keep"))
    for content in (first, second):
        pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R >> >>")
    return pdf.finish()


# --------------------------------------------------------------------------- the list

ATTACKS: dict[str, Attack] = {attack.name: attack for attack in (
    Attack("symbolic_truetype_winansi", "poc_winansi", symbolic_truetype_winansi, {"ssn": 0, "keep": 0},
           "Nerve glides tolerated", trust.NO_UNICODE,
           what="embedded symbolic TrueType, /WinAnsiEncoding, no ToUnicode"),
    Attack("tounicode_zero_width", "poc_tounicode", tounicode_zero_width, {"ssn": 0, "keep": 0},
           "Nerve glides tolerated", trust.UNREADABLE, what="ToUnicode maps the digits to U+200B"),
    Attack("tounicode_space", "poc_tounicode", tounicode_space, {"ssn": 0, "keep": 0},
           "Nerve glides tolerated", trust.UNREADABLE, what="ToUnicode maps the digits to spaces"),
    Attack("outlines_flattened", "poc_outlines", outlines_flattened, {"ssn": 0, "keep": 0},
           "Gait training scheduled", trust.OUTLINES, what="SSN as outlines flattened to straight lines"),
    Attack("outlines_short_strokes", "poc_outlines", outlines_short_strokes, {"ssn": 0, "keep": 0},
           "Gait training scheduled", trust.OUTLINES, what="SSN as outlines stroked one segment a path"),
    Attack("mesh_shading", "poc_mesh", mesh_shading, {"ssn": 0, "keep": 0},
           "Home program reviewed", trust.SHADING, what="SSN drawn by a Type 4 mesh shading"),
    Attack("image_in_20_nested_forms", "poc_nested", image_in_20_nested_forms, {"ssn": 0, "keep": 0},
           "Home program reviewed", trust.PICTURE, what="scanned SSN in the innermost of 20 nested forms"),
    Attack("image_in_30_nested_forms", "poc_nested", image_in_30_nested_forms, {"ssn": 0, "keep": 0},
           "Home program reviewed", trust.NESTED, what="scanned SSN in the innermost of 30 nested forms"),
    Attack("actual_text_escaped", "poc_actualtext2", actual_text_escaped, {"ssn": 0, "keep": 0},
           "Core stabilisation progressed", trust.ACTUAL_TEXT, what="/Actual#54ext says 'on file' over the SSN"),
    Attack("tiling_pattern_indirect_type", "poc_indirect2", tiling_pattern_indirect_type, {"ssn": 0, "keep": 0},
           "Home program reviewed", trust.PATTERN, what="SSN in a tiling pattern, /PatternType indirect"),
    Attack("white_on_black_banner", "poc_inverted2", white_on_black_banner, {"ssn": 0, "mrn": 0, "keep": 0},
           "Oswestry index improved", trust.PICTURE, what="white-on-black patient banner in a scan"),
    Attack("fax_turned_180", "poc_turned", fax_turned_180, {"ssn": 0, "keep": 0},
           "radiculopathy", trust.PICTURE, what="fax turned 180 degrees, 'Patient ID:478-26-1935'"),
    Attack("fax_turned_90", "poc_turned", fax_turned_90, {"ssn": 0, "keep": 0},
           "radiculopathy", trust.PICTURE, what="fax turned 90 degrees, 'Patient ID:478-26-1935'"),
    Attack("diagonal_stamp", "poc_noword", diagonal_stamp, {"ssn": 0}, "", trust.PICTURE, burnt=False,
           what="a diagonal SSN stamp OCR reads no word from"),
    Attack("split_behind_running_lines", "poc_pagebreak", split_behind_running_lines,
           {"ssn_head": 0, "ssn_tail": 1, "keep": 1}, "Gait training progressed",
           what="SSN split by a page break behind a 3-line footer and a 3-line header"),
)}


# --------------------------------------------------------------------------- a note in plain text

# poc_fold_build2: marks that compose with no letter around each digit of the SSN in a .txt note.
# A reader sees the digits through them; a search that keeps them does not.
FOLD_VARIANTS = {
    "combining_underline": "".join(char + "\u0332" for char in SSN),
    "variation_selector_15": "\ufe0e".join(SSN),
    "variation_selector_16": "\ufe0f".join(SSN),
    "khmer_inherent_vowel": "\u17b4".join(SSN),
}


def folded_note(variant: str) -> bytes:
    """A short .txt progress note with the SSN spelt as ``FOLD_VARIANTS[variant]``."""
    return f"Progress note.\nPatient {FOLD_VARIANTS[variant]} verified.\nGait training.\n".encode("utf-8")

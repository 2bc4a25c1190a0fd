"""Hostile documents for issue 12: identifiers that only the pixels show, or that hide where nobody looks.

Every function returns a :class:`Hostile`: the bytes of one attachment (mostly
PDF), the withheld values planted in it (see :data:`CASE_VALUES`), the words
planted next to them that must stay readable, and which issue class it covers.
Everything is made here, at test time, from code: the PDF syntax by hand
(:class:`RawPdf`), pictures with Pillow in DejaVu Sans (installed with
fonts-dejavu-core), glyph outlines with fontTools, and the notes that need a
real layout engine with WeasyPrint through :func:`packetizer.render.html_to_pdf`.
Nothing is random (noise comes from a seeded generator) and nothing is
fetched, so the bytes are the same on every machine and every run.

The type is large (at least 16 pt at 300 dpi) and the pages small and sparse:
Tesseract reads them quickly and reliably, so a test that fails means the
redaction missed, not that OCR had a bad day.

The last section reads a document back as its readers do (pypdf and PDFium
text, a forensic dump of the file, pages rendered at 300 dpi and read by real
Tesseract in batches); the tests and ``bench/ocr_accuracy.py`` judge with it.

Issue classes (``issues show 12``): 1 pixels on a page that also has text;
2 text only the glyphs show; 3/4 what rasterising or copying keeps (metadata,
samples under clips, masks and boxes); 5 Unicode spellings; 6 detection gaps
(table cells, page breaks); 7 private keys; "fax" fax-quality scans (one upside
down); "hidden" text no reader sees but extractors read (a switched-off layer,
white text, text outside the crop box).
"""

from __future__ import annotations

import base64
import io
import os
import random
import re
import struct
import subprocess
import tempfile
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageDraw, ImageFont
from pypdf import PdfReader
from pypdf.generic import ArrayObject, ByteStringObject, DictionaryObject, IndirectObject, StreamObject, TextStringObject

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# The planted identifiers: invented, and the withheld values of :func:`case_mapping`.
SSN = "478-26-1935"
MRN = "44861"                       # the case's own 5-digit MRN (issue class 6 names it)
MRN_MISREAD = "44B61"               # what a scanner's OCR layer made of it
PHONE = "(651) 555-0182"
EMAIL = "maya.lindqvist@example.net"
STREET = "3187 Juniper Lane"
CASE_VALUES = {"ssn": SSN, "mrn": MRN, "phone": PHONE, "email": EMAIL, "street": STREET}

POINTS_PER_INCH = 72.0
SCAN_DPI = 300
FAX_DPI = (204, 196)
LETTER = (612.0, 792.0)
SMALL_PAGE = (432.0, 288.0)         # 6 x 4 in: room for a few lines of large type, cheap to OCR


@dataclass(frozen=True)
class Hostile:
    """One hostile attachment and what is planted in it.

    Attributes:
        name: the generator's name (also the attachment's file stem).
        issue_class: the class of issue 12 it covers ("1".."7", or "fax").
        data: the file's bytes.
        suffix: its extension (".pdf", ".tif", ".jpg").
        planted: the withheld values planted (keys of :data:`CASE_VALUES`).
        keep: words next to them that are not identifiers and must stay readable.
        visible: the planted values can be seen on the page (OCR of the original reads them);
            False where they hide in metadata, private keys or under clips, masks and boxes.
        untrusted: 1-based pages whose text layer cannot be trusted: the redaction must OCR them.
        hidden_samples: the original carries image samples nobody sees (under a clip, mask or box).
        read_rotated: the page is upside down or sideways; a reader turns it, so it is read turned too.
        what: one line on what the trap is.
    """

    name: str
    issue_class: str
    data: bytes
    suffix: str
    planted: tuple[str, ...]
    keep: tuple[str, ...]
    visible: bool = True
    untrusted: tuple[int, ...] = ()
    hidden_samples: bool = False
    read_rotated: bool = False
    what: str = ""

    @property
    def file_name(self) -> str:
        return self.name + self.suffix


def case_mapping(attachments: list[dict] | None = None, *, residence: bool = False) -> dict:
    """A case (for :func:`packetizer.caseio.case_from_mapping`) that withholds every planted value.

    With ``residence`` the street line is kept under a key nobody planned for (``member.residence``)
    instead of ``member.address``.
    """
    mapping = {
        "case_id": "DX-OCR-0012",
        "payer_id": "dx-plain",
        "member": {
            "member_id": "QHP770012345", "first_name": "Maya", "last_name": "Lindqvist", "dob": "1983-02-17",
            "ssn": SSN, "phone": PHONE, "email": EMAIL, "mrn": MRN,
            "address": {"street": STREET, "city": "Saint Paul", "state": "MN", "zip": "55104"},
        },
        "claim": {"claim_number": "2026101100457", "denial_codes": ["CO-197"], "denial_date": "2026-10-20"},
        "services": [{"date_of_service": "2026-10-11", "place_of_service": "11", "code": "97110", "units": 3,
                      "diagnosis_codes": ["M54.16"], "charge_cents": 45000}],
        "rendering_provider": {"name": "Juniper Physical Therapy", "npi": "1234567893"},
        "late_reason": {"category": "payer_portal_outage",
                        "explanation": "The payer portal returned HTTP 503 on 2026-10-09; ticket INC-7731."},
        "medical_necessity": "Acute lumbar radiculopathy with functional decline.",
        "contact": {"name": "Billing desk", "phone": "651-555-0100"},
        "attachments": attachments or [],
    }
    if residence:
        del mapping["member"]["address"]
        mapping["member"]["residence"] = STREET
    return mapping


# --------------------------------------------------------------------------- raw PDF


class RawPdf:
    """A PDF written object by object: what a hostile producer would write, nothing more."""

    def __init__(self) -> None:
        self._objects: list[bytes] = [b"", b""]   # 1: catalog, 2: page tree (filled in by finish)
        self._pages: list[int] = []

    def add(self, body: bytes | str) -> int:
        self._objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(self._objects)

    def stream(self, entries: str, data: bytes, *, flate: bool = True) -> int:
        """A stream object; ``entries`` is the inside of its dictionary without /Length and /Filter."""
        if flate:
            data = zlib.compress(data, 9)
            entries += " /Filter /FlateDecode"
        return self.add(f"<< {entries} /Length {len(data)} >>\nstream\n".encode("latin-1") + data + b"\nendstream")

    def page(self, content: bytes | str, resources: str, *, size: tuple[float, float] = SMALL_PAGE,
             extra: str = "") -> int:
        if isinstance(content, str):
            content = content.encode("latin-1")
        contents = self.stream("", content)
        number = self.add(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_num(size[0])} {_num(size[1])}]"
                          f" /Resources {resources} /Contents {contents} 0 R {extra}>>")
        self._pages.append(number)
        return number

    def finish(self) -> bytes:
        self._objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
        kids = " ".join(f"{n} 0 R" for n in self._pages)
        self._objects[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>".encode()
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self._objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self._objects) + 1, xref))
        return out.getvalue()

    # Resources a hostile page commonly uses.

    def helvetica(self) -> int:
        return self.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")

    def gray_image(self, image: Image.Image, extra: str = "") -> int:
        """An 8-bit grey image XObject, Flate-compressed samples."""
        image = image.convert("L")
        return self.stream(f"/Type /XObject /Subtype /Image /Width {image.width} /Height {image.height}"
                           f" /ColorSpace /DeviceGray /BitsPerComponent 8 {extra}", image.tobytes())

    def jpeg_image(self, jpeg: bytes, width: int, height: int, gray: bool = True) -> int:
        space = "/DeviceGray" if gray else "/DeviceRGB"
        return self.stream(f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace {space}"
                           f" /BitsPerComponent 8 /Filter /DCTDecode", jpeg, flate=False)

    def ccitt_image(self, group4: bytes, width: int, height: int) -> int:
        return self.stream(f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray"
                           f" /BitsPerComponent 1 /Filter /CCITTFaxDecode"
                           f" /DecodeParms << /K -1 /Columns {width} /Rows {height} /BlackIs1 false >>",
                           group4, flate=False)


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _text(x: float, y: float, text: str, *, size: float = 18, font: str = "/F1", mode: int = 0) -> str:
    """A line of text in a simple font (codes are the latin-1 bytes of ``text``)."""
    return f"BT {font} {_num(size)} Tf {mode} Tr {_num(x)} {_num(y)} Td {_pdf_string(text)} Tj ET\n"


def _draw_image(name: str, x: float, y: float, width: float, height: float) -> str:
    return f"q {_num(width)} 0 0 {_num(height)} {_num(x)} {_num(y)} cm /{name} Do Q\n"


# --------------------------------------------------------------------------- pictures


@lru_cache(maxsize=None)
def _font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), pixels)


def scan(lines: list[str], size_pt: tuple[float, float], *, dpi: tuple[int, int] = (SCAN_DPI, SCAN_DPI),
         font_pt: float = 18, margin_pt: float = 24, line_gap: float = 1.6, noise: int = 0, skew: float = 0.0,
         seed: int = 0) -> Image.Image:
    """A grey picture of ``lines`` as a scanner would deliver it: ``size_pt`` points at ``dpi``.

    ``noise`` adds seeded grey noise of that amplitude; ``skew`` rotates by that many degrees.
    """
    dpi_x, dpi_y = dpi
    width = round(size_pt[0] * dpi_x / POINTS_PER_INCH)
    height_square = round(size_pt[1] * dpi_x / POINTS_PER_INCH)
    # Draw with square pixels at the horizontal resolution; squash to the vertical one afterwards (fax).
    image = Image.new("L", (width, height_square), 255)
    draw = ImageDraw.Draw(image)
    pixels = round(font_pt * dpi_x / POINTS_PER_INCH)
    x = round(margin_pt * dpi_x / POINTS_PER_INCH)
    y = x
    for line in lines:
        draw.text((x, y), line, font=_font(pixels), fill=0)
        y += round(pixels * line_gap)
    if skew:
        image = image.rotate(skew, resample=Image.BICUBIC, expand=False, fillcolor=255)
    if dpi_y != dpi_x:
        image = image.resize((width, round(size_pt[1] * dpi_y / POINTS_PER_INCH)), Image.LANCZOS)
    if noise:
        image = _add_noise(image, noise, seed)
    return image


def _add_noise(image: Image.Image, amplitude: int, seed: int) -> Image.Image:
    """Seeded grey noise of about +-amplitude, and a few dark specks (dust)."""
    rng = random.Random(seed)
    table = bytes(max(0, min(255, 128 + (b - 128) * amplitude // 128)) for b in range(256))
    noisy = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height).translate(table))
    out = ImageChops.add(image, noisy, 1.0, -128)
    draw = ImageDraw.Draw(out)
    for _ in range(image.width * image.height // 40000):
        draw.point((rng.randrange(image.width), rng.randrange(image.height)), fill=rng.randrange(0, 90))
    return out


def to_fax(image: Image.Image, threshold: int = 160) -> Image.Image:
    """Threshold a grey picture to 1 bit, as a fax machine sends it."""
    return image.point(lambda p: 255 if p >= threshold else 0).convert("1", dither=Image.Dither.NONE)


def group4_tiff(frames: list[Image.Image], dpi: tuple[int, int] = FAX_DPI) -> bytes:
    """A (multi-page) CCITT Group 4 TIFF, one strip per page, as fax servers store them."""
    out = io.BytesIO()
    # Photometric 0 (WhiteIsZero), as TIFF-F faxes have it: the Group 4 codes' white runs are white
    # paper, which is also how a PDF reader decodes a /CCITTFaxDecode image with /BlackIs1 false.
    # Pillow's own WhiteIsZero path takes 0.7 s a page; the inverted frames encoded BlackIsZero give the
    # same Group 4 codes at once, and the tag then says WhiteIsZero.
    first, *rest = [ImageChops.invert(frame) for frame in frames]
    first.save(out, format="TIFF", compression="group4", dpi=dpi, save_all=bool(rest), append_images=rest,
               strip_size=1 << 30, tiffinfo={262: 1})
    return _white_is_zero(out.getvalue())


def _white_is_zero(tiff: bytes) -> bytes:
    """``tiff`` with the Photometric tag (262) of every page set to 0 (WhiteIsZero)."""
    data = bytearray(tiff)
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack_from(order + "I", data, 4)[0]
    while offset:
        (count,) = struct.unpack_from(order + "H", data, offset)
        for entry in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag == 262:
                if kind != 3:
                    raise ValueError("Photometric is not a SHORT")
                struct.pack_into(order + "H", data, entry + 8, 0)
        offset = struct.unpack_from(order + "I", data, offset + 2 + 12 * count)[0]
    return bytes(data)


def group4_strips(tiff: bytes) -> list[tuple[bytes, int, int]]:
    """The Group 4 data of each page of a one-strip-per-page TIFF, with its width and height."""
    image = Image.open(io.BytesIO(tiff))
    pages = []
    index = 0
    while True:
        try:
            image.seek(index)
        except EOFError:
            break
        tags = image.tag_v2
        offsets, counts = tags[273], tags[279]
        if len(offsets) != 1:
            raise ValueError("expected one strip per page")
        pages.append((tiff[offsets[0]:offsets[0] + counts[0]], image.width, image.height))
        index += 1
    return pages


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _pnm(image: Image.Image) -> bytes:
    """A picture as a portable anymap: no compression, so it is quick to write for Tesseract to read."""
    out = io.BytesIO()
    image.save(out, format="PPM")
    return out.getvalue()


def _data_uri(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(image)).decode()


def _px(points: float, dpi: int = SCAN_DPI) -> int:
    return round(points * dpi / POINTS_PER_INCH)


# --------------------------------------------------------------------------- glyphs (fontTools)


@lru_cache(maxsize=None)
def _dejavu():
    """DejaVu Sans as fontTools reads it: (font, glyph set, code point -> glyph name)."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(FONT_PATH))
    return font, font.getGlyphSet(), font.getBestCmap()


class _PdfPathPen:
    """A fontTools pen that writes PDF path operators (quadratic curves raised to cubic)."""

    def __init__(self, scale: float, dx: float, dy: float) -> None:
        self.scale, self.dx, self.dy = scale, dx, dy
        self.ops: list[str] = []
        self._current = (0.0, 0.0)

    def _xy(self, point) -> tuple[float, float]:
        return point[0] * self.scale + self.dx, point[1] * self.scale + self.dy

    def _emit(self, *points, op: str) -> None:
        coords = [c for p in points for c in self._xy(p)]
        self.ops.append(" ".join(f"{c:.2f}" for c in coords) + " " + op)

    def moveTo(self, point) -> None:  # noqa: N802 (fontTools' pen protocol)
        self._emit(point, op="m")
        self._current = point

    def lineTo(self, point) -> None:  # noqa: N802
        self._emit(point, op="l")
        self._current = point

    def curveTo(self, *points) -> None:  # noqa: N802
        # Only cubic segments with two off-curve points reach here (the outline is quadratic).
        self._emit(*points[-3:], op="c")
        self._current = points[-1]

    def qCurveTo(self, *points) -> None:  # noqa: N802
        from fontTools.pens.basePen import decomposeQuadraticSegment

        if points[-1] is None:
            raise ValueError("closed quadratic contours without on-curve points are not used by DejaVu")
        for control, end in decomposeQuadraticSegment(points):
            start = self._current
            c1 = (start[0] + 2 / 3 * (control[0] - start[0]), start[1] + 2 / 3 * (control[1] - start[1]))
            c2 = (end[0] + 2 / 3 * (control[0] - end[0]), end[1] + 2 / 3 * (control[1] - end[1]))
            self._emit(c1, c2, end, op="c")
            self._current = end

    def closePath(self) -> None:  # noqa: N802
        self.ops.append("h")

    def endPath(self) -> None:  # noqa: N802
        pass

    def addComponent(self, glyph_name, transformation) -> None:  # noqa: N802
        raise ValueError("decompose first")


def outline_ops(text: str, x: float, y: float, size: float) -> tuple[str, float]:
    """PDF path operators that fill ``text`` in DejaVu Sans at (x, y), ``size`` points; and the advance."""
    from fontTools.pens.recordingPen import DecomposingRecordingPen

    font, glyphs, cmap = _dejavu()
    scale = size / font["head"].unitsPerEm
    ops = []
    for char in text:
        name = cmap[ord(char)]
        recording = DecomposingRecordingPen(glyphs)
        glyphs[name].draw(recording)
        pen = _PdfPathPen(scale, x, y)
        recording.replay(pen)
        if pen.ops:
            ops.append("\n".join(pen.ops) + "\nf")
        x += font["hmtx"][name][0] * scale
    return "\n".join(ops) + "\n", x


def glyph_procedure(char: str) -> tuple[str, float]:
    """A Type3 glyph procedure (1000 units to the em) drawing ``char`` of DejaVu Sans; and its width."""
    font, _, cmap = _dejavu()
    width = font["hmtx"][cmap[ord(char)]][0] * 1000 / font["head"].unitsPerEm
    ops, _ = outline_ops(char, 0, 0, 1000)
    return f"{width:.0f} 0 d0\n" + ops, width


def truetype_subset(glyph_chars: dict[str, str], cmap: dict[int, str], *, symbolic: bool) -> tuple[bytes, dict]:
    """A small TrueType font with DejaVu's outlines under glyph names of our choosing.

    Args:
        glyph_chars: new glyph name -> the DejaVu character whose outline it gets.
        cmap: code point -> glyph name; with ``symbolic`` the (3,0) table maps 0xF000 + code
            (how PDF viewers look up a symbolic TrueType font), and (1,0) maps the code itself.

    Returns:
        (font bytes, glyph name -> advance width in 1000 units to the em).
    """
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib.tables._c_m_a_p import cmap_format_4

    source, glyphs, best = _dejavu()
    units = source["head"].unitsPerEm
    order = [".notdef", *glyph_chars]
    outlines, metrics, widths = {}, {}, {}
    for name in order:
        source_name = ".notdef" if name == ".notdef" else best[ord(glyph_chars[name])]
        recording = DecomposingRecordingPen(glyphs)
        glyphs[source_name].draw(recording)
        pen = TTGlyphPen(None)
        recording.replay(pen)
        outlines[name] = pen.glyph()
        metrics[name] = source["hmtx"][source_name]
        widths[name] = metrics[name][0] * 1000 / units
    builder = FontBuilder(units, isTTF=True)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({} if symbolic else cmap)
    builder.setupGlyf(outlines)
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=source["hhea"].ascent, descent=source["hhea"].descent)
    builder.setupNameTable({"familyName": "Glyphs", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=source["OS/2"].sTypoAscender, usWinAscent=source["OS/2"].usWinAscent,
                     usWinDescent=source["OS/2"].usWinDescent)
    builder.setupPost(keepGlyphNames=True)
    if symbolic:
        tables = []
        for platform, encoding, offset in ((3, 0, 0xF000), (1, 0, 0)):
            table = cmap_format_4(4)
            table.platformID, table.platEncID, table.language = platform, encoding, 0
            table.cmap = {code + offset: name for code, name in cmap.items()}
            tables.append(table)
        builder.font["cmap"].tables = tables
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue(), widths


def _embedded_truetype(pdf: RawPdf, font: bytes, widths: dict[int, float], *, flags: int, encoding: str = "",
                       to_unicode: int | None = None) -> int:
    """A simple /TrueType font dictionary with ``font`` embedded (FontFile2)."""
    file_ = pdf.stream(f"/Length1 {len(font)}", font)
    descriptor = pdf.add(f"<< /Type /FontDescriptor /FontName /AAAAAA+Glyphs /Flags {flags}"
                         f" /FontBBox [-1021 -463 1793 1232] /ItalicAngle 0 /Ascent 928 /Descent -236"
                         f" /CapHeight 729 /StemV 80 /FontFile2 {file_} 0 R >>")
    first, last = min(widths), max(widths)
    row = " ".join(f"{widths.get(code, 0):.0f}" for code in range(first, last + 1))
    return pdf.add(f"<< /Type /Font /Subtype /TrueType /BaseFont /AAAAAA+Glyphs /FirstChar {first}"
                   f" /LastChar {last} /Widths [{row}] /FontDescriptor {descriptor} 0 R {encoding}"
                   + (f" /ToUnicode {to_unicode} 0 R" if to_unicode else "") + " >>")


def _to_unicode_cmap(pdf: RawPdf, mapping: dict[int, str]) -> int:
    """A ToUnicode CMap stream mapping one-byte codes to the given (lying) text."""
    lines = [f"<{code:02X}> <{''.join(f'{ord(c):04X}' for c in text)}>" for code, text in sorted(mapping.items())]
    body = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
            "1 begincodespacerange <00> <FF> endcodespacerange\n"
            f"{len(lines)} beginbfchar\n" + "\n".join(lines) + "\nendbfchar\n"
            "endcmap CMapName currentdict /CMap defineresource pop end end\n")
    return pdf.stream("", body.encode())


# Digits and the hyphen are drawn by codes that are not their ASCII codes: "A".."J" and "K".
_GLYPH_CODES = {char: 0x41 + index for index, char in enumerate("0123456789-")}


def _encode_digits(text: str) -> str:
    return "".join(chr(_GLYPH_CODES[c]) for c in text)


def _digit_font(pdf: RawPdf, *, to_unicode: dict[int, str] | None, meaningless_names: bool) -> int:
    """DejaVu's digits and hyphen under codes A..K, glyph names g1..g11, embedded, symbolic."""
    names = {char: f"g{i + 1}" for i, char in enumerate("0123456789-")}
    font, widths = truetype_subset({names[c]: c for c in names},
                                   {code: names[char] for char, code in _GLYPH_CODES.items()}, symbolic=True)
    code_widths = {code: widths[names[char]] for char, code in _GLYPH_CODES.items()}
    encoding = ""
    if meaningless_names:
        differences = " ".join(f"/{names[c]}" for c in "0123456789-")
        encoding = f"/Encoding << /Type /Encoding /Differences [{_GLYPH_CODES['0']} {differences}] >>"
    unicode_ref = _to_unicode_cmap(pdf, to_unicode) if to_unicode else None
    return _embedded_truetype(pdf, font, code_widths, flags=4, encoding=encoding, to_unicode=unicode_ref)


# --------------------------------------------------------------------------- class 1: pixels next to text


def scan_body_under_text_header() -> Hostile:
    """A faxed referral: the fax server's header line is text, the body below it is a scanned picture."""
    pdf = RawPdf()
    font = pdf.helvetica()
    body = scan(["REFERRAL", f"SSN {SSN}", "Diagnosis: radiculopathy"], (432, 200), font_pt=18)
    image = pdf.gray_image(body)
    content = _text(24, 262, "FAX 10/12/2026 09:14  Juniper PT  P.1/1", size=12) + _draw_image("Im0", 0, 30, 432, 200)
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("scan_body_under_text_header", "1", pdf.finish(), ".pdf", ("ssn",), ("radiculopathy",),
                   untrusted=(1,), what="text header line, scanned body with the SSN")


def id_label_pasted_as_picture() -> Hostile:
    """A typed note (WeasyPrint, real fonts) with the patient's ID label pasted in as a picture."""
    from packetizer.render import html_to_pdf

    label = Image.new("L", (_px(300), _px(70)), 255)
    draw = ImageDraw.Draw(label)
    draw.rectangle((4, 4, label.width - 5, label.height - 5), outline=0, width=6)
    draw.text((_px(14), _px(16)), f"MRN {MRN}   Ward 4", font=_font(_px(24)), fill=0)
    html = ('<style>@page { size: 6in 4in; margin: 0.3in } body { font: 16pt "DejaVu Sans" }</style>'
            "<p>Progress note, 10/11/2026.</p>"
            "<p>Oswestry index improved to 30%.</p>"
            f'<img src="{_data_uri(label)}" style="width: 3in; height: 0.7in">')
    return Hostile("id_label_pasted_as_picture", "1", html_to_pdf(html).pdf, ".pdf", ("mrn",), ("Oswestry",),
                   untrusted=(1,), what="typed note, patient-ID label as a picture")


def scan_with_misread_ocr_layer() -> Hostile:
    """A full-page scan whose scanner added an invisible OCR layer that misread 4486 as 44B6."""
    pdf = RawPdf()
    font = pdf.helvetica()
    lines = ["Lab requisition", f"MRN {MRN}", "Fasting glucose ordered"]
    picture = scan(lines, SMALL_PAGE, font_pt=20)
    image = pdf.gray_image(picture)
    # Invisible (render mode 3) text where the scanner thought the words were, with its misreading.
    top = SMALL_PAGE[1] - 24 - 20
    layer = "".join(_text(24, top - i * 32, line.replace(MRN, MRN_MISREAD), size=20, mode=3)
                    for i, line in enumerate(lines))
    content = _draw_image("Im0", 0, 0, *SMALL_PAGE) + layer
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("scan_with_misread_ocr_layer", "1", pdf.finish(), ".pdf", ("mrn",), ("glucose",),
                   untrusted=(1,), what="full-page scan, invisible OCR layer reads 44B61")


# --------------------------------------------------------------------------- class 2: only the glyphs show it


def type3_digits() -> Hostile:
    """The SSN's digits drawn by a Type3 font whose glyph procedures are DejaVu's outlines."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    procs, widths = {}, {}
    for char, code in _GLYPH_CODES.items():
        body, width = glyph_procedure(char)
        procs[f"g{code}"] = pdf.stream("", body.encode())
        widths[code] = width
    first, last = min(widths), max(widths)
    charprocs = " ".join(f"/{name} {ref} 0 R" for name, ref in procs.items())
    differences = " ".join(f"/g{code}" for code in range(first, last + 1))
    type3 = pdf.add(f"<< /Type /Font /Subtype /Type3 /FontBBox [0 -250 1600 1000] /FontMatrix [0.001 0 0 0.001 0 0]"
                    f" /CharProcs << {charprocs} >> /Encoding << /Type /Encoding /Differences [{first} {differences}] >>"
                    f" /FirstChar {first} /LastChar {last}"
                    f" /Widths [{' '.join(f'{widths[c]:.0f}' for c in range(first, last + 1))}] /Resources << >> >>")
    content = (_text(24, 220, "SSN", size=22) + _text(90, 220, _encode_digits(SSN), size=22, font="/T3")
               + _text(24, 160, "Straight-leg raise positive", size=18))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R /T3 {type3} 0 R >> >>")
    return Hostile("type3_digits", "2", pdf.finish(), ".pdf", ("ssn",), ("Straight-leg",), untrusted=(1,),
                   what="Type3 font, no ToUnicode, digits under codes A..K")


def no_tounicode_meaningless_names() -> Hostile:
    """An embedded TrueType font with no ToUnicode and a /Differences encoding of names like /g7."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    digits = _digit_font(pdf, to_unicode=None, meaningless_names=True)
    content = (_text(24, 220, "Phone", size=22) + _text(100, 220, _encode_digits("651-555-0182"), size=22, font="/F2")
               + _text(24, 160, "Lumbar flexion to mid-shin", size=18))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R /F2 {digits} 0 R >> >>")
    return Hostile("no_tounicode_meaningless_names", "2", pdf.finish(), ".pdf", ("phone",), ("flexion",),
                   untrusted=(1,), what="embedded font, no ToUnicode, /Differences /g1../g11")


def tounicode_private_use() -> Hostile:
    """A ToUnicode map that sends every digit to the Private Use Area (U+E000...)."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    lie = {code: chr(0xE000 + i) for i, code in enumerate(_GLYPH_CODES.values())}
    digits = _digit_font(pdf, to_unicode=lie, meaningless_names=False)
    content = (_text(24, 220, "SSN", size=22) + _text(90, 220, _encode_digits(SSN), size=22, font="/F2")
               + _text(24, 160, "Nerve glides tolerated", size=18))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R /F2 {digits} 0 R >> >>")
    return Hostile("tounicode_private_use", "2", pdf.finish(), ".pdf", ("ssn",), ("glides",), untrusted=(1,),
                   what="ToUnicode maps digits to U+E000..")


def tounicode_control_characters() -> Hostile:
    """A ToUnicode map that sends every digit to a control character (U+0010...)."""
    pdf = RawPdf()
    helvetica = pdf.helvetica()
    lie = {code: chr(0x10 + i) for i, code in enumerate(_GLYPH_CODES.values())}
    digits = _digit_font(pdf, to_unicode=lie, meaningless_names=False)
    content = (_text(24, 220, "MRN", size=22) + _text(90, 220, _encode_digits(MRN), size=22, font="/F2")
               + _text(24, 160, "Prone press-ups continued", size=18))
    pdf.page(content, f"<< /Font << /F1 {helvetica} 0 R /F2 {digits} 0 R >> >>")
    return Hostile("tounicode_control_characters", "2", pdf.finish(), ".pdf", ("mrn",), ("press-ups",),
                   untrusted=(1,), what="ToUnicode maps digits to U+0010..")


def actual_text_disguise() -> Hostile:
    """/ActualText on a marked-content span says something harmless while the glyphs draw the SSN."""
    pdf = RawPdf()
    font = pdf.helvetica()
    content = (_text(24, 220, "SSN", size=22)
               + "/Span << /ActualText (on file) >> BDC\n" + _text(90, 220, SSN, size=22) + "EMC\n"
               + _text(24, 160, "Core stabilisation progressed", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>")
    return Hostile("actual_text_disguise", "2", pdf.finish(), ".pdf", ("ssn",), ("stabilisation",),
                   untrusted=(1,), what="/ActualText (on file) over the SSN's glyphs")


def text_in_tiling_pattern() -> Hostile:
    """The SSN is the content of a tiling pattern's cell, used once to fill a rectangle."""
    pdf = RawPdf()
    font = pdf.helvetica()
    cell = _text(4, 10, f"SSN {SSN}", size=22)
    pattern = pdf.stream(f"/Type /Pattern /PatternType 1 /PaintType 1 /TilingType 1 /BBox [0 0 260 36]"
                         f" /XStep 260 /YStep 36 /Matrix [1 0 0 1 24 210]"
                         f" /Resources << /Font << /F1 {font} 0 R >> >>", cell.encode())
    content = ("q /Pattern cs /P0 scn 24 210 260 36 re f Q\n"
               + _text(24, 160, "Home program reviewed", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> /Pattern << /P0 {pattern} 0 R >> >>")
    return Hostile("text_in_tiling_pattern", "2", pdf.finish(), ".pdf", ("ssn",), ("program",), untrusted=(1,),
                   what="SSN drawn in a tiling pattern cell")


def text_as_outlines() -> Hostile:
    """The SSN converted to outlines: filled paths of DejaVu's glyphs, no text at all."""
    pdf = RawPdf()
    font = pdf.helvetica()
    paths, _ = outline_ops(f"SSN {SSN}", 24, 220, 22)
    content = "0 g\n" + paths + _text(24, 160, "Gait training scheduled", size=18)
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>")
    return Hostile("text_as_outlines", "2", pdf.finish(), ".pdf", ("ssn",), ("Gait",), untrusted=(1,),
                   what="SSN as filled glyph outlines")


# --------------------------------------------------------------------------- classes 3 and 4: what copying keeps


def jpeg_with_metadata() -> tuple[bytes, Image.Image]:
    """A wound photo whose JPEG carries the MRN in EXIF, XMP and a comment, but not in its pixels."""
    photo = scan(["Wound photo", "Left knee, day 14", "Granulation healthy"], (432, 200), font_pt=18)
    draw = ImageDraw.Draw(photo)
    draw.ellipse((_px(300), _px(20), _px(400), _px(120)), fill=140, outline=60, width=6)
    exif = Image.Exif()
    exif[0x010E] = f"Patient MRN {MRN}"            # ImageDescription
    exif[0x013B] = f"SSN {SSN}"                    # Artist
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>MRN {MRN}'
           f"</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>").encode()
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=90, dpi=(SCAN_DPI, SCAN_DPI), exif=exif, xmp=xmp, comment=f"chart MRN {MRN}".encode())
    return out.getvalue(), photo


def jpeg_metadata_on_clean_page() -> Hostile:
    """A page with no visible identifier whose JPEG carries the MRN and SSN in EXIF, XMP and COM."""
    data, photo = jpeg_with_metadata()
    pdf = RawPdf()
    image = pdf.jpeg_image(data, photo.width, photo.height)
    pdf.page(_draw_image("Im0", 0, 44, 432, 200), f"<< /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("jpeg_metadata_on_clean_page", "4", pdf.finish(), ".pdf", ("mrn", "ssn"), ("Granulation",),
                   visible=False, untrusted=(1,), what="JPEG EXIF/XMP/COM hold the MRN; pixels do not")


def jpeg_attachment_with_metadata() -> Hostile:
    """The same photo as a .jpg attachment."""
    data, _ = jpeg_with_metadata()
    return Hostile("jpeg_attachment_with_metadata", "4", data, ".jpg", ("mrn", "ssn"), ("Granulation",),
                   visible=False, untrusted=(1,), what="JPEG attachment, EXIF/XMP/COM hold the MRN")


def _two_part_scan() -> Image.Image:
    """A clinical line at the top (PDF y 190..244 when drawn at 0 44 432 200); the SSN at y 80..100."""
    return scan(["Lumbar flexion improved", "", "", "", f"SSN {SSN}"], (432, 200), font_pt=20, line_gap=1.5)


def samples_under_clip() -> Hostile:
    """An image whose lower part (with the SSN) lies outside the clipping path: drawn, never seen."""
    pdf = RawPdf()
    image = pdf.gray_image(_two_part_scan())
    # The picture spans y 44..244; the clip keeps its top 110 points.
    content = "q 0 134 432 110 re W n\n" + _draw_image("Im0", 0, 44, 432, 200) + "Q\n"
    pdf.page(content, f"<< /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("samples_under_clip", "4", pdf.finish(), ".pdf", ("ssn",), ("flexion",), visible=False,
                   untrusted=(1,), hidden_samples=True, what="SSN in the image outside the clip")


def samples_under_soft_mask() -> Hostile:
    """An image whose soft mask makes the part with the SSN fully transparent."""
    pdf = RawPdf()
    picture = _two_part_scan()
    mask = Image.new("L", picture.size, 255)
    ImageDraw.Draw(mask).rectangle((0, picture.height * 11 // 20, picture.width, picture.height), fill=0)
    smask = pdf.gray_image(mask)
    image = pdf.gray_image(picture, extra=f"/SMask {smask} 0 R")
    pdf.page(_draw_image("Im0", 0, 44, 432, 200), f"<< /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("samples_under_soft_mask", "4", pdf.finish(), ".pdf", ("ssn",), ("flexion",), visible=False,
                   untrusted=(1,), hidden_samples=True, what="SSN under a soft mask of 0")


def samples_under_black_box() -> Hostile:
    """A black rectangle drawn over the part of a scan that shows the SSN ("redaction" by box)."""
    pdf = RawPdf()
    image = pdf.gray_image(_two_part_scan())
    content = _draw_image("Im0", 0, 44, 432, 200) + "0 g 0 44 432 95 re f\n"
    pdf.page(content, f"<< /XObject << /Im0 {image} 0 R >> >>")
    return Hostile("samples_under_black_box", "4", pdf.finish(), ".pdf", ("ssn",), ("flexion",), visible=False,
                   untrusted=(1,), hidden_samples=True, what="SSN under a black box over a scan")


# --------------------------------------------------------------------------- class 5: Unicode spellings


_NOTE_STYLE = '<style>@page { size: 6in 4in; margin: 0.3in } body { font: 15pt "DejaVu Sans" } p { margin: 0 0 6pt }</style>'


def dash_separators() -> Hostile:
    """The SSN with en dash, U+2010, U+2011, figure dash and minus sign as separators."""
    from packetizer.render import html_to_pdf

    dashes = ["\u2013", "\u2010", "\u2011", "\u2012", "\u2212"]
    lines = "".join(f"<p>SSN {SSN.replace('-', dash)}</p>" for dash in dashes)
    html = _NOTE_STYLE + lines + "<p>Ambulation with cane</p>"
    return Hostile("dash_separators", "5", html_to_pdf(html).pdf, ".pdf", ("ssn",), ("Ambulation",),
                   what="SSN with five kinds of dash")


def _fullwidth_font_face() -> str:
    """An @font-face whose font shows full-width digits, hyphen and at-sign with DejaVu's ASCII shapes."""
    chars = {f"fw{i}": str(i) for i in range(10)} | {"fwhyphen": "-", "fwat": "@"}
    cmap = {0xFF10 + i: f"fw{i}" for i in range(10)} | {0xFF0D: "fwhyphen", 0xFF20: "fwat"}
    font, _ = truetype_subset(chars, cmap, symbolic=False)
    return ("@font-face { font-family: FullWidth; src: url(data:font/ttf;base64,"
            + base64.b64encode(font).decode() + ") }")


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "-" else c for c in text)


def fullwidth_digits_and_at() -> Hostile:
    """Full-width digits (SSN, phone) and a full-width ＠ in the email, in a font that shows them."""
    from packetizer.render import html_to_pdf

    html = ('<style>@page { size: 6in 4in; margin: 0.3in } body { font: 15pt FullWidth, "DejaVu Sans" }'
            + _fullwidth_font_face() + " p { margin: 0 0 6pt }</style>"
            + f"<p>SSN {_fullwidth(SSN)}</p>"
            + f"<p>Phone (６５１) {_fullwidth('555-0182')}</p>"
            + f"<p>{EMAIL.replace('@', '＠')}</p>"
            + "<p>Hamstring stretch daily</p>")
    return Hostile("fullwidth_digits_and_at", "5", html_to_pdf(html).pdf, ".pdf", ("ssn", "phone", "email"),
                   ("Hamstring",), what="full-width digits and ＠")


def zero_width_inside_numbers() -> Hostile:
    """Zero-width space, non-joiner, joiner, word joiner and BOM inside the SSN and the MRN.

    The glyphs are Helvetica's; a ToUnicode map adds the invisible characters to
    the text of some digits (layout engines drop them before they reach a PDF).
    """
    pdf = RawPdf()
    invisible = {"7": "7\u200b", "2": "\u200c2", "9": "9\u200d", "8": "8\u2060", "6": "\ufeff6"}
    mapping = {code: invisible.get(chr(code), chr(code)) for code in range(0x20, 0x7F)}
    to_unicode = _to_unicode_cmap(pdf, mapping)
    font = pdf.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding"
                   f" /ToUnicode {to_unicode} 0 R >>")
    content = (_text(24, 230, f"SSN {SSN}", size=20) + _text(24, 195, f"MRN {MRN}", size=20)
               + _text(24, 160, "Balance exercises added", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>")
    return Hostile("zero_width_inside_numbers", "5", pdf.finish(), ".pdf", ("ssn", "mrn"), ("Balance",),
                   what="zero-width characters inside numbers (in the ToUnicode map)")


# --------------------------------------------------------------------------- class 6: detection gaps


def ssn_one_digit_per_cell() -> Hostile:
    """A labelled SSN typed one digit per table cell (as intake forms print it)."""
    from packetizer.render import html_to_pdf

    cells = "".join(f"<td>{c}</td>" for c in SSN.replace("-", ""))
    html = (_NOTE_STYLE + "<style>td { border: 1px solid #000; padding: 2pt 5pt }</style>"
            + f"<table><tr><td>SSN</td>{cells}</tr></table>"
            + "<p>Intake form, page 1</p><p>Radiculopathy suspected</p>")
    return Hostile("ssn_one_digit_per_cell", "6", html_to_pdf(html).pdf, ".pdf", ("ssn",), ("Radiculopathy",),
                   what="SSN one digit per table cell")


def value_split_across_pages() -> Hostile:
    """The SSN broken by the page break: ``478-26-`` ends page 1, ``1935`` starts page 2."""
    from packetizer.render import html_to_pdf

    html = (_NOTE_STYLE + "<p>Sciatica history reviewed</p>"
            + "<p>Intake form lists SSN 478-26-</p>"
            + '<p style="break-before: page">1935 and no allergies.</p><p>Tolerated treatment well</p>')
    return Hostile("value_split_across_pages", "6", html_to_pdf(html).pdf, ".pdf", ("ssn",), ("Sciatica", "Tolerated"),
                   what="SSN split across a page break")


def value_joined_only_in_reading_order() -> Hostile:
    """The SSN broken by the page break where only a top-to-bottom reading joins it: ``478-26-`` ends page 1;
    page 2 draws five lines at its foot first and ``1935`` at its top last. PDFium reads page 2 in the order
    drawn (its head is those five lines, more than a running header has), poppler and Tesseract top to
    bottom (its head is ``1935``)."""
    pdf = RawPdf()
    font = pdf.helvetica()
    resources = f"<< /Font << /F1 {font} 0 R >> >>"
    pdf.page(_text(24, 240, "Tolerated treatment well") + _text(24, 30, "Intake form lists SSN 478-26-"), resources)
    foot = ["Gait steady, no device", "Home program reviewed", "Hip flexors stretched", "Ice after session",
            "Next visit in a week"]
    drawn_first = "".join(_text(24, 150 - 25 * n, line, size=14) for n, line in enumerate(foot))
    pdf.page(drawn_first + _text(24, 250, "1935 and no allergies"), resources)
    return Hostile("value_joined_only_in_reading_order", "6", pdf.finish(), ".pdf", ("ssn",),
                   ("Tolerated", "allergies"), untrusted=(1, 2),
                   what="SSN split across a page break, joined only in reading order")


def address_in_lower_case() -> Hostile:
    """The street line written in lower case in a note (for a case that keeps it under ``member.residence``)."""
    from packetizer.render import html_to_pdf

    html = _NOTE_STYLE + f"<p>Home visit at {STREET.lower()}, apt 4c.</p><p>Stair negotiation practised</p>"
    return Hostile("address_in_lower_case", "6", html_to_pdf(html).pdf, ".pdf", ("street",), ("negotiation",),
                   what="street line in lower case, case keeps it under an unknown key")


# --------------------------------------------------------------------------- class 7: private keys


def private_key_in_page_dictionary() -> Hostile:
    """An EHR export that left the patient's SSN and MRN under private keys of the page dictionary."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    from packetizer.render import html_to_pdf

    note = html_to_pdf(_NOTE_STYLE + "<p>Follow-up visit</p><p>Therapeutic exercise continued</p>").pdf
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(note)))
    page = writer.pages[0]
    page[NameObject("/PatientSSN")] = TextStringObject(SSN)
    page[NameObject("/PieceInfo")] = DictionaryObject({
        NameObject("/EHRExport"): DictionaryObject({
            NameObject("/Private"): DictionaryObject({NameObject("/MRN"): TextStringObject(MRN)}),
        }),
    })
    out = io.BytesIO()
    writer.write(out)
    return Hostile("private_key_in_page_dictionary", "7", out.getvalue(), ".pdf", ("ssn", "mrn"), ("Therapeutic",),
                   visible=False, what="/PatientSSN and /PieceInfo in the page dictionary")


# --------------------------------------------------------------------------- fax quality


FAX_LINES = ["FROM: JUNIPER PT  10/12/2026 09:14  P.1", "", "REFERRAL FOR THERAPY", f"SSN {SSN}",
             f"Phone {PHONE}", "Diagnosis: radiculopathy"]


def fax_page() -> Image.Image:
    """A Letter page at 204x196 dpi, 1 bit: a fax of a short referral."""
    return _fax_page().copy()


@lru_cache(maxsize=1)
def _fax_page() -> Image.Image:
    return to_fax(scan(FAX_LINES, LETTER, dpi=FAX_DPI, font_pt=16, margin_pt=54, noise=24, skew=0.4, seed=12))


def fax_tiff() -> Hostile:
    """The fax as the fax server stores it: a CCITT Group 4 TIFF."""
    return Hostile("fax_tiff", "fax", group4_tiff([fax_page()]), ".tif", ("ssn", "phone"), ("radiculopathy",),
                   untrusted=(1,), what="Letter fax, 204x196 dpi, Group 4 TIFF")


def fax_pdf_pages(frames: list[Image.Image], size: tuple[float, float] = LETTER) -> bytes:
    """Fax pages as a PDF of CCITT Group 4 images, one per page (Letter unless told)."""
    pdf = RawPdf()
    for data, width, height in group4_strips(group4_tiff(frames)):
        image = pdf.ccitt_image(data, width, height)
        pdf.page(_draw_image("Im0", 0, 0, *size), f"<< /XObject << /Im0 {image} 0 R >> >>", size=size)
    return pdf.finish()


def fax_pdf() -> Hostile:
    """The same fax as a PDF page holding the Group 4 image (/CCITTFaxDecode)."""
    return Hostile("fax_pdf", "fax", fax_pdf_pages([fax_page()]), ".pdf", ("ssn", "phone"), ("radiculopathy",),
                   untrusted=(1,), what="Letter fax, 204x196 dpi, CCITT G4 in a PDF")


# --------------------------------------------------------------------------- beyond the examples


def inline_image_scan() -> Hostile:
    """A typed header with the scanned part as an inline image (BI ... ID ... EI), not an XObject."""
    pdf = RawPdf()
    font = pdf.helvetica()
    picture = scan([f"SSN {SSN}", "Sciatic nerve irritation"], (432, 130), font_pt=18, dpi=(150, 150))
    inline = (f"q 432 0 0 130 0 70 cm BI /W {picture.width} /H {picture.height} /CS /G /BPC 8 /F /Fl ID ".encode()
              + zlib.compress(picture.tobytes(), 9) + b"\nEI Q\n")
    content = _text(24, 240, "Outpatient therapy record", size=16).encode() + inline
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>")
    return Hostile("inline_image_scan", "1", pdf.finish(), ".pdf", ("ssn",), ("Sciatic",), untrusted=(1,),
                   what="text header, scan as an inline image")


def stencil_mask_digits() -> Hostile:
    """The MRN painted through a 1-bit stencil mask (/ImageMask true) in the fill colour."""
    pdf = RawPdf()
    font = pdf.helvetica()
    picture = scan([f"MRN {MRN}"], (300, 50), font_pt=22, margin_pt=8, dpi=(200, 200))
    bits = picture.point(lambda p: 0 if p < 128 else 255).convert("1")
    # /ImageMask: 0 samples are painted (with /Decode [0 1]); PIL's "1" packs black as 0.
    mask = pdf.stream(f"/Type /XObject /Subtype /Image /Width {bits.width} /Height {bits.height} /ImageMask true"
                      f" /BitsPerComponent 1 /Decode [0 1]", bits.tobytes())
    content = ("0.1 0.1 0.4 rg " + _draw_image("M0", 24, 200, 300, 50) + "0 g "
               + _text(24, 150, "Dry needling declined", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> /XObject << /M0 {mask} 0 R >> >>")
    return Hostile("stencil_mask_digits", "2", pdf.finish(), ".pdf", ("mrn",), ("needling",), untrusted=(1,),
                   what="MRN as a stencil image mask painted in blue")


def hidden_layer_text() -> Hostile:
    """The SSN in an optional-content layer that is switched off: no reader sees it, extractors may read it."""
    pdf = RawPdf()
    font = pdf.helvetica()
    group = pdf.add("<< /Type /OCG /Name (Intake) >>")
    content = ("/OC /L0 BDC\n" + _text(24, 220, f"SSN {SSN}", size=20) + "EMC\n"
               + _text(24, 160, "Piriformis stretch taught", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> /Properties << /L0 {group} 0 R >> >>")
    data = pdf.finish()
    # The catalog names the layer and switches it off.
    data = data.replace(b"<< /Type /Catalog /Pages 2 0 R >>",
                        f"<< /Type /Catalog /Pages 2 0 R /OCProperties << /OCGs [{group} 0 R] /D << /OFF [{group} 0 R]"
                        f" /Order [{group} 0 R] >> >> >>".encode(), 1)
    return Hostile("hidden_layer_text", "hidden", _fix_xref(data), ".pdf", ("ssn",), ("Piriformis",), visible=False,
                   what="SSN in an optional-content layer that is off")


def white_text() -> Hostile:
    """The phone number in white on the white page: nothing to see, everything to extract."""
    pdf = RawPdf()
    font = pdf.helvetica()
    content = ("1 g " + _text(24, 220, f"Phone {PHONE}", size=20) + "0 g "
               + _text(24, 160, "Quadriceps strength 4/5", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>")
    return Hostile("white_text", "hidden", pdf.finish(), ".pdf", ("phone",), ("Quadriceps",), visible=False,
                   what="phone number in white text")


def text_outside_crop_box() -> Hostile:
    """The street address drawn in the part of the MediaBox that the CropBox cuts away."""
    pdf = RawPdf()
    font = pdf.helvetica()
    content = (_text(24, 330, f"Lives at {STREET}", size=18) + _text(24, 160, "Lumbar traction discontinued", size=18))
    pdf.page(content, f"<< /Font << /F1 {font} 0 R >> >>", size=(432, 380), extra="/CropBox [0 0 432 288] ")
    return Hostile("text_outside_crop_box", "hidden", pdf.finish(), ".pdf", ("street",), ("traction",), visible=False,
                   what="street address outside the crop box")


def upside_down_fax() -> Hostile:
    """A fax page that went through the machine upside down: a reader turns it and reads the SSN."""
    page = scan(FAX_LINES, (612, 396), dpi=FAX_DPI, font_pt=18, margin_pt=40, noise=20, seed=7)
    page = to_fax(page.rotate(180))
    return Hostile("upside_down_fax", "fax", fax_pdf_pages([page], size=(612, 396)), ".pdf", ("ssn", "phone"),
                   ("radiculopathy",), untrusted=(1,), read_rotated=True, what="fax page upside down, G4 in a PDF")


def _fix_xref(data: bytes) -> bytes:
    """Rewrite the cross-reference table of a :class:`RawPdf` file after its bytes were edited."""
    body = data[:data.rindex(b"\nxref\n") + 1]
    offsets = [m.start() for m in re.finditer(rb"(?m)^\d+ 0 obj\n", body)]
    out = io.BytesIO()
    out.write(body)
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return out.getvalue()


# --------------------------------------------------------------------------- the control


def clean_vector_note() -> Hostile:
    """A typed note with a trustworthy text layer and nothing to remove: it must stay vector."""
    from packetizer.render import html_to_pdf

    html = _NOTE_STYLE + "<p>Therapeutic exercise, 3 units</p><p>Rendering NPI 1234567893</p><p>Piriformis release</p>"
    return Hostile("clean_vector_note", "control", html_to_pdf(html).pdf, ".pdf", (), ("Piriformis",),
                   what="clean WeasyPrint note")


GENERATORS: dict[str, Callable[[], Hostile]] = {
    function.__name__: function
    for function in (
        scan_body_under_text_header, id_label_pasted_as_picture, scan_with_misread_ocr_layer,
        type3_digits, no_tounicode_meaningless_names, tounicode_private_use, tounicode_control_characters,
        actual_text_disguise, text_in_tiling_pattern, text_as_outlines,
        jpeg_metadata_on_clean_page, jpeg_attachment_with_metadata, samples_under_clip, samples_under_soft_mask,
        samples_under_black_box,
        dash_separators, fullwidth_digits_and_at, zero_width_inside_numbers,
        ssn_one_digit_per_cell, value_split_across_pages, value_joined_only_in_reading_order,
        private_key_in_page_dictionary,
        fax_tiff, fax_pdf,
        inline_image_scan, stencil_mask_digits, hidden_layer_text, white_text, text_outside_crop_box,
        upside_down_fax,
    )
}


# --------------------------------------------------------------------------- reading a document back
#
# How the tests and the benchmark judge a redacted document: as its readers do. Text by pypdf and
# by PDFium; the file as a forensic dump; the pages rendered at READ_DPI and read by real Tesseract.

READ_DPI = 300

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


def squash(text: str) -> str:
    """Letters and digits only, folded: how a word is looked for."""
    return re.sub(r"[^0-9a-z]", "", fold(text))


def pypdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def pdfium_pages(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def render_pages(pdf: bytes, turns: tuple[int, ...] = (0,)) -> list[bytes]:
    """Every page as a grey picture (PGM bytes) at READ_DPI, as a reader's screen or printer shows it (PDFium: not thread-safe).

    With ``turns`` each page comes once per angle (degrees), as a reader turns a page that came sideways.
    """
    document = pdfium.PdfDocument(pdf)
    try:
        pictures = []
        for i in range(len(document)):
            page = document[i].render(scale=READ_DPI / 72, grayscale=True).to_pil().convert("L")
            pictures += [_pnm(page.rotate(turn, expand=True) if turn else page) for turn in turns]
        return pictures
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
            pictures.append(_pnm(picture))
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


class TesseractBatch:
    """Real Tesseract 5 reading pictures in the background (page segmentation 3, as a reader's OCR tool runs it).

    The pictures are shared among ``processes`` Tesseract processes, each reading its share as one
    batch (the model loads once per process, not once per picture) on one thread (OMP_THREAD_LIMIT).
    They start at once and write to files, so the caller can go on working (one process uses the
    core a one-page redaction leaves idle) and collect the texts with :meth:`texts`. Tesseract is
    run directly, not through pytesseract, for the batch, the thread limit and the background.
    """

    def __init__(self, pictures: list[bytes], processes: int = max(2, os.cpu_count() or 2)) -> None:
        self._count = len(pictures)
        self._processes = processes
        self._folder = tempfile.TemporaryDirectory()
        folder = Path(self._folder.name)
        paths = []
        for index, picture in enumerate(pictures):
            path = folder / f"{index:04d}.pnm"
            path.write_bytes(picture)
            paths.append(str(path))
        self._runs = []
        for worker in range(processes):
            share = paths[worker::processes]
            if not share:
                continue
            listing = folder / f"list-{worker}.txt"
            listing.write_text("\n".join(share) + "\n")
            out, err = folder / f"out-{worker}", open(folder / f"err-{worker}.txt", "wb")
            process = subprocess.Popen(["tesseract", str(listing), str(out), "-l", "eng", "--psm", "3"],
                                       stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                       env={**os.environ, "OMP_THREAD_LIMIT": "1"})
            self._runs.append((worker, len(share), out, err, process))

    def texts(self) -> list[str]:
        """The text read on each picture, in order (waits for Tesseract)."""
        texts: list[str] = [""] * self._count
        try:
            for worker, count, out, err, process in self._runs:
                code = process.wait(timeout=600)
                err.close()
                assert code == 0, Path(err.name).read_text(errors="replace")[-500:]
                # A form feed separates the texts of the pictures (empty pictures too).
                share = Path(f"{out}.txt").read_text(encoding="utf-8", errors="replace").split("\f")
                if len(share) == count + 1 and not share[-1].strip():
                    share.pop()
                assert len(share) == count, (len(share), count)
                for position, text in enumerate(share):
                    texts[worker + position * self._processes] = text
        finally:
            for *_, err, process in self._runs:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                err.close()
            self._folder.cleanup()
        return texts


def tesseract(pictures: list[bytes], processes: int = max(2, os.cpu_count() or 2)) -> list[str]:
    """Real Tesseract 5 on each picture, read by ``processes`` processes side by side (see :class:`TesseractBatch`)."""
    return TesseractBatch(pictures, processes).texts() if pictures else []

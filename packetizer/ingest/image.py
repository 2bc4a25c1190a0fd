"""Image attachments (PNG, JPEG, multi-page TIFF) -> one Letter page per frame.

Each frame is decoded by Pillow (so a damaged or hostile file fails here, not
in a viewer), turned upright by its EXIF orientation, and re-encoded from
pixels alone: EXIF, XMP, ICC, comments and text chunks do not survive.
JPEG sources stay JPEG (with the original quantisation tables when no rotation
was needed, so quality is not lost again); everything else is stored
losslessly as PNG-predicted Flate data. The PDF is written by hand: it is a
handful of objects, and writing them ourselves keeps the bytes a pure function
of the pixels (no dates, no producer, no random file id).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from contextlib import contextmanager

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import IngestError, LimitExceeded
from ..limits import MAX_IMAGE_PIXELS, MAX_TIFF_FRAMES

# US Letter in points, and the box an image may fill: 0.5 in at the top and
# sides; 0.75 in at the bottom, which keeps the 0.6 in footer-stamp band clear.
LETTER = (612.0, 792.0)
MARGIN_TOP = MARGIN_SIDE = 36.0
MARGIN_BOTTOM = 54.0
_DEFAULT_DPI = 72.0
_SANE_DPI = (50.0, 1200.0)
_JPEG_REENCODE_QUALITY = 92   # only when a JPEG had to be rotated or converted (CMYK)
# Phones save multi-picture JPEGs ("MPO"); the first picture is an ordinary JPEG.
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})


def images_to_pdf(data: bytes, *, name: str) -> tuple[bytes, int]:
    """Place every frame of an image file on its own Letter page.

    Args:
        data: the file's bytes (PNG, JPEG or TIFF).
        name: the attachment's file name as the user gave it (for messages).

    Returns:
        (pdf bytes, page count).

    Raises:
        LimitExceeded: a frame over MAX_IMAGE_PIXELS, or more than MAX_TIFF_FRAMES frames.
        IngestError: the image cannot be decoded.
    """
    image = _open(data, name)
    pages = []
    try:
        with _strict_decoding():
            for index in range(_frame_count(image, name)):
                image.seek(index)
                pages.append(_page(_encode_frame(image, name, index)))
    except (OSError, ValueError, SyntaxError, struct.error, EOFError):
        # Pillow reports truncated or corrupt data with any of these.
        raise IngestError("the image is damaged and cannot be read", subject=name) from None
    return _write_pdf(pages), len(pages)


@contextmanager
def _strict_decoding():
    """Make Pillow fail on truncated data while we decode.

    WeasyPrint switches Pillow's global LOAD_TRUNCATED_IMAGES on when it is
    imported, which grey-fills whatever is missing: a cut-off scan must be
    refused, not sent to a payer half blank. Images we hand to WeasyPrint are
    already fully decoded and re-encoded here, so it never needs the leniency.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _open(data: bytes, name: str) -> Image.Image:
    # Pillow's own bomb check runs at a higher, global threshold; ours is the
    # one that decides, so its early warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = found.group(1) if found else "too many"
            raise LimitExceeded(
                f"{size} pixels > MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS})", subject=name
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error):
            raise IngestError("the image is damaged and cannot be read", subject=name) from None


def _frame_count(image: Image.Image, name: str) -> int:
    """Frames to render: every TIFF page; PNG and JPEG only their first (no APNG or MPO extras)."""
    if image.format != "TIFF":
        return 1
    # Walk the frames ourselves, stopping one past the limit, rather than ask
    # n_frames, which follows the whole (possibly endless) IFD chain.
    count = 0
    while count <= MAX_TIFF_FRAMES:
        try:
            image.seek(count)
        except EOFError:
            break
        count += 1
    if count > MAX_TIFF_FRAMES:
        raise LimitExceeded(f"{count}+ frames > MAX_TIFF_FRAMES ({MAX_TIFF_FRAMES})", subject=name)
    return count


class _Frame:
    """One frame ready for a PDF image XObject."""

    def __init__(self, width, height, colorspace, bits, filter_, data, decode_parms=None, dpi=None):
        self.width = width
        self.height = height
        self.colorspace = colorspace
        self.bits = bits
        self.filter = filter_
        self.data = data
        self.decode_parms = decode_parms
        self.dpi = dpi


def clean_image(data: bytes, *, name: str) -> tuple[str, bytes]:
    """Re-encode a PNG or JPEG from its pixels alone (for pictures inside DOCX files).

    Returns:
        (MIME type, image bytes) with no metadata, turned upright.

    Raises:
        LimitExceeded: more than MAX_IMAGE_PIXELS pixels.
        IngestError: not a PNG or JPEG, or cannot be decoded.
    """
    image = _open(data, name)
    if image.format != "PNG" and image.format not in _JPEG_FORMATS:
        raise IngestError("contains an image that is not PNG or JPEG", subject=name)
    try:
        with _strict_decoding():
            pixels, keep_jpeg, _ = _prepare(image, name, 0)
        buffer = io.BytesIO()
        if keep_jpeg:
            pixels.save(buffer, format="JPEG", quality="keep", subsampling="keep")
            return "image/jpeg", buffer.getvalue()
        pixels.info = {}
        if image.format in _JPEG_FORMATS and pixels.mode in ("L", "RGB"):
            pixels.save(buffer, format="JPEG", quality=_JPEG_REENCODE_QUALITY)
            return "image/jpeg", buffer.getvalue()
        pixels.save(buffer, format="PNG", compress_level=6)
        return "image/png", buffer.getvalue()
    except (OSError, ValueError, SyntaxError, struct.error, EOFError):
        raise IngestError("contains an image that is damaged", subject=name) from None


def _prepare(image: Image.Image, name: str, index: int):
    """Check the frame's size, decode it and turn it upright.

    Returns:
        (image, keep_jpeg, dpi): ``keep_jpeg`` says the image is the untouched
        JPEG source, which can be re-saved with its own quantisation tables.
    """
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise LimitExceeded(
            f"image frame {index + 1} has {width}x{height} = {width * height} pixels"
            f" > MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS})", subject=name
        )
    if width == 0 or height == 0:
        raise IngestError("the image is damaged and cannot be read", subject=name)
    dpi = _dpi(image)
    orientation = image.getexif().get(0x0112, 1)
    image.load()
    # Pillow keeps quantisation tables only for plain JPEG sources, not MPO ones.
    if image.format == "JPEG" and orientation in (1, None) and image.mode in ("L", "RGB"):
        image.info = {}   # Pillow's JPEG writer copies a comment (and more) from .info
        return image, True, dpi
    upright = ImageOps.exif_transpose(image) if orientation not in (1, None) else image
    if orientation in (5, 6, 7, 8) and dpi:
        dpi = (dpi[1], dpi[0])
    return _flatten_mode(upright), False, dpi


def _encode_frame(image: Image.Image, name: str, index: int) -> _Frame:
    source_format = image.format
    pixels, keep_jpeg, dpi = _prepare(image, name, index)
    if keep_jpeg:
        # Same quantisation tables and subsampling: no further loss.
        return _jpeg_frame(pixels, quality="keep", subsampling="keep", dpi=dpi)
    if source_format in _JPEG_FORMATS and pixels.mode in ("L", "RGB"):
        return _jpeg_frame(pixels, quality=_JPEG_REENCODE_QUALITY, dpi=dpi)
    return _png_frame(pixels, dpi)


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in image.info.get("dpi", ()))
    except (TypeError, ValueError):
        return None
    low, high = _SANE_DPI
    return (x, y) if low <= x <= high and low <= y <= high else None


def _flatten_mode(image: Image.Image) -> Image.Image:
    """Reduce any Pillow mode to 1-bit, grey or RGB, composing transparency on white."""
    mode = image.mode
    if mode in ("1", "L", "RGB"):
        return image
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        composed = Image.alpha_composite(background, rgba).convert("RGB")
        return composed.convert("L") if mode in ("LA", "La") else composed
    if mode.startswith("I") or mode == "F":
        # 16-bit and float greys (X-ray exports): stretch the used range to 8 bits.
        wide = image.convert("F")
        low, high = wide.getextrema()
        scale = 255.0 / (high - low) if high > low else 0.0
        return wide.point(lambda v: (v - low) * scale).convert("L")
    return image.convert("RGB")   # P, CMYK, YCbCr, LAB, HSV


def _jpeg_frame(image: Image.Image, *, dpi, **options) -> _Frame:
    image.info = {}   # Pillow's JPEG writer copies a comment (and more) from .info
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", optimize=False, progressive=False, **options)
    colorspace = "/DeviceGray" if image.mode == "L" else "/DeviceRGB"
    return _Frame(image.width, image.height, colorspace, 8, "/DCTDecode", buffer.getvalue(), dpi=dpi)


def _png_frame(image: Image.Image, dpi) -> _Frame:
    """Lossless: PNG-encode with Pillow and reuse its IDAT stream as PDF Flate data with predictors."""
    image.info = {}   # only IDAT is used, but nothing else should even be written
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    idat = _png_idat(buffer.getvalue())
    bits = 1 if image.mode == "1" else 8
    colors = 3 if image.mode == "RGB" else 1
    colorspace = "/DeviceRGB" if colors == 3 else "/DeviceGray"
    parms = f"<< /Predictor 15 /Colors {colors} /BitsPerComponent {bits} /Columns {image.width} >>"
    return _Frame(image.width, image.height, colorspace, bits, "/FlateDecode", idat, parms, dpi)


def _png_idat(png: bytes) -> bytes:
    chunks = []
    position = 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        if kind == b"IDAT":
            chunks.append(png[position + 8 : position + 8 + length])
        position += 12 + length
    return b"".join(chunks)


def _page(frame: _Frame) -> tuple[_Frame, float, float, tuple[float, ...]]:
    """Page size and the matrix that places the frame: shrink to fit, never enlarge past natural size."""
    dpi_x, dpi_y = frame.dpi or (_DEFAULT_DPI, _DEFAULT_DPI)
    natural_w = frame.width * 72.0 / dpi_x
    natural_h = frame.height * 72.0 / dpi_y
    page_w, page_h = LETTER if natural_h >= natural_w else (LETTER[1], LETTER[0])
    box_w = page_w - 2 * MARGIN_SIDE
    box_h = page_h - MARGIN_TOP - MARGIN_BOTTOM
    scale = min(box_w / natural_w, box_h / natural_h, 1.0)
    draw_w, draw_h = natural_w * scale, natural_h * scale
    x = (page_w - draw_w) / 2
    y = page_h - MARGIN_TOP - draw_h
    return frame, page_w, page_h, (draw_w, 0.0, 0.0, draw_h, x, y)


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _write_pdf(pages) -> bytes:
    """Serialise pages (one image each) as a minimal PDF 1.4 file."""
    objects: list[bytes] = []   # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")   # filled in once the page tree exists
    tree = add(b"")
    kids = []
    for frame, page_w, page_h, matrix in pages:
        dictionary = (
            f"<< /Type /XObject /Subtype /Image /Width {frame.width} /Height {frame.height}"
            f" /ColorSpace {frame.colorspace} /BitsPerComponent {frame.bits}"
            f" /Filter {frame.filter}"
            + (f" /DecodeParms {frame.decode_parms}" if frame.decode_parms else "")
            + f" /Length {len(frame.data)} >>"
        )
        image = add(dictionary.encode() + b"\nstream\n" + frame.data + b"\nendstream")
        content = f"q {' '.join(_num(v) for v in matrix)} cm /Im0 Do Q".encode()
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(
            add(
                (
                    f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {_num(page_w)} {_num(page_h)}]"
                    f" /Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {stream} 0 R >>"
                ).encode()
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    refs = " ".join(f"{kid} 0 R" for kid in kids)
    objects[tree - 1] = f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode()

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, catalog, xref)
    )
    return out.getvalue()


"""Text, Markdown and image attachments: escaped, decoded, fitted to Letter pages, metadata-free."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import struct
import time
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader

from packetizer.errors import IngestError, LimitExceeded
from packetizer.ingest import ingest_attachment
from packetizer.ingest.text import markdown_to_html, text_to_html
from packetizer.limits import MAX_IMAGE_PIXELS, MAX_TEXT_CHARS, MAX_TIFF_FRAMES
from packetizer.model import Attachment

FOOTER_BAND = 0.6 * 72   # the bottom 0.6 in stays clear for the footer stamp


def attachment(path: Path, file: str | None = None) -> Attachment:
    return Attachment(file=file or path.name, path=path, kind="clinical_note", date=dt.date(2026, 9, 14))


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------


def test_plain_text_is_escaped_and_preformatted(tmp_path):
    """This test ensures markup in a .txt note is shown literally inside <pre>, never interpreted."""
    note = "Vitals:\tBP 120/80\n<script>alert('x')</script> & <b>not bold</b>\n    indented line\n"
    html = text_to_html(note.encode(), name="n.txt")
    assert html.startswith("<pre>") and "<script>" not in html and "&lt;script&gt;" in html
    exhibit = ingest_attachment(attachment(write(tmp_path, "n.txt", note)))
    text = pdf_text(exhibit.pdf)
    assert "<script>alert('x')</script> & <b>not bold</b>" in text
    assert "indented line" in text
    assert exhibit.unchecked_pages == ()


def transcribed_operative_note() -> str:
    """A long operative note as a scraped transcription holds one: about 10 KB on a single line,
    the line breaks turned into "," (``PROCEDURE:,1. ...``), full of slashes, hyphens and numbers.
    Written for this test; names and events are invented."""
    head = (
        "PREOPERATIVE DIAGNOSES:, L3-L4 and L4-L5 degenerative disk disease/foraminal stenosis/spondylolisthesis "
        "(grade I) with bilateral radiculopathy.,POSTOPERATIVE DIAGNOSES:, Same.,PROCEDURES:,1. Right L3-L4 and "
        "L4-L5 transforaminal lumbar interbody fusion.,2. L3 to L5 pedicle screw/rod fixation (titanium, 6.5 x 45 mm "
        "screws).,3. Left posterolateral L3 to L5 fusion with local autograft/allograft chips.,4. Intraoperative "
        "fluoroscopy/neuromonitoring (SSEP/EMG).,ANESTHESIA:, General endotracheal.,ESTIMATED BLOOD LOSS:, 450 mL.,"
        "DRAINS:, One 10-French Hemovac.,COMPLICATIONS:, None apparent.,INDICATIONS:, The patient is a 58-year-old "
        "retired mail carrier with 3 years of low-back and right-leg pain, worse on standing/walking, who failed "
        "physical therapy x2, NSAIDs and three epidural steroid injections. MRI/CT myelography showed the "
        "above-noted findings. Risks, benefits and alternatives (including continued non-operative care) were "
        "discussed at length with the patient and her husband; she wished to proceed.,DESCRIPTION OF PROCEDURE:, "
    )
    steps = []
    levels = ("L3-L4", "L4-L5", "L3/L4", "L4/L5")
    sides = ("right", "left", "midline", "far-lateral")
    for number, (level, side) in enumerate([(level, side) for level in levels for side in sides], start=1):
        steps.append(
            f"{number}. At {level} on the {side}, the soft tissues were dissected subperiosteally with Cobb "
            f"elevator/monopolar cautery; the facet capsule was opened, the pars/lamina exposed and a "
            f"{10 + number}-mm window made with a high-speed burr. Bleeding from epidural veins was controlled "
            f"with bipolar cautery and thrombin-soaked Gelfoam; counts at step {number} were correct x2. "
            f"Neuromonitoring showed stable SSEP/EMG with thresholds above {number + 7} mA for each screw, "
            f"and fluoroscopy (AP/lateral) confirmed trajectory number {number} before the next level.,"
        )
    tail = (
        "CLOSURE:, The wound was irrigated with 3 L of saline/bacitracin, the Hemovac brought out through a "
        "separate stab incision, the fascia closed with 0-Vicryl, subcutaneous tissue with 2-0 Vicryl and skin "
        "with staples.,DISPOSITION:, Extubated in the operating room and taken to recovery awake, moving both "
        "lower extremities, with plans for ambulation on postoperative day one under physical-therapy supervision."
    )
    return head + "".join(steps) + tail


def test_long_transcribed_note_renders_all_its_text(tmp_path):
    """This test ensures a long multi-section note on one line comes through word for word."""
    source = transcribed_operative_note()
    assert len(source) > 9000 and "\n" not in source
    path = write(tmp_path, "2026-09-14-operative-note.txt", source)
    exhibit = ingest_attachment(attachment(path))
    assert exhibit.pages > 1   # the one line wraps over several pages
    text = flat(pdf_text(exhibit.pdf))
    words = source.split()
    # Compared without whitespace: the layout may wrap a line after any slash or hyphen.
    squashed = "".join(text.split())
    assert "".join(words[:12]) in squashed
    assert "".join(words[-12:]) in squashed
    assert "".join(words) in squashed   # every word, in order, none lost at a page break


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("café “quoted” — ok".encode("utf-8"), "café “quoted” — ok"),
        ("\ufeffBOM first".encode("utf-8"), "BOM first"),
        ("café “quoted”".encode("cp1252"), "café “quoted”"),
        (b"legacy \x81 byte \xe9", "legacy \x81 byte é"),    # 0x81 is unassigned in cp1252: latin-1
        ("UTF-16 note é".encode("utf-16"), "UTF-16 note é"),
    ],
    ids=["utf8", "utf8-bom", "cp1252", "latin1", "utf16-bom"],
)
def test_encodings_fall_back_in_order(raw, expected):
    """This test ensures UTF-8 (with or without BOM), UTF-16 by BOM, cp1252 and latin-1 decode."""
    html = text_to_html(raw, name="n.txt")
    assert html == f"<pre>{expected.replace('&', '&amp;')}</pre>"


def test_control_characters_are_dropped_and_form_feed_breaks_pages():
    """This test ensures stray control bytes vanish and a form feed starts a new page block."""
    html = text_to_html(b"page one\x07\x1b\n\fpage two", name="n.txt")
    assert html == '<pre>page one</pre>\n<pre class="page-break">page two</pre>'


def test_whitespace_only_note_says_so(tmp_path):
    """This test ensures an effectively empty note becomes a page saying it has no text."""
    exhibit = ingest_attachment(attachment(write(tmp_path, "blank.txt", "  \n\t\n")))
    assert "This document has no text." in pdf_text(exhibit.pdf)


def test_text_over_the_character_limit_is_refused(tmp_path):
    """This test ensures a note over MAX_TEXT_CHARS raises LimitExceeded with value > limit."""
    path = write(tmp_path, "long.txt", "a" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == f"long.txt: {MAX_TEXT_CHARS + 1} characters > MAX_TEXT_CHARS ({MAX_TEXT_CHARS})"


def test_binary_content_named_txt_is_refused(tmp_path):
    """This test ensures a binary file renamed to .txt is refused by content."""
    path = write(tmp_path, "scan.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(IngestError, match=r"^scan\.txt: not a text file \(content does not match the \.txt extension\)$"):
        ingest_attachment(attachment(path))


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

MARKDOWN = """# Progress note

Patient **tolerated** therapy *well*; see _plan_ below.
Raw <img src=x onerror=alert(1)> and [portal](https://evil.example/x(1)) link.

## Plan

- stretch daily
- strengthen
  - core
  - hips
- review in `2 weeks`

1. first
2. second

> quoted **advice**

| Code | Units |
|------|------:|
| 97110 | 4 |

```
<raw> & code
```
Final line with \\*literal asterisks\\*.
"""


def test_markdown_structure_is_converted():
    """This test ensures headings, paragraphs, nested lists, emphasis, quotes, tables and code convert."""
    html = markdown_to_html(MARKDOWN.encode(), name="n.md")
    assert "<h2>Progress note</h2>" in html and "<h3>Plan</h3>" in html
    assert "<strong>tolerated</strong>" in html and "<em>well</em>" in html and "<em>plan</em>" in html
    compact = html.replace("\n", "")
    assert "<ul><li>stretch daily</li><li>strengthen<ul><li>core</li><li>hips</li></ul></li><li>review in <code>2 weeks</code></li></ul>" in compact
    assert "<ol><li>first</li><li>second</li></ol>" in compact
    assert "<blockquote><p>quoted <strong>advice</strong></p></blockquote>" in compact
    assert "<table><thead><tr><th>Code</th><th>Units</th></tr></thead><tbody><tr><td>97110</td><td>4</td></tr></tbody></table>" in compact
    assert "<pre>&lt;raw&gt; &amp; code</pre>" in html
    assert "Final line with *literal asterisks*." in html


def test_markdown_never_passes_html_or_links_through(tmp_path):
    """This test ensures raw HTML is escaped and links keep only their text (no URL, no PDF link)."""
    html = markdown_to_html(MARKDOWN.encode(), name="n.md")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "evil.example" not in html and " portal link" in html
    exhibit = ingest_attachment(attachment(write(tmp_path, "n.md", MARKDOWN)))
    assert b"/URI" not in exhibit.pdf and b"/Annots" not in exhibit.pdf
    text = flat(pdf_text(exhibit.pdf))
    assert "Raw <img src=x onerror=alert(1)> and portal link." in text
    assert text.index("Progress note") < text.index("stretch daily") < text.index("97110") < text.index("Final line")


def test_markdown_html_blocks_reference_links_and_deep_nesting_stay_text():
    """This test ensures an HTML block, a reference-style link and its definition and an autolink come out
    as escaped text with only the fixed, attribute-free tags and no link; that a line shaped like a link
    definition stays as written (the parser would drop it); and that a note nested deeper than the parser
    goes, or a table row with more cells than its header, is shown as written rather than losing text."""
    note = ("<script>alert(1)</script>\n\n<div style='x'>block</div>\n\nSee [the portal][p] and <https://a.example/x>.\n\n"
            "[p]: https://evil.example/track\n")
    out = markdown_to_html(note.encode(), name="n.md")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;div style=&#x27;x&#x27;&gt;block&lt;/div&gt;" in out
    assert "See [the portal][p] and https://a.example/x." in out and "[p]: https://evil.example/track" in out
    assert set(re.findall(r"</?([a-z0-9]+)", out)) == {"p"}
    assert "[Dx]: hypertension, stage 2" in markdown_to_html(b"[Dx]: hypertension, stage 2\n", name="n.md")
    wide = markdown_to_html(b"| Code | Units |\n|---|---|\n| 97110 | 4 | left knee |\n", name="n.md")
    assert wide.startswith("<pre>") and "left knee" in wide
    assert not re.search(r"<[a-z0-9]+ ", out)    # no tag carries an attribute

    deep = markdown_to_html(("Intro\n\n" + "> " * 1000 + "deep *finding*\n\nafter\n").encode(), name="n.md")
    assert deep.startswith("<pre>") and "deep *finding*" in deep and "after" in deep
    assert markdown_to_html(("> " * 5 + "five deep\n").encode(), name="n.md").count("<blockquote>") == 5


def test_markdown_extension_variants_and_determinism(tmp_path, monkeypatch):
    """This test ensures .markdown is accepted and the same note renders to the same bytes.

    WeasyPrint's font subsetter stamps the current time into each embedded
    font unless SOURCE_DATE_EPOCH is set, as packet builds set it.
    """
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    path = write(tmp_path, "n.markdown", MARKDOWN)
    first = ingest_attachment(attachment(path)).pdf
    time.sleep(1.05)   # cross a second boundary: a clock-dependent byte would show
    assert ingest_attachment(attachment(path)).pdf == first


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


def image_bytes(mode: str, size: tuple[int, int], fmt: str, **options) -> bytes:
    colour = {"RGB": (200, 120, 40), "L": 180, "1": 1, "RGBA": (0, 0, 255, 120), "I;16": 3000}[mode]
    image = Image.new(mode, size, colour)
    if mode in ("RGB", "L", "1", "RGBA"):
        ImageDraw.Draw(image).rectangle([0, 0, size[0] // 3, size[1] // 3], fill=0 if mode in ("L", "1") else (0, 0, 0) if mode == "RGB" else (0, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def placement(pdf: bytes, index: int = 0) -> tuple[tuple[float, float], tuple[float, ...]]:
    """(page size, image matrix a b c d e f) of one page."""
    page = PdfReader(io.BytesIO(pdf)).pages[index]
    numbers = re.search(rb"q ([-\d. ]+) cm /Im0 Do Q", page.get_contents().get_data()).group(1).split()
    return (float(page.mediabox.width), float(page.mediabox.height)), tuple(float(n) for n in numbers)


@pytest.mark.parametrize(
    "name, data, page_size",
    [
        ("scan.png", image_bytes("RGB", (1700, 2200), "PNG", dpi=(200, 200)), (612, 792)),
        ("wide.png", image_bytes("RGB", (1600, 900), "PNG"), (792, 612)),
        ("alpha.png", image_bytes("RGBA", (300, 400), "PNG"), (612, 792)),
        ("xray.png", image_bytes("I;16", (500, 600), "PNG"), (612, 792)),
        ("photo.jpg", image_bytes("RGB", (3000, 4000), "JPEG", quality=80), (612, 792)),
        ("grey.jpeg", image_bytes("L", (800, 1000), "JPEG"), (612, 792)),
        ("fax.tif", image_bytes("1", (1728, 2200), "TIFF", compression="group4", dpi=(204, 196)), (612, 792)),
    ],
)
def test_each_image_fills_a_letter_page_inside_the_margins(tmp_path, name, data, page_size):
    """This test ensures every image is one Letter page (landscape when wide), inside margins, footer band clear."""
    exhibit = ingest_attachment(attachment(write(tmp_path, name, data)))
    assert exhibit.pages == 1
    assert exhibit.unchecked_pages == (1,)
    size, (width, _, _, height, x, y) = placement(exhibit.pdf)
    assert size == page_size
    assert x >= 36 - 0.01 and x + width <= size[0] - 36 + 0.01
    assert y >= FOOTER_BAND and y + height <= size[1] - 36 + 0.01
    reader = PdfReader(io.BytesIO(exhibit.pdf))
    assert reader.metadata is None
    assert len(reader.pages[0].images) == 1


def test_small_images_keep_their_natural_size(tmp_path):
    """This test ensures a small picture is not blown up to fill the page."""
    exhibit = ingest_attachment(attachment(write(tmp_path, "sig.png", image_bytes("L", (300, 100), "PNG", dpi=(150, 150)))))
    _, (width, _, _, height, _, _) = placement(exhibit.pdf)
    assert (round(width), round(height)) == (144, 48)   # 2 in x 0.667 in at 150 dpi


def test_multipage_tiff_gives_one_page_per_frame(tmp_path):
    """This test ensures each TIFF frame becomes its own page, in order."""
    frames = [Image.new("L", (850, 1100), shade) for shade in (40, 120, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    exhibit = ingest_attachment(attachment(write(tmp_path, "fax.tiff", buffer.getvalue())))
    assert exhibit.pages == 3
    assert exhibit.unchecked_pages == (1, 2, 3)
    shades = []
    document = pdfium.PdfDocument(exhibit.pdf)
    for index in range(3):
        bitmap = document[index].render(scale=0.2).to_pil().convert("L")
        shades.append(bitmap.getpixel((bitmap.width // 2, bitmap.height // 3)))
    assert shades[0] < shades[1] < shades[2]


def test_exif_and_comments_do_not_survive_and_orientation_is_applied(tmp_path):
    """This test ensures EXIF, XMP-like text and JPEG comments are stripped and the photo is turned upright."""
    exif = Image.Exif()
    exif[0x0112] = 6                       # rotate 90 degrees clockwise to display
    exif[0x010E] = "Ana Ortiz wound photo"  # ImageDescription
    exif[0x013B] = "Dr Roe phone"           # Artist
    data = image_bytes("RGB", (640, 480), "JPEG", exif=exif.tobytes(), comment=b"MRN 0042")
    assert b"Ana Ortiz" in data and b"MRN 0042" in data
    exhibit = ingest_attachment(attachment(write(tmp_path, "wound.jpg", data)))
    for secret in (b"Ana Ortiz", b"Dr Roe", b"MRN 0042", b"Exif"):
        assert secret not in exhibit.pdf
    size, (width, _, _, height, _, _) = placement(exhibit.pdf)
    assert size == (612, 792) and height > width   # 640x480 landscape turned to portrait
    upright_jpeg = image_bytes("RGB", (640, 480), "JPEG", exif=Image.Exif().tobytes(), comment=b"MRN 0042")
    kept = ingest_attachment(attachment(write(tmp_path, "plain.jpg", upright_jpeg)))
    assert b"MRN 0042" not in kept.pdf


def test_phone_multi_picture_jpeg_gives_its_first_picture(tmp_path):
    """This test ensures an MPO photo (a phone's .jpg with a second, depth picture) becomes one JPEG page."""
    first, second = Image.new("RGB", (400, 300), (255, 0, 0)), Image.new("RGB", (400, 300), (0, 255, 0))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    exhibit = ingest_attachment(attachment(write(tmp_path, "photo.jpg", buffer.getvalue())))
    assert exhibit.pages == 1
    assert b"/DCTDecode" in exhibit.pdf
    bitmap = pdfium.PdfDocument(exhibit.pdf)[0].render(scale=0.25).to_pil().convert("RGB")
    red, green, _ = bitmap.getpixel((bitmap.width // 2, 30))
    assert red > 200 and green < 60


def test_image_output_is_deterministic(tmp_path):
    """This test ensures the same image gives the same PDF bytes (no dates, no random ids)."""
    path = write(tmp_path, "scan.png", image_bytes("RGB", (400, 500), "PNG"))
    first = ingest_attachment(attachment(path)).pdf
    assert first == ingest_attachment(attachment(path)).pdf
    assert b"CreationDate" not in first and b"/ID" not in first and b"/Info" not in first


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    """This test ensures frames over MAX_IMAGE_PIXELS raise LimitExceeded without being decoded."""
    path = write(tmp_path, "bomb.png", png_header_only(10_000, 10_000))
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(path))
    assert caught.value.message == (
        f"bomb.png: image frame 1 has 10000x10000 = 100000000 pixels > MAX_IMAGE_PIXELS ({MAX_IMAGE_PIXELS})"
    )
    # Far beyond Pillow's own hard limit: Pillow refuses at open time; still our LimitExceeded.
    huge = write(tmp_path, "huge.png", png_header_only(40_000, 40_000))
    with pytest.raises(LimitExceeded, match=r"^huge\.png: 1600000000 pixels > MAX_IMAGE_PIXELS"):
        ingest_attachment(attachment(huge))


def test_too_many_tiff_frames_are_refused(tmp_path):
    """This test ensures a TIFF with more than MAX_TIFF_FRAMES frames raises LimitExceeded."""
    frames = [Image.new("1", (8, 8), 1) for _ in range(MAX_TIFF_FRAMES + 1)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(LimitExceeded) as caught:
        ingest_attachment(attachment(write(tmp_path, "many.tif", buffer.getvalue())))
    assert caught.value.message == f"many.tif: {MAX_TIFF_FRAMES + 1}+ frames > MAX_TIFF_FRAMES ({MAX_TIFF_FRAMES})"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("cut.png", image_bytes("RGB", (300, 300), "PNG")[:200], "the image is damaged and cannot be read"),
        ("cut.jpg", image_bytes("RGB", (300, 300), "JPEG")[:300], "the image is damaged and cannot be read"),
        ("swapped.png", image_bytes("RGB", (30, 30), "JPEG"), "not a PNG image (content does not match the .png extension)"),
        ("page.tif", b"%PDF-1.4\n", "not a TIFF image (content does not match the .tif extension)"),
    ],
)
def test_broken_or_mislabelled_images_get_clear_messages(tmp_path, name, data, message):
    """This test ensures damaged and mislabelled images raise IngestError naming the file."""
    with pytest.raises(IngestError) as caught:
        ingest_attachment(attachment(write(tmp_path, name, data), f"scans/{name}"))
    assert caught.value.message == f"scans/{name}: {message}"


def test_empty_fifo_and_directory_attachments_are_refused(tmp_path):
    """This test ensures empty files, named pipes (which would block a read) and folders fail clearly."""
    empty = write(tmp_path, "empty.txt", b"")
    with pytest.raises(IngestError, match=r"^empty\.txt: is empty$"):
        ingest_attachment(attachment(empty))
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match=r"^pipe\.txt: is not a regular file$"):
        ingest_attachment(attachment(fifo))
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    with pytest.raises(IngestError, match=r"^folder\.pdf: is not a regular file$"):
        ingest_attachment(attachment(folder))

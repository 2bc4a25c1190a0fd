"""True redaction of PDF exhibits: affected pages become burnt-in pictures, the rest stay vector, nothing is left behind."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfReader

from packetizer.caseio import load_case
from packetizer.disclosure import find_leaks, plan_disclosure, verify_no_leak
from packetizer.disclosure import pdfredact
from packetizer.disclosure.pdfredact import redact_pdf
from packetizer.limits import OCR_DPI
from packetizer.errors import DisclosureError, IngestError
from packetizer.ingest import ingest_attachment
from packetizer.ingest.pdf import sanitise_pdf
from packetizer.model import Attachment
from packetizer.policy import load_registry
from packetizer.render import html_to_pdf
from tests.fixtures.disclosure.make_notes import CLINICAL, KEPT, WITHHELD_SPELLINGS, copy_case
from tests.support.hostile_pdfs import pdfium_pages, pypdf_pages

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    case = load_case(copy_case(tmp_path_factory.mktemp("dx") / "case"))
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


@pytest.fixture(scope="module")
def progress(plan):
    """The progress note, once without and once with redaction."""
    att = plan.included_attachments[0]
    assert att.file.endswith("progress.pdf")
    return ingest_attachment(att), ingest_attachment(att, redactor=plan.redactor)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def spellings_in(text: str) -> list[str]:
    text = flat(text)
    squashed = re.sub(r"\s", "", text)
    return [s for values in WITHHELD_SPELLINGS.values() for s in values
            if s.lower() in text or re.sub(r"\s", "", s.lower()) in squashed]


def test_unredacted_note_really_carries_the_identifiers(progress):
    """This test ensures the fixture is meaningful: without a redactor the identifiers are readable on pages 1 and 3."""
    plain, _ = progress
    pages = pdfium_pages(plain.pdf)
    assert "478-26-1935" in pages[0] and "(651) 555-0182" in pages[0]
    assert "maya.lindqvist@example.net" in pages[2] and "00731942" in flat(pages[2])
    assert plain.unchecked_pages == (4,)


def test_redacted_pdf_gives_up_no_identifier_to_either_extractor(progress):
    """This test ensures that after redaction neither pypdf nor PDFium can extract any spelling of a withheld value."""
    _, done = progress
    for pages in (pypdf_pages(done.pdf), pdfium_pages(done.pdf)):
        assert spellings_in(" ".join(pages)) == []
    assert spellings_in(done.pdf.decode("latin-1")) == []


def test_only_affected_pages_are_rasterised_at_300_dpi_and_the_rest_stay_vector(progress):
    """This test ensures pages 1 and 3 (findings) and 4 (a scan) become single pictures of 300 dpi with an
    invisible text layer, while page 2 keeps its own text and stays vector."""
    plain, done = progress
    assert done.pages == 4
    assert done.rasterized == (1, 3, 4)
    reader = PdfReader(io.BytesIO(done.pdf))
    for number in (1, 3, 4):
        page = reader.pages[number - 1]
        images = page.images
        assert len(images) == 1
        width_pt = float(page.mediabox.width)
        assert images[0].image.width * 72 / width_pt >= OCR_DPI - 0.5
        # The only text is the invisible layer made from the OCR reading (page 4, a drawing, has no words).
        assert (b" 3 Tr" in page.get_contents().get_data()) == (number != 4)
    # ... which a reviewer can search: the heading of page 1 was read back by OCR.
    assert "progress note" in flat(pdfium_pages(done.pdf)[0])
    page_two = pdfium_pages(done.pdf)[1]
    assert CLINICAL in flat(page_two).replace("  ", " ") or CLINICAL.lower() in flat(page_two)
    assert len(reader.pages[1].images) == 0
    # The clean page is the sanitised page itself, not a copy of its picture.
    assert pypdf_pages(done.pdf)[1] == pypdf_pages(plain.pdf)[1]
    # Page 4 is a drawing: OCR reads no word on a page that is not blank, so nobody can vouch for it.
    assert [c.method for c in done.page_checks] == ["text_layer", "text_layer", "text_layer", "unchecked"]
    assert "OCR read no words" in done.page_checks[3].reason
    assert done.unchecked_pages == (4,)


def test_rotated_page_is_rasterised_as_it_is_seen(progress):
    """This test ensures a page shown rotated by 90 degrees becomes a landscape picture page without /Rotate."""
    plain, done = progress
    original = pdfium.PdfDocument(plain.pdf)[2]
    assert original.get_rotation() == 90
    page = PdfReader(io.BytesIO(done.pdf)).pages[2]
    assert page.get("/Rotate", 0) == 0
    assert float(page.mediabox.width) == pytest.approx(original.get_size()[0], abs=0.5)
    assert float(page.mediabox.height) == pytest.approx(original.get_size()[1], abs=0.5)
    assert page.mediabox.width > page.mediabox.height


def test_boxes_are_burnt_in_where_the_identifiers_were(progress):
    """This test ensures the picture of page 1 is black where the SSN stood and keeps the surrounding text."""
    plain, done = progress
    document = pdfium.PdfDocument(plain.pdf)
    page = document[0]
    text_page = page.get_textpage()
    text = text_page.get_text_range()
    start = text.index("478-26-1935")
    left, bottom, right, top = text_page.get_charbox(start + 4)
    first_left = text_page.get_charbox(start)[0]
    height = page.get_height()
    picture = pdfium.PdfDocument(done.pdf)[0].render(scale=OCR_DPI / 72).to_pil().convert("L")
    scale = OCR_DPI / 72
    middle = (int((left + right) / 2 * scale), int((height - (bottom + top) / 2) * scale))
    assert picture.getpixel(middle) < 40
    # The label before it ("SSN") is still printed: dark pixels left of the box, but not a solid block.
    label = picture.crop((int((first_left - 30) * scale), int((height - top) * scale), int((first_left - 4) * scale),
                          int((height - bottom) * scale)))
    dark = label.point(lambda p: 255 if p < 128 else 0).histogram()[255]
    assert 0 < dark < label.width * label.height * 0.6


def test_redactions_are_reported_per_type_and_page(progress):
    """This test ensures every removed identifier is counted on the page it was on (the stamp's MRN on page 3 too;
    the street line, city and ZIP of the withheld address are three finds)."""
    _, done = progress
    found = {(r.type, r.page): r.count for r in done.redactions}
    assert found == {
        ("phone", 1): 1, ("ssn", 1): 1,
        ("email", 3): 1, ("street_address", 3): 3, ("mrn", 3): 2,
    }


def test_metadata_bookmarks_annotations_and_old_revisions_are_gone(progress):
    """This test ensures the redacted exhibit has no Info, XMP, outline, annotations or form, and nothing hidden holds a value."""
    _, done = progress
    reader = PdfReader(io.BytesIO(done.pdf))
    assert reader.metadata is None or not dict(reader.metadata)
    root = reader.trailer["/Root"]
    for key in ("/Metadata", "/Outlines", "/AcroForm", "/Names"):
        assert key not in root
    assert all("/Annots" not in page for page in reader.pages)
    assert done.pdf.count(b"%%EOF") == 1


def test_values_the_payer_needs_stay_readable(progress):
    """This test ensures member id, name, NPI, claim, codes and clinical content stay in the text of the untouched page and survive elsewhere as pixels."""
    _, done = progress
    text = flat(" ".join(pdfium_pages(done.pdf)))
    assert CLINICAL.lower() in text
    assert "oswestry disability index 38%" in text


def test_pdf_without_findings_comes_back_byte_for_byte(plan, tmp_path):
    """This test ensures a PDF with nothing to remove is not rewritten: the sanitised file goes through as it is."""
    clean = sanitise_pdf(html_to_pdf("<p>Therapeutic exercise, 3 units, NPI 1234567893.</p>").pdf, name="clean.pdf")
    result = redact_pdf(clean.pdf, plan.redactor, name="clean.pdf")
    assert result.pdf == clean.pdf
    assert result.redactions == () and result.rasterized == ()


def test_verify_no_leak_catches_the_unredacted_note_and_passes_the_redacted_one(progress, plan):
    """This test ensures the no-leak proof fails closed on the original, naming the type and page but never the value."""
    plain, done = progress
    with pytest.raises(DisclosureError) as caught:
        verify_no_leak(plain.pdf, plan)
    message = str(caught.value)
    assert caught.value.code == "leak"
    assert "on page 1" in message
    for values in WITHHELD_SPELLINGS.values():
        for value in values:
            assert value.lower() not in message.lower()
    verify_no_leak(done.pdf, plan)
    assert find_leaks(done.pdf, plan.redactor) == []


def test_a_blank_scan_is_read_by_ocr_and_needs_no_warning(tmp_path, plan):
    """This test ensures an image attachment is read by OCR (not reported unchecked) and, showing nothing, loses nothing."""
    image = Image.new("L", (600, 800), 255)
    path = tmp_path / "scan.png"
    image.save(path)
    att = Attachment(file="scan.png", path=path, kind="clinical_note", date=dt.date(2026, 10, 11))
    exhibit = ingest_attachment(att, redactor=plan.redactor)
    assert [(c.page, c.method) for c in exhibit.page_checks] == [(1, "ocr")]
    assert exhibit.unchecked_pages == ()
    assert exhibit.redactions == ()
    assert exhibit.rasterized == (1,)


def test_only_pages_with_findings_are_burnt_in(plan):
    """This test ensures every page with an identifier is rasterised and no other (the bench measures the speed)."""
    body = "".join(
        f"<h2>Page {i}</h2><p>{'SSN 478-26-1935 on file. ' if i % 2 else ''}"
        + "Therapeutic exercise delivered as planned. " * 40 + "</p><div style='break-after: page'></div>"
        for i in range(6)
    )
    clean = sanitise_pdf(html_to_pdf(body).pdf, name="six.pdf")
    result = redact_pdf(clean.pdf, plan.redactor, name="six.pdf")
    assert result.rasterized == (2, 4, 6)


def _slow(seconds: float, work):
    def slowed(*args, **kwargs):
        time.sleep(seconds)
        return work(*args, **kwargs)
    return slowed


def test_opening_and_redacting_each_get_their_own_time_limit(plan, monkeypatch):
    """This test ensures the one child that sanitises and redacts gives each step its own budget and names the late one."""
    clean = sanitise_pdf(html_to_pdf("<p>SSN 478-26-1935 on file.</p>").pdf, name="note.pdf").pdf
    # 2.5 s for each step: both fit their own 4.5 s budget (2 s to spare for the work itself, which takes about
    # 0.4 s on an idle machine), though not one shared one.
    monkeypatch.setattr(pdfredact, "sanitise_in_child", _slow(2.5, pdfredact.sanitise_in_child))
    monkeypatch.setattr(pdfredact, "_redact_in_child", _slow(2.5, pdfredact._redact_in_child))
    assert redact_pdf(clean, plan.redactor, name="note.pdf", parse_timeout=4.5, timeout=4.5).rasterized == (1,)

    with pytest.raises(IngestError) as late_open:
        redact_pdf(clean, plan.redactor, name="note.pdf", parse_timeout=0.3, timeout=5)
    assert late_open.value.message == "note.pdf: took longer than MAX_PDF_PARSE_SECONDS (0.3 s) to open"
    with pytest.raises(IngestError) as late_redaction:
        redact_pdf(clean, plan.redactor, name="note.pdf", parse_timeout=5, timeout=0.3)
    assert late_redaction.value.message == (
        "note.pdf: redaction took longer than MAX_PDF_REDACT_SECONDS (0.3 s)"
        " plus twice MAX_OCR_PAGE_SECONDS (30 s) for each page read by OCR")


@pytest.mark.parametrize("failure", [ValueError("boom"), RecursionError()])
def test_a_failure_while_redacting_is_not_reported_as_a_damaged_file(plan, monkeypatch, failure):
    """This test ensures a sanitised PDF whose redaction fails is refused as unchecked, not as unreadable."""
    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(pdfredact, "_redact_in_child", fails)
    clean = sanitise_pdf(html_to_pdf("<p>SSN 478-26-1935 on file.</p>").pdf, name="note.pdf").pdf
    with pytest.raises(DisclosureError) as caught:
        redact_pdf(clean, plan.redactor, name="note.pdf")
    assert caught.value.code == "redaction_failed"
    assert "could not be checked for identifiers" in caught.value.message


def test_redaction_is_reproducible(progress, plan):
    """This test ensures redacting the same PDF twice gives the same bytes (packets are reproducible)."""
    _, done = progress
    again = ingest_attachment(plan.included_attachments[0], redactor=plan.redactor)
    assert again.pdf == done.pdf


def test_a_child_out_of_time_takes_tesseract_and_every_page_picture_with_it(plan, tmp_path, monkeypatch):
    """This test ensures that when redaction runs out of time in the middle of OCR, no Tesseract process
    outlives it and no temporary file (page pictures, OCR output: PHI) is left behind."""
    import subprocess
    import tempfile

    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    pages = []
    for number in range(6):
        image = Image.new("L", (2550, 3300), 255)
        draw = ImageDraw.Draw(image)
        for line in range(40):
            draw.text((150, 150 + line * 75), f"Visit {number} line {line}: SSN 478-26-1935 therapy as planned",
                      font=font, fill=0)
        pages.append(image)
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=300)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(pdfredact, "MAX_OCR_ATTACHMENT_SECONDS", 0)   # no extra time for OCR
    with pytest.raises(IngestError) as late:
        redact_pdf(buffer.getvalue(), plan.redactor, name="scan.pdf", timeout=3)
    assert "redaction took longer than MAX_PDF_REDACT_SECONDS (3 s)" in late.value.message
    assert list(scratch.iterdir()) == []
    running = subprocess.run(["pgrep", "-f", f"tesseract {scratch}"], capture_output=True, text=True)
    assert running.stdout == ""


def test_a_black_and_white_page_is_sent_one_bit_a_pixel_and_a_grey_photo_stays_grey(plan):
    """This test ensures a fax page read by OCR is sent as a lossless one-bit picture (a fax stays the size
    of a fax), while a page with grey tones keeps them (a JPEG)."""
    from tests.support.hostile_pdfs import fax_pdf

    fax = fax_pdf().data
    done = redact_pdf(fax, plan.redactor, name="fax.pdf")
    image = PdfReader(io.BytesIO(done.pdf)).pages[0]["/Resources"]["/XObject"]["/Im0"].get_object()
    assert image["/BitsPerComponent"] == 1 and image["/Filter"] == "/FlateDecode"
    assert len(done.pdf) < 10 * len(fax)
    gradient = Image.linear_gradient("L").resize((1275, 1650))
    buffer = io.BytesIO()
    gradient.save(buffer, format="PDF", resolution=150)
    photo = redact_pdf(buffer.getvalue(), plan.redactor, name="photo.pdf")
    image = PdfReader(io.BytesIO(photo.pdf)).pages[0]["/Resources"]["/XObject"]["/Im0"].get_object()
    assert image["/BitsPerComponent"] == 8 and image["/Filter"] == "/DCTDecode"


# --------------------------------------------------------------------------- long PDFs on both cores


def _long_note(pages: int, extra: dict[int, str], split_after: int | None = None) -> bytes:
    """A ``pages``-page note; ``extra[i]`` is added to page i (0-based), and the SSN is cut in two across
    the break after page ``split_after``."""
    body = []
    for i in range(pages):
        text = f"<h2>Visit log page {i + 1}</h2><p>" + "Therapeutic exercise delivered as planned. " * 20 + "</p>"
        text += extra.get(i, "")
        if i == split_after:
            text += "<p>Patient SSN on the intake form 478-26-</p>"
        if split_after is not None and i == split_after + 1:
            text = "<p>1935 as written by the front desk.</p>" + text
        body.append(text + "<div style='break-after: page'></div>")
    return sanitise_pdf(html_to_pdf("".join(body)).pdf, name="long.pdf").pdf


def test_a_long_pdf_is_searched_on_both_cores_with_the_same_findings(plan):
    """This test ensures a PDF long enough to be surveyed by two processes (SPLIT_PDF_PAGES) loses nothing
    at the seam: a value on a page of each half and one cut across the break between the halves are all
    burnt out, exactly those pages become pictures, and the other pages stay vector and searchable."""
    from packetizer.limits import SPLIT_PDF_PAGES

    pages = 2 * SPLIT_PDF_PAGES
    middle = pages // 2
    data = _long_note(pages, {2: "<p>Home phone (651) 555-0182.</p>", pages - 3: "<p>SSN 478-26-1935.</p>"},
                      split_after=middle - 1)
    assert sum(1 for text in pdfium_pages(data) if "478-26-" in text) == 2
    result = redact_pdf(data, plan.redactor, name="long.pdf")
    assert result.rasterized == (3, middle, middle + 1, pages - 2)
    assert {(r.type, r.page) for r in result.redactions} == {
        ("phone", 3), ("ssn", middle), ("ssn", middle + 1), ("ssn", pages - 2)}
    texts = pdfium_pages(result.pdf) + pypdf_pages(result.pdf)
    assert spellings_in(" ".join(texts)) == []
    assert [c.method for c in result.page_checks] == ["text_layer"] * pages   # searched in their text layer
    reader = PdfReader(io.BytesIO(result.pdf))
    assert [i + 1 for i, page in enumerate(reader.pages) if page.images] == list(result.rasterized)
    assert "Visit log page 7" in pdfium_pages(result.pdf)[6]


def _line(y: int, text: str, size: float = 14) -> str:
    """A line of Helvetica (/F1) at height ``y``."""
    return f"BT /F1 {size} Tf 24 {y} Td ({text}) Tj ET\n"


# Five lines at a page's foot, drawn before anything else on it: PDFium's reading of the page begins with them,
# more than a running header has; poppler and Tesseract read the page top to bottom.
_FOOT_DRAWN_FIRST = "".join(_line(150 - 25 * n, f"Exercise {n + 1} done") for n in range(5))


def _pages_pdf(*contents: str) -> bytes:
    """A PDF of small pages drawing these contents, with Helvetica as /F1."""
    from tests.support.hostile_pdfs import RawPdf

    pdf = RawPdf()
    resources = f"<< /Font << /F1 {pdf.helvetica()} 0 R >> >>"
    for content in contents:
        pdf.page(content, resources)
    return pdf.finish()


def test_a_value_only_reading_order_joins_across_the_seam_of_the_halves_is_burnt_out(plan):
    """This test ensures the break between the two halves of a long PDF's survey is read as poppler reads it
    too: an SSN whose first part ends the last page of the first half, and whose second part the next page
    draws last at its top (PDFium reads that page's five foot lines first, poppler and Tesseract top to
    bottom), sends those two pages to OCR, is burnt out of both, and leaves nothing for the proof to find."""
    from packetizer.limits import SPLIT_PDF_PAGES

    seam = SPLIT_PDF_PAGES // 2    # the survey's first half: pages 1 to this one
    contents = [_line(240, f"Visit log page {number}") for number in range(1, SPLIT_PDF_PAGES + 1)]
    contents[seam - 1] += _line(30, "Intake form lists SSN 478-26-")
    contents[seam] = _FOOT_DRAWN_FIRST + _line(250, "1935 and no allergies")
    result = redact_pdf(_pages_pdf(*contents), plan.redactor, name="long.pdf")
    assert result.rasterized == (seam, seam + 1)
    assert [c.method for c in result.page_checks] == (
        ["text_layer"] * (seam - 1) + ["ocr", "ocr"] + ["text_layer"] * (SPLIT_PDF_PAGES - seam - 1))
    assert {(r.type, r.page) for r in result.redactions} == {("ssn", seam), ("ssn", seam + 1)}
    assert find_leaks(result.pdf, plan.redactor, result.pictures_read, result.streams_searched) == []
    assert "allergies" in pdfium_pages(result.pdf)[seam]   # the rest of the page is still searchable


def test_a_value_only_reading_order_joins_that_ocr_cannot_read_stops_the_attachment(plan):
    """This test ensures a value poppler's reading joins across a break, in type too small for OCR to read,
    is not left in the pictures sent, though OCR reads another value of its kind on the same page: the
    attachment is refused, naming the page and the kind of value, as the proof refused the packet before
    redaction read poppler's joins."""
    data = _pages_pdf(
        _line(240, "Tolerated treatment well") + _line(140, "Spouse SSN 512-48-7736")
        + _line(30, "Intake form lists SSN 478-26-"),
        _FOOT_DRAWN_FIRST + _line(250, "1935 and no allergies", size=2.5))
    with pytest.raises(DisclosureError) as refused:
        redact_pdf(data, plan.redactor, name="tiny.pdf")
    assert "page 1: a ssn is still present after redaction" in refused.value.message
    assert refused.value.subject == "tiny.pdf"


def test_a_value_pdfium_cut_at_the_other_break_of_a_page_sent_to_ocr_is_not_left_to_ocr_alone(plan):
    """This test ensures a phone number both readings cut at a page's other break, which PDFium's characters
    located while the page was trusted, is not left in its picture when the page goes to OCR for a value
    only poppler joins at its first break and OCR cannot read the phone's tiny first part: the attachment
    is refused, naming the page."""
    data = _pages_pdf(
        _line(240, "Tolerated treatment well") + _line(30, "Intake form lists SSN 478-26-"),
        _FOOT_DRAWN_FIRST + _line(250, "1935 and no allergies") + _line(12, "Call the clinic at (612) 555", size=2.5),
        _line(250, "0147 after 5pm") + _line(150, "Plan continue twice weekly"))
    with pytest.raises(DisclosureError) as refused:
        redact_pdf(data, plan.redactor, name="tiny.pdf")
    assert "page 2: a phone is still present after redaction" in refused.value.message


def test_the_second_half_is_done_again_when_its_process_fails(plan):
    """This test ensures that when the forked process surveying the second half dies, the lead process
    does that half itself: the result is the same as when both halves succeed."""
    from packetizer.sandbox import in_two

    lead = os.getpid()

    def work(indexes: range) -> list[int]:
        if os.getpid() != lead:
            os._exit(3)          # the forked half crashes
        return [i * i for i in indexes]

    assert in_two(40, work, min_count=16) == [[i * i for i in range(20)], [i * i for i in range(20, 40)]]
    assert in_two(10, work, min_count=16) == [[i * i for i in range(10)]]


def test_a_process_with_a_thousand_files_open_still_runs_sandboxed_work(tmp_path):
    """This test ensures a build in a process with descriptor numbers above 1024 (a busy web or Celery worker)
    still gets its sandboxed child's answer, and a child that hangs still times out."""
    told = subprocess.run([sys.executable, "-c", (
        "import os, time\n"
        "held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]\n"
        "from packetizer.sandbox import run_sandboxed\n"
        "status, meta, payload = run_sandboxed(lambda data: ({'status': 'ok'}, data[::-1]), b'abc', timeout=30,\n"
        "                                      memory=1 << 30)\n"
        "late, _, _ = run_sandboxed(lambda data: time.sleep(60), b'', timeout=0.5, memory=1 << 30)\n"
        "print(status, payload.decode(), late)\n"
    )], capture_output=True, text=True, timeout=60)
    assert told.returncode == 0, told.stderr[-2000:]
    assert told.stdout.strip() == "ok cba timeout"


def test_the_lead_process_takes_its_share_and_the_other_process_the_rest():
    """The proof's lead process reads most pages; the other reads the last ones (and the file's data)."""
    from packetizer.sandbox import in_two

    lead = os.getpid()
    done = in_two(40, lambda indexes: (indexes, os.getpid() == lead), min_count=16, first_share=0.75)
    assert done == [(range(0, 30), True), (range(30, 40), False)]
    # Whatever the share, each process has at least one page.
    assert [r for r, _ in in_two(16, lambda indexes: (indexes, 0), min_count=16, first_share=1.0)] == \
        [range(0, 15), range(15, 16)]


def test_a_failing_first_half_leaves_no_process_behind(tmp_path):
    """This test ensures an error in the lead process's half ends the forked half too (killed and reaped:
    its process id no longer exists) and is raised."""
    from packetizer.sandbox import in_two

    lead = os.getpid()
    started = tmp_path / "second-half.pid"

    def work(indexes: range) -> list[int]:
        if os.getpid() == lead:
            deadline = time.monotonic() + 10
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.01)   # the other half is running before this one fails
            raise ValueError("first half failed")
        # Written whole, then named: the lead process may look between the file's creation and its writing.
        written = tmp_path / "second-half.tmp"
        written.write_text(str(os.getpid()))
        written.rename(started)
        time.sleep(30)
        return []

    with pytest.raises(ValueError):
        in_two(40, work, min_count=16)
    pid = int(started.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_work_is_done_on_one_core_when_no_pipe_can_be_made():
    """This test ensures that when the process has no file descriptor left for the pipe to a second half,
    in_two does all the work itself instead of failing."""
    import subprocess
    import sys

    script = (
        "import os, resource\n"
        "from packetizer.sandbox import in_two\n"
        "used = len(os.listdir('/proc/self/fd'))\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (used, used))\n"
        "try:\n    os.pipe()\n    raise SystemExit('a pipe could still be made')\nexcept OSError:\n    pass\n"
        "print(in_two(40, lambda r: [i * 2 for i in r], min_count=16))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([[i * 2 for i in range(40)]])

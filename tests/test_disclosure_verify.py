"""The no-leak proof: any withheld value anywhere in a finished packet stops its release, without repeating the value."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PageObject, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from packetizer.caseio import case_from_mapping
from packetizer.disclosure import find_leaks, plan_disclosure, verify_no_leak
from packetizer.disclosure.pdftext import stream_digest
from packetizer.disclosure.pdftext import text_pieces as _text_pieces
from packetizer.errors import DisclosureError
from packetizer.policy import load_registry

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
SECRETS = ("478-26-1935", "478261935", "651", "0182", "maya.lindqvist", "00731942")


@pytest.fixture(scope="module")
def plan():
    doc = {
        "case_id": "DX-VERIFY-1", "payer_id": "dx-plain",
        "member": {"member_id": "QHP770012345", "first_name": "Maya", "last_name": "Lindqvist", "dob": "1983-02-17",
                   "ssn": "478-26-1935", "phone": "(651) 555-0182", "email": "maya.lindqvist@example.net",
                   "mrn": "00731942"},
        "services": [{"date_of_service": "2026-10-11", "code": "97110"}],
        "rendering_provider": {"name": "Juniper Physical Therapy", "npi": "1234567893"},
        "late_reason": {"category": "payer_portal_outage", "explanation": "Portal down."},
        "medical_necessity": "Needed.",
        "contact": {"name": "Billing desk", "phone": "651-555-0100"},
    }
    return plan_disclosure(case_from_mapping(doc, Path(".")), load_registry(PAYERS).get("dx-plain"))


def _font(writer: PdfWriter):
    return writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))


def packet(*page_texts: bytes, build=None) -> bytes:
    """A PDF whose pages show ``page_texts`` (content-stream text operands); ``build(writer)`` adds more."""
    return drawn(*(b"BT /F1 11 Tf 72 700 Td " + text + b" Tj ET" for text in page_texts), build=build)


def drawn(*streams: bytes, build=None) -> bytes:
    """A PDF whose pages draw these content streams with Helvetica as /F1; ``build(writer)`` adds more."""
    writer = PdfWriter()
    font = _font(writer)
    for data in streams:
        page = PageObject.create_blank_page(width=612, height=792)
        content = DecodedStreamObject()
        content.set_data(data)
        page[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): font}),
        })
        page[NameObject("/Contents")] = writer._add_object(content)
        writer.add_page(page)
    if build:
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


CLEAN = b"(Member QHP770012345, NPI 1234567893, claim 2026101100457, DOB 1983-02-17, call 651-555-0100)"


def assert_refused(pdf: bytes, plan, where: str, type_words: str, sections=None):
    with pytest.raises(DisclosureError) as caught:
        verify_no_leak(pdf, plan, sections=sections)
    message = str(caught.value)
    assert caught.value.code == "leak"
    assert type_words in message and where in message, message
    for secret in SECRETS:
        assert secret not in message
    return message


def test_clean_packet_with_needed_identifiers_passes(plan):
    """This test ensures member id, NPI, claim number, DOB and the practice phone do not trip the proof."""
    verify_no_leak(packet(CLEAN, CLEAN), plan)
    assert find_leaks(packet(CLEAN), plan.redactor) == []


@pytest.mark.parametrize("shown, type_words", [
    (b"(SSN 478-26-1935)", "Social Security number"),
    (b"(home 651 555 0182)", "phone or fax number"),
    (b"(write to MAYA.LINDQVIST@EXAMPLE.NET)", "email address"),
    (b"(chart 0073-1942)", "medical record or account number"),
    (b"<3437382d32362d31393335> ", "Social Security number"),          # the SSN as a hex string
    (b"[(47) 120 (8-2) -40 (6-19) 250 (35)] ", "Social Security number"),  # kerned into pieces
])
def test_withheld_value_in_page_text_is_refused_with_its_page(plan, shown, type_words):
    """This test ensures a withheld value extractable from page 2 stops the packet, naming the kind and the page."""
    operand = shown.rstrip() if not shown.startswith(b"[") else shown
    data = packet(CLEAN, operand.replace(b"] ", b"]") if shown.startswith(b"[") else operand)
    if shown.startswith(b"["):
        data = data.replace(b"] Tj", b"] TJ")
    assert_refused(data, plan, "on page 2", type_words)


def test_any_dashed_ssn_is_refused_even_if_not_the_patients(plan):
    """This test ensures a valid-looking SSN of anyone (a misfiled note) stops the packet."""
    assert_refused(packet(b"(Other file: 301-22-7788)"), plan, "on page 1", "Social Security number")


def test_sections_name_the_exhibit_and_its_page(plan):
    """This test ensures the message says which exhibit and which of its pages holds the leak."""

    @dataclass
    class Section:
        title: str
        kind: str
        letter: str | None
        first_page: int
        last_page: int

    sections = [Section("Cover note", "cover", None, 1, 1), Section("Exhibit A", "exhibit", "A", 2, 2),
                Section("Exhibit B", "exhibit", "B", 3, 4)]
    message = assert_refused(packet(CLEAN, CLEAN, CLEAN, b"(SSN 478-26-1935)"), plan, "on page 4",
                             "Social Security number", sections=sections)
    assert "(Exhibit B, page 2 of it)" in message


def _metadata(writer):
    writer.add_metadata({"/Subject": "Patient maya.lindqvist@example.net"})


def _outline(writer):
    writer.add_outline_item(title="Call (651) 555-0182 \u2014 home", page_number=0)


def _annotation(writer):
    note = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Text"),
        NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(20), FloatObject(20)]),
        NameObject("/Contents"): TextStringObject("MRN 00731942"),
    })
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(note)])


def _unused_form(writer):
    form = DecodedStreamObject()
    form.set_data(b"BT /F1 9 Tf (SSN 478 26 1935) Tj ET")
    form.update({
        NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(100), NumberObject(20)]),
    })
    form = form.flate_encode()
    resources = writer.pages[0]["/Resources"]
    resources[NameObject("/XObject")] = DictionaryObject({NameObject("/Hidden"): writer._add_object(form)})


@pytest.mark.parametrize("build, type_words", [
    (_metadata, "email address"),
    (_outline, "phone or fax number"),
    (_annotation, "medical record or account number"),
    (_unused_form, "Social Security number"),
])
@pytest.mark.parametrize("pages", [1, 3, 40])
def test_withheld_value_hidden_in_file_data_is_refused(plan, build, type_words, pages):
    """This test ensures values in metadata, bookmarks, annotations or a compressed unused XObject stop the packet,
    also a packet proven by two processes (the second one searches the file's data, with the last page of a short
    packet or the last third of a long one)."""
    assert_refused(packet(*[CLEAN] * pages, build=build), plan, "in the file's data", type_words)


def test_proof_that_cannot_finish_fails_closed(plan):
    """This test ensures a proof that runs out of time refuses the packet rather than waving it through."""
    big = packet(*[CLEAN] * 300)
    with pytest.raises(DisclosureError) as caught:
        verify_no_leak(big, plan, timeout=0.01)
    assert caught.value.code == "leak_check_failed"
    assert "MAX_VERIFY_SECONDS" in str(caught.value)


@pytest.mark.parametrize("pages", [1, 3, 40])
def test_value_outside_the_object_table_is_refused(plan, pages):
    """This test ensures text left after the end of the file (a dead revision, a comment) is searched too."""
    data = packet(*[CLEAN] * pages) + b"\n% note: home 651-555-0182\n"
    assert_refused(data, plan, "in the file's data", "phone or fax number")
    data = packet(CLEAN) + b"\n99 0 obj\n(SSN 478-26-1935)\nendobj\n"
    assert_refused(data, plan, "in the file's data", "Social Security number")


@pytest.mark.parametrize("pages", [1, 3, 40])
def test_every_leak_in_the_file_data_is_listed(plan, pages):
    """This test ensures find_leaks (diagnostics) lists each piece of file data holding a withheld value, not only
    the first: the metadata object, the trailer's document information and the file read outside the object
    table all show the SSN, in a one-page packet, a short one and a long one."""
    def metadata(writer):
        writer.add_metadata({"/Subject": "SSN 478-26-1935"})

    found = [(leak.type, leak.source) for leak in find_leaks(packet(*[CLEAN] * pages, build=metadata), plan.redactor)]
    assert found.count(("ssn", "file data")) >= 2 and set(found) == {("ssn", "file data")}


def test_coordinates_that_spell_withheld_digits_are_not_a_leak(plan):
    """This test ensures numbers of the drawing (coordinates) are not mistaken for a record number or SSN."""
    def drawing(writer):
        content = DecodedStreamObject()
        content.set_data(b"q 1 0 0 1 478 26 cm 73.19 42 m 1935 0 l 0073 1942 l S Q "
                         b"BT /F1 11 Tf 72 650 Td (Clean clinical text) Tj ET")
        page = writer.pages[0]
        page[NameObject("/Contents")] = writer._add_object(content.flate_encode())

    verify_no_leak(packet(CLEAN, build=drawing), plan)


def _pieces_one_at_a_time(data: bytes) -> str:
    """The no-leak proof's reading of PDF strings, one hex string at a time (as it was first written)."""
    import binascii

    from packetizer.disclosure.pdftext import _COMMENT, _HEX, _LITERAL, _WHITESPACE, _unescape

    pieces = [_unescape(m.group(0)[1:-1]) for m in _LITERAL.finditer(data)]
    for match in _HEX.finditer(data):
        digits = match.group(1).translate(None, _WHITESPACE)
        if len(digits) % 2:
            digits += b"0"
        raw = binascii.unhexlify(digits)
        pieces.append(raw.decode("utf-16-be", "replace") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1"))
    pieces += [m.group(0).decode("latin-1") for m in _COMMENT.finditer(data)]
    return "\n".join(pieces)


_hex_digits = st.text(alphabet="0123456789abcdefABCDEF \n\t\x0b\x00", max_size=12)
_token = st.one_of(
    _hex_digits.map(lambda d: b"<" + d.encode("latin-1") + b">"),
    _hex_digits.map(lambda d: b"<FEFF" + d.encode("latin-1") + b">"),
    st.binary(max_size=10).map(lambda b: b"(" + b.replace(b"(", b"").replace(b")", b"").replace(b"\\", b"") + b")"),
    st.sampled_from([b" Tj\n", b"[", b"] TJ\n", b"% a comment\n", b"BT ", b"ET\n", b"<<", b">>", b"<>", b"< >"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_token, max_size=30))
def test_strings_in_streams_read_in_one_pass_as_one_at_a_time(tokens):
    """This test ensures the fast reading of content-stream strings finds exactly the text a string-by-string reading does."""
    data = b"".join(tokens)
    assert _text_pieces(data) == _pieces_one_at_a_time(data)


def test_kerned_hex_pieces_of_a_withheld_value_are_found(plan):
    """This test ensures an SSN spread over hex strings in a TJ array (glyph-per-string) is read as one value."""
    pieces = b" ".join(b"<" + ch.encode().hex().encode() + b">" for ch in "478-26-1935")
    text = _text_pieces(b"BT [" + pieces + b"] TJ ET")
    assert plan.redactor.first_hit(text) is not None


def test_only_the_exact_stream_data_ingest_searched_is_not_searched_again(plan):
    """This test ensures the proof skips a stream only when its decoded data has the SHA-256 of data the
    exhibit's redaction searched and found clean: the same stream changed by one byte is searched again
    and its withheld value found."""
    data = packet(CLEAN, build=_unused_form)
    form = b"BT /F1 9 Tf (SSN 478 26 1935) Tj ET"
    altered = b"BT /F1 9 Tf (SSN 478 26 1935) Tj  ET"
    assert [leak.source for leak in find_leaks(data, plan.redactor, streams_searched={stream_digest(altered)})] \
        == ["file data"]
    assert find_leaks(data, plan.redactor, streams_searched={stream_digest(form)}) == []
    # The page's text is still extracted and searched, whatever was searched before.
    shown = packet(b"(SSN 478-26-1935)")
    content = b"BT /F1 11 Tf 72 700 Td (SSN 478-26-1935) Tj ET"
    sources = [leak.source for leak in find_leaks(shown, plan.redactor, streams_searched={stream_digest(content)})]
    assert "pdfium" in sources and "poppler" in sources and "file data" not in sources
    assert "file data" in [leak.source for leak in find_leaks(shown, plan.redactor)]


@pytest.mark.parametrize("pages", [1, 40])
def test_without_poppler_pypdf_reads_every_page_as_the_second_opinion(plan, monkeypatch, pages):
    """Where poppler cannot run, pypdf reads every page in its place (in each process of a long packet), so a
    value is still found by two extractors, on its own page."""
    import packetizer.disclosure.pdftext as pdftext

    monkeypatch.setattr(pdftext, "POPPLER", "/nonexistent/pdftotext")
    shown = [CLEAN] * pages
    shown[-1] = b"(home 651 555 0182)"
    found = {(leak.source, leak.page) for leak in find_leaks(packet(*shown), plan.redactor)}
    assert found >= {("pdfium", pages), ("pypdf", pages)} and "poppler" not in {source for source, _ in found}
    assert find_leaks(packet(*[CLEAN] * pages), plan.redactor) == []


def test_a_long_packet_is_proven_on_both_cores_and_the_seam_is_searched(plan):
    """This test ensures a packet long enough to be read by two processes (SPLIT_PDF_PAGES) reports a value
    on a page of the second half with its own page number, and finds an SSN cut across the break
    between the two halves."""
    from packetizer.limits import SPLIT_PDF_PAGES

    from packetizer.disclosure.verify import LEAD_SHARE

    pages = 2 * SPLIT_PDF_PAGES
    middle = round(pages * LEAD_SHARE)   # the first page the second process reads
    late = [CLEAN] * pages
    late[pages - 2] = b"(home 651 555 0182)"
    leaks = find_leaks(packet(*late), plan.redactor)
    assert {(leak.source, leak.page) for leak in leaks} >= {("pdfium", pages - 1), ("poppler", pages - 1)}

    cut = [CLEAN] * pages
    cut[middle - 1] = b"(Clinical text. SSN 478-26-)"
    cut[middle] = b"(1935 as written.)"
    leaks = find_leaks(packet(*cut), plan.redactor)
    assert ("pdfium", middle) in {(leak.source, leak.page) for leak in leaks}
    assert all(leak.type == "ssn" for leak in leaks)
    # One page alone shows nothing withheld.
    assert find_leaks(packet(cut[middle - 1]), plan.redactor) == []
    assert find_leaks(packet(cut[middle]), plan.redactor) == []


def test_a_short_packet_is_proven_on_both_cores_and_the_seam_is_searched(plan):
    """This test ensures a packet shorter than SPLIT_PDF_PAGES, whose last page the second process reads with the
    file's data, reports a value on that page with its own page number and finds an SSN cut across the break
    before it, by every extractor."""
    from packetizer.limits import SPLIT_PDF_PAGES

    pages = 4
    assert pages < SPLIT_PDF_PAGES
    late = [CLEAN] * pages
    late[-1] = b"(home 651 555 0182)"
    leaks = find_leaks(packet(*late), plan.redactor)
    assert {(leak.source, leak.page) for leak in leaks} >= {("pdfium", pages), ("poppler", pages)}

    cut = [CLEAN] * pages
    cut[-2] = b"(Clinical text. SSN 478-26-)"
    cut[-1] = b"(1935 as written.)"
    leaks = find_leaks(packet(*cut), plan.redactor)
    assert {(leak.source, leak.page) for leak in leaks} >= {("pdfium", pages - 1), ("poppler", pages - 1)}
    assert all(leak.type == "ssn" for leak in leaks)
    with pytest.raises(DisclosureError):
        verify_no_leak(packet(*cut), plan)


def test_bytes_found_clean_as_strings_do_not_vouch_for_the_same_bytes_as_xml_metadata(plan):
    """This test ensures the binding names how a stream was searched: XMP text that a redaction searched
    only in its string operands (as a stream without a subtype, where it holds none) does not let the
    proof skip the same bytes as XML metadata, which are searched as whole text."""
    xmp = b"<x:xmpmeta><dc:creator>maya.lindqvist@example.net</dc:creator></x:xmpmeta>"

    def metadata(writer):
        stream = DecodedStreamObject()
        stream.set_data(xmp)
        stream.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})
        writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)

    data = packet(CLEAN, build=metadata)
    assert _text_pieces(xmp) == ""     # as strings, the bytes hold nothing
    leaks = find_leaks(data, plan.redactor, streams_searched={stream_digest(xmp)})
    assert [(leak.type, leak.source) for leak in leaks] == [("email", "file data")]
    assert find_leaks(data, plan.redactor, streams_searched={stream_digest(xmp, whole_text=True)}) == []


# -- what only poppler's reading of the finished packet shows -------------------------------------------------------
# Why poppler reads every page of the packet again, though it read every exhibit page during redaction: its
# reading of a page depends on where the page is placed and on where its lines are drawn, not only on the
# page's fonts and text.

def _shown(text: bytes, y: int = 700) -> bytes:
    return b"BT /F1 11 Tf 72 %d Td (" % y + text + b") Tj ET "


_LONG = b"Therapy continued as planned with home program exercises reviewed in detail and progress noted by staff today"
# The head of a page: two long lines drawn first at its foot, then its top line "1935 is the code". PDFium
# reads in the order drawn, poppler top to bottom: only poppler's reading starts with "1935".
_HEAD_1935 = _shown(_LONG, 60) + _shown(_LONG, 48) + _shown(b"1935 is the code", 760)


def _assembled(*exhibits: bytes) -> bytes:
    import datetime as dt

    from packetizer.assemble import PartPdf, assemble_packet

    pdf, _ = assemble_packet([PartPdf(data, fit=True, label=f"Exhibit {chr(65 + n)}") for n, data in enumerate(exhibits)],
                             case_id="DX-VERIFY-1", bookmarks=[], created=dt.datetime(2026, 12, 2))
    return pdf


def _redacted(plan, *streams: bytes) -> bytes:
    done = plan.redactor.redact_pdf(drawn(*streams), name="note.pdf")
    assert done.rasterized == ()   # nothing found: every page keeps its text layer
    return done.pdf


def test_a_value_only_poppler_joins_across_the_break_between_two_exhibits_stops_the_packet(plan):
    """This test ensures an SSN whose two parts end one exhibit and begin the next, joined only in poppler's
    reading of the packet (PDFium reads the second part after two long lines), is found by the proof,
    though each exhibit alone held nothing withheld."""
    first = _redacted(plan, _shown(b"Visit 1."), _shown(_LONG) + _shown(b"Member ref 478-26-", 60))
    second = _redacted(plan, _HEAD_1935, _shown(b"Visit 3."))
    leaks = find_leaks(_assembled(first, second), plan.redactor)
    assert ("poppler", 2) in {(leak.source, leak.page) for leak in leaks}
    assert "pdfium" not in {leak.source for leak in leaks}


def test_pages_pdfium_reads_alike_are_read_by_poppler_each_where_it_sits(plan):
    """This test ensures two pages PDFium reads as the same text, one with the SSN's first part at its top and
    one at its foot, are each read by poppler in the packet: the value joined across the break after the
    second one is found. (The exhibit is not redacted first: redaction reads poppler's joins too, and would
    have burnt this one out; see test_disclosure_pdf.py.)"""
    top = _shown(_LONG) + _shown(b"Member ref 478-26-", 760)
    foot = _shown(_LONG) + _shown(b"Member ref 478-26-", 60)
    exhibit = drawn(_shown(b"Visit 1."), top, _HEAD_1935, _shown(b"Visit 4."), foot, _HEAD_1935)
    leaks = find_leaks(_assembled(exhibit), plan.redactor)
    assert ("poppler", 5) in {(leak.source, leak.page) for leak in leaks}
    assert "pdfium" not in {leak.source for leak in leaks}


def test_text_placing_brings_into_the_page_is_read_by_poppler_in_the_packet(plan):
    """This test ensures the SSN's first part, drawn below an exhibit page's box (which poppler leaves out,
    and PDFium reads first on the page), is found once the page is placed on Letter and that text comes
    inside the packet page's box for poppler, joined to the rest at the head of the next page."""
    off_page = _shown(b"Member ref 478-26-", -20) + _shown(_LONG)
    exhibit = _redacted(plan, _shown(b"Visit 1."), off_page, _HEAD_1935, _shown(b"Visit 4."))
    leaks = find_leaks(_assembled(exhibit), plan.redactor)
    assert ("poppler", 2) in {(leak.source, leak.page) for leak in leaks}
    assert "pdfium" not in {leak.source for leak in leaks}

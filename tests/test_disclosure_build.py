"""Minimum necessary end to end: a built packet holds nothing withheld, anywhere, and says what it left out."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import yaml
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject, TextStringObject

from packetizer.caseio import load_case
from packetizer.errors import DisclosureError
from packetizer.pipeline import build_packet
from packetizer.policy import load_registry
from tests.fixtures.disclosure.make_notes import CLINICAL, KEPT, WITHHELD_SPELLINGS, copy_case

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
TODAY = dt.date(2026, 10, 25)


def build(case_file: Path, out: Path, payer: str = "dx-plain"):
    return build_packet(load_case(case_file), load_registry(PAYERS).get(payer), out_dir=out, today=TODAY)


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    root = tmp_path_factory.mktemp("dx")
    return build(copy_case(root / "case"), root / "out")


def spellings_in(text: str) -> list[str]:
    low = re.sub(r"\s+", " ", text).lower()
    squashed = re.sub(r"\s", "", low)
    return sorted({s for values in WITHHELD_SPELLINGS.values() for s in values
                   if s.lower() in low or re.sub(r"\s", "", s.lower()) in squashed})


def every_object_text(pdf: bytes) -> str:
    """Strings and decoded (non-image) stream data of every object, as a forensic reader would dump them."""
    reader = PdfReader(io.BytesIO(pdf))
    parts = []

    def walk(obj, depth=0):
        if depth > 50 or isinstance(obj, IndirectObject):
            return
        if isinstance(obj, StreamObject) and obj.get("/Subtype") != "/Image":
            parts.append(obj.get_data().decode("latin-1"))
        if isinstance(obj, DictionaryObject):
            for value in obj.values():
                walk(value, depth + 1)
        elif isinstance(obj, ArrayObject):
            for value in obj:
                walk(value, depth + 1)
        elif isinstance(obj, (TextStringObject, str)):
            parts.append(str(obj))

    for number in range(1, len(reader.xref_objStm) + max(max(t) for t in reader.xref.values() if t) + 1):
        try:
            walk(reader.get_object(number))
        except Exception:  # noqa: BLE001 - free or missing object numbers
            continue
    return "\n".join(parts)


def test_packet_text_has_no_withheld_value_by_either_extractor(packet):
    """This test ensures no spelling of the SSN, phones, email, street, MRN or account is in the packet's text (pypdf, PDFium)."""
    data = packet.path.read_bytes()
    assert spellings_in(" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)) == []
    document = pdfium.PdfDocument(data)
    assert spellings_in(" ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))) == []


def test_packet_raw_streams_metadata_bookmarks_and_annotations_are_clean(packet):
    """This test ensures the values are not in decoded streams, strings, metadata, bookmarks or annotations either."""
    data = packet.path.read_bytes()
    assert spellings_in(every_object_text(data)) == []
    assert spellings_in(data.decode("latin-1")) == []
    reader = PdfReader(io.BytesIO(data))
    assert spellings_in(json.dumps({k: str(v) for k, v in (reader.metadata or {}).items()})) == []
    titles = []

    def outline(items):
        for item in items:
            if isinstance(item, list):
                outline(item)
            else:
                titles.append(item.title)

    outline(reader.outline)
    assert titles and spellings_in(" ".join(titles)) == []
    annotations = [a.get_object() for page in reader.pages for a in page.get("/Annots", [])]
    assert spellings_in(" ".join(str(a.get("/Contents", "")) for a in annotations)) == []


def test_what_the_payer_needs_stays_readable(packet):
    """This test ensures the member id, name, DOB, NPI, claim number, codes and clinical content remain readable."""
    data = packet.path.read_bytes()
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages))
    for value in KEPT + ["02/17/1983", "February 17, 1983"]:
        assert value in text, value
    assert CLINICAL in text
    assert "[SSN removed]" in text and "[phone removed]" in text


def test_withheld_attachments_are_not_in_the_packet_and_the_report_says_why(packet):
    """This test ensures the psychotherapy note, the Part 2 record and the out-of-window evaluation are absent and explained."""
    data = packet.path.read_bytes()
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
    assert "Psychotherapy session notes" not in text
    assert "Substance use counselling record" not in text
    assert "earlier episode of care" not in text
    assert [s.letter for s in packet.sections if s.kind == "exhibit"] == ["A", "B", "C"]
    report = json.loads(packet.report_path.read_text())
    assert report == packet.report
    assert {a["reason"] for a in report["withheld"]["attachments"]} == {
        "psychotherapy_note_without_authorization", "part2_record_without_consent", "outside_relevance_window"}
    # The progress note's page 4, a drawing, was read by OCR, which found no word on it: it is named unchecked.
    assert report["summary"]["pages_unchecked"] == 1 and report["summary"]["pages_ocr"] == 1
    assert any(w["code"] == "page_not_checked" for w in report["warnings"])


def test_report_files_sit_next_to_the_packet_and_hold_no_values(packet):
    """This test ensures the JSON and HTML reports are written beside the packet and contain no withheld value."""
    stem = packet.path.name.removesuffix(".pdf")
    assert packet.report_path == packet.path.with_name(f"{stem}.disclosure.json")
    assert packet.report_html_path == packet.path.with_name(f"{stem}.disclosure.html")
    for path in (packet.report_path, packet.report_html_path):
        assert spellings_in(path.read_text()) == []
    assert "member.ssn" in packet.report_html_path.read_text()


def test_consented_records_are_included(tmp_path):
    """This test ensures that with both consents the psychotherapy note and the Part 2 record become exhibits."""
    case_file = copy_case(tmp_path / "case")
    doc = yaml.safe_load(case_file.read_text())
    doc["consents"] = {"psychotherapy_notes": True, "part2_records": True}
    case_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = build(case_file, tmp_path / "out")
    assert [s.letter for s in result.sections if s.kind == "exhibit"] == ["A", "B", "C", "D", "E"]
    text = " ".join(p.extract_text() or "" for p in PdfReader(result.path).pages)
    assert "Psychotherapy session notes" in text and "Substance use counselling record" in text
    assert [a["reason"] for a in result.report["withheld"]["attachments"]] == ["outside_relevance_window"]


def test_a_withheld_value_in_a_printed_field_that_is_not_cleaned_stops_the_build_and_leaves_nothing(tmp_path):
    """This test ensures the proof fails the build (fail closed) when the SSN reaches the packet through a printed field
    nothing cleans (the practice contact's name), and no file is left. Free text is cleaned: test_disclosure_casetext."""
    case_file = copy_case(tmp_path / "case")
    doc = yaml.safe_load(case_file.read_text())
    doc["contact"]["name"] += " (patient SSN 478-26-1935)"
    case_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    with pytest.raises(DisclosureError) as caught:
        build(case_file, out)
    assert caught.value.code == "leak"
    assert "Social Security number" in str(caught.value) and "478" not in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []

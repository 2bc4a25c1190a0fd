"""Redaction on the way in: text, Markdown and DOCX notes lose identifiers before layout, with visible markers."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from packetizer.caseio import load_case
from packetizer.disclosure import plan_disclosure
from packetizer.ingest import ingest_attachment
from packetizer.model import Attachment
from packetizer.policy import load_registry
from tests.fixtures.disclosure.make_notes import CLINICAL, WITHHELD_SPELLINGS, copy_case, evaluation_docx

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    case = load_case(copy_case(tmp_path_factory.mktemp("dx") / "case"))
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


def pages(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [re.sub(r"\s+", " ", document[i].get_textpage().get_text_range()) for i in range(len(document))]
    finally:
        document.close()


def found(text: str) -> list[str]:
    squashed = re.sub(r"\s", "", text.lower())
    return [s for values in WITHHELD_SPELLINGS.values() for s in values if re.sub(r"\s", "", s.lower()) in squashed]


def note(tmp_path: Path, name: str, body: str | bytes) -> Attachment:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return Attachment(file=name, path=path, kind="clinical_note", date=dt.date(2026, 10, 11))


def test_text_note_loses_identifiers_and_shows_markers(plan, tmp_path):
    """This test ensures a plain-text note is laid out with markers in place of the identifiers, and keeps the rest."""
    att = next(a for a in plan.included_attachments if a.file.endswith(".txt"))
    exhibit = ingest_attachment(att, redactor=plan.redactor)
    text = " ".join(pages(exhibit.pdf))
    assert found(text) == []
    assert "Her SSN on file: [SSN removed]." in text
    assert "[email removed]" in text and "[address removed]" in text and "[MRN removed]" in text
    for kept in ("QHP770012345", "1234567893", "2026101100457", "02/17/1983", "+1-800-555-0199",
                 "651-555-0100", "billing@juniperpt.example", "INC-7731"):
        assert kept in text
    assert {r.type for r in exhibit.redactions} == {"ssn", "phone", "email", "street_address", "mrn"}
    assert all(r.page == 1 for r in exhibit.redactions)
    assert sum(r.count for r in exhibit.redactions) == 10   # 3 phones, 2 SSNs, 3 record numbers, email, street


def test_docx_split_runs_table_header_and_footer_are_redacted(plan):
    """This test ensures the DOCX's SSN split over two runs, the table phone and address, the header email and the footer MRN are removed."""
    att = next(a for a in plan.included_attachments if a.file.endswith(".docx"))
    exhibit = ingest_attachment(att, redactor=plan.redactor)
    text = " ".join(pages(exhibit.pdf))
    assert found(text) == []
    assert "Social Security no. [SSN removed] (from intake form)." in text
    assert "portal: [email removed]" in text and "MRN [MRN removed]" in text
    assert "Home phone [phone removed]" in text and "Lives at [address removed]" in text
    assert CLINICAL in text and "Member ID QHP770012345" in text
    assert sorted((r.type, r.count) for r in exhibit.redactions) == [
        ("email", 1), ("mrn", 1), ("phone", 1), ("ssn", 1), ("street_address", 1)]


def test_redaction_page_numbers_follow_the_layout(plan, tmp_path):
    """This test ensures a marker that lands on the third page of a long note is counted on page 3."""
    filler = "Therapeutic exercise delivered as planned; tolerated well.\n" * 70
    body = f"Intake.\n{filler}{filler}Callback 651-555-0182 from the patient.\n{filler}"
    exhibit = ingest_attachment(note(tmp_path, "long.txt", body), redactor=plan.redactor)
    text_pages = pages(exhibit.pdf)
    where = next(i for i, t in enumerate(text_pages, start=1) if "[phone removed]" in t)
    assert where > 1
    assert [(r.type, r.page, r.count) for r in exhibit.redactions] == [("phone", where, 1)]


def test_markdown_note_keeps_its_formatting_around_markers(plan, tmp_path):
    """This test ensures Markdown emphasis, lists and tables still render with identifiers removed from them."""
    body = ("# Intake\n\n* **SSN:** 478-26-1935\n* Email: <mailto:maya.lindqvist@example.net>\n\n"
            "| Field | Value |\n|---|---|\n| MRN | 00731942 |\n| Plan | 97110 twice a week |\n")
    exhibit = ingest_attachment(note(tmp_path, "intake.md", body), redactor=plan.redactor)
    text = " ".join(pages(exhibit.pdf))
    assert found(text) == []
    assert "SSN: [SSN removed]" in text and "[email removed]" in text and "MRN [MRN removed]" in text
    assert "97110 twice a week" in text


def test_docx_pictures_are_counted_as_unchecked(plan, tmp_path):
    """This test ensures pictures inside a DOCX are counted, since text inside them cannot be checked."""
    import docx
    from docx.shared import Inches
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(picture, format="PNG")
    document = docx.Document(io.BytesIO(evaluation_docx()))
    document.add_picture(io.BytesIO(picture.getvalue()), width=Inches(1))
    out = io.BytesIO()
    document.save(out)
    exhibit = ingest_attachment(note(tmp_path, "with-picture.docx", out.getvalue()), redactor=plan.redactor)
    assert exhibit.pictures == 1
    assert found(" ".join(pages(exhibit.pdf))) == []


def test_without_a_redactor_nothing_changes(plan):
    """This test ensures ingest without a redactor leaves notes as they are (the redaction hook is opt-in)."""
    att = next(a for a in plan.included_attachments if a.file.endswith(".txt"))
    exhibit = ingest_attachment(att)
    assert exhibit.redactions == ()
    assert "478 26 1935" in " ".join(pages(exhibit.pdf))
    assert len(PdfReader(io.BytesIO(exhibit.pdf)).pages) == exhibit.pages

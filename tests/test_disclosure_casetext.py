"""Withheld values staff typed into the case's own free text: replaced by markers with a warning, not a refused build."""

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

from packetizer.caseio import case_from_mapping, load_case
from packetizer.disclosure import plan_disclosure
from packetizer.disclosure.casetext import redact_case_text
from packetizer.pipeline import build_packet
from packetizer.policy import load_registry
from tests.fixtures.disclosure.make_notes import KEPT, copy_case

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
TODAY = dt.date(2026, 10, 25)


def make_case(tmp_path: Path, **changes):
    """A case with one text attachment; ``changes`` update the top level of its mapping."""
    (tmp_path / "note.txt").write_text("Progress note.")
    doc = {
        "case_id": "DX-TEXT-2", "payer_id": "dx-plain",
        "member": {"member_id": "QHP770012345", "first_name": "Maya", "last_name": "Lindqvist",
                   "dob": "1983-02-17", "ssn": "478-26-1935", "phone": "(651) 555-0182", "mrn": "48213"},
        "emergency_contact": {"name": "Jon Lindqvist"},
        "claim": {"claim_number": "2026101100457"},
        "services": [{"date_of_service": "2026-10-11", "code": "97110", "units": 3, "diagnosis_codes": ["M54.16"]}],
        "rendering_provider": {"name": "Juniper Physical Therapy", "npi": "1234567893"},
        "late_reason": {"category": "payer_portal_outage", "explanation": "Portal down."},
        "medical_necessity": "Needed.",
        "contact": {"name": "Billing desk", "phone": "651-555-0100", "email": "billing@juniperpt.example"},
        "attachments": [{"file": "note.txt", "kind": "clinical_note", "date": "2026-10-11"}],
        **changes,
    }
    return case_from_mapping(doc, tmp_path)


def plan_for(case):
    return plan_disclosure(case, load_registry(PAYERS).get("dx-plain"))


def test_withheld_values_in_free_text_become_markers_and_each_field_is_named(tmp_path):
    """This test ensures the SSN, a relative's name, the MRN and the phone typed into the explanation, evidence, timeline, service description and an attachment title are replaced, one warning per field."""
    case = make_case(
        tmp_path,
        late_reason={"category": "other", "explanation": "Patient SSN 478 26 1935 given for reference.",
                     "evidence": "Portal ticket INC-7731; fax +1-800-555-0199; clinic at 12 Main Street."},
        medical_necessity="Misfiled SSN 301-22-7788 aside, therapy is needed.\n\nChart 48213 reviewed.",
        timeline=[{"date": "2026-10-20", "event": "Denial received."},
                  {"date": "2026-10-12", "event": "Called her husband JON LINDQVIST about the visit."}],
        services=[{"date_of_service": "2026-10-11", "code": "97110", "units": 3, "diagnosis_codes": ["M54.16"],
                   "description": "Therapeutic exercise (MRN 48213)"}],
        attachments=[{"file": "note.txt", "kind": "clinical_note", "date": "2026-10-11",
                      "title": "Note faxed from 651.555.0182"}],
    )
    plan = plan_for(case)
    printed = plan.printed_case
    assert printed.late_reason.explanation == "Patient SSN [SSN removed] given for reference."
    assert printed.late_reason.evidence == case.late_reason.evidence      # payer fax, clinic address: on purpose
    assert printed.medical_necessity == ("Misfiled SSN [SSN removed] aside, therapy is needed.\n\n"
                                         "Chart [MRN removed] reviewed.")
    assert [e.event for e in printed.timeline] == ["Called her husband [identifier removed] about the visit.",
                                                   "Denial received."]
    assert printed.services[0].description == "Therapeutic exercise (MRN [MRN removed])"
    assert plan.included_attachments[0].display_title == "Note faxed from [phone removed]"
    warnings = [n for n in plan.notes if n["code"] == "withheld_value_removed"]
    assert warnings == [
        {"code": "withheld_value_removed", "field": "late_reason.explanation",
         "message": "late_reason.explanation contained a withheld Social Security number; "
                    "it was replaced by [SSN removed] in the packet"},
        {"code": "withheld_value_removed", "field": "medical_necessity",
         "message": "medical_necessity contained a withheld Social Security number and a withheld medical record "
                    "or account number; they were replaced by [SSN removed] and [MRN removed] in the packet"},
        # The timeline is kept in date order; the warning names the event's place in the case file.
        {"code": "withheld_value_removed", "field": "timeline[1].event",
         "message": "timeline[1].event contained a withheld identifier; it was replaced by [identifier removed] "
                    "in the packet"},
        {"code": "withheld_value_removed", "field": "services[0].description",
         "message": "services[0].description contained a withheld medical record or account number; "
                    "it was replaced by [MRN removed] in the packet"},
        {"code": "withheld_value_removed", "field": "attachments[0].title",
         "message": "attachments[0].title contained a withheld phone or fax number; "
                    "it was replaced by [phone removed] in the packet"},
    ]
    shown = json.dumps(plan.notes)
    for value in ("478", "7788", "48213", "JON", "Lindqvist", "0182"):
        assert value not in shown


def test_a_case_without_withheld_values_in_its_text_is_printed_as_it_is(tmp_path):
    """This test ensures free text that names only what the payer gets (member, clinic, payer fax, kept numbers) is untouched and warns nothing."""
    case = make_case(tmp_path, late_reason={
        "category": "other",
        "explanation": "Maya Lindqvist (member QHP770012345) was seen; claim 2026101100457; call 651-555-0100 "
                       "or fax +1-800-555-0199; we are at 12 Main Street, Saint Paul."})
    plan = plan_for(case)
    assert redact_case_text(case, plan.redactor) == (case, [])
    assert plan.printed_case is case
    assert not [n for n in plan.notes if n["code"] == "withheld_value_removed"]


@pytest.fixture(scope="module")
def typed_in(tmp_path_factory):
    """The disclosure example built with the SSN typed into the explanation and a relative's name into the timeline."""
    root = tmp_path_factory.mktemp("typed")
    case_file = copy_case(root / "case")
    doc = yaml.safe_load(case_file.read_text())
    doc["late_reason"]["explanation"] += " Patient SSN 478-26-1935 for reference."
    doc["timeline"] = [{"date": dt.date(2026, 10, 12), "event": "Spoke with her husband Jon Lindqvist by phone."}]
    case_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    case = load_case(case_file)
    return build_packet(case, load_registry(PAYERS).get("dx-plain"), out_dir=root / "out", today=TODAY)


def test_a_build_with_withheld_values_typed_into_the_case_succeeds_with_markers(typed_in):
    """This test ensures the build is not refused: the packet's text (pypdf and PDFium) shows the markers, not the values."""
    data = typed_in.path.read_bytes()
    texts = [" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)]
    document = pdfium.PdfDocument(data)
    texts.append(" ".join(document[i].get_textpage().get_text_range() for i in range(len(document))))
    document.close()
    for text in texts:
        flat = re.sub(r"\s+", " ", text)
        assert "Patient SSN [SSN removed] for reference" in flat
        assert "Spoke with her husband [identifier removed] by phone" in flat
        assert "1935" not in flat and "Jon Lindqvist" not in flat
        for kept in KEPT:
            assert kept in flat


def test_the_build_warns_which_fields_held_withheld_values(typed_in):
    """This test ensures the build's warnings and its disclosure report name the explanation and the timeline event, without the values."""
    fields = {(w.code, w.field) for w in typed_in.warnings}
    assert {("withheld_value_removed", "late_reason.explanation"), ("withheld_value_removed", "timeline[0].event")} <= fields
    report = json.loads(typed_in.report_path.read_text())
    assert {"late_reason.explanation", "timeline[0].event"} <= {
        w["field"] for w in report["warnings"] if w["code"] == "withheld_value_removed"}
    for text in (typed_in.report_path.read_text(), typed_in.report_html_path.read_text(), repr(typed_in.warnings)):
        assert "478-26-1935" not in text and "Jon Lindqvist" not in text

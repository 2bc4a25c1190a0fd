"""The disclosure report: valid against its schema, complete, and free of the values it withholds."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from packetizer.caseio import load_case
from packetizer.disclosure import disclosure_report, plan_disclosure, render_report_html, text_layer_findings
from packetizer.errors import DisclosureError
from packetizer.ingest import ingest_attachment
from packetizer.policy import load_registry
from packetizer.schemas import schema_errors
from tests.fixtures.disclosure.make_notes import WITHHELD_SPELLINGS, copy_case

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
CREATED = "2026-10-25T12:00:00Z"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    case = load_case(copy_case(tmp_path_factory.mktemp("dx") / "case"))
    policy = load_registry(PAYERS).get("dx-plain")
    plan = plan_disclosure(case, policy)
    exhibits = [(letter, ingest_attachment(att, redactor=plan.redactor))
                for letter, att in zip("ABC", plan.included_attachments)]
    report = disclosure_report(
        plan, exhibits=exhibits, case_id=case.case_id, payer_id=policy.id, created=CREATED,
        override={"reason": "Deadline missed because of the outage <see ticket>", "by": "kbrandt",
                  "findings": ["past_deadline"]},
        warnings=[{"code": "icd_unspecified", "message": "a check warning", "field": "services[0]"}, "plain words"],
    )
    return case, policy, plan, report


def all_spellings() -> list[str]:
    return [s for values in WITHHELD_SPELLINGS.values() for s in values] + ["Jon Lindqvist", "651.555.0166"]


def test_report_is_valid_against_its_schema(built):
    """This test ensures the report matches schemas/disclosure-report.schema.json."""
    *_, report = built
    assert schema_errors("disclosure-report", report) == []


def test_report_lists_fields_attachments_redactions_warnings_and_override(built):
    """This test ensures the report says what was included, withheld (with reasons) and removed, and by whom it was overridden."""
    _, _, plan, report = built
    assert report["included"]["fields"] == list(plan.included_fields)
    assert {f["field"] for f in report["withheld"]["fields"]} >= {"member.ssn", "member.mrn", "internal_account"}
    assert [(a["index"], a["reason"]) for a in report["withheld"]["attachments"]] == [
        (3, "psychotherapy_note_without_authorization"), (4, "part2_record_without_consent"),
        (5, "outside_relevance_window"),
    ]
    assert [(a["letter"], a["kind"], a["pages"]) for a in report["included"]["attachments"]] == [
        ("A", "clinical_note", 4), ("B", "evaluation", 1), ("C", "correspondence", 1),
    ]
    assert report["included"]["attachments"][0]["rasterized_pages"] == [1, 3]
    assert report["included"]["attachments"][0]["unchecked_pages"] == [4]
    by_exhibit = {}
    for r in report["redactions"]:
        by_exhibit.setdefault(r["exhibit"], set()).add(r["type"])
    assert by_exhibit["A"] == {"ssn", "phone", "email", "street_address", "mrn"}
    assert by_exhibit["B"] == {"ssn", "phone", "email", "street_address", "mrn"}
    assert by_exhibit["C"] >= {"ssn", "phone", "email", "street_address", "mrn"}
    assert report["summary"]["redactions"] == sum(r["count"] for r in report["redactions"])
    assert report["summary"]["pages_rasterized"] == 2
    codes = [w["code"] for w in report["warnings"]]
    assert codes[:2] == ["icd_unspecified", "warning"]
    unchecked = next(w for w in report["warnings"] if w["code"] == "page_not_checked")
    assert unchecked["field"] == "attachments[0]"
    assert unchecked["message"].startswith("Exhibit A (attachments[0], clinical note dated 2026-10-11): page 4 has no text layer")
    assert report["override"] == {"reason": "Deadline missed because of the outage <see ticket>", "by": "kbrandt",
                                  "findings": ["past_deadline"]}


def test_report_never_holds_a_withheld_value(built):
    """This test ensures no spelling of any withheld value appears anywhere in the JSON report, even with spaces removed."""
    *_, report = built
    text = json.dumps(report).lower()
    squashed = re.sub(r"[\s\-.()]", "", text)
    for value in all_spellings():
        assert value.lower() not in text
        if len(re.sub(r"[\s\-.()]", "", value)) >= 6:
            assert re.sub(r"[\s\-.()]", "", value.lower()) not in squashed, value


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.parts.append(data)


def test_staff_page_shows_the_report_escaped_and_without_values(built):
    """This test ensures the HTML page names the withheld fields, attachments and reasons, escapes text, and holds no value."""
    *_, report = built
    page = render_report_html(report)
    parser = _Text()
    parser.feed(page)
    text = " ".join(" ".join(parser.parts).split())
    assert "script" not in parser.tags
    assert "DX-2026-0042" in text
    assert "member.ssn" in text and "not on the payer's list of needed fields" in text
    assert "psychotherapy notes need the patient's specific authorization" in text
    assert "Deadline missed because of the outage <see ticket>" in text        # shown as text...
    assert "&lt;see ticket&gt;" in page                                         # ...because it was escaped
    assert "Social Security number" in text and "page 4 has no text layer" in text
    for value in all_spellings():
        assert value.lower() not in page.lower()


def test_report_that_would_not_match_the_schema_is_refused(built):
    """This test ensures a malformed report (here a bad build time) raises instead of being written."""
    case, policy, plan, _ = built
    with pytest.raises(DisclosureError) as caught:
        disclosure_report(plan, exhibits=[], case_id=case.case_id, payer_id=policy.id, created="yesterday")
    assert caught.value.code == "bad_report"
    assert "created" in str(caught.value)


def test_check_time_warnings_name_pages_that_cannot_be_checked(built):
    """This test ensures the check-time helper reports the scanned page of the included PDF, by position and page."""
    case, policy, *_ = built
    findings = text_layer_findings(case, policy)
    assert findings == [{
        "code": "page_not_checked", "field": "attachments[0]",
        "message": "attachments[0] (clinical note dated 2026-10-11): page 4 has no text layer (a scan or picture)"
                   " and could not be checked for identifiers; look at it before sending",
    }]

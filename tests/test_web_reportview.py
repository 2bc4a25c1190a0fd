"""This test ensures that a disclosure report and a preview are shaped for staff as they are meant to be read:
the counts of the summary agree with the report a real build wrote, fields are named in words (never paths),
and a long document's pages fold into a few runs of pages checked alike with the same kinds of value removed."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re

import pytest
import weasyprint

from browser.webapp_support import EXAMPLE, MEMBER_SSN, case_form, follow_job, page_token
from packetizer.caseio import load_case
from packetizer.disclosure.plan import plan_disclosure
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.web.reportview import (
    RUNS_SHOWN_OPEN, checked_words, date_words, document_view, field_words, page_runs, preview_documents,
    removed_words, report_view,
)

BUILT = dt.datetime(2026, 10, 6, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def example_report(tmp_path_factory) -> dict:
    """The disclosure report JSON of the example case, built once for the module."""
    case = load_case(EXAMPLE / "case.yaml")
    packet = build_packet(case, load_payer(case.payer_id), out_dir=tmp_path_factory.mktemp("built"),
                          today=BUILT.date(), clock=lambda: BUILT)
    return json.loads(packet.report_path.read_text(encoding="utf-8"))


def _shown(view) -> list[str]:
    """Every text of the view the report page prints."""
    texts = [*view.fields_sent, *view.pages_by_method, view.removed_words, *view.warnings]
    texts += [text for reason, names in view.withheld_fields for text in (reason, *names)]
    texts += [text for pair in view.searched for text in pair]
    texts += [text for row in view.removal_rows for text in row]
    for exhibit in view.exhibits:
        texts += [exhibit.kind_words, exhibit.date_words, exhibit.checked_words, exhibit.removed_words,
                  *(run.words for run in exhibit.runs)]
    return texts


def test_the_summary_counts_agree_with_the_report_of_a_real_build(example_report):
    view = report_view(example_report)
    attachments = example_report["included"]["attachments"]
    assert [e.letter for e in view.exhibits] == [a["letter"] for a in attachments] == ["A", "B", "C"]
    assert view.pages == sum(a["pages"] for a in attachments)
    assert view.pages_by_method == [f"{view.pages} by text layer", "0 by OCR", "0 unchecked"]
    assert view.removed_count == example_report["summary"]["redactions"] == 3
    assert view.removed_words == "2 phone or fax numbers, 1 medical record or account number"
    assert [e.removed_count for e in view.exhibits] == [a["redactions"] for a in attachments]
    assert view.withheld_field_count == example_report["summary"]["fields_withheld"] == 4
    assert len(view.fields_sent) == len(example_report["included"]["fields"])
    assert view.created == "October 6, 2026, 09:30 UTC"
    assert view.warnings == () and view.override is None and view.withheld_documents == ()


def test_withheld_fields_are_grouped_by_their_reason_and_named_in_words(example_report):
    view = report_view(example_report)
    [(reason, names)] = view.withheld_fields
    assert reason == "not on the payer's list of needed fields (minimum necessary)"
    assert names == ("Member, SSN", "Member, phone", "Member, home address", "Member, MRN")
    assert view.searched[0] == ("Member, SSN", "Social Security number")
    # No path of the JSON reaches the page: no dotted names, no positions.
    for text in _shown(view):
        assert "member." not in text and "attachments[" not in text and "_" not in text, text


def test_removals_are_listed_per_exhibit_and_page_by_kind_and_count(example_report):
    view = report_view(example_report)
    assert view.removal_rows == [("A", "Page 1", "1 phone or fax number, 1 medical record or account number"),
                                 ("C", "Page 1", "1 phone or fax number")]
    first, second, third = view.exhibits
    assert (first.kind_words, first.date_words) == ("Evaluation", "September 14, 2026")
    assert first.removed_words == "2 values removed: 1 phone or fax number, 1 medical record or account number"
    assert first.checked_words == "The only page by text layer"
    assert second.removed_words == "Nothing removed" and second.checked_words == "Both pages by text layer"
    assert [r.words for r in second.runs] == ["Pages 1–2: text layer, nothing removed"]


def test_a_withheld_document_an_override_and_a_low_confidence_page_reach_the_summary(example_report):
    report = copy.deepcopy(example_report)
    report["withheld"]["attachments"] = [{
        "index": 3, "field": "attachments[3]", "kind": "psychotherapy_note", "date": "2026-09-16",
        "reason": "psychotherapy_note_without_authorization",
        "reason_text": "psychotherapy notes need the patient's specific authorization"}]
    exhibit = report["included"]["attachments"][1]
    exhibit["page_checks"][1] = {"page": 2, "method": "unchecked", "confidence": 41.6}
    exhibit["unchecked_pages"] = [2]
    report["override"] = {"reason": "Payer asked for it by phone", "by": "sam"}
    report["warnings"] = [{"code": "page_not_checked", "field": "attachments[1]", "message": "Look at page 2."}]
    view = report_view(report)
    assert view.withheld_documents == ({"kind_words": "Psychotherapy note", "date_words": "September 16, 2026",
                                        "reason": "psychotherapy notes need the patient's specific authorization"},)
    assert view.unchecked_pages == 1 and view.warnings == ("Look at page 2.",)
    assert view.override == {"reason": "Payer asked for it by phone", "by": "sam"}
    assert view.pages_by_method == [f"{view.pages - 1} by text layer", "0 by OCR", "1 unchecked"]
    assert [r.words for r in view.exhibits[1].runs] == ["Page 1: text layer, nothing removed",
                                                        "Page 2: unchecked (confidence 42), nothing removed"]


def test_a_200_page_note_is_three_runs_not_200_lines():
    checks = ([{"page": p, "method": "text_layer"} for p in range(1, 181)]
              + [{"page": 181, "method": "ocr", "confidence": 91.4, "reason": "the text layer is a scan's"}]
              + [{"page": p, "method": "text_layer"} for p in range(182, 201)])
    removed = [{"page": 181, "type": "phone", "count": 1}, {"page": 181, "type": "mrn", "count": 1}]
    runs = page_runs(200, checks, removed)
    assert [r.words for r in runs] == [
        "Pages 1–180: text layer, nothing removed",
        "Page 181: OCR (confidence 91), 2 values removed (1 phone or fax number, 1 medical record or account number)",
        "Pages 182–200: text layer, nothing removed",
    ]
    assert runs[1].reasons == ("the text layer is a scan's",)
    assert checked_words(runs) == "199 pages by text layer, 1 page by OCR"


def test_pages_with_the_same_kinds_removed_join_one_run_and_their_counts_add_up():
    checks = [{"page": p, "method": "text_layer"} for p in range(1, 11)]
    removed = [{"page": p, "type": "mrn", "count": 1} for p in range(1, 11)] + [{"page": 4, "type": "mrn", "count": 2}]
    [run] = page_runs(10, checks, removed)
    assert run.words == "Pages 1–10: text layer, 12 values removed (12 medical record or account numbers)"
    # Another kind on one page, or another method, starts a run of its own.
    removed.append({"page": 5, "type": "ssn", "count": 1})
    checks[6] = {"page": 7, "method": "ocr", "confidence": 88.0}
    assert [(r.first, r.last) for r in page_runs(10, checks, removed)] == [(1, 4), (5, 5), (6, 6), (7, 7), (8, 10)]


def test_ocr_confidences_of_a_run_are_told_as_a_range():
    checks = [{"page": p, "method": "ocr", "confidence": c} for p, c in ((1, 90.2), (2, 77.6), (3, 95.0))]
    assert page_runs(3, checks, [])[0].words == "Pages 1–3: OCR (confidence 78–95), nothing removed"


def test_a_report_written_before_page_checks_says_the_check_is_not_recorded(example_report):
    report = copy.deepcopy(example_report)
    for attachment in report["included"]["attachments"]:
        del attachment["page_checks"]
    view = report_view(report)
    assert view.exhibits[1].checked_words == "Both pages not recorded"
    assert view.pages_by_method[-1] == f"{view.pages} not recorded"
    assert view.exhibits[0].runs[0].words.startswith("Page 1: check not recorded, ")


def test_many_runs_are_folded_on_the_page():
    checks = [{"page": p, "method": "ocr" if p % 2 else "text_layer"} for p in range(1, 21)]
    few = document_view("A", "clinical_note", "2026-09-18", 3, checks[:3], [])
    many = document_view("A", "clinical_note", "2026-09-18", 20, checks, [])
    assert len(few.runs) == 3 and not few.folded
    assert len(many.runs) == 20 > RUNS_SHOWN_OPEN and many.folded


def test_words_for_fields_kinds_and_dates():
    assert field_words("member.ssn") == "Member, SSN"
    assert field_words("member.dob") == "Member, date of birth"
    assert field_words("member.member_id") == "Member, member id"
    assert field_words("services") == "Service lines"
    assert field_words("services[1].code") == "Service line 2, CPT/HCPCS code"
    assert field_words("member.nickname") == "Member, nickname"
    assert field_words("practice_account") == "Practice account"
    assert removed_words({"email": 2, "ssn": 1, "street_address": 3}) == (
        "1 Social Security number, 2 email addresses, 3 street addresses")
    assert date_words("2026-09-14") == "September 14, 2026"
    assert date_words("not a date") == "not a date"


def test_the_preview_lists_every_document_in_the_case_order_with_its_exhibit_letter():
    case = load_case(EXAMPLE / "case.yaml")
    plan = plan_disclosure(case, load_payer(case.payer_id))
    items = [{"pages": 2, "error": None, "unchecked_pages": [],
              "page_checks": [{"page": 1, "method": "text_layer"}, {"page": 2, "method": "text_layer"}],
              "redactions": [{"type": "phone", "page": 2, "count": 1}]}] * len(plan.included_indexes)
    items[-1] = {"pages": None, "error": "The file does not read.", "unchecked_pages": [], "page_checks": [],
                 "redactions": []}
    documents = preview_documents(case, plan, items)
    assert [d.att for d in documents] == list(case.attachments)
    assert [d.letter for d in documents] == ["A", "B", "C"]
    assert [r.words for r in documents[0].view.runs] == ["Page 1: text layer, nothing removed",
                                                         "Page 2: text layer, 1 value removed (1 phone or fax number)"]
    assert documents[0].view.removed_items == [("phone", "1 phone or fax number")]
    assert documents[-1].view is None and documents[-1].error == "The file does not read."


def _alternating_note(folder, pages: int = 8):
    """A digital note with the member's SSN typed on every even page: each page starts a run of its own."""
    body = "".join(f"<section><h1>Visit {n}</h1><p>Therapeutic exercise.</p>"
                   f"{f'<p>Intake: SSN {MEMBER_SSN} on file.</p>' if n % 2 == 0 else ''}</section>"
                   for n in range(1, pages + 1))
    target = folder / "alternating-note.pdf"
    target.write_bytes(weasyprint.HTML(string="<style>section { break-after: page }</style>" + body).write_pdf())
    return target


def test_the_preview_folds_many_runs_and_converts_a_result_stored_without_page_checks_again(app, staff, tmp_path):
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form("RA-READ-0002"), "csrf_token": token, "action": "save"})
    case_url = created.headers["Location"]
    with open(_alternating_note(tmp_path), "rb") as handle:
        staff.post(f"{case_url}/documents", content_type="multipart/form-data",
                   data={"csrf_token": token, "file": (handle, "alternating-note.pdf"), "kind": "clinical_note",
                         "date": "2026-09-18", "title": ""})
    follow_job(staff, staff.get(f"{case_url}/preview"))
    shown = staff.get(f"{case_url}/preview")
    html = shown.data.decode()
    assert shown.status_code == 200 and MEMBER_SSN not in html
    folded = re.search(r"<details class=\"page-runs-details\"><summary>(.*?)</summary>(.*?)</details>", html, re.S)
    assert folded[1] == "Page by page (8 groups of pages)"
    assert re.findall(r'<li class="page-run[^"]*">(.*?)</li>', folded[2])[:2] == [
        "Page 1: text layer, nothing removed", "Page 2: text layer, 1 value removed (1 Social Security number)"]
    assert "4 values:" in re.search(r'<dd class="redactions">(.*?)</dd>', html, re.S)[1]

    [stored] = app.extensions["packetizer"].previews_dir.glob("*.json")
    result = json.loads(stored.read_text(encoding="utf-8"))
    for item in result["included"]:
        del item["page_checks"]   # as a preview stored before pages were kept check by check
    stored.write_text(json.dumps(result), encoding="utf-8")
    again = staff.get(f"{case_url}/preview")
    assert again.status_code == 302 and "/jobs/" in again.headers["Location"]

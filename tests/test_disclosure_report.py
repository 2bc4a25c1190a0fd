"""The disclosure report: valid against its schema, complete, and free of the values it withholds."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from packetizer import limits
from packetizer.caseio import load_case
from packetizer.disclosure import disclosure_report, plan_disclosure, render_report_html
from packetizer.errors import DisclosureError
from packetizer.ingest import ingest_attachment
from packetizer.pagecheck import METHODS, OCR, TEXT_LAYER, UNCHECKED, PageCheck
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
    return case, policy, plan, report, exhibits


def all_spellings() -> list[str]:
    return [s for values in WITHHELD_SPELLINGS.values() for s in values] + ["Jon Lindqvist", "651.555.0166"]


def test_report_is_valid_against_its_schema(built):
    """This test ensures the report matches schemas/disclosure-report.schema.json."""
    report = built[3]
    assert schema_errors("disclosure-report", report) == []


def test_report_lists_fields_attachments_redactions_warnings_and_override(built):
    """This test ensures the report says what was included, withheld (with reasons) and removed, and by whom it was overridden."""
    _, _, plan, report, _ = built
    assert report["included"]["fields"] == list(plan.included_fields)
    assert {f["field"] for f in report["withheld"]["fields"]} >= {"member.ssn", "member.mrn", "internal_account"}
    assert [(a["index"], a["reason"]) for a in report["withheld"]["attachments"]] == [
        (3, "psychotherapy_note_without_authorization"), (4, "part2_record_without_consent"),
        (5, "outside_relevance_window"),
    ]
    assert [(a["letter"], a["kind"], a["pages"]) for a in report["included"]["attachments"]] == [
        ("A", "clinical_note", 4), ("B", "evaluation", 1), ("C", "correspondence", 1),
    ]
    assert {1, 3} <= set(report["included"]["attachments"][0]["rasterized_pages"])
    by_exhibit = {}
    for r in report["redactions"]:
        by_exhibit.setdefault(r["exhibit"], set()).add(r["type"])
    assert by_exhibit["A"] == {"ssn", "phone", "email", "street_address", "mrn"}
    assert by_exhibit["B"] == {"ssn", "phone", "email", "street_address", "mrn"}
    assert by_exhibit["C"] >= {"ssn", "phone", "email", "street_address", "mrn"}
    assert report["summary"]["redactions"] == sum(r["count"] for r in report["redactions"])
    assert report["summary"]["pages_rasterized"] == sum(len(a["rasterized_pages"]) for a in report["included"]["attachments"])
    codes = [w["code"] for w in report["warnings"]]
    assert codes[:2] == ["icd_unspecified", "warning"]
    assert "pictures_not_checked" not in codes
    assert report["override"] == {"reason": "Deadline missed because of the outage <see ticket>", "by": "kbrandt",
                                  "findings": ["past_deadline"]}


def test_report_never_holds_a_withheld_value(built):
    """This test ensures no spelling of any withheld value appears anywhere in the JSON report, even with spaces removed."""
    report = built[3]
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
    report = built[3]
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
    assert "Social Security number" in text
    assert "How each page was checked" in text
    assert re.search("(p\\. 2|pp\\. [12]\u2013[234]) text layer", text)       # the clean page 2 of Exhibit A
    for value in all_spellings():
        assert value.lower() not in page.lower()


def test_the_report_page_is_rendered_from_its_template_compiled_ahead(built, monkeypatch):
    """A build compiles the report's template while it waits for its front sections; the page it renders after
    its proof comes from that compile (the template's file is not read again), and is the same page."""
    import jinja2

    from packetizer import render
    from packetizer.disclosure import prepare_report_html

    report = built[3]
    expected = render_report_html(report)
    render._environment.cache_clear()
    prepare_report_html()

    def not_read_again(*args, **kwargs):
        raise AssertionError("the report's template was read again")

    with monkeypatch.context() as patched:
        patched.setattr(jinja2.FileSystemLoader, "get_source", not_read_again)
        assert render_report_html(report) == expected
        render._environment.cache_clear()   # without the compile ahead, the template is read at render time
        with pytest.raises(AssertionError, match="read again"):
            render_report_html(report)
    render._environment.cache_clear()


def test_a_template_that_cannot_be_compiled_ahead_is_reported_when_rendered(monkeypatch, tmp_path):
    from packetizer import render
    from packetizer.errors import RenderError

    (tmp_path / "broken.html").write_text("{% if %}")
    monkeypatch.setattr(render, "_template_env_key", lambda payer_id: (str(tmp_path),))
    render.prepare_template("broken.html")   # nothing raised ahead
    render.prepare_template("missing.html")
    with pytest.raises(RenderError, match="template broken.html: TemplateSyntaxError"):
        render.render_html("broken.html", {})
    with pytest.raises(RenderError, match="template missing.html not found"):
        render.render_html("missing.html", {})
    render._environment.cache_clear()


def test_report_that_would_not_match_the_schema_is_refused(built):
    """This test ensures a malformed report (here a bad build time) raises instead of being written."""
    case, policy, plan, *_ = built
    with pytest.raises(DisclosureError) as caught:
        disclosure_report(plan, exhibits=[], case_id=case.case_id, payer_id=policy.id, created="yesterday")
    assert caught.value.code == "bad_report"
    assert "created" in str(caught.value)


def test_every_exhibit_page_says_how_it_was_checked(built):
    """This test ensures each exhibit lists one check per page, and its OCR and unchecked pages follow from them.

    Exhibit A's page 2 is clean typeset text (its text layer is trusted); its page 4 is a scan,
    read by OCR with the reason given. The DOCX and text notes are typeset by us: text layer.
    """
    report = built[3]
    for attachment in report["included"]["attachments"]:
        checks = attachment["page_checks"]
        assert [c["page"] for c in checks] == list(range(1, attachment["pages"] + 1))
        assert {c["method"] for c in checks} <= set(METHODS)
        assert attachment["ocr_pages"] == [c["page"] for c in checks if c["method"] in (OCR, UNCHECKED)]
        assert attachment["unchecked_pages"] == [c["page"] for c in checks if c["method"] == UNCHECKED]
    a, b, c = report["included"]["attachments"]
    assert a["page_checks"][1] == {"page": 2, "method": TEXT_LAYER}
    assert 4 in a["ocr_pages"] and a["page_checks"][3]["reason"]
    assert {check["method"] for check in b["page_checks"] + c["page_checks"]} == {TEXT_LAYER}
    assert report["summary"]["pages_ocr"] == sum(len(x["ocr_pages"]) for x in (a, b, c))
    assert report["summary"]["pages_unchecked"] == sum(len(x["unchecked_pages"]) for x in (a, b, c))


def _with_checks(doc, *checks: PageCheck):
    """A real exhibit with other page checks: what ingest reports for a note with pages OCR read poorly."""
    return dataclasses.replace(doc, pages=len(checks), page_checks=tuple(checks),
                               unchecked_pages=tuple(c.page for c in checks if c.method == UNCHECKED))


def test_page_not_checked_names_the_page_and_its_ocr_confidence(built):
    """This test ensures a page OCR read below MIN_OCR_CONFIDENCE gives one plain warning with its page and confidence,
    and the staff page shows each exhibit's pages grouped by how they were checked."""
    case, policy, plan, _, exhibits = built
    (a, doc_a), (b, doc_b), *_ = exhibits
    doc_a = _with_checks(doc_a, PageCheck(1, TEXT_LAYER), PageCheck(2, TEXT_LAYER), PageCheck(3, TEXT_LAYER),
                         PageCheck(4, OCR, 91.4, "a picture is drawn on the page"),
                         PageCheck(5, UNCHECKED, 42.2, "the page is a scan"))
    doc_b = dataclasses.replace(doc_b, pictures=2)     # DOCX pictures are OCR'd now: no warning of their own
    report = disclosure_report(plan, exhibits=[(a, doc_a), (b, doc_b)], case_id=case.case_id,
                               payer_id=policy.id, created=CREATED)
    assert schema_errors("disclosure-report", report) == []
    first = report["included"]["attachments"][0]
    assert first["page_checks"][3:] == [
        {"page": 4, "method": "ocr", "confidence": 91.4, "reason": "a picture is drawn on the page"},
        {"page": 5, "method": "unchecked", "confidence": 42.2, "reason": "the page is a scan"},
    ]
    assert (first["ocr_pages"], first["unchecked_pages"]) == ([4, 5], [5])
    assert (report["summary"]["pages_ocr"], report["summary"]["pages_unchecked"]) == (2, 1)
    assert [(w["code"], w["field"]) for w in report["warnings"] if w["code"] in ("page_not_checked", "pictures_not_checked")] == [
        ("page_not_checked", "attachments[0]")]
    message = next(w["message"] for w in report["warnings"] if w["code"] == "page_not_checked")
    assert message.startswith(
        "Exhibit A (attachments[0], clinical note dated 2026-10-11): page 5 was read by text recognition (OCR)"
        f" with too little confidence (42 out of 100; the minimum is {limits.MIN_OCR_CONFIDENCE}, MIN_OCR_CONFIDENCE)."
        " A number, name or address on it may have been missed. Look at it in the packet before sending")

    parser = _Text()
    parser.feed(render_report_html(report))
    text = " ".join(" ".join(parser.parts).split())
    assert "pp. 1\u20133 text layer \u00b7 p. 4 OCR (conf 91) \u00b7 p. 5 unchecked (conf 42)" in text
    assert "Why OCR: a picture is drawn on the page; the page is a scan." in text


def test_several_unchecked_pages_are_named_in_one_warning(built):
    """This test ensures an exhibit with several pages below the minimum gets one warning naming each with its confidence."""
    case, policy, plan, _, exhibits = built
    (a, doc_a), *_ = exhibits
    doc_a = _with_checks(doc_a, PageCheck(1, UNCHECKED, 38.0, "the page is a scan"),
                         PageCheck(2, UNCHECKED, 51.6, "the page is a scan"), PageCheck(3, OCR, 88.0, "the page is a scan"))
    report = disclosure_report(plan, exhibits=[(a, doc_a)], case_id=case.case_id, payer_id=policy.id, created=CREATED)
    warnings = [w for w in report["warnings"] if w["code"] == "page_not_checked"]
    assert len(warnings) == 1
    assert ": pages 1 and 2 were read by text recognition (OCR) with too little confidence (38 and 52 out of 100;" \
        in warnings[0]["message"]
    assert "on them may have been missed. Look at them in the packet" in warnings[0]["message"]
    parser = _Text()
    parser.feed(render_report_html(report))
    assert "pp. 1\u20132 unchecked (conf 38\u201352) \u00b7 p. 3 OCR (conf 88)" in " ".join(" ".join(parser.parts).split())


def test_page_checks_that_do_not_cover_every_page_are_refused(built):
    """This test ensures the report is refused when an exhibit lacks a check for a page, or its unchecked pages disagree."""
    case, policy, plan, _, exhibits = built
    (a, doc_a), *_ = exhibits
    short = dataclasses.replace(_with_checks(doc_a, PageCheck(1, TEXT_LAYER), PageCheck(2, OCR, 90.0)), pages=3)
    disagreeing = dataclasses.replace(_with_checks(doc_a, PageCheck(1, TEXT_LAYER), PageCheck(2, UNCHECKED, 20.0)),
                                      unchecked_pages=())
    for doc in (short, disagreeing):
        with pytest.raises(DisclosureError) as caught:
            disclosure_report(plan, exhibits=[(a, doc)], case_id=case.case_id, payer_id=policy.id, created=CREATED)
        assert caught.value.code == "bad_report"


def test_schema_is_strict_about_page_checks(built):
    """This test ensures the schema refuses an unknown method, an unknown key, a confidence over 100 and the old version."""
    report = built[3]
    assert report["report_version"] == 2
    for change in (
        lambda r: r["included"]["attachments"][0]["page_checks"][0].update(method="guessed"),
        lambda r: r["included"]["attachments"][0]["page_checks"][0].update(note="x"),
        lambda r: r["included"]["attachments"][0]["page_checks"][0].update(confidence=101),
        lambda r: r["included"]["attachments"][0].pop("ocr_pages"),
        lambda r: r["summary"].pop("pages_ocr"),
        lambda r: r.update(report_version=1),
    ):
        changed = json.loads(json.dumps(report))
        change(changed)
        assert schema_errors("disclosure-report", changed) != []

"""Payer rules through run_checks: retro allowed, categories, deadlines, documents, limits, the result."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from packetizer.caseio import load_case
from packetizer.checks import blocked_error, channel_limit_findings, run_checks
from packetizer.errors import PolicyBlock
from packetizer.model import Attachment, Claim, LateReason, Window
from packetizer.policy import load_registry
from packetizer.resources import schemas_dir

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
TODAY = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def case():
    return load_case(FIXTURES / "base-case.yaml")


@pytest.fixture(scope="module")
def payers():
    return load_registry(FIXTURES / "payers")


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_the_base_case_is_ready_with_its_deadline_and_channel(case, payers):
    result = run_checks(case, payers.get("fx-calendar"), today=TODAY)
    assert result.ready
    assert (result.triage, result.deadline, result.days_left, result.channel) == (
        "retro", dt.date(2026, 10, 14), 14, "fax")
    assert result.blocking == () and result.warnings == ()


def test_a_payer_without_retro_path_blocks_and_names_its_source(case, payers):
    result = run_checks(case, payers.get("fx-noretro"), today=TODAY)
    assert not result.ready
    [finding] = result.blocking
    assert finding.code == "retro_not_allowed"
    assert finding.field == "payer_id"
    assert finding.message.startswith("Fixture No-Retro Medicaid does not accept retro-authorization requests")
    assert "source: Fixture Medicaid rule 3-10, effective 2024-09-21" in finding.message
    assert result.deadline is None and result.days_left is None


def test_a_late_reason_the_payer_does_not_accept_blocks(case, payers):
    refused = replace(case, late_reason=LateReason("administrative_error", "Front desk missed the flag."))
    [finding] = run_checks(refused, payers.get("fx-calendar"), today=TODAY).blocking
    assert finding.code == "category_not_accepted"
    assert finding.field == "late_reason.category"
    assert "payer_portal_outage (the payer's authorization portal was unavailable)" in finding.message
    assert "late_reason.category is administrative_error" in finding.message
    assert "source: Fixture manual, section 1, effective 2026-01-01" in finding.message


def test_the_last_day_itself_still_counts(case, payers):
    policy = payers.get("fx-calendar")  # 30 calendar days from 2026-09-14 -> 2026-10-14
    on_time = run_checks(case, policy, today=dt.date(2026, 10, 14))
    assert on_time.ready and on_time.days_left == 0
    [near] = on_time.warnings
    assert near.code == "deadline_near"
    assert "2026-10-14 (today is the last day)" in near.message
    assert "fax (+1-800-555-0199)" in near.message

    late = run_checks(case, policy, today=dt.date(2026, 10, 15))
    assert not late.ready and late.days_left == -1
    [passed] = late.blocking
    assert passed.code == "deadline_passed"
    assert passed.field == "services[0].date_of_service"
    assert passed.message == (
        "The Fixture Calendar Plan retro-authorization deadline was 2026-10-14: 30 calendar days from the first "
        "date of service (2026-09-14, services[0].date_of_service). Today is 2026-10-15, 1 day late "
        "(source: Fixture manual, section 1, effective 2026-01-01)."
    )


def test_a_deadline_more_than_three_days_away_is_not_a_warning(case, payers):
    result = run_checks(case, payers.get("fx-calendar"), today=dt.date(2026, 10, 10))
    assert result.days_left == 4 and "deadline_near" not in codes(result.warnings)
    result = run_checks(case, payers.get("fx-calendar"), today=dt.date(2026, 10, 11))
    assert result.days_left == 3 and "3 days left" in result.warnings[0].message


def test_business_days_count_from_the_earliest_date_of_service(case, payers):
    second = replace(case.services[0], start=dt.date(2026, 9, 10), end=dt.date(2026, 9, 10))
    two_lines = replace(case, services=(case.services[0], second))
    result = run_checks(two_lines, payers.get("fx-business"), today=dt.date(2026, 9, 16))
    # Thu 2026-09-10 + 5 business days = Thu 2026-09-17; the later line does not move it.
    assert result.deadline == dt.date(2026, 9, 17)
    assert result.warnings[0].field == "services[1].date_of_service"


def test_a_denial_date_window_counts_from_the_denial(case, payers):
    policy = replace(payers.get("fx-denial"), required_documents=())
    result = run_checks(case, policy, today=TODAY)
    assert result.deadline == dt.date(2026, 10, 5)  # denial 2026-09-25 + 10 days


def test_a_denial_date_window_without_a_denial_date_warns_instead_of_failing(case, payers):
    policy = replace(payers.get("fx-denial"), required_documents=())
    result = run_checks(replace(case, claim=None), policy, today=TODAY)
    assert result.ready and result.deadline is None and result.days_left is None
    [warning] = result.warnings
    assert warning.code == "deadline_unknown"
    assert warning.field == "claim.denial_date"
    assert "10 calendar days from the denial date, but the case has no claim.denial_date" in warning.message


def test_a_discharge_window_uses_the_earliest_discharge_date(case, payers):
    inpatient = replace(case.services[0], start=dt.date(2026, 9, 14), end=dt.date(2026, 9, 20),
                        discharge_date=dt.date(2026, 9, 20))
    earlier = replace(case.services[0], discharge_date=dt.date(2026, 9, 18))
    stay = replace(case, services=(inpatient, earlier))
    result = run_checks(stay, payers.get("fx-discharge"), today=dt.date(2026, 9, 20))
    # Fri 2026-09-18 + 3 business days = Wed 2026-09-23.
    assert result.deadline == dt.date(2026, 9, 23)
    assert [(w.code, w.field) for w in result.warnings] == [("deadline_near", "services[1].discharge_date")]


def test_a_discharge_window_without_a_discharge_date_warns(case, payers):
    [warning] = run_checks(case, payers.get("fx-discharge"), today=TODAY).warnings
    assert warning.code == "deadline_unknown"
    assert "no discharge_date on any service line" in warning.message


def test_a_missing_required_document_blocks_and_says_what_to_attach(case, payers):
    policy = payers.get("fx-calendar")
    no_note = replace(case, attachments=tuple(a for a in case.attachments if a.kind != "clinical_note"))
    [finding] = run_checks(no_note, policy, today=TODAY).blocking
    assert finding.code == "required_document_missing"
    assert finding.field == "attachments"
    assert finding.message == (
        "Fixture Calendar Plan requires a clinical note with a retro request (source: Fixture manual, section 1, "
        "effective 2026-01-01): none is attached. Add one to attachments with kind: clinical_note."
    )


def test_a_required_document_outside_the_relevance_window_does_not_count(case, payers):
    old = replace(case.attachments[0], date=dt.date(2026, 7, 1))
    result = run_checks(replace(case, attachments=(old, case.attachments[1])), payers.get("fx-calendar"), today=TODAY)
    [finding] = result.blocking
    assert finding.code == "required_document_missing"
    assert ("attachments[0] (clinical note dated 2026-07-01) is more than 30 days from every date of service "
            "and will be withheld") in finding.message


def test_a_required_psychotherapy_note_without_consent_does_not_count(case, payers):
    note = Attachment("notes/2026-09-21-psychotherapy.txt", FIXTURES / "notes" / "2026-09-21-psychotherapy.txt",
                      "psychotherapy_note", dt.date(2026, 9, 21))
    with_note = replace(case, attachments=case.attachments + (note,))
    result = run_checks(with_note, payers.get("fx-denial"), today=TODAY)
    [finding] = result.blocking
    assert "attachments[2] (psychotherapy note dated 2026-09-21) will be withheld because " \
           "consents.psychotherapy_notes is not true" in finding.message
    consented = replace(with_note, consents=replace(case.consents, psychotherapy_notes=True))
    assert run_checks(consented, payers.get("fx-denial"), today=TODAY).ready


def test_an_attachment_larger_than_the_channel_accepts_is_a_warning(case, payers, tmp_path):
    big = tmp_path / "scan.txt"
    big.write_text("x" * 2048)  # fx-calendar accepts 0.001 MB (1048 bytes)
    scan = Attachment("scan.txt", big, "clinical_note", dt.date(2026, 9, 14))
    result = run_checks(replace(case, attachments=case.attachments + (scan,)), payers.get("fx-calendar"), today=TODAY)
    assert result.ready
    [warning] = result.warnings
    assert warning.code == "attachment_too_large"
    assert warning.field == "attachments[2].file"
    assert "attachments[2] (clinical note dated 2026-09-14) is 0.0 MB, more than the 0.001 MB" in warning.message
    assert "scan.txt" not in warning.message


def test_channel_limit_findings_warn_about_pages_and_size(payers):
    policy = replace(payers.get("fx-calendar"), max_file_mb=25)
    assert channel_limit_findings(policy, pages=100, size_bytes=25 * 1024 * 1024) == []
    pages, size = channel_limit_findings(policy, pages=101, size_bytes=30 * 1024 * 1024)
    assert pages.code == "packet_too_many_pages"
    assert "The packet has 101 pages, more than the 100 pages Fixture Calendar Plan accepts by fax" in pages.message
    assert size.code == "packet_too_large"
    assert "The packet is 30.0 MB, more than the 25 MB Fixture Calendar Plan accepts" in size.message


def test_the_result_serialises_to_the_check_result_schema(case, payers):
    blocked = replace(case, claim=Claim("1", ("PR-27", "CO-999"), dt.date(2026, 9, 25)))
    result = run_checks(blocked, payers.get("fx-calendar"), today=dt.date(2026, 10, 13))
    doc = json.loads(json.dumps(result.to_dict()))
    schema = json.loads((schemas_dir() / "check-result.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert list(doc) == ["ready", "triage", "deadline", "days_left", "channel", "blocking", "warnings"]
    assert doc["deadline"] == "2026-10-14" and doc["triage"] == "eligibility"
    assert doc["blocking"][0] == {"code": "triage_eligibility", "message": result.blocking[0].message,
                                  "field": "claim.denial_codes[0]"}


def test_blocked_error_carries_the_blocking_findings(case, payers):
    result = run_checks(case, payers.get("fx-noretro"), today=TODAY)
    error = blocked_error(result)
    assert isinstance(error, PolicyBlock)
    assert error.findings == list(result.blocking)
    assert "[retro_not_allowed] payer_id: Fixture No-Retro Medicaid" in error.message


def test_a_window_policy_change_changes_the_deadline(case, payers):
    policy = replace(payers.get("fx-calendar"), window=Window(0, "calendar", "date_of_service"))
    result = run_checks(case, policy, today=dt.date(2026, 9, 14))
    assert result.deadline == dt.date(2026, 9, 14) and result.days_left == 0

"""Field validation through run_checks: codes, ICD-10-CM, NPIs, dates, note coverage, no PHI."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from packetizer.caseio import load_case
from packetizer.checks import run_checks
from packetizer.checks.validation import icd10cm_problem, npi_is_valid
from packetizer.model import Attachment, Claim, Provider
from packetizer.policy import load_registry

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
TODAY = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def case():
    return load_case(FIXTURES / "base-case.yaml")


@pytest.fixture(scope="module")
def policy():
    return load_registry(FIXTURES / "payers").get("fx-calendar")


def with_line(case, **changes):
    return replace(case, services=(replace(case.services[0], **changes),))


def findings(case, policy, today=TODAY):
    result = run_checks(case, policy, today=today)
    return {f.code: f for f in result.blocking}, {f.code: f for f in result.warnings}


@pytest.mark.parametrize("code", ["97110", "0591T", "3078F", "0001U", "G0283", "J1885"])
def test_cpt_and_hcpcs_shapes_pass(case, policy, code):
    blocking, _ = findings(with_line(case, code=code), policy)
    assert "cpt_shape" not in blocking


@pytest.mark.parametrize("code", ["9711A", "97A10", "1234X", "GG283"])
def test_a_procedure_code_of_the_wrong_shape_blocks(case, policy, code):
    blocking, _ = findings(with_line(case, code=code), policy)
    finding = blocking["cpt_shape"]
    assert finding.field == "services[0].code"
    assert finding.message.startswith(f"services[0].code {code} is not a CPT or HCPCS code: use 5 digits (CPT)")


def test_a_modifier_that_is_not_two_characters_blocks(case, policy):
    blocking, _ = findings(with_line(case, modifiers=("GP", "G")), policy)
    finding = blocking["modifier_shape"]
    assert finding.field == "services[0].modifiers[1]"
    assert "modifiers are exactly 2 letters or digits" in finding.message


def test_an_icd10_category_is_not_billable_and_needs_more_specificity(case, policy):
    blocking, _ = findings(with_line(case, diagnosis_codes=("M54",)), policy)
    finding = blocking["icd10_not_billable"]
    assert finding.field == "services[0].diagnosis_codes[0]"
    assert finding.message.startswith("services[0].diagnosis_codes[0]: M54 (Dorsalgia) is not billable: "
                                      "needs more specificity")


def test_an_icd10_code_missing_its_seventh_character_says_so():
    code, reason = icd10cm_problem("S72.001")
    assert code == "icd10_not_billable"
    assert "needs a 7th character" in reason and "S72.001A" in reason


def test_a_code_not_in_icd10cm_blocks(case, policy):
    blocking, _ = findings(with_line(case, diagnosis_codes=("M54.16", "Z99.999")), policy)
    finding = blocking["icd10_unknown"]
    assert finding.field == "services[0].diagnosis_codes[1]"
    assert "Z99.999 is not an ICD-10-CM code" in finding.message


@pytest.mark.parametrize("code", ["M54.16", "M5416", "S72.001A", "F32.A"])
def test_billable_icd10_codes_pass_with_or_without_the_dot(code):
    assert icd10cm_problem(code) is None


def test_a_line_without_diagnosis_is_a_warning(case, policy):
    _, warnings = findings(with_line(case, diagnosis_codes=()), policy)
    assert warnings["diagnosis_missing"].field == "services[0].diagnosis_codes"


def test_npi_check_digit_follows_the_cms_luhn_rule():
    assert npi_is_valid("1234567893")  # the CMS example NPI
    assert npi_is_valid("1003000126")
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("123456789")


def test_a_mistyped_npi_blocks(case, policy):
    typo = replace(case, referring_provider=Provider("Dr. Jane Roe", "1003000127"))
    finding = findings(typo, policy)[0]["npi_check_digit"]
    assert finding.field == "referring_provider.npi"
    assert finding.message.startswith("referring_provider.npi 1003000127 fails the NPI check digit")


def test_an_npi_that_is_not_ten_digits_blocks(case, policy):
    short = replace(case, facility=Provider("Uptown", "12345"))
    assert findings(short, policy)[0]["npi_shape"].field == "facility.npi"


def test_a_rendering_provider_without_npi_is_a_warning(case, policy):
    _, warnings = findings(replace(case, rendering_provider=Provider("Lake Street PT")), policy)
    assert warnings["npi_missing"].field == "rendering_provider.npi"


def test_a_service_after_today_blocks(case, policy):
    blocking, _ = findings(with_line(case, start=dt.date(2026, 10, 2), end=dt.date(2026, 10, 2)), policy)
    finding = blocking["service_in_future"]
    assert finding.field == "services[0].date_of_service"
    assert "2026-10-02 is after today (2026-09-30); a retro authorization covers services already delivered" \
        in finding.message


def test_a_span_still_running_is_a_warning(case, policy):
    _, warnings = findings(with_line(case, end=dt.date(2026, 10, 9)), policy)
    assert warnings["service_end_in_future"].field == "services[0].end_date"


def test_reversed_span_dates_block(case, policy):
    blocking, _ = findings(with_line(case, end=dt.date(2026, 9, 1)), policy)
    assert blocking["service_dates_reversed"].message == (
        "services[0].end_date 2026-09-01 is before its start_date 2026-09-14.")


def test_a_discharge_before_the_service_blocks(case, policy):
    blocking, _ = findings(with_line(case, discharge_date=dt.date(2026, 9, 13)), policy)
    assert blocking["discharge_before_service"].field == "services[0].discharge_date"


def test_a_denial_before_the_service_blocks(case, policy):
    early = replace(case, claim=Claim("1", ("CO-197",), dt.date(2026, 9, 1)))
    finding = findings(early, policy)[0]["denial_before_service"]
    assert finding.field == "claim.denial_date"
    assert finding.message.startswith(
        "claim.denial_date 2026-09-01 is before the first date of service (2026-09-14); a claim cannot be denied "
        "before the service.")


def test_a_denial_after_today_blocks(case, policy):
    later = replace(case, claim=Claim("1", ("CO-197",), dt.date(2026, 10, 5)))
    assert "denial_in_future" in findings(later, policy)[0]


def test_an_attachment_dated_after_today_is_a_warning(case, policy):
    future = replace(case.attachments[1], date=dt.date(2026, 10, 1))
    _, warnings = findings(replace(case, attachments=(case.attachments[0], future)), policy)
    assert warnings["attachment_in_future"].message.startswith("attachments[1] (evaluation dated 2026-10-01)")


def test_a_service_without_a_note_in_the_relevance_window_blocks(case, policy):
    # A second line two months later: the notes of September do not document it.
    later = replace(case.services[0], start=dt.date(2026, 7, 1), end=dt.date(2026, 7, 1))
    blocking, _ = findings(replace(case, services=(case.services[0], later)), policy)
    finding = blocking["service_not_covered_by_note"]
    assert finding.field == "services[1]"
    assert finding.message.startswith(
        "services[1] (97110 on 2026-07-01) has no clinical attachment (clinical note, evaluation, plan of care, "
        "imaging or lab) dated within 30 days of it")


def test_a_span_is_covered_by_a_note_dated_inside_it(case, policy):
    span = with_line(case, start=dt.date(2026, 8, 1), end=dt.date(2026, 9, 14))
    assert "service_not_covered_by_note" not in findings(span, policy)[0]


def test_referrals_do_not_document_a_service_but_consented_psychotherapy_notes_do(case, policy):
    def note(kind):
        return Attachment("n.txt", FIXTURES / "notes" / "2026-09-10-referral.txt", kind, dt.date(2026, 9, 14))

    only_referral = replace(case, attachments=(note("referral"), note("order")))
    assert "service_not_covered_by_note" in findings(only_referral, policy)[0]
    only_therapy = replace(case, attachments=(note("psychotherapy_note"),))
    assert "service_not_covered_by_note" in findings(only_therapy, policy)[0]
    consented = replace(only_therapy, consents=replace(case.consents, psychotherapy_notes=True))
    assert "service_not_covered_by_note" not in findings(consented, policy)[0]


def test_messages_never_carry_the_member_name_id_or_birth_date(case, policy):
    broken = replace(
        case,
        claim=Claim("1", ("PR-27", "CO-16", "CO-999", "N54"), dt.date(2026, 9, 1)),
        services=(replace(case.services[0], code="9711A", modifiers=("G",), diagnosis_codes=("M54", "Z99.999"),
                          start=dt.date(2026, 10, 3), end=dt.date(2026, 10, 3), discharge_date=dt.date(2026, 9, 1)),),
        rendering_provider=Provider("Lake Street", "1234567890"),
        attachments=(),
    )
    result = run_checks(broken, policy, today=dt.date(2026, 12, 1))
    texts = [f.message for f in result.blocking + result.warnings]
    assert len(texts) >= 10
    for text in texts:
        for phi in ("Ana", "Ortiz", "XJH123456789", "1971-04-09"):
            assert phi not in text


def test_list_limits_have_one_number_and_are_named_when_exceeded(tmp_path):
    """This test ensures the case schema's maxItems for service lines and attachments are the named limits,
    and a case with one line too many is refused with the limit's name and value."""
    import json

    from packetizer import limits
    from packetizer.caseio import case_from_mapping, read_case_document
    from packetizer.errors import CaseError
    from packetizer.resources import schemas_dir

    schema = json.loads((schemas_dir() / "case.schema.json").read_text())
    assert schema["properties"]["services"]["maxItems"] == limits.MAX_SERVICE_LINES
    assert schema["properties"]["attachments"]["maxItems"] == limits.MAX_ATTACHMENTS
    doc = read_case_document(Path(__file__).parents[1] / "examples" / "lake-street" / "case.yaml")
    doc["services"] = doc["services"][:1] * (limits.MAX_SERVICE_LINES + 1)
    doc["attachments"] = []
    with pytest.raises(CaseError) as caught:
        case_from_mapping(doc, tmp_path)
    assert f"{limits.MAX_SERVICE_LINES + 1} items > MAX_SERVICE_LINES ({limits.MAX_SERVICE_LINES})" in str(caught.value)

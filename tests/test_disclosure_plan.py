"""Minimum necessary, deciding: which fields and attachments reach the packet, and what is hunted in documents."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from packetizer.caseio import case_from_mapping, load_case
from packetizer.disclosure import plan_disclosure
from packetizer.disclosure.attachments import days_from_service
from packetizer.policy import load_registry
from tests.fixtures.disclosure.make_notes import copy_case

PAYERS = Path(__file__).parent / "fixtures" / "disclosure" / "payers"
WITHHELD_VALUES = ["478-26-1935", "(651) 555-0182", "maya.lindqvist@example.net", "3187 Juniper Lane",
                   "00731942", "651.555.0166", "ACCT-4471-0098", "Jon Lindqvist"]


@pytest.fixture(scope="module")
def case_file(tmp_path_factory) -> Path:
    return copy_case(tmp_path_factory.mktemp("dx") / "case")


@pytest.fixture(scope="module")
def registry():
    return load_registry(PAYERS)


def variant(case_file: Path, change) -> object:
    """The fixture case with ``change`` applied to its mapping (attachments still resolve)."""
    doc = yaml.safe_load(case_file.read_text())
    doc = _dates_to_text(doc)
    change(doc)
    return case_from_mapping(doc, case_file.parent)


def _dates_to_text(node):
    if isinstance(node, dict):
        return {k: _dates_to_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_dates_to_text(v) for v in node]
    return node.isoformat() if isinstance(node, dt.date) else node


def test_default_allowlist_lets_only_the_needed_fields_through(case_file, registry):
    """This test ensures that by default only the request, the member's name, DOB and id, the claim, services, providers and contact are included."""
    plan = plan_disclosure(load_case(case_file), registry.get("dx-plain"))
    assert plan.included_fields == (
        "case_id", "payer_id", "member.member_id", "member.first_name", "member.last_name", "member.dob",
        "claim.claim_number", "claim.denial_codes", "claim.denial_date", "services", "rendering_provider",
        "late_reason", "medical_necessity", "contact",
    )
    withheld = dict(plan.withheld_fields)
    assert set(withheld) == {
        "member.ssn", "member.phone", "member.email", "member.address.street", "member.address.city",
        "member.address.state", "member.address.zip", "member.mrn", "member.sex",
        "emergency_contact.name", "emergency_contact.phone", "internal_account",
        "services[0].charge_cents", "rendering_provider.phone",
    }
    assert withheld["member.ssn"] == "not on the payer's list of needed fields (minimum necessary)"
    assert withheld["internal_account"] == "not a field of the case format; kept out of the packet"
    assert withheld["services[0].charge_cents"] == "not a known field of services; kept out of the packet"
    assert plan.extra_fields == ()


def test_plan_never_shows_withheld_values(case_file, registry):
    """This test ensures that neither the plan's repr nor its listed fields and notes carry a withheld value."""
    plan = plan_disclosure(load_case(case_file), registry.get("dx-plain"))
    shown = repr(plan) + repr(plan.withheld_fields) + repr(plan.notes) + repr(plan.searched_fields)
    for value in WITHHELD_VALUES + ["Lindqvist", "QHP770012345"]:
        assert value not in shown
    # The redactor holds the values, but does not print them either.
    assert "478" not in repr(plan.redactor)


def test_withheld_identifiers_are_searched_in_documents_but_practice_data_and_vague_values_are_not(case_file, registry):
    """This test ensures the redactor hunts the patient's SSN, phones, email, address, MRN, account number and the
    relative's name, but not the clinic's phone, the sex or the state."""
    plan = plan_disclosure(load_case(case_file), registry.get("dx-plain"))
    assert dict(plan.searched_fields) == {
        "member.ssn": "ssn",
        "member.phone": "phone",
        "member.email": "email",
        "member.address.street": "street_address",
        "member.address.city": "street_address",
        "member.address.zip": "street_address",
        "member.mrn": "mrn",
        "emergency_contact.name": "identifier",
        "emergency_contact.phone": "phone",
        "internal_account": "mrn",
    }


def test_payer_include_fields_adds_the_address_to_the_cover_note_and_keeps_it_in_documents(case_file, registry):
    """This test ensures a payer that asks for member.address gets it (as an extra cover-note field) and it is no longer removed from notes."""
    case = load_case(case_file)
    plan = plan_disclosure(case, registry.get("dx-address"))
    assert "member.address" in plan.included_fields
    assert plan.extra_field_paths == ("member.address",)
    assert plan.extra_fields == (("Member address", "3187 Juniper Lane, Apt 4C, Saint Paul, MN, 55104"),)
    assert not any(path.startswith("member.address") for path, _ in plan.withheld_fields)
    assert "member.address.street" not in dict(plan.searched_fields)
    # The field the payer asks for but the case lacks is noted, by name only.
    assert {"code": "requested_field_missing", "field": "member.not_in_case",
            "message": "the payer asks for member.not_in_case, but the case does not have it"} in plan.notes
    text = "Mailing address: 3187 Juniper Lane, Apt 4C. SSN 478-26-1935."
    redacted, _ = plan.redactor.redact_text(text)
    assert "3187 Juniper Lane, Apt 4C" in redacted
    assert "478-26-1935" not in redacted


def test_payer_may_ask_for_part_of_an_unknown_mapping(case_file, registry):
    """This test ensures include_fields can name one key inside an unknown mapping; its siblings stay withheld."""
    policy = dataclasses.replace(registry.get("dx-plain"), include_fields=("emergency_contact.phone",))
    plan = plan_disclosure(load_case(case_file), policy)
    assert plan.extra_fields == (("Emergency contact phone", "651.555.0166"),)
    assert "emergency_contact.name" in dict(plan.withheld_fields)
    assert "emergency_contact.phone" not in dict(plan.withheld_fields)


def test_sensitive_and_out_of_window_attachments_are_withheld_with_reasons(case_file, registry):
    """This test ensures psychotherapy notes, Part 2 records and documents far from the service are withheld, each with its reason."""
    plan = plan_disclosure(load_case(case_file), registry.get("dx-plain"))
    assert [a.file for a in plan.included_attachments] == [
        "notes/2026-10-11-progress.pdf", "notes/2026-10-11-evaluation.docx", "notes/2026-10-12-phone-log.txt",
    ]
    assert plan.included_indexes == (0, 1, 2)
    withheld = {w.index: w for w in plan.withheld_attachments}
    assert withheld[3].reason == "psychotherapy_note_without_authorization"
    assert "164.508(a)(2)" in withheld[3].reason_text
    assert withheld[4].reason == "part2_record_without_consent"
    assert "42 CFR Part 2" in withheld[4].reason_text
    assert withheld[5].reason == "outside_relevance_window"
    assert withheld[5].reason_text == (
        "dated 132 days from the nearest date of service; this payer's relevance window is 30 days"
    )
    assert withheld[5].to_dict() == {
        "index": 5, "field": "attachments[5]", "kind": "evaluation", "date": "2026-06-01",
        "reason": "outside_relevance_window", "reason_text": withheld[5].reason_text,
    }


def test_consents_release_psychotherapy_and_part2_records(case_file, registry):
    """This test ensures the matching consents let psychotherapy notes and Part 2 records through."""
    case = variant(case_file, lambda d: d.update(consents={"psychotherapy_notes": True, "part2_records": True}))
    plan = plan_disclosure(case, registry.get("dx-plain"))
    assert plan.included_indexes == (0, 1, 2, 3, 4)
    assert [w.reason for w in plan.withheld_attachments] == ["outside_relevance_window"]
    only_one = variant(case_file, lambda d: d.update(consents={"psychotherapy_notes": True}))
    plan = plan_disclosure(only_one, registry.get("dx-plain"))
    assert plan.included_indexes == (0, 1, 2, 3)


def test_relevance_window_is_the_payers_and_counts_from_the_nearest_service_day(case_file, registry):
    """This test ensures the window comes from the payer, is inclusive, and a service span counts from its first to its last day."""
    case = load_case(case_file)
    assert days_from_service(dt.date(2026, 10, 12), case) == 1
    tight = dataclasses.replace(registry.get("dx-plain"), relevance_window_days=0)
    plan = plan_disclosure(case, tight)
    assert plan.included_indexes == (0, 1)           # the phone log is one day after the visit
    exact = dataclasses.replace(registry.get("dx-plain"), relevance_window_days=1)
    assert 2 in plan_disclosure(case, exact).included_indexes

    def as_span(doc):
        line = doc["services"][0]
        del line["date_of_service"]
        line.update(start_date="2026-05-20", end_date="2026-10-11")

    spanned = variant(case_file, as_span)
    assert days_from_service(dt.date(2026, 6, 1), spanned) == 0
    assert 5 in plan_disclosure(spanned, registry.get("dx-plain")).included_indexes


def test_a_withheld_value_equal_to_a_needed_one_is_not_removed_and_is_noted(case_file, registry):
    """This test ensures that when a withheld MRN equals the member id, documents keep it (the payer needs it) and the plan says why."""
    case = variant(case_file, lambda d: d["member"].update(mrn="QHP770012345"))
    plan = plan_disclosure(case, registry.get("dx-plain"))
    assert "member.mrn" not in dict(plan.searched_fields)
    assert {"code": "withheld_value_needed", "field": "member.mrn",
            "message": "member.mrn has the same value as a field the payer needs; it stays where documents show it"} in plan.notes
    redacted, _ = plan.redactor.redact_text("Member ID QHP770012345; MRN: QHP770012345")
    assert redacted.count("QHP770012345") == 2


def test_unknown_keys_of_any_shape_are_withheld_and_named_by_path(case_file, registry):
    """This test ensures odd unknown keys (spaces, lists of mappings, nulls) are listed by path and never break the plan."""
    def add(doc):
        doc["prior visits"] = [{"date": "2026-01-02", "where": "ER"}, {"date": "2026-02-03", "where": None}]
        doc["member"]["drivers license"] = "S530-4421-8890"
        doc["claim"]["internal_ref"] = "INT-2026-0091"

    plan = plan_disclosure(variant(case_file, add), registry.get("dx-plain"))
    withheld = dict(plan.withheld_fields)
    for path in ("prior visits[0].date", "prior visits[0].where", "prior visits[1].where",
                 "member.drivers license", "claim.internal_ref"):
        assert path in withheld
    searched = dict(plan.searched_fields)
    assert searched["member.drivers license"] == "identifier"
    assert searched["claim.internal_ref"] == "identifier"
    assert "prior visits[0].date" not in searched     # dates are never hunted
    redacted, _ = plan.redactor.redact_text("License S530 4421 8890 on file; visit 2026-01-02.")
    assert "4421" not in redacted and "2026-01-02" in redacted

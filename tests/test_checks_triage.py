"""Trigger triage: CARC/RARC parsing, classes, precedence and the messages staff read."""

from __future__ import annotations

import datetime as dt

import pytest

from packetizer.checks import Findings
from packetizer.checks.triage import CARC_TABLE, RARC_NOTES, parse_denial_code, triage_claim
from packetizer.model import Claim


def run(*codes: str) -> tuple[str, Findings]:
    out = Findings()
    return triage_claim(Claim("123", tuple(codes), dt.date(2026, 10, 2)), out), out


@pytest.mark.parametrize(
    "raw, group, code, remark",
    [
        ("CO-197", "CO", "197", False),
        ("PR-27", "PR", "27", False),
        ("OA-16", "OA", "16", False),
        ("PI-15", "PI", "15", False),
        ("CR-4", "CR", "4", False),
        ("CO197", "CO", "197", False),
        ("197", None, "197", False),
        ("CO-016", "CO", "16", False),
        ("co-b7", "CO", "B7", False),
        ("N54", None, "N54", True),
        ("MA130", None, "MA130", True),
        ("M62", None, "M62", True),
    ],
)
def test_denial_codes_are_split_into_group_and_code(raw, group, code, remark):
    parsed = parse_denial_code(raw)
    assert (parsed.group, parsed.code, parsed.is_remark) == (group, code, remark)


def test_no_claim_or_no_denial_codes_is_the_retro_path():
    # A retro request may be sent before the claim is billed.
    out = Findings()
    assert triage_claim(None, out) == "retro"
    assert triage_claim(Claim(claim_number="1"), out) == "retro"
    assert not out.blocking and not out.warnings


@pytest.mark.parametrize("code", ["CO-197", "CO-198", "CO-15", "CO-62", "PI-210", "CO-284", "CO-302"])
def test_authorization_denials_are_the_retro_path_without_findings(code):
    triage, out = run(code, "N54")
    assert triage == "retro"
    assert not out.blocking and not out.warnings


def test_an_eligibility_denial_blocks_and_says_to_fix_coverage_instead():
    triage, out = run("PR-27")
    assert triage == "eligibility"
    [finding] = out.blocking
    assert finding.code == "triage_eligibility"
    assert finding.field == "claim.denial_codes[0]"
    assert "PR-27: services after coverage ended" in finding.message
    assert "A retro authorization will not fix this" in finding.message
    assert "bill the responsible payer instead" in finding.message


def test_a_coding_denial_blocks_and_says_to_correct_the_claim_instead():
    triage, out = run("CO-11", "CO-4")
    assert triage == "coding"
    [finding] = out.blocking
    assert finding.code == "triage_coding"
    assert "CO-11: diagnosis inconsistent with the procedure" in finding.message
    assert "CO-4: procedure code inconsistent with the modifier" in finding.message
    assert "correct the claim" in finding.message and "resubmit it instead" in finding.message


def test_known_remark_codes_are_quoted_but_do_not_change_the_class():
    triage, out = run("CO-16", "M76")
    assert triage == "coding"
    assert "RARC M76: diagnosis missing, incomplete or invalid." in out.blocking[0].message


def test_eligibility_outranks_coding_and_both_are_reported_with_the_retro_code_noted():
    triage, out = run("CO-197", "CO-16", "CO-27")
    assert triage == "eligibility"
    assert [f.code for f in out.blocking] == ["triage_eligibility", "triage_coding"]
    assert out.blocking[0].field == "claim.denial_codes[2]"
    assert ("The authorization denial (CO-197) can go down the retro path once this is resolved."
            in out.blocking[0].message)


def test_an_unknown_code_is_a_warning_and_the_known_codes_still_decide():
    triage, out = run("CO-197", "CO-999")
    assert triage == "retro"
    assert not out.blocking
    [warning] = out.warnings
    assert warning.code == "triage_unknown_code"
    assert warning.field == "claim.denial_codes[1]"
    assert "CO-999" in warning.message and "Look the code up on the remittance" in warning.message


def test_only_unknown_codes_make_the_triage_unknown_without_blocking():
    triage, out = run("CO-50")
    assert triage == "unknown"
    assert not out.blocking
    assert [w.code for w in out.warnings] == ["triage_unknown_code"]


def test_remark_codes_alone_ask_for_the_reason_code():
    triage, out = run("N54")
    assert triage == "unknown"
    [warning] = out.warnings
    assert warning.code == "triage_no_carc"
    assert "add the claim adjustment reason code" in warning.message


def test_the_tables_use_only_the_documented_classes_and_shapes():
    assert {cls for cls, _ in CARC_TABLE.values()} == {"retro", "eligibility", "coding"}
    assert all(not parse_denial_code(code).is_remark for code in CARC_TABLE)
    assert all(parse_denial_code(code).is_remark for code in RARC_NOTES)

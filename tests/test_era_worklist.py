"""The denial worklist: SPEC section 9's JSON object from a remittance, triaged with the payer's window."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from packetizer.era import claim_key, draft_case, draft_name, is_retro_path, read_remittance, worklist
from packetizer.policy import load_registry
from tests.support.era835 import Claim, Line, Transaction, remittance

TODAY = dt.date(2026, 10, 2)

ENTRY_KEYS = ["claim_number", "payer_claim_number", "payer_id", "payer_name", "member_id", "patient", "status",
              "denial_codes", "denial_date", "lines", "triage", "deadline", "days_left", "next_action"]
LINE_KEYS = ["code", "modifiers", "units", "date_of_service", "charge", "paid", "denial_codes"]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _worklist(data: bytes, registry, today=TODAY) -> dict:
    return worklist(read_remittance(data, name="test.835"), registry, today=today)


def test_spec_example_claim_comes_out_exactly(registry):
    """This test ensures that the SPEC's example denial (CO-197 + N54 on a demo-commercial claim) reads as SPEC shows it."""
    result = _worklist(remittance(), registry)
    assert list(result) == ["claims", "errors"]
    assert result["errors"] == []
    (entry,) = result["claims"]
    assert list(entry) == ENTRY_KEYS
    assert list(entry["lines"][0]) == LINE_KEYS
    assert entry == {
        "claim_number": "2026091400123",
        "payer_claim_number": "PCN0000001",
        "payer_id": "demo-commercial",
        "payer_name": "DEMO COMMERCIAL",
        "member_id": "XJH123456789",
        "patient": {"first_name": "ANA", "last_name": "ORTIZ"},
        "status": "denied",
        "denial_codes": ["CO-197", "N54"],
        "denial_date": "2026-10-02",
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 2, "date_of_service": "2026-09-14",
                   "charge": "180.00", "paid": "0.00", "denial_codes": ["CO-197", "N54"]}],
        "triage": "retro",
        # demo-commercial: 30 calendar days from the date of service
        "deadline": "2026-10-14",
        "days_left": 12,
        "next_action": "build a retro request by 2026-10-14",
    }
    json.dumps(result)  # plain JSON all the way down


def test_claims_are_ordered_by_deadline_unknown_last(registry):
    """This test ensures that claims come soonest deadline first and claims without a deadline last, in file order."""
    late = Claim(claim_number="B", lines=[Line(date="20260920")])
    early = Claim(claim_number="A", lines=[Line(date="20260910")])
    unknown_payer = Transaction(claims=[Claim(claim_number="C")], payer_name="ELSEWHERE", payer_id="NOPE",
                                control="0002")
    data = remittance([Transaction(claims=[late, early]), unknown_payer])
    numbers = [c["claim_number"] for c in _worklist(data, registry)["claims"]]
    assert numbers == ["A", "B", "C"]


def test_claim_key_is_stable_and_short(registry):
    """This test ensures that the same claim read twice has the same key, and another claim another key."""
    first = _worklist(remittance(), registry)["claims"][0]
    again = _worklist(remittance(), registry)["claims"][0]
    other = _worklist(remittance([Transaction(claims=[Claim(claim_number="X1")])]), registry)["claims"][0]
    assert claim_key(first) == claim_key(again) != claim_key(other)
    assert "XJH123456789" not in claim_key(first) and len(claim_key(first)) == 24


def test_draft_carries_what_the_remittance_knows(registry):
    """This test ensures that a retro claim's draft holds member, claim and lines, and leaves out what an 835 cannot know."""
    entry = _worklist(remittance(), registry)["claims"][0]
    assert is_retro_path(entry)
    draft = draft_case(entry)
    assert draft["payer_id"] == "demo-commercial"
    assert draft["member"] == {"member_id": "XJH123456789", "first_name": "ANA", "last_name": "ORTIZ"}
    assert draft["claim"]["claim_number"] == "2026091400123"
    assert draft["claim"]["denial_codes"] == ["CO-197", "N54"]
    assert draft["claim"]["denial_date"] == "2026-10-02"
    assert draft["services"] == [{"date_of_service": "2026-09-14", "code": "97110", "modifiers": ["GP"], "units": 2}]
    for unknown in ("late_reason", "medical_necessity", "contact", "rendering_provider", "attachments"):
        assert unknown not in draft
    assert "dob" not in draft["member"]
    assert draft_name(entry).startswith("draft-") and "ORTIZ" not in draft_name(entry)

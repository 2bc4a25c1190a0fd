"""The denial worklist: SPEC section 9's JSON object from a remittance, triaged with the payer's window."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from packetizer.era import claim_identity, claim_key, draft_case, draft_name, is_retro_path, read_remittance, worklist
from packetizer.policy import load_registry
from tests.support.era835 import Claim, Line, Transaction, remittance

TODAY = dt.date(2026, 10, 2)

ENTRY_KEYS = ["claim_number", "payer_claim_number", "payer_id", "payer_name", "member_id", "patient", "status",
              "denial_codes", "denial_date", "lines", "triage", "deadline", "days_left", "next_action",
              "payer_identification"]
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
                   "charge": "180.00", "paid": "0.00", "denial_codes": ["CO-197"]}],
        "triage": "retro",
        # demo-commercial: 30 calendar days from the date of service
        "deadline": "2026-10-14",
        "days_left": 12,
        "next_action": "build a retro request",   # exactly as SPEC shows it; the deadline is its own field
        "payer_identification": "DEMO01",         # N1*PR's id as sent: what the claim keys are built on
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
    assert "rendering_provider" not in draft_case(entry)  # only the claim itself knows its provider
    assert "dob" not in draft["member"]
    assert draft_name(entry).startswith("draft-") and "ORTIZ" not in draft_name(entry)


def test_draft_takes_the_rendering_provider_from_nm1_82_else_the_payee(registry):
    """This test ensures that a draft made with its claim names NM1*82 when sent, else the payee, with the XX NPI."""
    from packetizer.era import listed_claims, read_remittance as read

    ((entry, claim),) = listed_claims(read(remittance(), name="x.835"), registry, today=TODAY)
    assert draft_case(entry, claim)["rendering_provider"] == {"name": "LAKE STREET PHYSICAL THERAPY",
                                                              "npi": "1234567893"}
    data = remittance().replace(b"NM1*QC*1*ORTIZ*ANA****MI*XJH123456789~",
                                b"NM1*QC*1*ORTIZ*ANA****MI*XJH123456789~\nNM1*82*1*ROE*JANE****XX*1003000126~")
    data = data.replace(b"SE*19*", b"SE*20*")
    ((entry, claim),) = listed_claims(read(data, name="x.835"), registry, today=TODAY)
    assert draft_case(entry, claim)["rendering_provider"] == {"name": "JANE ROE", "npi": "1003000126"}


def test_policies_carry_era_payer_ids(tmp_path):
    """This test ensures that era_payer_ids is loaded from a policy and validated by the schema."""
    from packetizer.errors import PolicyError
    from packetizer.policy import load_policy_file

    path = tmp_path / "acme.yaml"
    path.write_text("id: acme\nname: Acme\nera_payer_ids: ['12345', 'AC1']\nretro_authorization: {allowed: false}\n"
                    "source: {title: t}\n")
    assert load_policy_file(path).era_payer_ids == ("12345", "AC1")
    path.write_text("id: acme\nname: Acme\nera_payer_ids: 12345\nretro_authorization: {allowed: false}\n"
                    "source: {title: t}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert "era_payer_ids" in caught.value.message
    shipped = {p.id: p.era_payer_ids for p in load_registry()}
    assert shipped["demo-commercial"] == ("DEMO01",)


def test_payer_matched_by_ref_2u_or_trn03_when_n1_has_no_id(registry):
    """This test ensures that REF*2U, then TRN03, identify the payer when N1*PR carries no id."""
    by_ref = remittance([Transaction(payer_id=None, ref_2u="DEMO01")])
    by_trn = remittance([Transaction(payer_id=None, trn03="DEMO01")])
    assert _worklist(by_ref, registry)["claims"][0]["payer_id"] == "demo-commercial"
    assert _worklist(by_trn, registry)["claims"][0]["payer_id"] == "demo-commercial"


def test_next_actions_for_staff(registry):
    """This test ensures the wording of the next action: deadline passed, not allowed, coding, reversed, paid."""
    assert _worklist(remittance(), registry, today=dt.date(2026, 11, 1))["claims"][0]["next_action"] == (
        "deadline passed on 2026-10-14: appeal the denial, or record an override reason")
    noretro = remittance([Transaction(payer_name="DEMO MEDICAID", payer_id="DEMO02")])
    entry = _worklist(noretro, registry)["claims"][0]
    assert entry["payer_id"] == "demo-medicaid-noretro" and entry["deadline"] is None
    assert entry["next_action"].startswith("not allowed by payer: Demo State Medicaid")
    coding = remittance([Transaction(claims=[Claim(lines=[Line(cas=[("CO", "16", "180.00")], remarks=("M51",))])])])
    entry = _worklist(coding, registry)["claims"][0]
    assert entry["triage"] == "coding" and entry["next_action"].startswith("fix the claim, not a retro request: CO-16")
    reversed_ = remittance([Transaction(claims=[Claim(status="22", charge="-180.00", paid="0",
                                                      lines=[Line(charge="-180.00", cas=[("CO", "197", "-180.00")])])])])
    entry = _worklist(reversed_, registry)["claims"][0]
    assert entry["status"] == "reversed" and entry["next_action"].startswith("no action")
    assert not is_retro_path(entry)
    paid = remittance([Transaction(claims=[Claim(status="1", paid="150.00", lines=[
        Line(paid="150.00", cas=[("CO", "45", "30.00")], remarks=())])])])
    entry = _worklist(paid, registry)["claims"][0]
    assert (entry["status"], entry["next_action"]) == ("paid", "no action: paid as adjusted")


def test_unadjusted_claims_are_not_listed(registry):
    """This test ensures that a claim paid in full with no CAS anywhere is not in the worklist."""
    clean = Claim(claim_number="CLEAN", status="1", paid="180.00", lines=[Line(paid="180.00", cas=[], remarks=())])
    result = _worklist(remittance([Transaction(claims=[clean, Claim()])]), registry)
    assert [c["claim_number"] for c in result["claims"]] == ["2026091400123"]


def test_claim_identity_survives_a_later_adjudication(registry):
    """This test ensures that the same claim denied, then paid on a later file, keeps its identity but not its key."""
    denied = _worklist(remittance(), registry)["claims"][0]
    paid = _worklist(remittance([Transaction(claims=[Claim(status="1", paid="180.00", payer_claim_number="PCN2",
                                                           lines=[Line(paid="150.00", cas=[("CO", "45", "30.00")])])])]),
                     registry)["claims"][0]
    assert claim_identity(denied) == claim_identity(paid)
    assert claim_key(denied) != claim_key(paid)


def test_keys_do_not_change_when_the_payer_policy_changes(registry, tmp_path):
    """This test ensures that the claim keys are built on the payer identification as the 835 sends it, so a claim
    matched to a policy (or to none, after an admin edits era_payer_ids) keeps its key and identity."""
    from packetizer.policy import PayerRegistry

    matched = _worklist(remittance(), registry)["claims"][0]
    unmatched = _worklist(remittance(), PayerRegistry(tmp_path, {}))["claims"][0]
    assert (matched["payer_id"], unmatched["payer_id"]) == ("demo-commercial", None)
    assert claim_key(matched) == claim_key(unmatched)
    assert claim_identity(matched) == claim_identity(unmatched)
    # without N1*PR's id the keys fall back to REF*2U, then TRN03, then the payer's name: never the registry
    by_name = _worklist(remittance([Transaction(payer_id=None, trn03="")]), registry)["claims"][0]
    assert by_name["payer_identification"] == "DEMO COMMERCIAL"


def test_another_patients_claim_with_the_same_number_has_another_identity(registry):
    """This test ensures that the member id (NM1*QC) is part of the claim key and identity: another patient's claim
    with the same claim number, codes and dates is another claim."""
    mine = _worklist(remittance(), registry)["claims"][0]
    theirs = _worklist(remittance([Transaction(claims=[Claim(member_id="OTHER-999", last_name="OTHER")])]),
                       registry)["claims"][0]
    assert claim_identity(mine) != claim_identity(theirs)
    assert claim_key(mine) != claim_key(theirs)


def test_paid_and_reversed_claims_have_no_deadline_and_come_last(registry):
    """This test ensures that paid and reversed claims are no work: no deadline or days left, listed after the
    denials; a retro claim's next action is exactly SPEC's "build a retro request"."""
    paid = Claim(claim_number="PAID", status="1", paid="160.00", lines=[Line(date="20260901", paid="160.00",
                                                                            cas=[("CO", "45", "20.00")], remarks=())])
    reversed_ = Claim(claim_number="REV", status="22", lines=[Line(date="20260902")])
    denied = Claim(claim_number="DEN", lines=[Line(date="20260920")])
    unknown = Transaction(claims=[Claim(claim_number="NOPAYER")], payer_name="ELSEWHERE", payer_id="NOPE",
                          control="0002")
    claims = _worklist(remittance([Transaction(claims=[paid, reversed_, denied]), unknown]), registry)["claims"]
    assert [c["claim_number"] for c in claims] == ["DEN", "NOPAYER", "PAID", "REV"]
    for entry in claims[2:]:
        assert (entry["deadline"], entry["days_left"]) == (None, None)
    assert claims[0]["next_action"] == claims[1]["next_action"] == "build a retro request"
    assert claims[0]["deadline"] == "2026-10-20"


def test_draft_leaves_out_unknown_units_and_keeps_date_ranges(registry):
    """This test ensures that a denied line's SVC05 = 0 leaves units out of the draft (so check names them missing),
    SVC07 gives the original units, and a DTM*150/151 range becomes start_date/end_date."""
    data = remittance([Transaction(claims=[Claim(lines=[Line(units="0"), Line(code="97112", units="0")])])])
    data = data.replace(b"SVC*HC:97112:GP*180.00*0**0~\nDTM*472*20260914",
                        b"SVC*HC:97112:GP*180.00*0**0**3~\nDTM*150*20260914~\nDTM*151*20260918")
    data = data.replace(b"SE*23*", b"SE*24*")
    entry = _worklist(data, registry)["claims"][0]
    assert entry["lines"][0]["units"] is None
    assert draft_case(entry)["services"] == [
        {"date_of_service": "2026-09-14", "code": "97110", "modifiers": ["GP"]},
        {"start_date": "2026-09-14", "end_date": "2026-09-18", "code": "97112", "modifiers": ["GP"], "units": 3}]

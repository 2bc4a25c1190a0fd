"""Reading X12 835 remittances: public samples, generated files with every separator, and malformed input."""

from __future__ import annotations

import csv
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from packetizer.era import read_remittance
from packetizer.errors import EraError, ErrorCode
from tests.support.era835 import Claim, Line, Transaction, pyx12_errors, pyx12_valid, remittance

FIXTURES = Path(__file__).parent / "fixtures" / "era"


def _read(name: str):
    return read_remittance((FIXTURES / name).read_bytes(), name=name)


# -- public samples -------------------------------------------------------------------------------------

def test_emedny_sample_lines_match_the_other_parser():
    """This test ensures that every service line of the eMedNY sample reads as edi-835-parser read it."""
    rem = _read("emedny-sample.835")
    # SVC05 = 0 (a denied line) is no count: the reader leaves it unknown where edi-835-parser says 0.
    ours = [(line.code, "".join(line.modifiers), int(line.units or 0), line.start.isoformat(), float(line.charge),
             float(line.paid), ";".join(a.code for a in line.adjustments), ";".join(line.remarks))
            for claim in rem.claims for line in claim.lines]
    with (FIXTURES / "emedny-sample.edi-835-parser.csv").open() as handle:
        theirs = [(row["code"], row["modifier"], int(row["billed_units"]), row["start_date"],
                   float(row["charge_amount"]), float(row["paid_amount"]),
                   f"{row['adj_0_group']}-{row['adj_0_code']}" if row["adj_0_code"] else "", row["rem_0_code"])
                  for row in csv.DictReader(handle)]
    assert ours == theirs


def test_uhc_sample_reads_both_triplets_of_one_cas_and_three_payer_ids():
    """This test ensures that a CAS with two triplets gives two adjustments, and N1*PR, REF*2U and TRN03 are kept."""
    rem = _read("uhc-legacy-sample.835")
    last_line = rem.claims[1].lines[2]
    assert [(a.code, a.amount) for a in last_line.adjustments] == [
        ("PR-2", Decimal("5.13")), ("PR-1", Decimal("110")), ("CO-45", Decimal("184.32"))]
    assert rem.claims[0].payer_ids == ("87726", "1234567890")  # N1*PR XV and REF*2U agree; then TRN03
    assert rem.claims[0].lines[0].code == "B4152"  # component separator '>' as ISA16 declares


def test_newline_terminator_reads_like_the_tilde_file():
    """This test ensures that a file whose ISA declares a line feed as segment terminator reads the same."""
    tilde, newline = _read("emedny-sample.835"), _read("emedny-newline-terminator.835")
    assert tilde.claims == newline.claims and len(newline.claims) == 3


def test_denial_date_is_dtm405_else_bpr16():
    """This test ensures that DTM*405 wins over BPR16, and an impossible BPR16 does not stop the file."""
    assert _read("pyx12-co16-denial.835").claims[0].denial_date.isoformat() == "2013-09-01"
    assert _read("lfh-managed-care.835").claims[0].denial_date is not None
    rem = read_remittance(remittance([Transaction(production_date=None, payment_date="20261005")]), name="x.835")
    assert rem.claims[0].denial_date.isoformat() == "2026-10-05"


def test_claim_level_remarks_and_institutional_claims_without_lines():
    """This test ensures that MIA/MOA remarks are read and a claim without service lines is still a claim."""
    rem = _read("lfh-medicare-part-a.835")
    assert [c.status for c in rem.claims] == ["paid", "paid"]
    assert rem.claims[1].remarks == ("MA02",) and rem.claims[1].lines == ()


def test_statuses_from_clp02_and_amounts():
    """This test ensures that a claim is paid, partially paid, denied or reversed as its CLP02 and amounts say."""
    assert [c.status for c in _read("emedny-sample.835").claims] == ["paid", "denied", "partially_paid"]
    assert _read("pyx12-co16-denial.835").claims[0].status == "denied"
    reversal = Claim(status="22", charge="-180.00", paid="0", lines=[
        Line(charge="-180.00", paid="0", cas=[("CO", "197", "-180.00")], remarks=())])
    partial = Claim(claim_number="P1", status="1", charge="360.00", paid="180.00", lines=[
        Line(charge="180.00", paid="180.00", cas=[], remarks=()), Line(date="20260915")])
    rem = read_remittance(remittance([Transaction(claims=[reversal, partial])]), name="x.835")
    assert [c.status for c in rem.claims] == ["reversed", "partially_paid"]


@pytest.mark.parametrize("name", ["lfh-secondary-payment.835", "lfh-cob-contractual-adjustment.835"])
def test_composite_split_with_an_undeclared_separator_is_one_bad_claim(name):
    """This test ensures that SVC*HC>code under ISA16 ':' makes that claim unreadable, not the file."""
    rem = _read(name)
    assert rem.errors and all("SVC01" in e.problem for e in rem.errors)


# -- generated files ----------------------------------------------------------------------------------

SEPARATORS = [
    {"seg": "~", "ele": "*", "comp": ":"},
    {"seg": "~", "ele": "|", "comp": ">", "newline": False},
    {"seg": "\n", "ele": "^", "comp": "\\", "rep": "!"},
    {"seg": "!", "ele": "+", "comp": "<", "rep": "^"},
]


@pytest.mark.parametrize("separators", SEPARATORS)
def test_any_separators_the_isa_declares(separators):
    """This test ensures that the same remittance written with other separators reads the same and validates."""
    data = remittance(**separators)
    assert pyx12_valid(data)
    assert read_remittance(data, name="x.835").claims == read_remittance(remittance(), name="x.835").claims


def test_several_transaction_sets_groups_and_interchanges():
    """This test ensures that every ST/SE of every GS of every ISA is read, each with its own separators."""
    txns = [Transaction(claims=[Claim(claim_number=f"C{i}")], control=f"000{i}") for i in range(1, 5)]
    first = remittance(txns, groups=2)
    second = remittance([Transaction(claims=[Claim(claim_number="C5")])], ele="|", comp=">", control="000000002")
    assert pyx12_valid(first) and pyx12_valid(second)
    rem = read_remittance(first + second, name="x.835")
    assert [c.claim_number for c in rem.claims] == ["C1", "C2", "C3", "C4", "C5"]
    assert rem.transactions == 5
    assert [c.position for c in rem.claims] == [1, 2, 3, 4, 5]


def test_generated_fixtures_validate_with_pyx12():
    """This test ensures that the generator's reversals, partial payments and retro denials are valid 835s."""
    # 5010 has no CR group: a reversal (CLP02 22) repeats the original adjustments with their signs reversed.
    claims = [Claim(), Claim(claim_number="R", status="22", charge="-180.00", paid="0",
                              lines=[Line(charge="-180.00", paid="0", cas=[("CO", "197", "-180.00")])]),
              Claim(claim_number="P", status="1", charge="360.00", paid="180.00",
                    lines=[Line(paid="180.00", cas=[], remarks=()), Line(date="20260915")])]
    assert pyx12_errors(remittance([Transaction(claims=claims, ref_2u="DEMO01")])) == []


def test_one_bad_claim_goes_to_errors_and_the_rest_are_read(caplog):
    """This test ensures that a claim with a bad amount is reported by position and segment, without PHI."""
    bad = Claim(claim_number="BAD1", member_id="SECRETMEMBER", last_name="SECRETNAME", charge="12X.00")
    data = remittance([Transaction(claims=[Claim(claim_number="GOOD1"), bad, Claim(claim_number="GOOD2")])])
    with caplog.at_level(logging.DEBUG):
        rem = read_remittance(data, name="x.835")
    assert [c.claim_number for c in rem.claims] == ["GOOD1", "GOOD2"]
    (error,) = rem.errors
    assert error.to_dict() == {"claim": 2, "segment": 21, "problem": "CLP03 (total charge) is not an amount"}
    for secret in ("BAD1", "SECRETMEMBER", "SECRETNAME", "12X"):
        assert secret not in str(error.to_dict()) and secret not in caplog.text


def test_malformed_split_svc_is_one_bad_claim():
    """This test ensures that the tertiary payment whose SVC composite was split with '*' is read, its claim in errors."""
    rem = _read("malformed/lfh-tertiary-payment-split-svc.835")
    assert rem.claims == () and [e.position for e in rem.errors] == [1]


# -- refused files --------------------------------------------------------------------------------------

REFUSED = {
    "malformed/bcbsnc-no-envelope.835": "segment 1: the file does not start with an ISA",
    "malformed/exhaustive-no-envelope.835": "segment 1: the file does not start with an ISA",
    "malformed/nevada-medicaid-collapsed-isa.835": "segment 1: the ISA is not fixed-width",
    "malformed/placeholders-two-st.835": "segment 57: SE01 does not match",
    "malformed/placeholders-broken-segment.835": "segment 165: the segment has no valid segment id",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_malformed_files_are_refused_naming_the_segment(name):
    """This test ensures that each malformed sample is refused with the segment number and the problem."""
    with pytest.raises(EraError) as caught:
        _read(name)
    assert REFUSED[name] in caught.value.message
    assert caught.value.code == ErrorCode.BAD_REMITTANCE and caught.value.segment


def _refused(data: bytes) -> EraError:
    with pytest.raises(EraError) as caught:
        read_remittance(data, name="x.835")
    return caught.value


def test_generated_malformed_input_is_refused_without_phi():
    """This test ensures that broken envelopes and foreign segments are refused, never quoting the file's values."""
    good = remittance([Transaction(claims=[Claim(member_id="SECRETMEMBER", last_name="SECRETNAME")])])
    cases = {
        good.replace(b"SE*19*", b"SE*18*"): "segment 21: SE01 does not match",
        good.replace(b"GE*1*1", b"GE*2*1"): "segment 22: GE01 does not match",
        good.replace(b"IEA*1*000000001", b"IEA*1*000000009"): "segment 23: IEA02 does not match",
        good.replace(b"SVC*HC", b"XYZ*HC"): "segment 17: the segment is not a segment an 835",
        good.replace(b"ST*835*", b"ST*837*"): "segment 3: ST01 transaction set is not an 835",
        good.replace(b"00501", b"00401", 1): "segment 1: ISA12 version is not 00501",
        good.split(b"SE*")[0]: "segment 20: the file ends inside an open ST without its trailer",
        good.replace(b"LQ*HE*N54~", b"LQ*HE*N54~~"): "segment 21: the segment is empty",
        good.replace(b"BPR*", b"BPX*"): "segment 4: the segment is not a segment an 835",
        # an unknown segment id may be a name: it is never quoted
        good.replace(b"SVC*HC", b"ANA*HC"): "segment 17: the segment is not a segment an 835",
        # a segment longer than pyx12's read window is told as such, not as an empty segment
        good.replace(b"LQ*HE*N54~", b"LQ*HE*N54" + b"X" * 30000 + b"~"): "segment 20: the segment is longer than "
                                                                         "8,192 characters",
        b"hello world": "segment 1: the file does not start with an ISA",
        b"": "the file is empty",
    }
    for data, expected in cases.items():
        error = _refused(data)
        assert expected in error.message, (expected, error.message)
        assert "SECRET" not in error.message and "ANA" not in error.message and "XYZ" not in error.message
        assert "BPX" not in error.message and "'" not in error.message


def test_a_claim_before_the_payer_is_refused():
    """This test ensures that loops out of the X221A1 order (a claim before N1*PR) refuse the file."""
    good = remittance()
    lines = good.split(b"~\n")
    payer = [i for i, s in enumerate(lines) if s.startswith(b"N1*PR")][0]
    clp = [i for i, s in enumerate(lines) if s.startswith(b"CLP")][0]
    lines.insert(payer, lines.pop(clp))
    assert "N1*PR" in _refused(b"~\n".join(lines)).message or "before" in _refused(b"~\n".join(lines)).message


# -- hostile input ----------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_GOOD = remittance([Transaction(claims=[Claim(), Claim(claim_number="B", status="1", paid="90.00")])])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_files_are_read_or_refused_never_crash(data):
    """This test ensures that any byte-level damage to a remittance gives a Remittance or an EraError, nothing else."""
    raw = bytearray(_GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] = data.draw(st.sampled_from(b"*~:^\n 0A-.>|"))
        elif kind == "delete":
            del raw[at:at + data.draw(st.integers(1, 30))]
        elif kind == "insert":
            raw[at:at] = data.draw(st.sampled_from([b"~", b"*", b"~~", b"SE*1*1~", b"ISA", b"CLP*X~", b"\x00"]))
        else:
            del raw[at:]
        if not raw:
            raw = bytearray(b" ")
    try:
        rem = read_remittance(bytes(raw), name="x.835")
    except EraError as exc:
        assert exc.message.startswith("remittance x.835: ")
        assert "XJH123456789" not in exc.message and "ORTIZ" not in exc.message
    else:
        for error in rem.errors:
            assert "XJH123456789" not in error.problem


def test_latin1_names_are_read():
    """This test ensures that a remittance with a Latin-1 byte in a name (not UTF-8) is still read."""
    data = remittance().replace(b"ORTIZ", b"MU\xd1OZ")
    assert read_remittance(data, name="x.835").claims[0].last_name == "MU\u00d1OZ"


def test_repeated_interchanges_with_one_control_number_are_all_read():
    """This test ensures that interchanges concatenated with the same ISA13 (as eMedNY's batch file does) all count."""
    one = (FIXTURES / "emedny-sample.835").read_bytes()
    rem = read_remittance(one * 3, name="x.835")
    assert len(rem.claims) == 9 and rem.transactions == 3
    assert rem.claims[3].position == 4 and rem.claims[3].segment == rem.claims[0].segment + rem.segments // 3


def test_an_amount_of_more_than_18_digits_puts_only_its_claim_in_errors():
    """This test ensures that a 27+ digit amount (which two-decimal arithmetic cannot hold) makes its claim an error
    naming the segment, and the other claims are still read."""
    data = remittance([Transaction(claims=[Claim(claim_number="BIG1", lines=[Line(charge="9" * 30)]),
                                           Claim(claim_number="OK2")])])
    rem = read_remittance(data, name="x.835")
    assert [c.claim_number for c in rem.claims] == ["OK2"]
    (error,) = rem.errors
    assert error.to_dict() == {"claim": 1, "segment": 17, "problem": "SVC02 (line charge) has more than 18 digits "
                                                                     "before or after its decimal point"}
    fine = read_remittance(remittance([Transaction(claims=[Claim(lines=[Line(charge="9" * 18 + ".99")])])]), name="x")
    assert fine.claims[0].lines[0].charge == Decimal("9" * 18 + ".99")


def test_units_of_zero_are_unknown_and_svc07_gives_the_original_count():
    """This test ensures that a denied line's SVC05 = 0 is no count (units unknown), SVC07 gives the billed units,
    and an absent SVC05 means one unit (X221A1)."""
    data = remittance([Transaction(claims=[Claim(lines=[Line(units="0"), Line(code="97112", units=None),
                                                        Line(code="97140", units="0")])])])
    data = data.replace(b"SVC*HC:97140:GP*180.00*0**0", b"SVC*HC:97140:GP*180.00*0**0**3")
    units = [line.units for line in read_remittance(data, name="x").claims[0].lines]
    assert units == [None, Decimal(1), Decimal(3)]


def test_status_rule_secondary_claim_paying_nothing_after_the_prior_payer_is_paid():
    """This test ensures the status rule: nothing paid with a refusal reason is denied; a secondary claim (CLP02 = 2)
    paying 0 with only OA-23 (the prior payer's adjudication) is paid; CLP02 = 4 is denied; 22 is reversed."""
    def status(**claim):
        return read_remittance(remittance([Transaction(claims=[Claim(**claim)])]), name="x").claims[0].status
    only_oa23 = [Line(cas=[("OA", "23", "180.00")], remarks=())]
    assert status(status="2", lines=only_oa23) == "paid"
    assert status(status="3", lines=only_oa23) == "paid"
    assert status(status="2", lines=[Line(cas=[("OA", "23", "100.00"), ("CO", "197", "80.00")])]) == "denied"
    assert status(status="1", lines=[Line(cas=[("PR", "1", "180.00")], remarks=())]) == "paid"  # all deductible
    assert status(status="1") == "denied"                                  # nothing paid, CO-197
    assert status(status="4", lines=only_oa23) == "denied"                 # the payer says denied
    assert status(status="1", paid="100.00", lines=[Line(paid="100.00")]) == "partially_paid"
    assert status(status="22") == "reversed"

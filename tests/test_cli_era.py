"""``packetizer era import``: the worklist as JSON and as a table, drafts, exit codes, no PHI in errors or logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from packetizer.cli import main
from tests.support.era835 import Claim, Line, Transaction, remittance

FIXTURES = Path(__file__).parent / "fixtures" / "era"
TODAY = "2026-10-02"
SECRETS = ("XJH123456789", "ORTIZ", "ANA")


def invoke(runner, *args):
    return runner.invoke(main, ["era", "import", *args], catch_exceptions=False)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A remittance with a retro denial, an eligibility denial, a paid claim and one unreadable claim."""
    claims = [
        Claim(),
        Claim(claim_number="ELIG1", member_id="MEMBER2", lines=[Line(cas=[("CO", "27", "180.00")], remarks=())]),
        Claim(claim_number="PAID1", status="1", paid="150.00", member_id="MEMBER3",
              lines=[Line(paid="150.00", cas=[("CO", "45", "30.00")], remarks=())]),
        Claim(claim_number="BROKEN", member_id="MEMBER4", lines=[Line(charge="1O0.00")]),
    ]
    path = tmp_path / "mixed.835"
    path.write_bytes(remittance([Transaction(claims=claims)]))
    return path


def test_json_is_the_spec_object(runner, mixed):
    """This test ensures that --json prints exactly SPEC section 9's object: keys, order, amounts, errors."""
    result = invoke(runner, str(mixed), "--json", "--today", TODAY)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["claims", "errors"]
    assert [c["claim_number"] for c in doc["claims"]] == ["2026091400123", "ELIG1", "PAID1"]
    first = doc["claims"][0]
    assert list(first) == ["claim_number", "payer_claim_number", "payer_id", "payer_name", "member_id", "patient",
                           "status", "denial_codes", "denial_date", "lines", "triage", "deadline", "days_left",
                           "next_action"]
    assert first["lines"] == [{"code": "97110", "modifiers": ["GP"], "units": 2, "date_of_service": "2026-09-14",
                               "charge": "180.00", "paid": "0.00", "denial_codes": ["CO-197"]}]
    assert (first["triage"], first["deadline"], first["days_left"]) == ("retro", "2026-10-14", 12)
    assert doc["claims"][1]["triage"] == "eligibility" and "eligibility" in doc["claims"][1]["next_action"]
    assert doc["claims"][2]["status"] == "paid"
    assert first["next_action"] == "build a retro request"  # exactly as SPEC shows it
    # a paid claim is no work: no deadline, no days left, listed after every denial
    assert (doc["claims"][2]["deadline"], doc["claims"][2]["days_left"]) == (None, None)
    assert doc["errors"] == [{"claim": 4, "segment": 33, "problem": "SVC02 (line charge) is not an amount"}]
    again = invoke(runner, str(mixed), "--json", "--today", TODAY)
    assert again.stdout == result.stdout


def test_table_for_staff(runner, mixed):
    """This test ensures that the readable table lists every claim with deadline and next action, and the unreadable one."""
    result = invoke(runner, str(mixed), "--today", TODAY)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == "mixed.835: 3 claim(s) with adjustments, 1 not readable (today 2026-10-02)"
    assert "build a retro request by 2026-10-14" in out
    assert "claim 4 (segment 33): SVC02 (line charge) is not an amount" in out
    assert "BROKEN" not in out.split("Not readable")[1]


def test_drafts_for_retro_claims_and_check_names_what_is_missing(runner, mixed, tmp_path):
    """This test ensures that --drafts writes one case per retro claim, PHI-free names, and check names each gap."""
    drafts = tmp_path / "drafts"
    result = invoke(runner, str(mixed), "--today", TODAY, "--drafts", str(drafts))
    assert result.exit_code == 0, result.output
    files = sorted(drafts.iterdir())
    assert len(files) == 1 and files[0].name.startswith("draft-") and files[0].suffix == ".yaml"
    assert not any(secret in files[0].name for secret in SECRETS)
    case = yaml.safe_load(files[0].read_text())
    assert case["payer_id"] == "demo-commercial"
    assert case["member"]["member_id"] == "XJH123456789"
    assert case["claim"]["denial_codes"] == ["CO-197", "N54"]
    checked = runner.invoke(main, ["check", str(files[0]), "--today", TODAY])
    assert checked.exit_code == 1
    assert case["rendering_provider"] == {"name": "LAKE STREET PHYSICAL THERAPY", "npi": "1234567893"}  # the payee
    for missing in ("late_reason", "medical_necessity", "contact", "member.dob"):
        assert f"{missing}: is required but missing" in checked.stderr
    assert "rendering_provider" not in checked.stderr


def test_a_refused_file_exits_1_names_the_segment_and_writes_nothing(runner, tmp_path):
    """This test ensures that a malformed 835 exits 1 with the segment and problem, and no drafts folder appears."""
    bad = tmp_path / "bad.835"
    bad.write_bytes(remittance().replace(b"SE*19*", b"SE*18*"))
    drafts = tmp_path / "drafts"
    result = invoke(runner, str(bad), "--drafts", str(drafts), "--today", TODAY)
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: remittance bad.835: segment 21: SE01 does not match the number of "
                                     "segments in the transaction set")
    assert result.stdout == "" and not drafts.exists()
    assert not any(secret in result.stderr for secret in SECRETS)


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "malformed").glob("*.835")
                                        if p.name != "lfh-tertiary-payment-split-svc.835"))
def test_malformed_samples_exit_1(runner, name):
    """This test ensures that each malformed public sample is refused with exit 1 and a segment number."""
    result = invoke(runner, str(FIXTURES / "malformed" / name), "--json")
    assert result.exit_code == 1 and "segment " in result.stderr and "Traceback" not in result.output


def test_single_bad_claim_sample_exits_0(runner):
    """This test ensures that the sample whose only fault is one broken claim is read, that claim under errors."""
    result = invoke(runner, str(FIXTURES / "malformed" / "lfh-tertiary-payment-split-svc.835"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"claims": [], "errors": [
        {"claim": 1, "segment": 20, "problem": "SVC01 has no procedure code after its qualifier (component "
                                               "separator ':', as ISA16 declares)"}]}


def test_usage_errors_exit_2_and_a_missing_file_exits_1(runner, tmp_path):
    """This test ensures the exit codes of section 7: 2 for usage errors, 1 for a file that cannot be read."""
    assert invoke(runner).exit_code == 2
    assert invoke(runner, str(tmp_path / "x.835"), "--today", "yesterday").exit_code == 2
    assert invoke(runner, str(tmp_path / "x.835"), "--bogus").exit_code == 2
    missing = invoke(runner, str(tmp_path / "nowhere.835"))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")


def test_no_phi_in_logs(runner, mixed, caplog):
    """This test ensures that a verbose import logs counts, never names, member ids or the file's name."""
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(main, ["-v", "era", "import", str(mixed), "--json", "--today", TODAY])
    assert result.exit_code == 0
    assert "remittance read: 3 claim(s)" in caplog.text and "mixed.835" not in caplog.text
    for secret in (*SECRETS, "MEMBER2", "MEMBER4"):
        assert secret not in caplog.text


def test_payers_folder_decides_the_match(runner, mixed, tmp_path):
    """This test ensures that --payers replaces the registry: no policy names DEMO01 there, so no payer and no deadline."""
    folder = tmp_path / "payers"
    folder.mkdir()
    (folder / "other.yaml").write_text(
        "id: other\nname: Other Plan\nera_payer_ids: ['12345']\nretro_authorization: {allowed: false}\n"
        "source: {title: t}\n")
    result = invoke(runner, str(mixed), "--json", "--today", TODAY, "--payers", str(folder))
    first = json.loads(result.stdout)["claims"][0]
    assert first["payer_id"] is None and first["deadline"] is None
    assert first["next_action"] == "build a retro request"


def test_a_file_over_the_limit_is_refused(runner, mixed, monkeypatch):
    """This test ensures that a remittance larger than MAX_REMITTANCE_BYTES is refused, telling the limit in MB."""
    from packetizer import limits

    monkeypatch.setattr(limits, "MAX_REMITTANCE_BYTES", 512 * 1024)
    mixed.write_bytes(mixed.read_bytes() + b"\n" * (512 * 1024))
    result = invoke(runner, str(mixed))
    assert result.exit_code == 1
    assert "larger than 0.5 MB, the largest remittance file read" in result.stderr
    assert "MAX_REMITTANCE_BYTES" not in result.stderr


def test_the_limit_accepts_a_10000_claim_file_and_the_web_request_limit_follows_it():
    """This test ensures that the remittance limit keeps a 10,000-claim 835 (two lines a claim) and stays small
    enough to read in seconds, and that the worklist's request limit is its files times that, plus the form."""
    from packetizer import limits
    from tests.support.era835 import Claim, Line, Transaction, remittance

    claims = [Claim(claim_number=f"C{i:07d}", member_id=f"M{i:09d}", lines=[Line(), Line(code="97112")])
              for i in range(10_000)]
    size = len(remittance([Transaction(claims=claims)]))
    assert size <= limits.MAX_REMITTANCE_BYTES <= 8 * 1024 * 1024
    assert limits.MAX_ERA_UPLOAD_REQUEST_BYTES == (limits.ERA_FILES_PER_UPLOAD * limits.MAX_REMITTANCE_BYTES
                                                   + 1024 * 1024)


def test_today_defaults_to_the_real_date(runner, mixed):
    """This test ensures that without --today the import still answers, days counted from the real date."""
    result = invoke(runner, str(mixed), "--json")
    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout)["claims"][0]["days_left"], int)

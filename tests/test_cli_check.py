"""``packetizer check``: readable and JSON output, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from packetizer.cli.check import check
from packetizer.resources import schemas_dir

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
PAYERS = str(FIXTURES / "payers")


@pytest.fixture
def blocked_case(tmp_path):
    """The base case under the 5-business-day payer: late on 2026-09-30."""
    shutil.copytree(FIXTURES / "notes", tmp_path / "notes")
    path = tmp_path / "case.yaml"
    path.write_text((FIXTURES / "base-case.yaml").read_text().replace("payer_id: fx-calendar", "payer_id: fx-business"))
    return str(path)


def invoke(runner, *args):
    return runner.invoke(check, list(args), catch_exceptions=False)


def test_a_ready_case_prints_its_status_deadline_and_channel_and_exits_0(runner):
    result = invoke(runner, str(FIXTURES / "base-case.yaml"), "--payers", PAYERS, "--today", "2026-09-30")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "READY: case CHK-0001, payer fx-calendar (Fixture Calendar Plan)"
    assert "  triage:   retro" in lines
    assert ("  deadline: 2026-10-14 (14 days left; 30 calendar days from the first date of service, 2026-09-14)"
            in lines)
    assert "  channel:  fax (+1-800-555-0199)" in lines


def test_a_blocked_case_lists_its_findings_and_exits_1(runner, blocked_case):
    result = invoke(runner, blocked_case, "--payers", PAYERS, "--today", "2026-09-30")
    assert result.exit_code == 1
    out = result.stdout
    assert out.startswith("BLOCKED: case CHK-0001, payer fx-business")
    assert "deadline: 2026-09-21 (passed 9 days ago" in out
    assert "Blocking (1):\n  - deadline_passed  [services[0].date_of_service]\n      The Fixture Business Plan" in out
    assert "Ana" not in out and "XJH123456789" not in out


def test_json_output_is_one_object_that_matches_the_schema(runner, blocked_case):
    schema = json.loads((schemas_dir() / "check-result.schema.json").read_text())
    for case_file, code in ((str(FIXTURES / "base-case.yaml"), 0), (blocked_case, 1)):
        result = invoke(runner, case_file, "--payers", PAYERS, "--today", "2026-09-30", "--json")
        assert result.exit_code == code
        doc = json.loads(result.stdout)
        jsonschema.Draft202012Validator(schema).validate(doc)
        assert doc["ready"] is (code == 0)
    assert doc["blocking"][0]["code"] == "deadline_passed"
    assert doc["days_left"] == -9


def test_payers_can_come_from_the_environment(runner, monkeypatch):
    monkeypatch.setenv("PACKETIZER_PAYERS", PAYERS)
    result = invoke(runner, str(FIXTURES / "base-case.yaml"), "--today", "2026-09-30", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["deadline"] == "2026-10-14"


def test_today_defaults_to_the_real_date(runner):
    result = invoke(runner, str(FIXTURES / "base-case.yaml"), "--payers", PAYERS, "--json")
    assert json.loads(result.stdout)["days_left"] is not None


def test_a_bad_today_is_a_usage_error(runner):
    result = invoke(runner, str(FIXTURES / "base-case.yaml"), "--today", "2026-13-01")
    assert result.exit_code == 2
    assert "'2026-13-01' is not a date in the form YYYY-MM-DD" in result.stderr


def test_a_missing_case_file_is_an_error_without_traceback(runner, tmp_path):
    result = invoke(runner, str(tmp_path / "nope.yaml"), "--payers", PAYERS)
    assert result.exit_code == 1
    assert result.stderr == "error: case file nope.yaml: not found\n"
    assert result.stdout == ""


def test_an_invalid_case_names_the_field(runner, tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text((FIXTURES / "base-case.yaml").read_text().replace("case_id: CHK-0001\n", ""))
    result = invoke(runner, str(path), "--payers", PAYERS)
    assert result.exit_code == 1
    assert result.stderr == "error: case_id: is required but missing\n"


def test_a_malformed_policy_file_is_named_with_its_field(runner):
    result = invoke(runner, str(FIXTURES / "base-case.yaml"), "--payers", str(FIXTURES / "bad-payers"))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: payer policy fx-broken.yaml: retro_authorization.window.count: fortnights is not one of: "
        "calendar, business\n"
    )


def test_an_unknown_payer_is_an_error(runner, tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text((FIXTURES / "base-case.yaml").read_text().replace("payer_id: fx-calendar", "payer_id: nobody"))
    shutil.copytree(FIXTURES / "notes", tmp_path / "notes")
    result = invoke(runner, str(path), "--payers", PAYERS)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: payer_id: no payer policy named 'nobody'")


def test_scanned_pages_are_left_to_the_build(runner, tmp_path):
    """This test ensures check says nothing about pages without a text layer: scans are read by OCR at build time,
    and only the build can tell which pages OCR read poorly (page_not_checked in its warnings and report)."""
    from tests.fixtures.disclosure.make_notes import copy_case

    case_file = copy_case(tmp_path / "case")        # its progress note PDF ends with a scanned page
    payers = str(Path(__file__).parent / "fixtures" / "disclosure" / "payers")
    result = invoke(runner, str(case_file), "--payers", payers, "--today", "2026-10-25", "--json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"ready", "triage", "deadline", "days_left", "channel", "blocking", "warnings"}
    codes = {f["code"] for f in doc["blocking"] + doc["warnings"]}
    assert not codes & {"page_not_checked", "pictures_not_checked"}
    text = invoke(runner, str(case_file), "--payers", payers, "--today", "2026-10-25").output
    assert "text layer" not in text and "page_not_checked" not in text

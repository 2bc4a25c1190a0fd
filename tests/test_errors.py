"""Errors keep their detail, field and subject apart, and their codes stay the ones the contract names."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import packetizer
from packetizer import errors
from packetizer.checks import CheckResult, Finding, blocked_error
from packetizer.errors import CaseError, ErrorCode, PacketizerError, PolicyBlock, PolicyError, StorageError

PACKAGE = Path(packetizer.__file__).parent

# The codes as JSON output, batch reports and the Celery retry rule spell them: never to be renamed.
CONTRACT_CODES = {
    "packetizer_error", "usage", "config", "busy", "out_dir", "bad_case", "bad_policy", "unknown_payer", "blocked",
    "bad_attachment", "limit_exceeded", "bad_upload", "bad_folder", "ocr_failed", "ocr_unavailable", "disclosure",
    "redaction_failed", "leak", "leak_check_failed", "bad_report", "render", "assembly", "storage", "not_found",
    "integrity", "bad_key", "bad_id", "bad_manifest", "ambiguous", "exists", "unsupported", "read_failed",
    "write_failed", "archive_failed", "spool_failed", "spool_damaged", "bad_config", "no_credentials", "unreachable",
    "no_bucket", "access_denied", "s3_error", "registry", "account", "bad_tracking",
    "bad_remittance",
}


def test_error_codes_keep_their_values():
    """This test ensures that every code keeps the exact string the external contract uses."""
    assert {code.value for code in ErrorCode} == CONTRACT_CODES
    assert all(code.value == code.name.lower() for code in ErrorCode)


def test_codes_read_as_plain_strings():
    """This test ensures that a code compares, prints and serialises as its string, so doors need no change."""
    exc = StorageError("archive object k already exists with different content", code=ErrorCode.EXISTS)
    assert exc.code == "exists" and exc.code in {"exists"}
    assert f"{exc.code}" == "exists" and str(exc.code) == "exists"
    assert json.dumps({"error": exc.code}) == '{"error": "exists"}'


def test_every_error_class_lives_in_the_errors_module():
    """This test ensures that no module but errors.py defines an error class."""
    pattern = re.compile(r"^\s*class\s+\w*Error\b", re.M)
    found = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if p.name != "errors.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert found == []
    for name in ("UploadError", "ConfigError", "AccountError", "RegistryError"):
        assert issubclass(getattr(errors, name), PacketizerError)


def test_message_is_put_together_from_its_parts():
    """This test ensures that the message reads field, then subject, then detail, each only when given."""
    assert CaseError("file not found").message == "file not found"
    assert CaseError("is required but missing", field="member.dob").message == "member.dob: is required but missing"
    attached = CaseError("file not found", field="attachments[0].file", subject="notes/visit.pdf")
    assert str(attached) == "attachments[0].file: notes/visit.pdf: file not found"
    manifest = CaseError("not found", subject="cases.csv", noun="manifest")
    assert manifest.message == "manifest cases.csv: not found"
    placed = PolicyError("window.days: must be >= 1", field="window.days", subject="acme.yaml", noun="payer policy",
                         field_first=False)
    assert placed.message == "payer policy acme.yaml: window.days: must be >= 1"


def test_doors_tell_the_message_their_own_way():
    """This test ensures that a door can leave out the field it shows, or name the subject as the user knows it."""
    exc = CaseError("file not found", field="attachments[0].file", subject="uploads/3f9a.pdf")
    assert exc.told(beside_field=True) == "uploads/3f9a.pdf: file not found"
    assert exc.told(subject="Visit.pdf") == "attachments[0].file: Visit.pdf: file not found"
    assert exc.message == "attachments[0].file: uploads/3f9a.pdf: file not found"
    assert CaseError("bad").told(subject="Visit.pdf") == "bad"  # no subject: nothing to rename


def test_about_renames_the_subject_on_a_copy():
    """This test ensures that an error re-told about another name keeps its class, code and parts."""
    exc = CaseError("not found", subject=".manifest.csv", noun="manifest")
    renamed = exc.about("cases.csv")
    assert type(renamed) is CaseError and renamed.code == ErrorCode.BAD_CASE
    assert str(renamed) == "manifest cases.csv: not found" and renamed.args == ("manifest cases.csv: not found",)
    assert exc.message == "manifest .manifest.csv: not found"


def test_a_field_set_later_places_the_error_without_changing_its_message():
    """This test ensures that a door's field (where a form shows the error) is not written into the message."""
    exc = PacketizerError("upload: not a readable ZIP file")
    exc.field = "notes"
    assert exc.message == "upload: not a readable ZIP file"


def test_errors_cross_process_boundaries_whole():
    """This test ensures that a pickled error (a pool worker's) keeps its code and parts."""
    exc = StorageError("is missing", subject="e1", noun="spool entry", code=ErrorCode.SPOOL_DAMAGED)
    back = pickle.loads(pickle.dumps(exc))
    assert (back.code, back.detail, back.subject, back.message) == (exc.code, exc.detail, exc.subject, exc.message)
    block = pickle.loads(pickle.dumps(PolicyBlock("blocked", findings=[Finding("x", "y")])))
    assert block.findings == [Finding("x", "y")]


def test_a_finding_at_a_field_is_listed_with_its_field_once():
    """This test ensures that a finding whose message starts with its field is not named twice in a block."""
    icd = Finding.at_field("icd10_unknown", "M54.99 is not an ICD-10-CM code.", "services[0].diagnosis_codes[0]")
    prose = Finding("cpt_shape", "services[0].code 9999 is not a CPT or HCPCS code.", "services[0].code")
    assert icd.message == "services[0].diagnosis_codes[0]: M54.99 is not an ICD-10-CM code."
    result = CheckResult(ready=False, triage="retro", deadline=None, days_left=None, channel=None,
                         blocking=(icd, prose))
    assert blocked_error(result).message == (
        "the case is blocked by 2 finding(s):\n"
        "[icd10_unknown] services[0].diagnosis_codes[0]: M54.99 is not an ICD-10-CM code.\n"
        "[cpt_shape] services[0].code: services[0].code 9999 is not a CPT or HCPCS code.")

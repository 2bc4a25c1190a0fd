"""``packetizer archive list|get|verify|hold``: output, exit codes 0/1/2, and errors without tracebacks.

``pending`` and ``retry`` are tested in ``test_archive_pending.py``, S3 in ``test_archive_s3.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from packetizer.archive import LocalStorage, archive_packet
from packetizer.cli.archive import archive

CASE = "RA-2026-0001"
PAYER = "demo-commercial"
PACKET_NAME = f"RETRO-AUTH_{PAYER}_{CASE}_2026-09-14.pdf"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def add_version(storage: LocalStorage, text: str, created: str, *, case_id: str = CASE, payer_id: str = PAYER):
    pdf = b"%PDF-1.7\n% " + text.encode() + b"\n%%EOF\n"
    manifest = {
        "case_id": case_id, "payer_id": payer_id, "created": created,
        "generator": {"name": "packetizer", "version": "0.1.0"},
        "packet": {"file_name": f"RETRO-AUTH_{payer_id}_{case_id}_2026-09-14.pdf", "sha256": sha(pdf),
                   "size": len(pdf), "pages": 5},
        "inputs": [], "disclosure": {}, "built_by": "billing1", "override": None,
    }
    extras = {"disclosure-report.json": b"{}\n", "disclosure-report.html": b"<p>report</p>\n"}
    return archive_packet(storage, pdf, manifest, extras), pdf


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def storage(root) -> LocalStorage:
    return LocalStorage(root)


def run(root: Path, *args: str, env: dict | None = None):
    result = CliRunner().invoke(archive, [args[0], "--archive", str(root), *args[1:]], env=env)
    assert "Traceback" not in result.output + result.stderr
    return result


def test_list_of_an_empty_archive_exits_0_and_says_so_on_stderr(root):
    result = run(root, "list")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "no archived packets\n"
    assert json.loads(run(root, "list", "--json").stdout) == []


def test_list_prints_one_line_per_version(root, storage):
    old, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    new, _ = add_version(storage, "two", "2026-11-24T10:00:00Z")
    other, _ = add_version(storage, "three", "2026-11-25T10:00:00Z", case_id="RA-2026-0002", payer_id="other")
    result = run(root, "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{CASE}  {PAYER}  2026-11-23T10:00:00Z  {old.sha256}  5",
        f"{CASE}  {PAYER}  2026-11-24T10:00:00Z  {new.sha256}  5",
        f"RA-2026-0002  other  2026-11-25T10:00:00Z  {other.sha256}  5",
    ]
    assert len(run(root, "list", "--case", CASE).stdout.splitlines()) == 2
    assert run(root, "list", "--payer", "other").stdout.split()[3] == other.sha256


def test_list_by_month_with_and_without_payer(root, storage):
    nov, _ = add_version(storage, "one", "2026-11-30T23:59:59Z")
    dec, _ = add_version(storage, "two", "2026-12-01T00:00:00Z")
    other, _ = add_version(storage, "three", "2026-12-15T10:00:00Z", case_id="RA-2026-0002", payer_id="other")
    def shas(*args):
        return [line.split()[3] for line in run(root, "list", *args).stdout.splitlines()]
    assert shas("--month", "2026-11") == [nov.sha256]
    assert shas("--month", "2026-12") == [dec.sha256, other.sha256]
    assert shas("--month", "2026-12", "--payer", PAYER) == [dec.sha256]
    assert shas("--month", "2027-01") == []
    bad = run(root, "list", "--month", "2026-13")
    assert bad.exit_code == 2 and "month '2026-13' is not YYYY-MM" in bad.stderr


def test_list_json_prints_an_array_of_objects(root, storage):
    version, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    result = run(root, "list", "--json", "--case", CASE)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{
        "case_id": CASE, "payer_id": PAYER, "created": "2026-11-23T10:00:00Z", "sha256": version.sha256,
        "pages": 5, "key": version.prefix, "damaged": None,
    }]


def test_the_archive_location_comes_from_the_environment_by_default(root, storage):
    add_version(storage, "one", "2026-11-23T10:00:00Z")
    result = CliRunner().invoke(archive, ["list", "--json"], env={"PACKETIZER_ARCHIVE": str(root)})
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 1


def test_get_writes_the_newest_version_with_the_packet_path_last(root, storage, tmp_path):
    add_version(storage, "one", "2026-11-23T10:00:00Z")
    new, pdf = add_version(storage, "two", "2026-11-24T10:00:00Z")
    out = tmp_path / "out"
    result = run(root, "get", CASE, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    paths = result.stdout.splitlines()
    assert paths[-1] == str(out / PACKET_NAME)
    assert sorted(Path(p).name for p in paths) == sorted(
        ["disclosure-report.html", "disclosure-report.json", "manifest.json", PACKET_NAME])
    assert (out / PACKET_NAME).read_bytes() == pdf
    assert (out / "manifest.json").read_bytes() == storage.get(new.manifest_key)
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(p).name for p in paths)  # no temp files left
    # Fetching again into the same folder finds identical files and succeeds.
    assert run(root, "get", CASE, "--out", str(out)).exit_code == 0


def test_get_by_sha_prefix_fetches_that_version(root, storage, tmp_path):
    old, pdf = add_version(storage, "one", "2026-11-23T10:00:00Z")
    add_version(storage, "two", "2026-11-24T10:00:00Z")
    result = run(root, "get", CASE, "--sha", old.sha256[:12], "--out", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert Path(result.stdout.splitlines()[-1]).read_bytes() == pdf


def test_get_refuses_to_overwrite_a_different_file_and_writes_nothing(root, storage, tmp_path):
    add_version(storage, "one", "2026-11-23T10:00:00Z")
    out = tmp_path / "out"
    out.mkdir()
    (out / PACKET_NAME).write_bytes(b"something else")
    result = run(root, "get", CASE, "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"error: refusing to overwrite {out / PACKET_NAME}: it exists with different content\n"
    assert [p.name for p in out.iterdir()] == [PACKET_NAME]


def test_get_of_an_unknown_case_exits_1(root, storage, tmp_path):
    result = run(root, "get", "RA-404", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == "error: no archived packet for case RA-404\n"
    add_version(storage, "one", "2026-11-23T10:00:00Z")
    other = "0" * 64
    result = run(root, "get", CASE, "--sha", other)
    assert result.exit_code == 1
    assert result.stderr == f"error: no archived packet for case {CASE} with sha256 starting {other}\n"


def test_get_of_an_altered_packet_exits_1_naming_the_key(root, storage, tmp_path):
    version, pdf = add_version(storage, "one", "2026-11-23T10:00:00Z")
    path = root / version.packet_key
    path.chmod(0o644)
    path.write_bytes(pdf + b"x")
    result = run(root, "get", CASE, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {version.packet_key}: sha256 is ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_verify_reports_every_version_intact(root, storage):
    a, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    b, _ = add_version(storage, "two", "2026-11-24T10:00:00Z")
    result = run(root, "verify", CASE)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"intact: {a.prefix}", f"intact: {b.prefix}"]
    only = run(root, "verify", CASE, "--sha", b.sha256[:8])
    assert only.stdout.splitlines() == [f"intact: {b.prefix}"]


def test_verify_names_the_altered_object_and_exits_1(root, storage):
    a, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    b, _ = add_version(storage, "two", "2026-11-24T10:00:00Z")
    report = root / b.key("disclosure-report.json")
    report.chmod(0o644)
    report.write_bytes(b'{"edited": true}\n')
    result = run(root, "verify", CASE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"intact: {a.prefix}", f"altered: {b.prefix}"]
    assert lines[2].startswith(f"  {b.key('disclosure-report.json')}: sha256 is ")
    assert result.stderr == f"error: 1 of 2 archived version(s) of case {CASE} differ from their manifest\n"


def test_verify_of_an_unknown_case_exits_1(root):
    result = run(root, "verify", "RA-404")
    assert result.exit_code == 1
    assert result.stderr == "error: no archived packet for case RA-404\n"


def test_a_bad_s3_location_is_an_error_not_a_traceback(tmp_path):
    result = CliRunner().invoke(archive, ["list", "--archive", "s3://b"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: S3 bucket name 'b' is not valid")


def test_hold_on_a_local_archive_explains_that_it_needs_object_lock(root, storage):
    add_version(storage, "one", "2026-11-23T10:00:00Z")
    result = run(root, "hold", CASE, "--on")
    assert result.exit_code == 1
    assert result.stderr == (f"error: legal holds need an S3 archive in a bucket with Object Lock; "
                             f"local folder {root} has none\n")
    assert run(root, "hold", "RA-404", "--on").stderr == "error: no archived packet for case RA-404\n"


@pytest.mark.parametrize("args", [
    ["get"],                                   # missing CASE_ID
    ["get", "../../etc"],                      # not a case id
    ["verify", CASE, "--sha", "not-hex"],
    ["list", "--payer", "a/b"],
    ["list", "--bogus"],
    ["nonexistent"],
    ["hold", CASE],                            # neither --on nor --off
    ["hold", "--on"],                          # missing CASE_ID
    ["retry", "--bogus"],
])
def test_usage_errors_exit_2(root, args):
    result = CliRunner().invoke(archive, args, env={"PACKETIZER_ARCHIVE": str(root)})
    assert result.exit_code == 2
    assert "Traceback" not in result.output + result.stderr

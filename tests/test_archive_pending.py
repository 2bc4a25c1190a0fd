"""Archive now or defer: the spool keeps what could not be archived, ``archive retry`` finishes the job.

The fault tests stop a real ``rclone serve s3`` mid-run and start it again on
the same port and folder; nothing is reported archived that did not verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat

import pytest
from click.testing import CliRunner

from packetizer.archive import (
    LocalStorage,
    archive_or_defer,
    archive_packet,
    list_pending,
    list_versions,
    open_storage,
    retry_pending,
    verify_version,
)
from packetizer.archive.pending import LOCK_FILE, _locked
from packetizer.cli.archive import archive
from packetizer.errors import IntegrityError, StorageError
from tests.support.s3_servers import free_port, new_bucket, set_aws_env

CASE = "RA-2026-0001"
PAYER = "demo-commercial"
PATIENT_TEXT = b"Ana Ortiz XJH123456789"  # stands in for PHI inside the packet
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packet(text: str = "one") -> tuple[bytes, dict, dict]:
    pdf = b"%PDF-1.7\n% " + PATIENT_TEXT + b" " + text.encode() + b"\n%%EOF\n"
    manifest = {
        "case_id": CASE, "payer_id": PAYER, "created": "2026-11-23T10:00:00Z",
        "generator": {"name": "packetizer", "version": "0.1.0"},
        "packet": {"file_name": f"RETRO-AUTH_{PAYER}_{CASE}_2026-09-14.pdf", "sha256": sha(pdf),
                   "size": len(pdf), "pages": 5},
        "inputs": [], "disclosure": {"withheld": []}, "built_by": "billing1", "override": None,
    }
    extras = {"disclosure-report.json": b'{"withheld": []}\n', "disclosure-report.html": b"<p>report</p>\n"}
    return pdf, manifest, extras


def cli(*args: str, env: dict | None = None):
    result = CliRunner().invoke(archive, list(args), env=env)
    assert "Traceback" not in result.output + result.stderr
    return result


@pytest.fixture
def spool(tmp_path):
    return tmp_path / "spool"


@pytest.fixture
def down(monkeypatch):
    """An S3 archive whose endpoint nothing listens on."""
    set_aws_env(monkeypatch, f"http://127.0.0.1:{free_port()}")
    return open_storage("s3://bucket/archive")


def test_a_reachable_archive_archives_verifies_and_leaves_no_spool_entry(tmp_path, spool):
    storage = LocalStorage(tmp_path / "archive")
    pdf, manifest, extras = packet()
    outcome = archive_or_defer(storage, pdf, manifest, extras, spool_dir=spool)
    assert outcome.pending_reason is None and outcome.pending_id is None
    assert outcome.archived.sha256 == sha(pdf) and verify_version(storage, outcome.archived) == []
    assert list_pending(spool) == [] and [p.name for p in spool.iterdir()] == []


def test_an_unreachable_archive_defers_with_the_reason_and_keeps_a_complete_private_copy(down, spool):
    """This test ensures a failed archive loses nothing: the spool holds packet, manifest and reports, readable only by the owner."""
    pdf, manifest, extras = packet()
    outcome = archive_or_defer(down, pdf, manifest, extras, spool_dir=spool, clock=lambda: NOW)
    assert outcome.archived is None
    assert outcome.pending_reason.startswith("S3 endpoint http://127.0.0.1:") and "unreachable" in outcome.pending_reason
    [entry] = list_pending(spool)
    assert entry.entry_id == outcome.pending_id and entry.entry_id.startswith(f"{CASE}_{sha(pdf)[:16]}_")
    assert (entry.case_id, entry.payer_id, entry.sha256, entry.attempts) == (CASE, PAYER, sha(pdf), 1)
    assert entry.last_error == outcome.pending_reason and entry.queued_at == "2026-11-23T10:00:00Z"
    assert (entry.path / "packet.pdf").read_bytes() == pdf
    assert json.loads((entry.path / "manifest.json").read_bytes()) == manifest
    assert {p.name: p.read_bytes() for p in (entry.path / "files").iterdir()} == extras
    for path in [entry.path, *entry.path.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
    # The bookkeeping file names the case and the hashes, never the patient.
    assert PATIENT_TEXT not in (entry.path / "pending.json").read_bytes()
    # No temporary folders are left beside the entry.
    assert [p.name for p in spool.iterdir()] == [entry.entry_id]


def test_the_same_version_deferred_twice_is_one_entry(down, spool):
    pdf, manifest, extras = packet()
    first = archive_or_defer(down, pdf, manifest, extras, spool_dir=spool)
    second = archive_or_defer(down, pdf, manifest, extras, spool_dir=spool)
    assert first.pending_id == second.pending_id
    [entry] = list_pending(spool)
    assert entry.attempts == 2
    other = archive_or_defer(down, *packet("two"), spool_dir=spool)
    assert other.pending_id != first.pending_id and len(list_pending(spool)) == 2


def test_invalid_input_is_refused_at_once_and_never_spooled(down, spool):
    pdf, manifest, extras = packet()
    with pytest.raises(IntegrityError):
        archive_or_defer(down, pdf + b"x", manifest, extras, spool_dir=spool)
    del manifest["built_by"]
    with pytest.raises(StorageError) as info:
        archive_or_defer(down, pdf, manifest, extras, spool_dir=spool)
    assert info.value.code == "bad_manifest"
    assert list_pending(spool) == [] and not spool.exists()


def test_when_the_spool_cannot_be_written_the_archive_still_counts(tmp_path, down):
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"a file where the spool should be")
    pdf, manifest, extras = packet()
    outcome = archive_or_defer(LocalStorage(tmp_path / "archive"), pdf, manifest, extras, spool_dir=blocked)
    assert outcome.archived is not None
    with pytest.raises(StorageError) as info:
        archive_or_defer(down, pdf, manifest, extras, spool_dir=blocked)
    assert info.value.code == "spool_failed"
    assert "unreachable" in info.value.message and "could not be kept for a later retry" in info.value.message


def test_an_archived_copy_that_does_not_verify_is_not_reported_archived(tmp_path, spool):
    storage = LocalStorage(tmp_path / "archive")
    pdf, manifest, extras = packet()
    version = archive_packet(storage, pdf, manifest, extras)
    path = storage.root / version.packet_key
    path.chmod(0o644)
    path.write_bytes(pdf + b"tampered")
    outcome = archive_or_defer(storage, pdf, manifest, extras, spool_dir=spool)
    assert outcome.archived is None
    assert outcome.pending_reason.startswith(f"the archived copy does not verify: {version.packet_key}: sha256 is ")
    assert len(list_pending(spool)) == 1


def test_retry_archives_once_the_archive_is_back(tmp_path, down, spool):
    pdf, manifest, extras = packet()
    archive_or_defer(down, pdf, manifest, extras, spool_dir=spool)
    [still] = retry_pending(down, spool_dir=spool)
    assert still.archived is None and "unreachable" in still.error and still.entry.attempts == 2
    storage = LocalStorage(tmp_path / "archive")
    [done] = retry_pending(storage, spool_dir=spool)
    assert done.error is None and done.archived.sha256 == sha(pdf)
    assert verify_version(storage, done.archived) == []
    assert list_pending(spool) == [] and list(spool.iterdir()) == []
    assert retry_pending(storage, spool_dir=spool) == []


def test_retry_clears_what_crashed_processes_left_but_keeps_recent_incoming(tmp_path, spool):
    for name in (".done-RA-1_abc-1234", ".incoming-RA-2_def-5678", ".incoming-RA-3_fresh-9999"):
        (spool / name).mkdir(parents=True)
        (spool / name / "packet.pdf").write_bytes(PATIENT_TEXT)
    old = dt.datetime.now().timestamp() - 2 * 24 * 3600
    os.utime(spool / ".incoming-RA-2_def-5678", (old, old))
    assert retry_pending(LocalStorage(tmp_path / "archive"), spool_dir=spool) == []
    assert [p.name for p in spool.iterdir()] == [".incoming-RA-3_fresh-9999"]


def test_a_damaged_spool_entry_is_reported_and_kept(tmp_path, down, spool):
    pdf, manifest, extras = packet()
    archive_or_defer(down, pdf, manifest, extras, spool_dir=spool)
    [entry] = list_pending(spool)
    (entry.path / "files" / "disclosure-report.json").write_bytes(b"{}")
    storage = LocalStorage(tmp_path / "archive")
    [result] = retry_pending(storage, spool_dir=spool)
    assert result.archived is None
    assert result.error == f"spool entry {entry.entry_id}: files/disclosure-report.json was altered"
    assert list(storage.list("")) == [] and len(list_pending(spool)) == 1


def test_an_entry_being_archived_elsewhere_is_skipped(tmp_path, down, spool):
    archive_or_defer(down, *packet(), spool_dir=spool)
    [entry] = list_pending(spool)
    with _locked(entry.path) as mine:
        assert mine and (entry.path / LOCK_FILE).exists()
        # flock locks are per open file: a second open (as another process would) does not get it.
        with _locked(entry.path) as again:
            assert not again
            assert retry_pending(LocalStorage(tmp_path / "archive"), spool_dir=spool) == []
    assert len(retry_pending(LocalStorage(tmp_path / "archive"), spool_dir=spool)) == 1


def test_pending_and_retry_commands(tmp_path, down, spool):
    root = tmp_path / "archive"
    assert cli("pending", "--spool", str(spool)).stderr == "nothing pending\n"
    archive_or_defer(down, *packet(), spool_dir=spool)
    listed = cli("pending", "--spool", str(spool), "--json")
    [row] = json.loads(listed.stdout)
    assert (row["case_id"], row["attempts"]) == (CASE, 1) and "unreachable" in row["last_error"]
    assert cli("pending", "--spool", str(spool)).stdout.startswith(f"{CASE}  {PAYER}  ")
    result = cli("retry", "--spool", str(spool), "--archive", "s3://bucket/archive")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"pending: {CASE} {row['sha256'][:12]}: S3 endpoint ")
    assert result.stderr == "error: 1 of 1 pending packet(s) are still not archived\n"
    result = cli("retry", "--archive", str(root), env={"PACKETIZER_SPOOL": str(spool)})
    assert result.exit_code == 0, result.stderr
    [version] = list_versions(LocalStorage(root))
    assert result.stdout == f"archived: {version.prefix}\n"
    assert cli("retry", "--spool", str(spool), "--archive", str(root)).stderr == "nothing pending\n"


def test_fault_s3_server_stops_mid_run_then_retry_archives_and_verifies(private_rclone, spool):
    """This test ensures the issue's fault scenario: server down -> pending; restarted -> `archive retry` archives and verifies."""
    bucket = new_bucket(private_rclone.endpoint)
    location = f"s3://{bucket}/archive"
    storage = open_storage(location)
    first = archive_or_defer(storage, *packet("before"), spool_dir=spool)
    assert first.archived is not None  # the server is up: archived at once

    private_rclone.stop()
    pdf, manifest, extras = packet("during")
    outcome = archive_or_defer(storage, pdf, manifest, extras, spool_dir=spool)
    assert outcome.archived is None and "unreachable" in outcome.pending_reason
    assert cli("verify", CASE, "--archive", location).exit_code == 1  # the archive cannot be read either

    private_rclone.start()  # same port, same folder
    result = cli("retry", "--spool", str(spool), "--archive", location)
    assert result.exit_code == 0, result.output + result.stderr
    prefix = f"{PAYER}/2026/11/{CASE}/{sha(pdf)}/"
    assert result.stdout == f"archived: {prefix}\n"
    assert list_pending(spool) == []
    verified = cli("verify", CASE, "--archive", location)
    assert verified.exit_code == 0
    assert sorted(verified.stdout.splitlines()) == sorted([f"intact: {first.archived.prefix}", f"intact: {prefix}"])
    assert private_rclone.object_path(bucket, "archive/" + prefix + "packet.pdf").read_bytes() == pdf


def test_fault_wrong_credentials_defer_until_fixed(private_rclone, spool, monkeypatch):
    bucket = new_bucket(private_rclone.endpoint)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    outcome = archive_or_defer(open_storage(f"s3://{bucket}/archive"), *packet(), spool_dir=spool)
    assert outcome.archived is None and outcome.pending_reason.startswith("access denied by S3")
    assert "not-the-secret" not in json.dumps([e.last_error for e in list_pending(spool)])
    set_aws_env(monkeypatch, private_rclone.endpoint)
    [result] = retry_pending(open_storage(f"s3://{bucket}/archive"), spool_dir=spool)
    assert result.archived is not None and result.error is None


def test_spool_defaults_to_the_environment_then_xdg(tmp_path, monkeypatch):
    from packetizer.archive import default_spool_dir

    assert default_spool_dir({"PACKETIZER_SPOOL": str(tmp_path / "s")}) == tmp_path / "s"
    assert default_spool_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "packetizer" / "pending"
    assert str(default_spool_dir({})) == os.path.expanduser("~/.local/share/packetizer/pending")

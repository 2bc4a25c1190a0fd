"""``packetizer build --archive`` into S3, with the S3 server down mid-run (issue 6 fault scenario, end to end).

The build must succeed locally, report the archive as pending with the reason,
keep the version in the spool, and ``packetizer archive retry`` must archive and
verify it once the server is back on the same port and folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from packetizer.archive import list_pending
from packetizer.cli import main
from tests.support.s3_servers import new_bucket

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lake-street" / "case.yaml"
CASE = "RA-2026-0001"


def test_build_with_the_s3_server_down_defers_then_retry_archives_and_verifies(private_rclone, tmp_path, monkeypatch):
    bucket = new_bucket(private_rclone.endpoint)
    location = f"s3://{bucket}/archive"
    spool = tmp_path / "spool"
    monkeypatch.setenv("PACKETIZER_ARCHIVE", location)
    monkeypatch.setenv("PACKETIZER_SPOOL", str(spool))
    runner = CliRunner()

    private_rclone.stop()
    out = tmp_path / "out"
    result = runner.invoke(main, ["build", str(EXAMPLE), "--out", str(out), "--today", "2026-10-06", "--archive"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    packet = Path(result.stdout.splitlines()[-1])
    assert packet.is_file() and packet.parent == out
    assert "warning: archive pending: S3 endpoint http://127.0.0.1:" in result.stderr
    assert "archived:" not in result.stdout
    [entry] = list_pending(spool)
    pdf = packet.read_bytes()
    assert (entry.case_id, entry.sha256) == (CASE, hashlib.sha256(pdf).hexdigest())

    private_rclone.start()
    result = runner.invoke(main, ["archive", "retry"])
    assert result.exit_code == 0, result.output + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("archived: demo-commercial/") and line.endswith(f"/{CASE}/{entry.sha256}/")
    assert list_pending(spool) == []

    verified = runner.invoke(main, ["archive", "verify", CASE])
    assert (verified.exit_code, verified.stdout) == (0, f"intact: {line.removeprefix('archived: ')}\n")
    fetched = runner.invoke(main, ["archive", "get", CASE, "--out", str(tmp_path / "fetched")])
    assert fetched.exit_code == 0, fetched.stderr
    assert Path(fetched.stdout.splitlines()[-1]).read_bytes() == pdf
    manifest = json.loads((tmp_path / "fetched" / "manifest.json").read_text())
    assert manifest["packet"]["sha256"] == entry.sha256 and manifest["case_id"] == CASE

"""Scale-out on Celery: a real worker process, the machine's Redis, and an S3 archive on loopback.

Dispatcher and worker share nothing but the broker and the S3 bucket, as they
would on different machines. The tests use Redis database 13 and a queue named
for this run, so parallel runs and other users of the Redis do not collide.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader

from packetizer.archive import LocalStorage, find_versions, open_storage, verify_version
from packetizer.batch import run_batch
from packetizer.batch.celery_app import INPUT_PREFIX, TASK_NAME, create_app, upload_bundle
from packetizer.batch.jobs import Job
from packetizer.batch.manifest import read_manifest
from packetizer.policy import load_payer
from tests.support.s3_servers import new_bucket, set_aws_env

FIXTURES = Path(__file__).parent / "fixtures" / "batch"
REDIS_URL = "redis://127.0.0.1:6379/13"
TODAY = dt.date(2026, 10, 6)
WORKER = [sys.executable, "-c", "from packetizer.cli.batch import worker; worker(prog_name='packetizer worker')"]


@pytest.fixture(scope="module")
def worker(rclone_server, tmp_path_factory):
    """One ``packetizer worker`` process (2 children) for the module; yields the S3 location and its log."""
    queue = f"pktz-test-{uuid.uuid4().hex[:12]}"
    bucket = new_bucket(rclone_server.endpoint)
    location = f"s3://{bucket}/archive"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with pytest.MonkeyPatch.context() as mp:
        set_aws_env(mp, rclone_server.endpoint)
        mp.setenv("PACKETIZER_BROKER_URL", REDIS_URL)
        mp.delenv("PACKETIZER_RESULT_BACKEND", raising=False)
        mp.delenv("PACKETIZER_BATCH_INPUTS", raising=False)
        mp.setenv("PACKETIZER_QUEUE", queue)
        mp.setenv("PACKETIZER_ARCHIVE", location)
        with open(log_path, "wb") as log:
            process = subprocess.Popen([*WORKER, "--concurrency", "2"], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=log_path.parent, env=os.environ.copy())
        try:
            yield location, log_path
        finally:
            process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _manifest_with_bad_row(root: Path) -> Path:
    """The fixture export plus a third case whose diagnosis code does not exist (line 6)."""
    shutil.copytree(FIXTURES, root)
    with open(root / "cases.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames), list(reader)
    rows.append(dict(rows[0], case_id="BT-0009", diagnosis_codes="M54.99"))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (root / "cases.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return root / "cases.csv"


def test_a_batch_runs_end_to_end_on_a_celery_worker_through_s3(worker, tmp_path):
    location, log_path = worker
    manifest = _manifest_with_bad_row(tmp_path / "in")
    out = tmp_path / "out"
    log_start = log_path.stat().st_size

    report = run_batch(manifest, out_dir=out, engine="celery", archive=location, spool=tmp_path / "spool", today=TODAY)
    assert (report.built, report.skipped, report.failed) == (2, 0, 1), [r.error for r in report.rows]
    bad = next(r for r in report.rows if r.status == "failed")
    assert bad.case_id == "BT-0009" and bad.lines == (6,)
    assert bad.error.startswith("line 6, column diagnosis_codes: blocked [icd10_unknown]: M54.99 is not")

    storage = open_storage(location)
    for row in report.rows:
        if row.status != "built":
            continue
        data = report.packet_path(row).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        assert f"{row.case_id} \u00b7 Page 1 of {row.pages}" in PdfReader(io.BytesIO(data)).pages[0].extract_text()
        assert (out / row.packet.replace(".pdf", ".disclosure.json")).is_file()
        (version,) = find_versions(storage, row.case_id)
        assert version.prefix == row.archived and storage.get(version.packet_key) == data
        assert verify_version(storage, version) == []
        assert version.pages == row.pages
    # The inputs travelled through storage, content-addressed; the broker carried only keys.
    bundles = [k for k in storage.list(f"{INPUT_PREFIX}/cases/") if k.endswith("/bundle.json")]
    assert sorted(k.split("/")[2] for k in bundles) == ["BT-0001", "BT-0002", "BT-0009"]
    note = (tmp_path / "in" / "notes" / "2026-09-14-progress.txt").read_bytes()
    assert storage.exists(f"{INPUT_PREFIX}/blobs/{hashlib.sha256(note).hexdigest()}")
    # Bad input is answered at once, never retried.
    assert "retrying" not in log_path.read_bytes()[log_start:].decode(errors="replace")

    again = run_batch(manifest, out_dir=out, engine="celery", archive=location, spool=tmp_path / "spool", today=TODAY)
    assert (again.built, again.skipped, again.failed) == (0, 2, 1)


def test_a_task_retries_a_transient_storage_error_and_then_succeeds(worker, tmp_path):
    location, log_path = worker
    shutil.copytree(FIXTURES, tmp_path / "in")
    entry = read_manifest(tmp_path / "in" / "cases.jsonl").entries[0]
    job = Job(0, entry.case, load_payer(entry.case.payer_id), tmp_path / "out", TODAY, location)
    # The bundle is content-addressed: learn its key without uploading it to the shared storage yet.
    key = upload_bundle(LocalStorage(tmp_path / "scratch"), job)
    app = create_app()
    request = {"bundle": key, "archive": location, "inputs": location, "today": TODAY.isoformat(),
               "built_by": "test"}
    result = app.send_task(TASK_NAME, args=[request], queue=os.environ["PACKETIZER_QUEUE"])
    deadline = time.monotonic() + 60
    retry_line = f"case bundle {key}: transient error (NotFound); retrying"
    while retry_line not in log_path.read_text(errors="replace"):  # the worker met the missing bundle
        assert time.monotonic() < deadline, "the worker never tried the task"
        time.sleep(0.1)
    assert upload_bundle(open_storage(location), job) == key

    value = result.get(timeout=120)
    assert set(value) == {"packet", "sha256", "pages", "archived"}
    (version,) = find_versions(open_storage(location), entry.case.case_id)
    assert version.sha256 == value["sha256"] and version.prefix == value["archived"]

"""This test ensures that with a broker configured (PACKETIZER_BROKER_URL) the web app's build and preview jobs run
on the batch engine's Celery workers: a real ``packetizer worker`` process and the machine's Redis, the worker
sharing only the database, the instance folder and the archive with the web app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from packetizer.registry import Build, Job

from browser.webapp_support import (MEMBER_ID, MEMBER_NAME, MEMBER_SSN, add_account, case_form, example_pdf,
                                    follow_job, make_app, page_token, sign_in)
from test_batch_celery import REDIS_URL, WORKER


@pytest.fixture
def web_on_celery(tmp_path, clock, monkeypatch):
    """A web app whose jobs go to Celery, and one worker process on the same database; (app, worker pid, log)."""
    monkeypatch.setenv("PACKETIZER_QUEUE", f"pktz-web-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("PACKETIZER_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("PACKETIZER_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.delenv("PACKETIZER_RESULT_BACKEND", raising=False)
    app = make_app(tmp_path, clock, BROKER_URL=REDIS_URL)
    add_account(app, "sam", "staff")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([*WORKER, "--concurrency", "1"], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=tmp_path, env=os.environ.copy())
    try:
        yield app, worker.pid, log_path
    finally:
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        app.extensions["packetizer"].registry.close()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_build_and_preview_jobs_run_on_a_celery_worker(web_on_celery, tmp_path):
    app, worker_pid, log_path = web_on_celery
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    case_url = created.headers["Location"]
    pdf = example_pdf(tmp_path)
    with open(pdf, "rb") as handle:
        assert staff.post(f"{case_url}/documents", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (handle, pdf.name), "kind": "clinical_note",
                                "date": "2026-09-18", "title": ""}).status_code == 302

    ended = follow_job(staff, staff.post(f"{case_url}/build", data={"csrf_token": token})).data.decode()
    assert 'id="job-done"' in ended and "Packet built" in ended
    assert follow_job(staff, staff.get(f"{case_url}/preview")).headers["Location"].endswith("/preview")
    assert staff.get(f"{case_url}/preview").status_code == 200

    with app.extensions["packetizer"].registry.session() as session:
        build_job, preview_job = session.scalars(select(Job).order_by(Job.id)).all()
        [build] = session.scalars(select(Build)).all()
    assert (build_job.state, build_job.build_id, preview_job.state) == ("done", build.id, "done")
    # Both ran in the worker's pool process, not in a process of the web app.
    assert build_job.pid == preview_job.pid and _parent(build_job.pid) == worker_pid
    worker_log = log_path.read_text(errors="replace")
    for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN):
        assert secret not in worker_log


def test_a_broker_that_cannot_be_reached_ends_the_job_in_words(tmp_path, clock, monkeypatch):
    with socket.socket() as sock:   # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nowhere = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    monkeypatch.setenv("PACKETIZER_QUEUE", f"pktz-web-{uuid.uuid4().hex[:12]}")
    app = make_app(tmp_path, clock, BROKER_URL=nowhere)
    try:
        add_account(app, "sam", "staff")
        staff = app.test_client()
        assert sign_in(staff, "sam").status_code == 302
        token = page_token(staff, "/cases/new")
        case_url = staff.post("/cases/new", data={**case_form(), "csrf_token": token,
                                                  "action": "save"}).headers["Location"]
        ended = follow_job(staff, staff.post(f"{case_url}/build", data={"csrf_token": token})).data.decode()
        assert "the job queue cannot be reached; tell an administrator" in ended
        assert nowhere not in ended
    finally:
        app.extensions["packetizer"].registry.close()

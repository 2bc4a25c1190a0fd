"""This test ensures that a build and a preview run as jobs outside the request: the build view queues a job (a
second click joins it) and its page shows the stage and pages until it links to the packet; a failure is shown and
audited; a job lost to a restart is marked failed; and an unchanged case's preview is shown from the stored result
instead of converting every document again."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import time

import pytest
from sqlalchemy import select

from packetizer.casebook.audit import Actor
from packetizer.casebook.jobs import (DIED_MESSAGE, LOST_MESSAGE, job_progress, job_running, start_job,
                                      this_host)
from packetizer.registry import AuditEntry, Build, CaseRecord, Job

from browser.webapp_support import (MEMBER_ID, MEMBER_NAME, MEMBER_SSN, add_account, case_form, example_pdf,
                                    follow_job, make_app, page_token, remove_document, sign_in, ssn_docx)


@pytest.fixture
def token(staff):
    return page_token(staff, "/cases/new")


def _case(client, token, tmp_path, case_id="RA-WEB-0001") -> int:
    created = client.post("/cases/new", data={**case_form(case_id), "csrf_token": token, "action": "save"})
    pk = int(created.headers["Location"].rsplit("/", 1)[-1])
    _upload(client, token, pk, example_pdf(tmp_path), "clinical_note", "2026-09-18")
    return pk


def _upload(client, token, pk, path, kind, date) -> None:
    with open(path, "rb") as handle:
        assert client.post(f"/cases/{pk}/documents", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (handle, path.name), "kind": kind, "date": date,
                                 "title": ""}).status_code == 302


def _jobs(app, kind=None) -> list[Job]:
    with app.extensions["packetizer"].registry.session() as session:
        query = select(Job).order_by(Job.id)
        if kind:
            query = query.where(Job.kind == kind)
        return session.scalars(query).all()


def _builds(app) -> list[Build]:
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(Build)).all()


def _audit(app, action) -> list[dict]:
    with app.extensions["packetizer"].registry.session() as session:
        return [json.loads(e.detail) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))]


def test_a_build_is_a_job_whose_page_ends_with_the_packet(app, staff, token, tmp_path):
    pk = _case(staff, token, tmp_path)
    started = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    assert started.status_code == 302 and re.search(rf"/cases/{pk}/jobs/\d+$", started.headers["Location"])
    [job] = _jobs(app, "build")
    assert job.created_by == "sam" and len(job.input_fingerprint) == 64 and job.host == this_host()
    ended = follow_job(staff, started).data.decode()
    [build] = _builds(app)
    [job] = _jobs(app, "build")
    assert (job.state, job.build_id, job.pages_done, job.pages_total) == ("done", build.id, build.pages, build.pages)
    assert job.input_fingerprint == build.input_fingerprint
    assert 'http-equiv="refresh"' not in ended   # it stops refreshing once the build ended
    assert f"{build.pages} of {build.pages} pages" in ended
    assert f"Packet built: {build.pages} pages." in ended
    link = re.search(r'href="(/cases/\d+/builds/\d+/packet)"', ended)[1]
    download = staff.get(link)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert [d["job"] for d in _audit(app, "packet.build")] == [job.id]


def test_a_running_job_page_shows_its_stage_and_pages_and_refreshes_itself(app, staff, token, tmp_path):
    """The page of a job the worker has reported on, as the worker's own registry calls left it."""
    pk = _case(staff, token, tmp_path)
    started = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    follow_job(staff, started)
    svc = app.extensions["packetizer"]
    registry = svc.registry
    with registry.session() as session:
        job, _ = start_job(session, session.get(CaseRecord, pk), "build", "f" * 64, actor=Actor("sam", "staff"),
                           now=svc.now(), host=this_host(), pid=os.getpid())
        job_running(session, job, host=this_host(), pid=os.getpid(), now=svc.now())
        job_progress(session, job, "documents", 120)
        job_id = job.id
    page = staff.get(f"/cases/{pk}/jobs/{job_id}").data.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'id="job-stage">Converting documents<' in page and "120 pages converted so far" in page
    with registry.session() as session:
        job_progress(session, session.get(Job, job_id), "assembly", 480, 485)
    page = staff.get(f"/cases/{pk}/jobs/{job_id}").data.decode()
    assert 'id="job-stage">Assembling the packet<' in page and "480 of 485 pages" in page
    # While it runs, a click on Build joins it rather than building twice.
    joined = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    assert joined.headers["Location"].endswith(f"/jobs/{job_id}")
    assert "already being built" in staff.get(joined.headers["Location"]).data.decode()


def test_a_double_click_gives_one_build(app, staff, token, tmp_path):
    pk = _case(staff, token, tmp_path)
    first = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    second = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    assert first.headers["Location"] == second.headers["Location"]
    follow_job(staff, second)
    assert len(_jobs(app, "build")) == 1 and len(_builds(app)) == 1
    assert len(_audit(app, "job.start")) == 1


def test_a_failed_build_shows_its_message_and_is_audited(app, staff, token, tmp_path, clock):
    pk = _case(staff, token, tmp_path)
    clock.advance(days=30)  # past the payer's window: the checks block the case
    sign_in(staff, "sam")
    token = page_token(staff, f"/cases/{pk}")
    ended = follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token})).data.decode()
    message = re.search(r'id="job-error">(.*?)</div>', ended, re.S)[1]
    assert message.startswith("Not built: the case is blocked")
    [job] = _jobs(app, "build")
    assert job.state == "failed" and job.build_id is None
    assert [d["error"] for d in _audit(app, "job.failed")] == ["blocked"]
    assert len(_audit(app, "packet.build_blocked")) == 1 and not _builds(app)


def _exit_at_once() -> None:
    return None


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=_exit_at_once)
    process.start()
    process.join()
    return process.pid


def _lost_job(app, pk: int) -> int:
    """A running build whose process is gone, as a server killed mid-build leaves it."""
    svc = app.extensions["packetizer"]
    with svc.registry.session() as session:
        job, _ = start_job(session, session.get(CaseRecord, pk), "build", "a" * 64, actor=Actor("sam", "staff"),
                           now=svc.now(), host=this_host(), pid=_dead_pid())
        job_running(session, job, host=this_host(), pid=job.pid, now=svc.now())
        return job.id


def test_a_job_lost_to_a_restart_is_marked_failed_when_its_page_is_viewed(app, staff, token, tmp_path):
    pk = _case(staff, token, tmp_path)
    job_id = _lost_job(app, pk)
    page = staff.get(f"/cases/{pk}/jobs/{job_id}").data.decode()
    assert LOST_MESSAGE in re.search(r'id="job-error">(.*?)</div>', page, re.S)[1]
    assert 'http-equiv="refresh"' not in page
    assert [d["error"] for d in _audit(app, "job.failed")] == ["lost"]
    # The case is not stuck: the next click builds.
    assert 'id="job-done"' in follow_job(staff, staff.post(f"/cases/{pk}/build",
                                                           data={"csrf_token": token})).data.decode()


def test_a_job_whose_process_this_server_still_waits_for_is_not_called_lost(app, staff, token, tmp_path):
    """Between the waiting thread reaping a killed job process and its telling why, a view of the job page
    finds the process gone: it must leave the job to that thread (died), not call it lost to a restart."""
    from packetizer.batch import casejob

    pk = _case(staff, token, tmp_path)
    job_id = _lost_job(app, pk)
    [job] = _jobs(app, "build")
    with casejob._WATCHED_LOCK:
        casejob._WATCHED.add(job.pid)
    try:
        page = staff.get(f"/cases/{pk}/jobs/{job_id}").data.decode()
    finally:
        with casejob._WATCHED_LOCK:
            casejob._WATCHED.discard(job.pid)
    assert 'id="job-error"' not in page and not _audit(app, "job.failed")
    assert _jobs(app, "build")[0].state == "running"


def test_a_job_lost_to_a_restart_is_marked_failed_when_the_server_starts(tmp_path, clock):
    app = make_app(tmp_path, clock)
    add_account(app, "sam", "staff")
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    pk = _case(client, token, tmp_path)
    job_id = _lost_job(app, pk)
    app.extensions["packetizer"].registry.close()

    restarted = make_app(tmp_path, clock)   # the same instance and database, as after a restart
    try:
        [job] = _jobs(restarted)
        assert (job.id, job.state, job.message) == (job_id, "failed", LOST_MESSAGE)
    finally:
        restarted.extensions["packetizer"].registry.close()


def test_a_job_whose_process_is_killed_mid_build_ends_failed_in_words(app, staff, token, tmp_path):
    from tests.test_ingest_pdf import make_text_pdf

    pk = _case(staff, token, tmp_path)
    long_note = tmp_path / "long-note.pdf"
    long_note.write_bytes(make_text_pdf(480))   # a build long enough to be caught running
    _upload(staff, token, pk, long_note, "clinical_note", "2026-09-18")
    started = staff.post(f"/cases/{pk}/build", data={"csrf_token": token})
    give_up = time.monotonic() + 120
    while (job := _jobs(app, "build")[0]).state != "running":
        assert job.state == "queued" and time.monotonic() < give_up, job.state
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)   # as the kernel's out-of-memory killer would
    ended = follow_job(staff, started).data.decode()
    assert DIED_MESSAGE in re.search(r'id="job-error">(.*?)</div>', ended, re.S)[1]
    assert [d["error"] for d in _audit(app, "job.failed")] == ["died"] and not _builds(app)


def test_an_unchanged_cases_preview_is_shown_from_the_stored_result(app, staff, token, tmp_path):
    pk = _case(staff, token, tmp_path)
    _upload(staff, token, pk, ssn_docx(tmp_path), "evaluation", "2026-09-14")
    started = staff.get(f"/cases/{pk}/preview")
    assert started.status_code == 302 and "/jobs/" in started.headers["Location"]
    assert follow_job(staff, started).headers["Location"].endswith(f"/cases/{pk}/preview")
    [job] = _jobs(app, "preview")
    result = app.extensions["packetizer"].previews_dir / f"{job.id}.json"
    stored_at = result.stat().st_mtime_ns
    first = staff.get(f"/cases/{pk}/preview")
    second = staff.get(f"/cases/{pk}/preview")
    documents = [re.search(r'<section id="preview-documents">.*?</section>', r.data.decode(), re.S)[0]
                 for r in (first, second)]
    assert first.status_code == second.status_code == 200 and documents[0] == documents[1]
    html = second.data.decode()
    assert 'data-type="ssn"' in html and MEMBER_SSN not in html
    # Nothing was converted again: no second job, the stored result untouched.
    assert len(_jobs(app, "preview")) == 1 and result.stat().st_mtime_ns == stored_at
    assert oct(result.stat().st_mode & 0o777) == oct(0o600)
    assert [d["job"] for d in _audit(app, "case.preview")] == [job.id, job.id]

    # A changed case (a document removed) is converted again.
    assert remove_document(staff, token, pk, 1).status_code == 302
    again = staff.get(f"/cases/{pk}/preview")
    assert again.status_code == 302
    follow_job(staff, again)
    assert len(_jobs(app, "preview")) == 2
    assert not result.exists()   # only the newest result is kept
    assert 'data-type="ssn"' not in staff.get(f"/cases/{pk}/preview").data.decode()


def test_job_rows_and_messages_hold_no_patient_data(app, staff, token, tmp_path):
    pk = _case(staff, token, tmp_path)
    follow_job(staff, staff.post(f"/cases/{pk}/build", data={"csrf_token": token}))
    follow_job(staff, staff.get(f"/cases/{pk}/preview"))
    for job in _jobs(app):
        blob = " ".join(str(v) for v in (job.message, job.stage, job.created_by, job.override_reason))
        for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN):
            assert secret not in blob

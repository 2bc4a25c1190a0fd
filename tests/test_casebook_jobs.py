"""This test ensures that a case's build or preview job is queued, joined by a second click, moves through its
stages to done or failed (audited), that a job whose process is gone is marked failed, and that the registry
itself keeps one active job of each kind per case, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import secrets

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from packetizer.casebook.audit import Actor
from packetizer.casebook.jobs import (LOST_MESSAGE, active_job, job_done, job_failed, job_progress, job_running,
                                      mark_lost_jobs, pid_alive, reusable_preview, start_job)
from packetizer.registry import AuditEntry, Build, CaseRecord, Job

from browser.registry_support import NOW

SAM = Actor("sam", "staff", "127.0.0.1")
HOST = "host-a"


def _case(session, case_id: str) -> CaseRecord:
    row = CaseRecord(case_id=case_id, payer_id="demo-commercial", folder=secrets.token_hex(8),
                     first_date_of_service=dt.date(2026, 9, 14), ready=True, late_reason_category="emergency",
                     service_codes="97110", status="ready", created_at=NOW, created_by="sam", updated_at=NOW,
                     updated_by="sam")
    session.add(row)
    session.flush()
    return row


def _actions(session, action: str) -> list[dict]:
    return [json.loads(e.detail) for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                                          .order_by(AuditEntry.seq))]


def test_a_build_job_is_queued_joined_run_and_done(registry):
    with registry.session() as session:
        case = _case(session, "RA-J-1")
        job, new = start_job(session, case, "build", "f" * 64, actor=SAM, now=NOW, host=HOST, pid=os.getpid())
        session.commit()
        assert new and job.state == "queued" and job.active
        again, new_again = start_job(session, case, "build", "f" * 64, actor=SAM, now=NOW, host=HOST, pid=1)
        assert not new_again and again.id == job.id   # the double click joins the first
        job_running(session, job, host=HOST, pid=os.getpid(), now=NOW)
        job_progress(session, job, "documents", 3, 10)
        session.commit()
        assert (job.state, job.stage, job.pages_done, job.pages_total) == ("running", "documents", 3, 10)
        build = Build(case_pk=case.id, created_at=NOW, built_by="web:sam", folder="x/y", file_name="p.pdf",
                      report_name="r.json", report_html_name="r.html", sha256="0" * 64, size=1, pages=10)
        session.add(build)
        session.flush()
        job_done(session, job, now=NOW, build_id=build.id)
        session.commit()
        assert (job.state, job.pages_done, job.build_id) == ("done", 10, build.id)
        assert active_job(session, case, "build") is None
        fresh, new = start_job(session, case, "build", "f" * 64, actor=SAM, now=NOW, host=HOST, pid=1)
        assert new and fresh.id != job.id   # a finished job is not joined: the next click builds again
        assert [d["case_id"] for d in _actions(session, "job.start")] == ["RA-J-1", "RA-J-1"]


def test_a_failed_job_keeps_its_message_and_is_audited(registry):
    with registry.session() as session:
        case = _case(session, "RA-J-2")
        job, _ = start_job(session, case, "build", "a" * 64, actor=SAM, now=NOW, host=HOST, pid=os.getpid())
        job_failed(session, job, "Not built: the case is blocked", now=NOW, code="policy_block")
        session.commit()
        assert (job.state, job.message, job.active) == ("failed", "Not built: the case is blocked", False)
        assert _actions(session, "job.failed") == [
            {"case_pk": case.id, "kind": "build", "error": "policy_block", "stage": "queued"}]


def test_the_registry_refuses_a_second_active_job_of_a_kind(registry):
    """The partial unique index: two requests that both saw no active job cannot both queue one."""
    with registry.session() as session:
        case = _case(session, "RA-J-3")
        common = dict(case_pk=case.id, input_fingerprint="b" * 64, pages_done=0, created_at=NOW,
                      created_by="sam", host=HOST, pid=1)
        session.add(Job(kind="build", state="running", **common))
        session.add(Job(kind="preview", state="queued", **common))   # another kind may run beside it
        session.add(Job(kind="build", state="failed", **common))     # ended jobs do not count
        session.commit()
        session.add(Job(kind="build", state="queued", **common))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()


def test_racing_clicks_in_two_sessions_give_one_job(registry):
    with registry.session() as first, registry.session() as second:
        case = _case(first, "RA-J-4")
        first.commit()
        one, new_one = start_job(first, case, "build", "c" * 64, actor=SAM, now=NOW, host=HOST, pid=1)
        first.commit()
        # The second request, in its own session and transaction, joins the first's job.
        other_case = second.get(CaseRecord, case.id)
        two, new_two = start_job(second, other_case, "build", "c" * 64, actor=SAM, now=NOW, host=HOST, pid=2)
        second.commit()
        assert (new_one, new_two, two.id) == (True, False, one.id)
        assert len(second.scalars(select(Job)).all()) == 1


def _exit_at_once() -> None:
    return None


def test_a_job_whose_process_is_gone_is_marked_failed_not_forgotten(registry):
    gone = multiprocessing.get_context("spawn").Process(target=_exit_at_once)
    gone.start()
    gone.join()
    assert not pid_alive(gone.pid) and pid_alive(os.getpid())
    with registry.session() as session:
        case, other = _case(session, "RA-J-5"), _case(session, "RA-J-6")
        lost, _ = start_job(session, case, "build", "d" * 64, actor=SAM, now=NOW, host=HOST, pid=gone.pid)
        live, _ = start_job(session, case, "preview", "d" * 64, actor=SAM, now=NOW, host=HOST, pid=os.getpid())
        elsewhere, _ = start_job(session, other, "build", "d" * 64, actor=SAM, now=NOW, host="host-b", pid=gone.pid)
        session.commit()
        assert mark_lost_jobs(session, host=HOST, now=NOW) == [lost.id]
        session.commit()
        assert (lost.state, lost.message) == ("failed", LOST_MESSAGE)
        assert live.state == "queued" and elsewhere.state == "queued"   # another host's processes are its own
        assert [d["error"] for d in _actions(session, "job.failed")] == ["lost"]
        assert mark_lost_jobs(session, host=HOST, now=NOW) == []


def test_a_finished_preview_is_found_by_its_input_fingerprint(registry):
    with registry.session() as session:
        case = _case(session, "RA-J-7")
        job, _ = start_job(session, case, "preview", "e" * 64, actor=SAM, now=NOW, host=HOST, pid=1)
        assert reusable_preview(session, case, "e" * 64) is None   # not finished yet
        job_done(session, job, now=NOW)
        session.commit()
        assert reusable_preview(session, case, "e" * 64).id == job.id
        assert reusable_preview(session, case, "0" * 64) is None   # the inputs changed

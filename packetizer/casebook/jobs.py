"""Jobs: a case's build or preview, run outside the request, its progress and its end, in the registry.

A door (the build view) calls :func:`start_job`, which creates the case's job
or joins the one already queued or running (a double click gives one build);
the worker process that runs it reports through :func:`job_running`,
:func:`job_progress`, :func:`job_done` and :func:`job_failed`, each in its own
session. A job whose process is gone (the server restarted, a worker was
killed) is found by :func:`mark_lost_jobs` and marked failed, never left
"running" for ever. Messages are user-safe: codes and counts, never PHI.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..registry import CaseRecord, Job
from ..registry.models import ACTIVE_JOB_STATES, JOB_KINDS
from .audit import SYSTEM, Actor, write_audit

log = logging.getLogger(__name__)

LOST_MESSAGE = "lost when the server restarted; start it again"
DIED_MESSAGE = "the process running it stopped unexpectedly (out of memory or killed); start it again"

#: The stages a job goes through, as the job page names them.
STAGE_WORDS = {
    "queued": "Waiting for a worker",
    "starting": "Starting",
    "checks": "Checking the case",
    "documents": "Converting documents",
    "sections": "Writing the cover, narrative and summary",
    "assembly": "Assembling the packet",
    "verify": "Checking that nothing withheld is left",
    "writing": "Saving the packet",
    "recording": "Recording the build",
    "done": "Done",
}


def this_host() -> str:
    return socket.gethostname()[:255]


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, dead but not yet reaped, does not)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive, though not ours
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def active_job(session: Session, record: CaseRecord, kind: str) -> Job | None:
    """The case's queued or running job of ``kind``, if any."""
    return session.scalar(select(Job).where(Job.case_pk == record.id, Job.kind == kind,
                                            Job.state.in_(ACTIVE_JOB_STATES)))


def start_job(session: Session, record: CaseRecord, kind: str, fingerprint: str, *, actor: Actor,
              now: dt.datetime, host: str, pid: int, override_reason: str | None = None) -> tuple[Job, bool]:
    """Queue a ``kind`` job for the case, or join the one already active; (the job, whether it is new).

    A new job names ``host`` and ``pid``, the process that will start it. Two
    requests racing are settled by the partial unique index: the loser joins the
    winner's job. The caller commits (a new job is audited as ``job.start``).
    """
    if kind not in JOB_KINDS:
        raise ValueError(f"job kind {kind!r} is not one of {JOB_KINDS}")
    running = active_job(session, record, kind)
    if running is not None:
        return running, False
    job = Job(case_pk=record.id, kind=kind, input_fingerprint=fingerprint, state="queued", stage="queued",
              pages_done=0, created_at=now, created_by=actor.name, host=host, pid=pid,
              override_reason=override_reason)
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:  # another request queued one between our look and our insert
        running = active_job(session, record, kind)
        if running is None:
            raise
        return running, False
    write_audit(session, actor, "job.start", "job", job.id, now=now,
                detail={"case_id": record.case_id, "kind": kind, "override": bool(override_reason)})
    return job, True


def job_running(session: Session, job: Job, *, host: str, pid: int, now: dt.datetime) -> None:
    """The worker process ``pid`` took the job."""
    job.state, job.stage, job.host, job.pid, job.started_at = "running", "starting", host, pid, now


def job_progress(session: Session, job: Job, stage: str, pages_done: int | None = None,
                 pages_total: int | None = None) -> None:
    job.stage = stage
    if pages_done is not None:
        job.pages_done = pages_done
    if pages_total is not None:
        job.pages_total = pages_total


def job_done(session: Session, job: Job, *, now: dt.datetime, build_id: int | None = None,
             message: str | None = None) -> None:
    job.state, job.stage, job.finished_at, job.build_id, job.message = "done", "done", now, build_id, message
    if job.pages_total is not None:
        job.pages_done = job.pages_total


def job_failed(session: Session, job: Job, message: str, *, now: dt.datetime, actor: Actor = SYSTEM,
               code: str = "failed") -> None:
    """End the job with a user-safe ``message``; audited as ``job.failed`` with ``code`` (the caller commits)."""
    job.state, job.finished_at, job.message = "failed", now, message
    write_audit(session, actor, "job.failed", "job", job.id, now=now,
                detail={"case_pk": job.case_pk, "kind": job.kind, "error": code, "stage": job.stage})
    log.info("job %d (%s of case record %d) failed: %s", job.id, job.kind, job.case_pk, code)


def mark_lost_jobs(session: Session, *, host: str, now: dt.datetime,
                   alive: Callable[[int | None], bool] = pid_alive) -> list[int]:
    """Mark failed every active job of ``host`` whose process is gone; their ids (the caller commits).

    Jobs of other hosts are left to those hosts: their processes cannot be seen from here.
    """
    lost = []
    for job in session.scalars(select(Job).where(Job.state.in_(ACTIVE_JOB_STATES), Job.host == host)
                               .order_by(Job.id)).all():
        if not alive(job.pid):
            job_failed(session, job, LOST_MESSAGE, now=now, code="lost")
            lost.append(job.id)
    return lost


def reusable_preview(session: Session, record: CaseRecord, fingerprint: str) -> Job | None:
    """The newest finished preview of the case made from these very inputs, if any."""
    return session.scalar(select(Job).where(Job.case_pk == record.id, Job.kind == "preview", Job.state == "done",
                                            Job.input_fingerprint == fingerprint).order_by(Job.id.desc()).limit(1))

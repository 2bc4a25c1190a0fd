"""A web build or preview of one case, run as a job in its own process on the local worker pool.

The build view queues a job in the registry (:mod:`packetizer.casebook.jobs`)
and calls :func:`launch`; the job runs in a fresh process forked from the batch
engine's warm fork server (:func:`packetizer.batch.runner.pool_context`), so
the web server's worker never holds a large build's memory, and a gunicorn
timeout cannot cut a build short. The process opens its own registry session,
reports each stage and the pages converted, records the build (or the
preview's result) and ends the job; a failure ends it with a user-safe message
and an audit row. A thread in the server process waits for the process, so a
process that dies (out of memory, killed) marks its job failed too.

With a broker configured (``PACKETIZER_BROKER_URL``) :func:`send` hands the job
to the batch engine's Celery workers instead (:mod:`packetizer.batch.celery_app`),
which run the same :func:`run_job`; they need the same database, instance folder
and archive as the web app.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREVIEW_RESULT = "{job_id}.json"
_SEND_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


@dataclass(frozen=True)
class JobSettings:
    """What a job's process needs from the app, taken in the request (the process has no app).

    Attributes:
        database_url: The registry.
        cases_dir, builds_dir, previews_dir: Under the instance folder.
        payers_dir: Payer policy folder, or None for the shipped registry.
        archive: Archive location, or None to keep packets in the instance only.
        spool: Where a packet the archive cannot take at once waits.
        today: Date deadlines are judged against.
        built_at: A fixed build time (the app's clock when it is not the real one), or None for now.
    """

    database_url: str
    cases_dir: Path
    builds_dir: Path
    previews_dir: Path
    payers_dir: str | None
    archive: str | None
    spool: Path
    today: dt.date
    built_at: dt.datetime | None = None


def settings_message(settings: JobSettings) -> dict:
    """The settings as a Celery message carries them: JSON, and never a database password."""
    from sqlalchemy.engine import make_url

    return {"database_url": make_url(settings.database_url).set(password=None).render_as_string(hide_password=False),
            "cases_dir": str(settings.cases_dir), "builds_dir": str(settings.builds_dir),
            "previews_dir": str(settings.previews_dir), "payers_dir": settings.payers_dir,
            "archive": settings.archive, "spool": str(settings.spool), "today": settings.today.isoformat(),
            "built_at": settings.built_at.isoformat() if settings.built_at else None}


def settings_from_message(message: dict, environ) -> JobSettings:
    """The settings a worker runs a job with: its own ``PACKETIZER_DATABASE_URL`` (with the password) wins."""
    built_at = message.get("built_at")
    return JobSettings(
        database_url=environ.get("PACKETIZER_DATABASE_URL") or message["database_url"],
        cases_dir=Path(message["cases_dir"]), builds_dir=Path(message["builds_dir"]),
        previews_dir=Path(message["previews_dir"]), payers_dir=message.get("payers_dir"),
        archive=message.get("archive"), spool=Path(message["spool"]), today=dt.date.fromisoformat(message["today"]),
        built_at=dt.datetime.fromisoformat(built_at) if built_at else None)


def send(job_id: int, settings: JobSettings, broker_url: str, registry) -> None:
    """Hand the job to a Celery worker; a broker that cannot be reached ends the job in words."""
    from .celery_app import WEB_JOB_TASK, create_app

    try:
        # The job row is the result: no result backend is asked, and a broker that is down answers within
        # seconds, not after the backend's twenty reconnects, while the user waits for the job page.
        create_app(broker_url).send_task(WEB_JOB_TASK, args=[int(job_id), settings_message(settings)],
                                         ignore_result=True, retry=True, retry_policy=_SEND_RETRY)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the job must not wait for ever
        log.warning("job %d: the broker cannot be reached (%s)", job_id, type(exc).__name__)
        _end_unfinished(registry, job_id, "the job queue cannot be reached; tell an administrator", "broker")


def preview_result_path(previews_dir: Path, job_id: int) -> Path:
    return Path(previews_dir) / PREVIEW_RESULT.format(job_id=int(job_id))


# The processes of jobs this server started and still waits for: their end is told by the waiting thread
# (``died``), so a page view that finds one gone between its reaping and that word must not call it lost.
_WATCHED: set[int] = set()
_WATCHED_LOCK = threading.Lock()


def watched(pid: int | None) -> bool:
    """Whether ``pid`` is a job process this server started and is still waiting for."""
    with _WATCHED_LOCK:
        return pid in _WATCHED


def launch(job_id: int, settings: JobSettings, registry) -> threading.Thread:
    """Start the job's process, and a thread here that waits for it; returns the thread.

    ``registry`` (the server's) marks the job failed when its process could not
    start or ended without ending the job.
    """
    from .runner import pool_context

    process = pool_context().Process(target=run_job, args=(job_id, settings), name=f"packetizer-job-{job_id}",
                                     daemon=False)

    def watch() -> None:
        try:
            process.start()
        except OSError as exc:
            _end_unfinished(registry, job_id, f"the server could not start the job ({exc.strerror or 'error'})",
                            "start_failed")
            return
        with _WATCHED_LOCK:
            _WATCHED.add(process.pid)
        try:
            process.join()
            if process.exitcode != 0:
                from ..casebook.jobs import DIED_MESSAGE

                _end_unfinished(registry, job_id, DIED_MESSAGE, "died")
        finally:
            with _WATCHED_LOCK:
                _WATCHED.discard(process.pid)

    thread = threading.Thread(target=watch, name=f"packetizer-job-{job_id}-watch", daemon=True)
    thread.start()
    return thread


def _end_unfinished(registry, job_id: int, message: str, code: str) -> None:
    from ..casebook.jobs import job_failed
    from ..registry import Job

    with registry.session() as session:
        job = session.get(Job, job_id)
        if job is not None and job.active:
            job_failed(session, job, message, now=_now(), code=code)
            session.commit()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def run_job(job_id: int, settings: JobSettings) -> None:
    """The job's process: take the queued job, run it, end it (done or failed). Never raises."""
    from ..registry import open_registry

    registry = open_registry(settings.database_url, migrate=False)
    try:
        with registry.session() as session:
            _run(session, job_id, settings)
    finally:
        registry.close()


def _run(session, job_id: int, settings: JobSettings) -> None:
    from ..casebook.audit import Actor
    from ..casebook.jobs import job_failed, job_progress, job_running, this_host
    from ..errors import PacketizerError, PolicyBlock
    from ..registry import Job

    job = session.get(Job, job_id)
    if job is None or job.state != "queued":
        return
    now = settings.built_at or _now()
    job_running(session, job, host=this_host(), pid=os.getpid(), now=now)
    session.commit()
    actor = Actor.user(session, job.created_by)

    def progress(stage: str, pages_done: int, pages_total: int | None) -> None:
        job_progress(session, job, stage, pages_done, pages_total)
        session.commit()

    try:
        if job.kind in ("build", "appeal"):
            _build(session, job, settings, actor, progress)
        else:
            _preview(session, job, settings, progress)
    except PolicyBlock as exc:
        session.rollback()
        _audit_case(session, job, actor, "packet.build_blocked", settings, findings=[f.code for f in exc.findings])
        job_failed(session, job, "Not built: " + exc.message, now=settings.built_at or _now(), actor=actor,
                   code=str(exc.code))
        session.commit()
    except PacketizerError as exc:
        session.rollback()
        if job.kind in ("build", "appeal"):
            _audit_case(session, job, actor, "packet.build_failed", settings, error=str(exc.code))
        job_failed(session, job, _failure_words(job.kind, exc), now=settings.built_at or _now(), actor=actor,
                   code=str(exc.code))
        session.commit()
    except Exception as exc:  # noqa: BLE001 - a bug must end the job in words, not leave it running
        session.rollback()
        # Its text may quote case data: the type and the code location only.
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        log.error("job %d: unexpected %s%s", job_id, type(exc).__name__, where)
        job_failed(session, job, f"Not done: an internal error ({type(exc).__name__}{where}); please report it",
                   now=settings.built_at or _now(), actor=actor, code="internal")
        session.commit()


def _failure_words(kind: str, exc) -> str:
    """A failure told to staff: the builds folder is the server's, not an ``--out`` they gave."""
    from ..errors import ErrorCode

    start = "No preview: " if kind == "preview" else "Not built: "
    if exc.code == ErrorCode.OUT_DIR:
        return start + f"the server could not store the packet: {exc.detail}; tell an administrator"
    return start + exc.message


def _audit_case(session, job, actor, action: str, settings: JobSettings, **detail) -> None:
    from ..casebook.audit import write_audit

    write_audit(session, actor, action, "case", job.case.case_id, now=settings.built_at or _now(),
                detail={"case_pk": job.case_pk, "job": job.id, **detail})


def _load(job, settings: JobSettings):
    from ..casebook.cases import load_stored_case
    from ..policy import load_registry

    return load_stored_case(settings.cases_dir, job.case, load_registry(settings.payers_dir))


def _build(session, job, settings: JobSettings, actor, progress) -> None:
    from ..archive import PacketArchive, open_storage
    from ..casebook.builds import BuiltFiles, record_build
    from ..casebook.folders import new_build_folder
    from ..casebook.jobs import job_done, job_progress
    from ..pipeline import build_packet
    from ..renderproc import start_renderer

    case, policy = _load(job, settings)
    record = job.case
    folder, out_dir = new_build_folder(settings.builds_dir, record.folder)
    archive = PacketArchive(open_storage(settings.archive), settings.spool) if settings.archive else None
    built_by = f"web:{job.created_by}"
    # The job's process builds this one packet: a helper beside it lays out the front sections while it lays
    # out the notes (packetizer.renderproc).
    renderer = start_renderer(beside=True)
    try:
        packet = build_packet(case, policy, out_dir=out_dir, today=settings.today, archive=archive,
                              clock=(lambda: settings.built_at) if settings.built_at else None, built_by=built_by,
                              override_reason=job.override_reason, progress=progress,
                              kind="appeal" if job.kind == "appeal" else "request", renderer=renderer)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        renderer.close()
    job_progress(session, job, "recording", packet.pages, packet.pages)
    now = settings.built_at or _now()
    row = record_build(session, record, BuiltFiles.of_packet(folder, packet), case=case, policy=policy,
                       built_by=built_by, override_reason=job.override_reason, actor=actor, now=now,
                       override=bool(job.override_reason), job=job.id)
    what = "Appeal packet" if packet.kind == "appeal" else "Packet"
    if packet.archive_error:
        message = f"{what} built, but archiving failed: {packet.archive_error}"
    elif packet.parts:
        message = (f"{what} built: {packet.total_pages} pages, in {len(packet.parts)} parts within the payer's "
                   "limits; send every part.")
    else:
        message = f"{what} built: {packet.pages} pages."
    job_done(session, job, now=now, build_id=row.id, message=message)
    session.commit()


def _preview(session, job, settings: JobSettings, progress) -> None:
    from ..casebook.cases import case_folder
    from ..casebook.folders import ingest_message
    from ..casebook.jobs import job_done
    from ..pipeline import preview_packet

    case, policy = _load(job, settings)
    previewed = preview_packet(case, policy, progress=progress)
    names = case_folder(settings.cases_dir, job.case).display_names()
    items = []
    for exhibit in previewed.exhibits:
        att, document = exhibit.attachment, exhibit.document
        if document is not None:
            items.append({"file": att.file, "pages": document.pages, "error": None,
                          "redactions": [r.to_dict() for r in document.redactions],
                          "unchecked_pages": list(document.unchecked_pages),
                          "page_checks": [c.to_dict() for c in document.page_checks]})
        else:
            items.append({"file": att.file, "pages": None, "redactions": [], "unchecked_pages": [], "page_checks": [],
                          "error": ingest_message(exhibit.error, att.file, names.get(att.file, att.file))})
    _write_private(preview_result_path(settings.previews_dir, job.id),
                   json.dumps({"fingerprint": job.input_fingerprint, "included": items}).encode())
    _remove_older_previews(session, job, settings.previews_dir)
    pages = sum(item["pages"] or 0 for item in items)
    job_done(session, job, now=settings.built_at or _now(), message=None)
    job.pages_done = job.pages_total = pages
    session.commit()


def _remove_older_previews(session, job, previews_dir: Path) -> None:
    """Only a case's newest preview is ever shown again: the results of its earlier ones go."""
    from sqlalchemy import select

    from ..registry import Job

    older = session.scalars(select(Job.id).where(Job.case_pk == job.case_pk, Job.kind == "preview",
                                                 Job.id < job.id)).all()
    for job_id in older:
        preview_result_path(previews_dir, job_id).unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically as a file only the server's user reads (it names the case's documents)."""
    from ..private import create_file, make_dirs

    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with os.fdopen(create_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)

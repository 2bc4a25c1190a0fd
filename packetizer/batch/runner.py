"""Run a batch: validate every manifest row, skip unchanged cases, build the rest in parallel, report.

:func:`run_batch` is the one entry point for every door (``packetizer batch``,
the web upload). It validates the whole manifest first, then builds the cases
that are ready on an engine, ``local`` (a process pool on this machine) or
``celery`` (workers anywhere, see :mod:`packetizer.batch.celery_app`), and
writes ``batch-report.csv`` and ``.json`` next to the packets. A failed row
never stops the others. When the batch is stopped (Ctrl-C, or ``cancel`` set),
the cases being built finish, nothing half-written is left, and the report
marks the rest as not built.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .. import limits
from ..archive import open_storage
from ..errors import ErrorCode, PacketizerError
from ..pipeline import input_fingerprint
from ..private import make_dirs
from ..policy import load_registry
from .jobs import STAGING_PREFIX, Job, Outcome, build_job, ignore_sigint
from .manifest import ManifestEntry, located_message, read_manifest
from .report import BatchReport, RowResult, write_report
from .state import BatchState, BuiltRecord, folder_lock

log = logging.getLogger(__name__)

ENGINES = ("local", "celery")
INTERRUPTED = "not built: the batch was stopped before this case"
WORKER_DIED = "not built: a worker process died (out of memory or killed); run the batch again"

#: Handles one finished job's outcome (called in the thread that runs the batch).
OutcomeHandler = Callable[[Outcome], None]


@dataclass(frozen=True)
class Progress:
    """A progress update: counts so far and the row that just finished (None for the first update)."""

    total: int
    done: int
    built: int
    skipped: int
    failed: int
    row: RowResult | None = None


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def run_batch(
    manifest: str | Path,
    *,
    out_dir: str | Path = ".",
    workers: int | None = None,
    archive: str | None = None,
    spool: Path | None = None,
    built_at: dt.datetime | None = None,
    payers_dir: str | Path | None = None,
    today: dt.date | None = None,
    engine: str = "local",
    built_by: str = "batch",
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> BatchReport:
    """Build every case of ``manifest`` into ``out_dir`` and write the batch report there.

    Args:
        manifest: A ``.csv``, ``.json`` or ``.jsonl`` manifest (SPEC section 7).
        out_dir: Folder for the packets, their disclosure reports, the batch report and state.
        workers: Parallel builds on this machine (local engine); default one per CPU.
        archive: The archive location to archive into, or None. The celery engine needs one: that
            is how packets travel back.
        spool: Where a packet that could not be archived waits for ``packetizer archive retry``
            (needed with ``archive``).
        built_at: A fixed build time for every packet (``SOURCE_DATE_EPOCH``); default now.
        payers_dir: Payer policy folder (default the shipped registry).
        today: Date deadlines are judged against (default: the real date).
        engine: ``local`` or ``celery``.
        built_by: Who built the packets, recorded in archive manifests.
        on_progress: Called with a :class:`Progress` at the start and after every case.
        cancel: Set it (from another thread) to stop the batch as Ctrl-C would.

    Returns:
        The :class:`BatchReport`; its report files are already written.

    Raises:
        PacketizerError: the batch cannot start (unreadable manifest, bad payer folder,
            archive that cannot be opened, output folder busy or not writable).
    """
    if engine not in ENGINES:
        raise PacketizerError(f"use one of {', '.join(ENGINES)}", code=ErrorCode.USAGE, subject=str(engine),
                              noun="--engine")
    workers = workers or default_workers()
    if not 1 <= workers <= limits.MAX_BATCH_WORKERS:
        raise PacketizerError(f"must be 1 to MAX_BATCH_WORKERS ({limits.MAX_BATCH_WORKERS})", code=ErrorCode.USAGE,
                              subject=str(workers), noun="--workers")
    today = today or dt.date.today()
    out = Path(out_dir).absolute()
    celery = None
    if engine == "celery":  # fail before any work when no broker is configured
        from .celery_app import create_app  # deferred: Celery is only needed here

        celery = create_app()
    if engine == "celery" and not archive:
        raise PacketizerError("the celery engine archives every packet (that is how packets travel back): "
                              "give it an archive", code=ErrorCode.USAGE)
    if archive and spool is None:
        raise PacketizerError("an archive needs a spool folder for the packets it cannot take at once",
                              code=ErrorCode.USAGE)
    location = archive or None
    archive_label = open_storage(location).describe() if location is not None else None
    started_clock, started = time.monotonic(), _now()
    try:
        make_dirs(out)
    except OSError as exc:
        raise PacketizerError(f"cannot create the folder ({exc.strerror})", code=ErrorCode.OUT_DIR,
                              subject=str(out_dir), noun="--out") from None

    with folder_lock(out):
        _remove_staging(out)  # left by a batch that was killed; the lock says none is running
        entries = read_manifest(manifest).entries
        registry = load_registry(payers_dir)
        state = BatchState.load(out)
        batch = _Batch(entries, state, archive_label, on_progress)
        jobs = [job for index, entry in enumerate(entries)
                if (job := batch.plan(index, entry, registry, out, today, location, built_by, spool,
                                      built_at)) is not None]
        batch.announce()
        interrupted = False
        if jobs:
            log.info("batch: building %d case(s) on the %s engine", len(jobs), engine)
            try:
                interrupted = _build(jobs, celery, workers, location, batch.handle, cancel)
            finally:
                _remove_staging(out)
        report = BatchReport(
            manifest=Path(manifest), out_dir=out, rows=batch.rows(interrupted), engine=engine,
            started=started, finished=_now(), elapsed=time.monotonic() - started_clock, interrupted=interrupted,
        )
        write_report(report)
    log.info("batch: %d built, %d skipped, %d failed", report.built, report.skipped, report.failed)
    return report


def _build(jobs: Sequence[Job], celery, workers: int, location: str | None, handle: OutcomeHandler,
           cancel: threading.Event | None) -> bool:
    """Run ``jobs`` on the local pool, or on Celery when an app is given.

    Ctrl-C (in the main thread) or ``cancel`` stops the batch cleanly. Returns True when stopped.
    """
    sigint = threading.Event()

    def should_stop() -> bool:
        return sigint.is_set() or (cancel is not None and cancel.is_set())

    with sigint_requests_stop(sigint):
        if celery is None:
            return run_local(jobs, min(workers, len(jobs)), handle, should_stop)
        from .celery_app import run_celery

        return run_celery(jobs, location, handle, should_stop, app=celery)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remove_staging(out: Path) -> None:
    for leftover in out.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


class _Batch:
    """The rows of one run as they are decided: validation, skips, then build outcomes."""

    def __init__(self, entries: Sequence[ManifestEntry], state: BatchState, archive_label: str | None,
                 on_progress: Callable[[Progress], None] | None):
        self.entries = entries
        self.state = state
        self.archive_label = archive_label
        self.on_progress = on_progress
        self.results: dict[int, RowResult] = {}
        self.counts = {"built": 0, "skipped": 0, "failed": 0}
        self.fingerprints: dict[int, str] = {}

    def plan(self, index: int, entry: ManifestEntry, registry, out: Path, today: dt.date, location: str | None,
             built_by: str, spool: Path | None = None, built_at: dt.datetime | None = None) -> Job | None:
        """Decide a row up front (failed or skipped), or return the job that builds it."""
        if entry.error is not None:
            self._decide(index, "failed", error=entry.error)
            return None
        case = entry.case
        policy = registry.policies.get(case.payer_id)
        if policy is None:
            where = entry.locator.where("payer_id")
            self._decide(index, "failed", error=f"{where}: no payer policy named {case.payer_id!r}")
            return None
        fingerprint = input_fingerprint(case, policy)
        record = self.state.unchanged(case.case_id, fingerprint, self.archive_label)
        if record is not None:
            self._decide(index, "skipped", packet=record.packet, sha256=record.sha256, pages=record.pages,
                         archived=record.archived)
            return None
        self.fingerprints[index] = fingerprint
        return Job(index, case, policy, out, today, location, built_by, spool, built_at)

    def _decide(self, index: int, status: str, **fields) -> RowResult:
        entry = self.entries[index]
        row = RowResult(entry.lines, entry.case_id, status, **fields)
        self.results[index] = row
        self.counts[status] += 1
        return row

    def announce(self) -> None:
        self._progress(None)

    def handle(self, outcome: Outcome) -> None:
        """Record one build outcome (and, on success, the state that lets a rerun skip it)."""
        entry = self.entries[outcome.index]
        if outcome.ok:
            row = self._decide(outcome.index, "built", packet=outcome.packet, sha256=outcome.sha256,
                               pages=outcome.pages, archived=outcome.archived)
            self.state.record(entry.case_id, BuiltRecord(
                fingerprint=self.fingerprints[outcome.index], packet=outcome.packet, sha256=outcome.sha256,
                pages=outcome.pages, archive=self.archive_label, archived=outcome.archived, built=_now(),
            ))
        else:
            error = "; ".join(located_message(entry.locator, field, message) for field, message in outcome.problems)
            row = self._decide(outcome.index, "failed", packet=outcome.packet, sha256=outcome.sha256,
                               pages=outcome.pages, archived=outcome.archived, error=error)
            log.info("batch: case %s failed", entry.case_id)
        self._progress(row)

    def _progress(self, row: RowResult | None) -> None:
        if self.on_progress is None:
            return
        self.on_progress(Progress(total=len(self.entries), done=len(self.results), row=row, **self.counts))

    def rows(self, interrupted: bool) -> tuple[RowResult, ...]:
        out = []
        for index, entry in enumerate(self.entries):
            row = self.results.get(index)
            if row is None:
                error = f"{entry.locator.label}: {INTERRUPTED if interrupted else WORKER_DIED}"
                row = RowResult(entry.lines, entry.case_id, "failed", error=error)
            out.append(row)
        return tuple(out)


# ---------------------------------------------------------------- the local engine


def pool_context() -> multiprocessing.context.BaseContext:
    """Fork-server workers: forked from a clean process that has imported and warmed up the pipeline.

    Plain ``fork`` would copy whatever threads the caller runs (the progress bar,
    a web server); ``spawn`` would import WeasyPrint again in every worker.
    """
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform (Windows)
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(["packetizer.batch.jobs", "packetizer.batch.warm"])
    return ctx


def run_local(jobs: Sequence[Job], workers: int, handle: OutcomeHandler,
              should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Build ``jobs`` in a pool of ``workers`` processes, calling ``handle`` as each finishes.

    Every ``BATCH_WORKER_MAX_BUILDS`` builds per worker the pool is replaced by a
    fresh one (forked from the warm fork server, so this is cheap): a worker's
    native memory grows with every build, and ``max_tasks_per_child`` can
    deadlock the executor on Python 3.11.

    Returns:
        True when stopped before every job ran (see :func:`run_pool`).
    """
    chunk = workers * limits.BATCH_WORKER_MAX_BUILDS
    for start in range(0, len(jobs), chunk):
        if (start and should_stop()) or run_pool(jobs[start:start + chunk], workers, handle, should_stop):
            return True
    return False


def run_pool(jobs: Sequence[Job], workers: int, handle: OutcomeHandler, should_stop: Callable[[], bool]) -> bool:
    """Build ``jobs`` in one pool.

    When ``should_stop()`` turns true, jobs not started are cancelled and the
    running ones finish (their packets are complete and recorded). A
    KeyboardInterrupt while waiting for those (Ctrl-C pressed twice) kills the
    workers; the caller removes their staging folders.

    Returns:
        True when stopped before every job ran.
    """
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=pool_context(),
                               initializer=ignore_sigint)
    futures = {pool.submit(build_job, job): job for job in jobs}
    pending: set[Future] = set(futures)
    stopped = False
    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                _handle_future(future, futures[future], handle)
            if pending and not stopped and should_stop():
                stopped = True
                log.warning("batch: stopping; waiting for the cases being built")
                pending = {f for f in pending if not f.cancel()}
    except KeyboardInterrupt:
        stopped = True
        _terminate(pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return stopped


def _handle_future(future: Future, job: Job, handle: OutcomeHandler) -> None:
    if future.cancelled():
        return
    try:
        outcome = future.result()
    except BrokenProcessPool:
        outcome = Outcome(job.index, problems=((None, WORKER_DIED),))
    handle(outcome)


def _terminate(pool: ProcessPoolExecutor) -> None:
    if hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    # Older Pythons offer no public way; the executor keeps its processes here.
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


@contextlib.contextmanager
def sigint_requests_stop(flag: threading.Event) -> Iterator[None]:
    """While active, the first Ctrl-C sets ``flag`` (a clean stop); the second raises KeyboardInterrupt.

    Only the main thread receives signals; elsewhere (a web server thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

"""Background batches (those uploaded through the web app): each runs in a thread, its status kept in memory and on disk.

Every batch has a folder ``<instance>/batches/<batch id>/``:

* ``input/`` the unpacked notes ZIP with the manifest saved at its top
  (:func:`packetizer.batch.zipin.stage_upload`), removed when the batch ends;
* ``out/`` the packets, their disclosure reports and ``batch-report.csv``/``.json``
  (:func:`packetizer.batch.runner.run_batch`);
* ``status.json`` who started it, when, its state and its counts, rewritten
  atomically after every case, so the batch list survives a restart;
* ``tracking.json`` where each built case went in the case list
  (:mod:`packetizer.casebook.batchimport`), written when the batch ends.

One :class:`BatchJobs` serves one application (the web app keeps it in
``app.extensions``; there is no module state). A stop request is a file
(``stop``) as well as an event, so a Stop pressed in another server process
reaches the thread that runs the batch. Whoever reads a status is using the
web app, not the command line: a batch that cannot run says why in those words.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from .. import limits
from ..batch.report import REPORT_JSON, replace_file
from ..batch.runner import Progress, run_batch
from ..errors import ErrorCode, PacketizerError
from ..private import make_dir, make_dirs

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
STOP_FILE = "stop"
INPUT_DIR = "input"
OUT_DIR = "out"
_BATCH_ID = re.compile(r"^[0-9a-f]{16}$")

#: running -> finished | stopped | failed; ``interrupted`` when the server stopped while it ran.
STATE_WORDS = {
    "running": "Running", "stopping": "Stopping", "finished": "Finished", "stopped": "Stopped",
    "failed": "Could not run", "interrupted": "Interrupted (server restarted)",
}
ACTIVE_STATES = ("running", "stopping")


@dataclass(frozen=True)
class BatchStatus:
    """What is known about one batch; ``status.json`` holds exactly these fields.

    Attributes:
        batch_id: Server-generated, 16 hex digits.
        created: ISO time (UTC) the upload was accepted.
        created_by: Username of the staff member.
        manifest: Kind of manifest (csv, json, jsonl).
        state: One of :data:`STATE_WORDS`.
        total, done, built, skipped, failed: Case counts so far.
        finished: ISO time (UTC) the batch ended, or None.
        error: Why the batch could not run (user-safe), or None.
        pid: The server process running it (to tell a live batch from one cut off by a restart).
    """

    batch_id: str
    created: str
    created_by: str
    manifest: str
    state: str = "running"
    total: int = 0
    done: int = 0
    built: int = 0
    skipped: int = 0
    failed: int = 0
    finished: str | None = None
    error: str | None = None
    pid: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @classmethod
    def from_dict(cls, data: dict) -> "BatchStatus":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class RunSettings:
    """What :func:`run_batch` needs, taken from the app before the thread starts (it has no app context).

    ``archive`` is the archive location, or None to keep the packets in the batch folder only.
    """

    archive: str | None
    spool: Path
    payers_dir: str | None
    today: dt.date
    built_by: str
    workers: int


class _StopSignal(threading.Event):
    """Set by :meth:`BatchJobs.stop`, or by a ``stop`` file another server process wrote."""

    def __init__(self, stop_file: Path):
        super().__init__()
        self._stop_file = stop_file

    def is_set(self) -> bool:
        # run_batch polls this every 0.2 s while it waits for builds: one stat call.
        return super().is_set() or self._stop_file.exists()


class _Run:
    """A batch running in this process: its thread, stop signal, latest status and finished rows."""

    def __init__(self, status: BatchStatus, folder: Path):
        self.lock = threading.Lock()
        self.status = status
        self.rows: list = []
        self.stop = _StopSignal(folder / STOP_FILE)
        self.thread: threading.Thread | None = None


class BatchJobs:
    """The batches of one app: start, watch, stop and list them.

    Args:
        root: ``<instance>/batches``.
        now: The app's clock (aware datetimes).
        on_finish: Called in the batch thread with the final status (the app writes the audit log).
        on_built: Called in the batch thread when the builds are over, before the uploaded notes are
            removed, with the status, the batch folder, the staged manifest and the report's rows
            (the app adds the built cases to its case list).
    """

    def __init__(self, root: Path, now: Callable[[], dt.datetime],
                 on_finish: Callable[[BatchStatus], None] | None = None,
                 on_built: Callable[[BatchStatus, Path, Path, tuple], None] | None = None):
        self.root = root
        self._now = now
        self._on_finish = on_finish
        self._on_built = on_built
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ folders

    def new_folder(self) -> tuple[str, Path]:
        """A fresh batch id and its (new, empty) folder."""
        make_dirs(self.root)
        while True:
            batch_id = secrets.token_hex(8)
            folder = self.root / batch_id
            try:
                make_dir(folder)
            except FileExistsError:
                continue
            return batch_id, folder

    def folder(self, batch_id: str) -> Path | None:
        """The folder of ``batch_id``, or None when the id is malformed or unknown (never a user path)."""
        if not _BATCH_ID.match(batch_id or ""):
            return None
        folder = self.root / batch_id
        return folder if (folder / STATUS_FILE).is_file() else None

    def out_dir(self, batch_id: str) -> Path:
        return self.root / batch_id / OUT_DIR

    def remove(self, batch_id: str) -> bool:
        """Remove an ended batch's folder (its packets and reports). False when it runs or is unknown."""
        folder = self.folder(batch_id)
        current = self.status(batch_id)
        if folder is None or current is None or current.active:
            return False
        with self._lock:
            if batch_id in self._runs:   # ended, but its thread is still writing the last status
                return False
        shutil.rmtree(folder, ignore_errors=True)
        log.info("batch %s removed", batch_id)
        return True

    def remove_expired(self, keep_days: int) -> list[str]:
        """Remove the folders of batches that ended more than ``keep_days`` days ago; their ids."""
        if not self.root.is_dir():
            return []
        cutoff = _iso(self._now() - dt.timedelta(days=keep_days))
        removed = []
        for folder in sorted(self.root.iterdir()):
            status = self.status(folder.name) if _BATCH_ID.match(folder.name) else None
            if status is None or status.active:
                continue
            # A batch cut off by a restart never wrote its end: its start counts.
            ended = status.finished or status.created
            if ended < cutoff and self.remove(folder.name):
                removed.append(folder.name)
        return removed

    # ------------------------------------------------------------------ running

    def running_count(self) -> int:
        with self._lock:  # a run leaves the table when its thread ends
            return len(self._runs)

    def start(self, batch_id: str, folder: Path, manifest: Path, *, created_by: str, settings: RunSettings,
              total: int = 0) -> BatchStatus:
        """Start building ``manifest`` (already staged in ``folder``, ``total`` cases) in a background thread.

        Raises:
            PacketizerError: MAX_RUNNING_WEB_BATCHES batches are already running here.
        """
        status = BatchStatus(batch_id=batch_id, created=_iso(self._now()), created_by=created_by,
                             manifest=manifest.suffix.lstrip(".").lower(), total=total, pid=os.getpid())
        run = _Run(status, folder)
        with self._lock:
            live = len(self._runs)
            if live >= limits.MAX_RUNNING_WEB_BATCHES:
                raise PacketizerError(f"{live} batches are already running (MAX_RUNNING_WEB_BATCHES "
                                      f"{limits.MAX_RUNNING_WEB_BATCHES}); start this one when one has finished",
                                      code=ErrorCode.BUSY)
            self._runs[batch_id] = run
        try:
            _write_status(folder, status)
            run.thread = threading.Thread(target=self._run, args=(run, folder, manifest, settings),
                                          name=f"batch-{batch_id}", daemon=True)
            run.thread.start()
        except BaseException:
            with self._lock:
                self._runs.pop(batch_id, None)
            raise
        log.info("batch %s started by %s", batch_id, created_by)
        return status

    def _run(self, run: _Run, folder: Path, manifest: Path, settings: RunSettings) -> None:
        def on_progress(progress: Progress) -> None:
            with run.lock:
                run.status = replace(run.status, total=progress.total, done=progress.done, built=progress.built,
                                     skipped=progress.skipped, failed=progress.failed)
                if progress.row is not None:
                    run.rows.append(progress.row)
                status = run.status
            _write_status(folder, status)

        final: dict = {}
        try:
            report = run_batch(manifest, out_dir=folder / OUT_DIR, workers=settings.workers,
                               archive=settings.archive, spool=settings.spool, payers_dir=settings.payers_dir,
                               today=settings.today,
                               built_by=settings.built_by, on_progress=on_progress, cancel=run.stop)
            final = {"state": "stopped" if report.interrupted else "finished", "total": len(report.rows),
                     "done": len(report.rows), "built": report.built, "skipped": report.skipped,
                     "failed": report.failed}
            if self._on_built is not None and report.built:
                try:
                    self._on_built(run.status, folder, manifest, report.rows)
                except Exception as exc:  # the packets and the report are on disk either way
                    log.error("batch %s: handing the built cases on failed: %s", run.status.batch_id,
                              type(exc).__name__)
        except PacketizerError as exc:
            final = {"state": "failed", "error": _why_not_run(exc)}
            log.warning("batch %s could not run: %s", run.status.batch_id, exc.code)
        except Exception as exc:  # the message may quote data (PHI): log the type only
            final = {"state": "failed", "error": "The batch failed unexpectedly; nothing more was built."}
            log.error("batch %s failed unexpectedly: %s", run.status.batch_id, type(exc).__name__)
        # The uploaded notes and manifest hold PHI and are not needed once the packets exist.
        shutil.rmtree(folder / INPUT_DIR, ignore_errors=True)
        with run.lock:
            status = replace(run.status, finished=_iso(self._now()), **final)
        log.info("batch %s %s: %d built, %d skipped, %d failed", status.batch_id, status.state,
                 status.built, status.skipped, status.failed)
        # Recorded before the end is shown: whoever sees the batch ended also finds it in the audit log.
        if self._on_finish is not None:
            try:
                self._on_finish(status)
            except Exception as exc:  # the batch itself is done; its report is on disk
                log.error("batch %s: recording its end failed: %s", status.batch_id, type(exc).__name__)
        _write_status(folder, status)
        with run.lock:
            run.status = status
        with self._lock:  # from now on the status file is the whole story (the report holds the rows)
            self._runs.pop(status.batch_id, None)

    def stop(self, batch_id: str) -> bool:
        """Ask a running batch to stop (cases being built finish). False when it is not running."""
        folder = self.folder(batch_id)
        current = self.status(batch_id)
        if folder is None or current is None or not current.active:
            return False
        (folder / STOP_FILE).touch()
        with self._lock:
            run = self._runs.get(batch_id)
        if run is not None:
            run.stop.set()
            with run.lock:
                if run.status.state == "running":
                    run.status = replace(run.status, state="stopping")
        return True

    def wait(self, batch_id: str, timeout: float) -> BatchStatus | None:
        """Wait up to ``timeout`` seconds for a batch of this process to end; its status then."""
        with self._lock:
            run = self._runs.get(batch_id)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return self.status(batch_id)

    # ------------------------------------------------------------------ reading

    def status(self, batch_id: str) -> BatchStatus | None:
        """The batch's status: live from memory when it runs here, else from its ``status.json``."""
        with self._lock:
            run = self._runs.get(batch_id)
        if run is not None:
            with run.lock:
                return run.status
        folder = self.folder(batch_id)
        return _read_status(folder) if folder is not None else None

    def finished_rows(self, batch_id: str) -> list:
        """Rows finished so far by a batch running in this process (newest last)."""
        with self._lock:
            run = self._runs.get(batch_id)
        if run is None:
            return []
        with run.lock:
            return list(run.rows)

    def report(self, batch_id: str) -> dict | None:
        """The batch's ``batch-report.json`` once written, else None."""
        folder = self.folder(batch_id)
        if folder is None:
            return None
        try:
            return json.loads((folder / OUT_DIR / REPORT_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def recent(self, limit: int = limits.MAX_LISTED_WEB_BATCHES) -> list[BatchStatus]:
        """The latest ``limit`` batches, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if _BATCH_ID.match(folder.name):
                status = self.status(folder.name)
                if status is not None:
                    found.append(status)
        found.sort(key=lambda s: (s.created, s.batch_id), reverse=True)
        return found[:limit]


def _why_not_run(exc: PacketizerError) -> str:
    """Why a batch could not run, for the web app's user: the folder and settings are the server's, not
    command-line options (``--out``, ``--workers``) the user gave."""
    if exc.code in (ErrorCode.OUT_DIR, ErrorCode.BUSY):
        return f"the server could not write the batch's packets: {exc.detail}"
    if exc.code == ErrorCode.USAGE:
        return f"the server's batch settings are not valid: {exc.detail}; tell an administrator"
    return exc.message


def remove_folder(folder: Path) -> None:
    """Remove a batch folder whose upload was refused."""
    shutil.rmtree(folder, ignore_errors=True)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_status(folder: Path, status: BatchStatus) -> None:
    replace_file(folder / STATUS_FILE, (json.dumps(asdict(status), indent=2) + "\n").encode("utf-8"))


def _read_status(folder: Path) -> BatchStatus | None:
    try:
        status = BatchStatus.from_dict(json.loads((folder / STATUS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if status.active and not _alive(status.pid):
        # Its server process is gone: the thread died with it. Finished packets are in out/.
        return replace(status, state="interrupted")
    return status


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return False  # it would be in memory if this process ran it: this is a restarted server with the same pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

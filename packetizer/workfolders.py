"""Temporary folders that hold PHI while a build runs, and the sweep of those a killed process left behind.

A build's sandboxed children write pictures of pages for OCR, the no-leak
proof copies the packet for poppler, and a Celery worker writes a case's
files: each into a folder of its own under the system's temporary folder,
named ``pktz-<kind>-…``, which is removed when the work ends, however it ends,
as long as the process lives to remove it. A process killed outright (SIGKILL,
the out-of-memory killer, a power cut) cannot: the folder and the PHI in it
would stay.

So each folder holds a lock (``flock`` on its ``.owner`` file) for as long as
some process that works in it lives: the one that made it and the children it
forked, which inherit the lock. The first build of every process sweeps: a
``pktz-`` folder of this user's whose lock it can take has nobody left working
in it, and goes. A folder with no lock file (made by a version before these
locks, or by OCR inside a child's own folder) goes once it is older than
``ORPHAN_SECONDS``, longer than any work may run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
import weakref

from .limits import ORPHAN_SECONDS

log = logging.getLogger(__name__)

PREFIX = "pktz-"
_LOCK_NAME = ".owner"

_swept = False


class WorkFolder:
    """A private temporary folder (0700) locked for as long as a process working in it lives; like
    :class:`tempfile.TemporaryDirectory`: ``name``, :meth:`cleanup`, and a context manager."""

    def __init__(self, kind: str) -> None:
        self.name = tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-")
        try:
            fd = os.open(os.path.join(self.name, _LOCK_NAME),
                         os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except BaseException:
            shutil.rmtree(self.name, ignore_errors=True)
            raise
        # Taken at once: nobody else has the file open yet. Forked children share it (the same open file).
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._finalizer = weakref.finalize(self, _remove, self.name, fd)

    def cleanup(self) -> None:
        """Remove the folder and everything in it (once; later calls do nothing)."""
        self._finalizer()

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *_) -> None:
        self.cleanup()


def _remove(name: str, fd: int) -> None:
    # The folder goes before the lock: a sweep never finds a living process's folder unlocked.
    try:
        shutil.rmtree(name, ignore_errors=True)
    finally:
        os.close(fd)


def sweep_once() -> int:
    """:func:`sweep`, the first time a process calls it; 0 afterwards."""
    global _swept
    if _swept:
        return 0
    _swept = True
    return sweep()


def sweep(root: str | None = None) -> int:
    """Remove the ``pktz-`` folders of this user's in ``root`` (default the temporary folder) that nobody
    works in any more; how many went. Never raises: a folder that cannot be judged or removed stays."""
    root = root or tempfile.gettempdir()
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        try:
            if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            status = entry.stat(follow_symlinks=False)
            if status.st_uid != os.getuid():
                continue
            removed += _remove_if_left(entry.path, status.st_mtime)
        except OSError:
            continue
    if removed:
        log.warning("removed %d temporary folder(s) left behind by a build that was killed", removed)
    return removed


def _remove_if_left(path: str, mtime: float) -> int:
    try:
        fd = os.open(os.path.join(path, _LOCK_NAME), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if time.time() - mtime < ORPHAN_SECONDS:
            return 0
        shutil.rmtree(path, ignore_errors=True)
        return 1
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0   # a process working in it still lives
        shutil.rmtree(path, ignore_errors=True)
        return 1
    finally:
        os.close(fd)

"""This user's cache folder: work whose result never changes, kept for the next process.

Three kinds of file are kept there, each bound to everything its result depends
on: WeasyPrint's C declarations as cffi parsed them and its default style sheets
as it parsed them (:mod:`.weasystart`), and the templates as Jinja compiled them
(:mod:`.render`). A kept file is read only if
it is a regular file of this user's that no one else may write (a link is not
followed), and is written whole or not at all, readable by this user alone, in
a folder only this user may enter. Nothing is kept without a home.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

# A kept file larger than this is not one of ours.
MAX_KEPT_BYTES = 4 * 1024 * 1024


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/packetizer``, else ``~/.cache/packetizer``; None without a home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home == "~" or not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "packetizer"


def read_kept(path: Path) -> bytes | None:
    """The bytes kept at ``path``: only from a file of this user's that no one else may write; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022
                or info.st_size > MAX_KEPT_BYTES):
            return None
        with os.fdopen(fd, "rb") as kept:
            fd = -1
            return kept.read(MAX_KEPT_BYTES + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def keep(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` for the next process (whole or not at all; nothing if it cannot be)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as kept:
                kept.write(blob)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except Exception as exc:  # noqa: BLE001 - only a shortcut for the next process
        log.debug("%s was not kept (%s)", path.name.split("-")[0], type(exc).__name__)

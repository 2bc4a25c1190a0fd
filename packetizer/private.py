"""Folders and files that may hold PHI: readable by the server's own user only, whatever the umask.

Case files, uploads, packets, disclosure reports, batch folders, the spool, the
registry database and the secret key are created through these helpers (or with
the same modes given explicitly): folders 0700, files 0600. A mode given at
creation can only lose bits to the umask, never gain them, and the helpers set
it again afterwards so that even an unusual umask (one that strips the owner's
own bits) leaves the intended mode.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path | str) -> Path:
    """Create ``path`` and each missing parent as a private folder (0700); existing folders are left as they are."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=DIR_MODE)
        except FileExistsError:  # a concurrent writer made it first
            continue
        os.chmod(new, DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


def make_dir(path: Path | str) -> Path:
    """Create the one folder ``path`` (its parent must exist) as a private folder; FileExistsError if it exists."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def create_file(path: Path | str, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """Open ``path`` with ``flags`` (which include O_CREAT) as a private file (0600); its descriptor."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd

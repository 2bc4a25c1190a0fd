"""The local-folder archive backend and the write-once file helper it rests on."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..errors import ErrorCode, NotFound, StorageError
from .storage import PutResult, Storage, check_key, check_prefix, is_valid_key

#: Mode of archived files: read-only, so a stray editor or script cannot change them in place, and the
#: owner's only (packets hold PHI). Stricter than the 0600 of the instance's working files.
ARCHIVED_FILE_MODE = 0o400
#: Mode of the archive's folders: the owner's only, whatever the umask.
ARCHIVE_DIR_MODE = 0o700

# link(2) fails with these where the file system has no hard links (FAT,
# some network and FUSE mounts).
NO_HARDLINK_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk so a new name survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its rename/link is already durable enough.
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def create_in_place(path: Path, data: bytes, *, mode: int = 0o666) -> bool:
    """Create ``path`` with O_EXCL and write ``data`` into it: exclusive, but not atomic.

    A concurrent reader may see a partly written file, so the archive never
    uses this; it is the fallback for user output on file systems without hard links.

    Returns:
        True if created, False if ``path`` already existed (left untouched).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS, mode)
    except FileExistsError:
        return False
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)  # we created it: leave no partial file behind
        raise
    os.close(fd)
    fsync_dir(path.parent)
    return True


def write_new_file(path: Path, data: bytes, *, mode: int = 0o666, allow_in_place: bool = False) -> bool:
    """Create ``path`` holding ``data`` atomically, never replacing an existing file.

    The bytes go to a temporary file in the same folder, are fsynced, and are
    then published with ``link(2)``, which fails rather than overwrite, so of
    two concurrent writers exactly one wins and readers never see a partial file.

    Args:
        path: Target file; its folder must exist.
        data: The bytes.
        mode: Permission bits of the new file (the umask still applies).
        allow_in_place: Where the file system has no hard links, fall back to
            :func:`create_in_place` instead of raising.

    Returns:
        True if the file was created, False if ``path`` already existed (left untouched).

    Raises:
        OSError: the write failed (errno in ``NO_HARDLINK_ERRNOS`` if hard links
            are unsupported and ``allow_in_place`` is False).
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, _OPEN_FLAGS, mode)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno in NO_HARDLINK_ERRNOS and allow_in_place:
                return create_in_place(path, data, mode=mode)
            raise
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStorage(Storage):
    """Archive objects as read-only files under a root folder (key ``a/b/c`` -> ``root/a/b/c``)."""

    def __init__(self, root: Path):
        """Args:
            root: The archive folder; created on the first write.
        """
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def describe(self) -> str:
        return f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _makedirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            try:
                new.mkdir(mode=ARCHIVE_DIR_MODE)
            except FileExistsError:  # a concurrent writer made it first
                continue
            os.chmod(new, ARCHIVE_DIR_MODE)  # whatever the umask
            fsync_dir(new.parent)

    def put(self, key: str, data: bytes, *, content_type: str) -> PutResult:
        path = self._path(key)
        data = bytes(data)
        try:
            self._makedirs(path.parent)
            created = write_new_file(path, data, mode=ARCHIVED_FILE_MODE)
        except OSError as exc:
            if exc.errno in NO_HARDLINK_ERRNOS:
                raise StorageError(
                    f"the file system of {self.describe()} has no hard links, which write-once archiving needs",
                    code=ErrorCode.UNSUPPORTED,
                ) from exc
            raise StorageError(
                f"could not write archive object {key} in {self.describe()}: {exc.strerror or exc}",
                code=ErrorCode.WRITE_FAILED,
            ) from exc
        try:
            stored = self.get(key)
        except NotFound:  # the name is taken by a folder (key is a prefix of other keys)
            raise StorageError(f"archive object {key} conflicts with existing keys", code=ErrorCode.EXISTS) from None
        if not created:
            if stored != data:
                raise StorageError(f"archive object {key} already exists with different content", code=ErrorCode.EXISTS)
        elif _sha256(stored) != _sha256(data):
            path.unlink(missing_ok=True)  # ours and corrupt: remove it so a retry can succeed
            raise StorageError(f"archive object {key} did not read back as written", code=ErrorCode.WRITE_FAILED)
        return PutResult(key=key, sha256=_sha256(stored), size=len(stored), already_present=not created)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no archived object {key} in {self.describe()}") from None
        except OSError as exc:
            raise StorageError(f"could not read archive object {key}: {exc.strerror or exc}",
                               code=ErrorCode.READ_FAILED) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        folder, _, partial = check_prefix(prefix).rpartition("/")
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not base.is_dir():
            return iter(())
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            top = dirpath == str(base)
            # Dot-names are temp files or foreign (never keys); prune early at the top.
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and (not top or d.startswith(partial))]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(".") or (top and not name.startswith(partial)):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if is_valid_key(key):  # foreign files could never be fetched by key
                    keys.append(key)
        return iter(sorted(keys))

"""Archive now, or keep a complete copy in a local spool and archive it later.

A build must not fail because the archive is down. :func:`archive_or_defer`
first writes the packet, its manifest and its report files into a spool entry
(atomically: a temporary folder renamed into place), then archives and verifies
the version; only a verified version is reported archived and only then is the
entry removed. If anything fails the entry stays, with the reason, for
:func:`retry_pending` (``packetizer archive retry``, the web app). A process
killed mid-upload leaves the entry too, so nothing is lost.

Spool layout (default ``$PACKETIZER_SPOOL``, else
``$XDG_DATA_HOME/packetizer/pending``, else ``~/.local/share/packetizer/pending``)::

    <spool>/<case_id>_<packet sha256[:16]>_<manifest sha256[:8]>/
        pending.json     ids, hashes, attempts, last error (no PHI)
        .lock            held (flock) by whoever is archiving the entry
        packet.pdf
        manifest.json    the manifest as the pipeline gave it
        files/<name>     report files

Entries hold PHI (the packet), so folders are 0700 and files 0600.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ErrorCode, PacketizerError, StorageError
from ..private import make_dirs
from .local import fsync_dir, write_new_file
from .service import (
    ArchivedVersion,
    PreparedVersion,
    manifest_bytes,
    prepare_version,
    verify_version,
    write_version,
)
from .storage import Storage

try:  # POSIX: one retrier per entry at a time; elsewhere entries are simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)

#: Environment variable naming the spool folder.
SPOOL_ENV = "PACKETIZER_SPOOL"

STATE_FILE = "pending.json"
LOCK_FILE = ".lock"
PACKET_FILE = "packet.pdf"
MANIFEST_FILE = "manifest.json"
FILES_DIR = "files"
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_FIRST_REASON = "not archived yet (the archive attempt did not finish)"
#: A half-written entry (a build killed while spooling) older than this is removed by a retry;
#: its build never finished archiving, and the packet itself is still in the build's output folder.
STALE_INCOMING_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ArchiveOutcome:
    """What :func:`archive_or_defer` did.

    Attributes:
        archived: The verified archived version, or None.
        pending_reason: Why the version waits in the spool, or None once archived.
        pending_id: The spool entry holding the version, when pending.
    """

    archived: ArchivedVersion | None
    pending_reason: str | None
    pending_id: str | None = None


@dataclass(frozen=True)
class PendingEntry:
    """One version waiting in the spool.

    Attributes:
        entry_id: Folder name inside the spool.
        case_id, payer_id, sha256, created: From the manifest.
        queued_at: When it was spooled (UTC, ISO 8601).
        attempts: Archive attempts so far.
        last_error: The reason the last attempt failed (safe to show), or None.
        last_attempt: When the last attempt ended, or None.
        path: The entry folder.
    """

    entry_id: str
    case_id: str
    payer_id: str
    sha256: str
    created: str
    queued_at: str
    attempts: int
    last_error: str | None
    last_attempt: str | None
    path: Path


@dataclass(frozen=True)
class RetryResult:
    """The outcome of retrying one entry: ``archived`` set, or ``error`` saying why it is still pending."""

    entry: PendingEntry
    archived: ArchivedVersion | None
    error: str | None


def default_spool_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PACKETIZER_SPOOL``, else ``$XDG_DATA_HOME/packetizer/pending``, else ``~/.local/share/...``."""
    env = os.environ if environ is None else environ
    if env.get(SPOOL_ENV):
        return Path(env[SPOOL_ENV]).expanduser()
    data_home = env.get("XDG_DATA_HOME", "")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "packetizer" / "pending"


def _now(clock: Callable[[], dt.datetime] | None) -> str:
    when = (clock or (lambda: dt.datetime.now(dt.timezone.utc)))()
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_id(prepared: PreparedVersion, manifest_body: bytes) -> str:
    return f"{prepared.case_id}_{prepared.sha256[:16]}_{_sha256(manifest_body)[:8]}"


def _write_private(path: Path, data: bytes) -> None:
    if not write_new_file(path, data, mode=_FILE_MODE, allow_in_place=True):
        raise FileExistsError(path)


def _write_state(entry_dir: Path, state: dict) -> None:
    """Replace ``pending.json`` atomically (temp file, fsync, rename)."""
    body = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode("utf-8")
    tmp = entry_dir / f".{STATE_FILE}.{secrets.token_hex(6)}.tmp"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE), "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, entry_dir / STATE_FILE)
    fsync_dir(entry_dir)


def _spool(spool: Path, prepared: PreparedVersion, manifest_body: bytes, clock) -> str:
    """Write a complete entry for ``prepared`` (or find the identical one already there); return its id."""
    make_dirs(spool)  # 0700 for every folder it creates, whatever the umask
    entry_id = _entry_id(prepared, manifest_body)
    final = spool / entry_id
    if (final / STATE_FILE).is_file():
        return entry_id  # the same version is already waiting
    tmp = spool / f".incoming-{entry_id}-{secrets.token_hex(6)}"
    tmp.mkdir(mode=_DIR_MODE)
    try:
        (tmp / FILES_DIR).mkdir(mode=_DIR_MODE)
        _write_private(tmp / PACKET_FILE, prepared.packet)
        _write_private(tmp / MANIFEST_FILE, manifest_body)
        for name, data in prepared.files:
            _write_private(tmp / FILES_DIR / name, data)
        fsync_dir(tmp / FILES_DIR)
        _write_state(tmp, {
            "case_id": prepared.case_id,
            "payer_id": prepared.manifest["payer_id"],
            "sha256": prepared.sha256,
            "created": prepared.manifest["created"],
            "manifest_sha256": _sha256(manifest_body),
            "files": {name: _sha256(data) for name, data in prepared.files},
            "queued_at": _now(clock),
            "attempts": 0,
            "last_error": _FIRST_REASON,
            "last_attempt": None,
        })
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / STATE_FILE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent build spooled the same version
            return entry_id
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(spool)
    return entry_id


def _remove(entry_dir: Path) -> None:
    """Remove an entry: renamed aside first, so a half-deleted entry never looks pending."""
    doomed = entry_dir.with_name(f".done-{entry_dir.name}-{secrets.token_hex(6)}")
    try:
        os.rename(entry_dir, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)
    fsync_dir(entry_dir.parent)


def _record_failure(entry_dir: Path, reason: str, clock) -> PendingEntry | None:
    try:
        state = json.loads((entry_dir / STATE_FILE).read_text(encoding="utf-8"))
        state["attempts"] = int(state.get("attempts", 0)) + 1
        state["last_error"] = reason
        state["last_attempt"] = _now(clock)
        _write_state(entry_dir, state)
        return _entry_from_state(entry_dir, state)
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("could not record the failed archive attempt in spool entry %s", entry_dir.name)
        return None


def _attempt(storage: Storage, prepared: PreparedVersion) -> tuple[ArchivedVersion | None, str | None]:
    """Write and verify; (version, None) when verified, else (None, reason)."""
    try:
        version = write_version(storage, prepared)
        problems = verify_version(storage, version)
    except PacketizerError as exc:
        return None, exc.message
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return None, f"the archived copy does not verify: {problems[0]}{more}"
    return version, None


@dataclass(frozen=True)
class PacketArchive:
    """Where a build archives: the storage, and the spool that keeps what could not be archived yet
    (``packetizer archive retry --spool`` archives it later). Each door builds one from its own
    configuration; the pipeline reads no environment."""

    storage: Storage
    spool: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], location: str | None = None) -> PacketArchive:
        """The archive at ``location`` (else ``$PACKETIZER_ARCHIVE``, else the local archive folder) and
        the spool ``$PACKETIZER_SPOOL`` (else :func:`default_spool_dir`): the CLI's and batch's settings."""
        from .backends import open_storage

        return cls(open_storage(location, environ=environ), default_spool_dir(environ))

    def keep(self, packet_pdf: bytes, manifest: Mapping[str, Any],
             extra_files: Mapping[str, bytes] | None = None) -> ArchiveOutcome:
        """Archive and verify the packet, or keep it in the spool (see :func:`archive_or_defer`)."""
        return archive_or_defer(self.storage, packet_pdf, manifest, extra_files, spool_dir=self.spool)


def archive_or_defer(
    storage: Storage,
    packet_pdf: bytes,
    manifest: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
    *,
    spool_dir: Path | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> ArchiveOutcome:
    """Archive and verify a packet version, or keep it in the spool with the reason.

    Args:
        storage: The archive.
        packet_pdf, manifest, extra_files: As for :func:`archive_packet`.
        spool_dir: The spool (default :func:`default_spool_dir`).
        clock: Current UTC time for the spool's timestamps; for tests.

    Returns:
        ``archived`` set only when the version is stored and verifies; else
        ``pending_reason`` (and ``pending_id``).

    Raises:
        StorageError: ``bad_manifest`` / IntegrityError for invalid input (a bug in
            the caller, never deferred); ``spool_failed`` when the archive failed
            and the copy could not be spooled either.
    """
    prepared = prepare_version(packet_pdf, manifest, extra_files)
    manifest_body = manifest_bytes(dict(manifest))
    spool = Path(spool_dir) if spool_dir is not None else default_spool_dir()
    entry_id, spool_problem = None, None
    try:
        entry_id = _spool(spool, prepared, manifest_body, clock)
    except OSError as exc:
        spool_problem = f"{exc.strerror or exc} ({spool})"
        log.warning("could not spool case %s before archiving: %s", prepared.case_id, exc.strerror or type(exc).__name__)
    if entry_id is None:
        version, reason = _attempt(storage, prepared)
        if version is None:
            raise StorageError(f"{reason}; and the packet could not be kept for a later retry: {spool_problem}",
                               code=ErrorCode.SPOOL_FAILED)
        return ArchiveOutcome(archived=version, pending_reason=None)
    # Hold the entry's lock so `archive retry` running meanwhile leaves it to us.
    with _locked(spool / entry_id):
        version, reason = _attempt(storage, prepared)
        if version is not None:
            _remove(spool / entry_id)
            return ArchiveOutcome(archived=version, pending_reason=None)
        _record_failure(spool / entry_id, reason, clock)
    log.warning("archive of case %s deferred (spool entry %s): %s", prepared.case_id, entry_id, reason)
    return ArchiveOutcome(archived=None, pending_reason=reason, pending_id=entry_id)


def _entry_from_state(entry_dir: Path, state: Mapping[str, Any]) -> PendingEntry:
    return PendingEntry(
        entry_id=entry_dir.name, case_id=str(state["case_id"]), payer_id=str(state["payer_id"]),
        sha256=str(state["sha256"]), created=str(state["created"]), queued_at=str(state["queued_at"]),
        attempts=int(state.get("attempts", 0)), last_error=state.get("last_error"),
        last_attempt=state.get("last_attempt"), path=entry_dir,
    )


def _entry_dirs(spool: Path) -> Iterator[Path]:
    if not spool.is_dir():
        return iter(())
    return iter(sorted(p for p in spool.iterdir() if p.is_dir() and not p.name.startswith(".")))


def list_pending(spool_dir: Path | None = None) -> list[PendingEntry]:
    """Every complete entry in the spool, oldest first (unreadable entries are skipped with a warning)."""
    spool = Path(spool_dir) if spool_dir is not None else default_spool_dir()
    entries = []
    for entry_dir in _entry_dirs(spool):
        try:
            state = json.loads((entry_dir / STATE_FILE).read_text(encoding="utf-8"))
            entries.append(_entry_from_state(entry_dir, state))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("spool entry %s is unreadable; left in place", entry_dir.name)
    return sorted(entries, key=lambda e: (e.queued_at, e.entry_id))


@contextmanager
def _locked(entry_dir: Path):
    """Yield True if this process holds the entry's lock (another retrier holds it: False)."""
    if fcntl is None:
        yield True
        return
    try:
        # A file of its own: pending.json is replaced on every update, which would drop the lock.
        fd = os.open(entry_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    except FileNotFoundError:
        yield False  # removed by another retrier meanwhile
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _load(entry: PendingEntry) -> PreparedVersion:
    """Read an entry back and check it against its own recorded hashes.

    Raises:
        StorageError: code ``spool_damaged`` naming the file that is missing or altered.
    """
    state = json.loads((entry.path / STATE_FILE).read_text(encoding="utf-8"))

    def read(rel: str, want: str) -> bytes:
        try:
            data = (entry.path / rel).read_bytes()
        except OSError:
            raise StorageError(f"spool entry {entry.entry_id}: {rel} is missing",
                               code=ErrorCode.SPOOL_DAMAGED) from None
        if _sha256(data) != want:
            raise StorageError(f"spool entry {entry.entry_id}: {rel} was altered", code=ErrorCode.SPOOL_DAMAGED)
        return data

    body = read(MANIFEST_FILE, state["manifest_sha256"])
    manifest = json.loads(body.decode("utf-8"))
    packet = read(PACKET_FILE, state["sha256"])
    files = {name: read(f"{FILES_DIR}/{name}", sha) for name, sha in state["files"].items()}
    return prepare_version(packet, manifest, files)


def _sweep(spool: Path) -> None:
    """Remove what crashed processes left: entries already archived (``.done-*``), stale ``.incoming-*``."""
    if not spool.is_dir():
        return
    now = dt.datetime.now().timestamp()
    for path in spool.iterdir():
        try:
            stale = path.name.startswith(".incoming-") and now - path.stat().st_mtime > STALE_INCOMING_SECONDS
        except OSError:
            continue
        if path.is_dir() and (path.name.startswith(".done-") or stale):
            shutil.rmtree(path, ignore_errors=True)


def retry_pending(
    storage: Storage,
    *,
    spool_dir: Path | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> list[RetryResult]:
    """Try every pending entry again, oldest first; verified versions leave the spool.

    Entries another process is retrying right now are skipped. A damaged entry
    is reported and left for a person to look at; nothing is deleted unarchived.
    """
    spool = Path(spool_dir) if spool_dir is not None else default_spool_dir()
    _sweep(spool)
    results = []
    for entry in list_pending(spool):
        with _locked(entry.path) as mine:
            if not mine or not (entry.path / STATE_FILE).is_file():
                continue
            try:
                prepared = _load(entry)
            except PacketizerError as exc:
                version, reason = None, exc.message
            except (OSError, ValueError, KeyError, TypeError):
                version, reason = None, f"spool entry {entry.entry_id} is unreadable"
            else:
                version, reason = _attempt(storage, prepared)
            if version is not None:
                _remove(entry.path)
                log.info("archived spooled case %s (entry %s)", entry.case_id, entry.entry_id)
                results.append(RetryResult(entry=entry, archived=version, error=None))
            else:
                updated = _record_failure(entry.path, reason, clock) or entry
                results.append(RetryResult(entry=updated, archived=None, error=reason))
    return results

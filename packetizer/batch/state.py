"""What earlier runs built into an output folder, so a rerun skips unchanged cases.

The state file ``batch-state.json`` sits next to the batch report. For each
case it keeps the :func:`~packetizer.pipeline.input_fingerprint` of the inputs
of its last successful build and the packet that build wrote. A case is skipped
when its fingerprint is unchanged, that packet is still in the folder with the
same SHA-256, and (when archiving) it went to the same archive.

A lock file keeps two batches from writing into one folder at the same time.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ..errors import ErrorCode, PacketizerError
from ..private import create_file
from .report import replace_file

log = logging.getLogger(__name__)

STATE_FILE = "batch-state.json"
LOCK_FILE = ".batch.lock"
STATE_VERSION = 1


@dataclass(frozen=True)
class BuiltRecord:
    """The last successful build of one case into this folder."""

    fingerprint: str
    packet: str          # file name in the folder
    sha256: str
    pages: int
    archive: str | None  # description of the archive it went to, or None
    archived: str | None  # its archive key prefix
    built: str           # ISO time (UTC)


class BatchState:
    """The state file of one output folder; :meth:`record` saves after every build."""

    def __init__(self, out_dir: Path, records: dict[str, BuiltRecord] | None = None):
        self.path = Path(out_dir) / STATE_FILE
        self.records: dict[str, BuiltRecord] = dict(records or {})

    @classmethod
    def load(cls, out_dir: Path) -> "BatchState":
        """Read the state file; a missing or unreadable one means nothing is known (everything builds)."""
        path = Path(out_dir) / STATE_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") != STATE_VERSION:
                raise ValueError("unknown version")
            records = {case_id: BuiltRecord(**rec) for case_id, rec in doc["cases"].items()}
        except FileNotFoundError:
            return cls(out_dir)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            # Losing the state only costs rebuilding; it never blocks a batch.
            log.warning("batch state %s is unreadable; every case will be built", path)
            return cls(out_dir)
        return cls(out_dir, records)

    def unchanged(self, case_id: str, fingerprint: str, archive: str | None) -> BuiltRecord | None:
        """The record to skip ``case_id`` by, or None when it must be built."""
        rec = self.records.get(case_id)
        if rec is None or rec.fingerprint != fingerprint:
            return None
        if archive is not None and rec.archive != archive:
            return None
        packet = self.path.parent / rec.packet
        try:
            digest = hashlib.sha256(packet.read_bytes()).hexdigest()
        except OSError:
            return None
        return rec if digest == rec.sha256 else None

    def record(self, case_id: str, rec: BuiltRecord) -> None:
        self.records[case_id] = rec
        self.save()

    def save(self) -> None:
        doc = {"version": STATE_VERSION, "cases": {k: asdict(v) for k, v in sorted(self.records.items())}}
        replace_file(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8"))


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` for one batch.

    Raises:
        PacketizerError: code ``busy`` when another batch holds it.
    """
    import fcntl  # POSIX only; the batch engine runs on Linux and macOS

    fd = create_file(Path(out_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise PacketizerError("another batch is writing into this folder", code=ErrorCode.BUSY,
                                      subject=str(out_dir), noun="--out") from None
            raise
        yield
    finally:
        os.close(fd)  # closing releases the lock

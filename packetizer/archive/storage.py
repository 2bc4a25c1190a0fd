"""The archive storage interface (backends are picked from configuration in :mod:`.backends`).

Modelled on Warehouse's ``IFileStorage``: one interface whose methods carry
only docstrings, implementations chosen by configuration. Every backend must
pass ``tests/test_archive_storage.py``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ..errors import ErrorCode, NotFound, StorageError

#: Environment variable naming the archive: a folder path or ``s3://bucket/prefix``.

#: Longest key accepted; S3 allows 1024 bytes and every backend must agree.
MAX_KEY_LENGTH = 1024

# Segments may not start with "." so that "..", "." and backend temp files
# (".name.tmp") can never be named by a key.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")
_PREFIX_RE = re.compile(rf"^({_SEGMENT}/)*({_SEGMENT})?$")


@dataclass(frozen=True)
class PutResult:
    """What :meth:`Storage.put` did.

    Attributes:
        key: The object key.
        sha256: Hex SHA-256 of the stored bytes, as read back from the backend.
        size: Stored size in bytes.
        already_present: True when identical bytes were already stored (nothing written).
    """

    key: str
    sha256: str
    size: int
    already_present: bool


@dataclass(frozen=True)
class ObjectLock:
    """The WORM protection of one stored object.

    Attributes:
        mode: ``COMPLIANCE``, ``GOVERNANCE`` or None (no retention period).
        retain_until: End of the retention period (UTC), or None.
        legal_hold: Whether a legal hold is placed on the object.
    """

    mode: str | None
    retain_until: datetime | None
    legal_hold: bool


def _shown_key(key: str) -> str:
    return repr(key if len(key) <= 80 else key[:77] + "...")


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is a valid object key (see :func:`check_key`)."""
    return isinstance(key, str) and len(key) <= MAX_KEY_LENGTH and bool(_KEY_RE.match(key))


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise StorageError ``bad_key``.

    Keys are relative, '/'-separated, made of ``[A-Za-z0-9._-]``, with no empty,
    ``.`` or ``..`` segment and no segment starting with a dot.
    """
    if not is_valid_key(key):
        raise StorageError(f"archive key {_shown_key(str(key))} is not valid", code=ErrorCode.BAD_KEY)
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a valid key (``""`` lists everything)."""
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY_LENGTH or not _PREFIX_RE.match(prefix):
        raise StorageError(f"archive prefix {_shown_key(str(prefix))} is not valid", code=ErrorCode.BAD_KEY)
    return prefix


class Storage(abc.ABC):
    """Write-once object storage for archived packets.

    Keys are checked with :func:`check_key`. Objects are immutable: nothing a
    backend offers can replace or delete one.
    """

    @abc.abstractmethod
    def put(self, key: str, data: bytes, *, content_type: str) -> PutResult:
        """Store ``data`` under ``key`` unless it is already there.

        Identical bytes already stored are a no-op (``already_present=True``).
        The backend verifies what it wrote (read back and hashed) before it
        reports success.

        Raises:
            StorageError: code ``exists`` if the key holds different bytes;
                ``bad_key`` for an invalid key; ``write_failed`` if the read-back
                does not match.
        """

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``.

        Raises:
            NotFound: nothing is stored under ``key`` (the message names the key).
        """

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with ``prefix`` (a plain string prefix, as S3 does), sorted."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A human description safe to show, e.g. ``local folder /srv/archive``."""

    def lock_status(self, key: str) -> ObjectLock | None:
        """The retention and legal hold of the object under ``key``; None where the backend has no locks.

        Raises:
            NotFound: nothing is stored under ``key``.
        """
        check_key(key)
        if not self.exists(key):
            raise NotFound(f"no archived object {key} in {self.describe()}")
        return None

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Place (``on=True``) or lift a legal hold on the object under ``key``.

        Raises:
            StorageError: code ``unsupported`` where the backend (or bucket) has no
                legal holds; NotFound where it has them but nothing is stored under ``key``.
        """
        check_key(key)
        raise StorageError(
            f"legal holds need an S3 archive in a bucket with Object Lock; {self.describe()} has none",
            code=ErrorCode.UNSUPPORTED,
        )

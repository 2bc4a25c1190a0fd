"""Which archive backend a configuration names (as Warehouse picks its storage from settings).

A location is a folder path (:class:`~packetizer.archive.local.LocalStorage`) or
``s3://bucket/prefix`` (:class:`~packetizer.archive.s3.S3Storage`, imported only
when used). These are configuration loaders: the only archive code that reads
the environment, and only when a door asks it to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ErrorCode, StorageError
from .storage import Storage

ARCHIVE_ENV = "PACKETIZER_ARCHIVE"


def default_archive_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/packetizer/archive``, falling back to ``~/.local/share``."""
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "packetizer" / "archive"


def archive_location_from_environment(environ: Mapping[str, str]) -> str:
    """``$PACKETIZER_ARCHIVE``, else the local archive folder (:func:`default_archive_dir`)."""
    return environ.get(ARCHIVE_ENV) or str(default_archive_dir(environ))


def open_storage(location: str | None = None, *, environ: Mapping[str, str] | None = None) -> Storage:
    """Open the archive named by ``location``.

    Args:
        location: A folder path or ``s3://bucket/prefix``. When None or empty,
            ``$PACKETIZER_ARCHIVE`` is used, else :func:`default_archive_dir`.
        environ: Environment to read instead of ``os.environ``.

    Raises:
        StorageError: code ``unsupported`` for a location this version cannot open;
            ``bad_config`` for an invalid S3 location or ``PACKETIZER_S3_*`` setting.
    """
    env = os.environ if environ is None else environ
    location = location or env.get(ARCHIVE_ENV) or str(default_archive_dir(env))
    scheme, sep, _rest = location.partition("://")
    if not sep:
        from .local import LocalStorage  # deferred: local.py imports this module

        return LocalStorage(Path(location).expanduser())
    if scheme.lower() == "s3":
        from .s3 import S3Storage  # deferred: boto3 is imported only when an S3 archive is used

        return S3Storage.from_location(location, environ=env)
    raise StorageError(
        f"archive location scheme {scheme[:20]!r} is not supported (use a folder path or s3://bucket/prefix)",
        code=ErrorCode.UNSUPPORTED,
    )

"""The immutable packet archive: storage backends and the archive service over them.

Pick a backend with :func:`open_storage` (``PACKETIZER_ARCHIVE``: a folder, or
``s3://bucket/prefix`` for :class:`~packetizer.archive.s3.S3Storage`, imported
only when used), then use the service functions; none of them hold state.
Builds call :func:`archive_or_defer`, which keeps what could not be archived in
a local spool for :func:`retry_pending`.
"""

from .local import LocalStorage, write_new_file
from .pending import (
    SPOOL_ENV,
    ArchiveOutcome,
    PacketArchive,
    PendingEntry,
    RetryResult,
    archive_or_defer,
    default_spool_dir,
    list_pending,
    retry_pending,
)
from .service import (
    MANIFEST_OBJECT,
    PACKET_OBJECT,
    ArchivedVersion,
    PreparedVersion,
    Problem,
    archive_packet,
    check_id,
    check_month,
    check_sha_prefix,
    find_versions,
    get_version,
    hold_version,
    list_versions,
    manifest_bytes,
    prepare_version,
    retrieve_version,
    verify_version,
    version_prefix,
    write_version,
)
from .backends import ARCHIVE_ENV, archive_location_from_environment, default_archive_dir, open_storage
from .storage import ObjectLock, PutResult, Storage, check_key

__all__ = [
    "ARCHIVE_ENV",
    "MANIFEST_OBJECT",
    "PACKET_OBJECT",
    "SPOOL_ENV",
    "ArchiveOutcome",
    "ArchivedVersion",
    "LocalStorage",
    "ObjectLock",
    "PacketArchive",
    "PendingEntry",
    "PreparedVersion",
    "Problem",
    "PutResult",
    "RetryResult",
    "Storage",
    "archive_location_from_environment",
    "archive_or_defer",
    "archive_packet",
    "check_id",
    "check_key",
    "check_month",
    "check_sha_prefix",
    "default_archive_dir",
    "default_spool_dir",
    "find_versions",
    "get_version",
    "hold_version",
    "list_pending",
    "list_versions",
    "manifest_bytes",
    "open_storage",
    "prepare_version",
    "retrieve_version",
    "retry_pending",
    "verify_version",
    "version_prefix",
    "write_new_file",
    "write_version",
]

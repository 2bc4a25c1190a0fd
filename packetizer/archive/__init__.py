"""The immutable packet archive: storage backends and the archive service over them.

Pick a backend with :func:`open_storage` (``PACKETIZER_ARCHIVE``: a folder, or
``s3://bucket/prefix`` once the S3 backend lands), then use the service
functions; none of them hold state.
"""

from .local import LocalStorage, write_new_file
from .service import (
    MANIFEST_OBJECT,
    PACKET_OBJECT,
    ArchivedVersion,
    Problem,
    archive_packet,
    check_id,
    check_sha_prefix,
    find_versions,
    get_version,
    list_versions,
    manifest_bytes,
    retrieve_version,
    verify_version,
    version_prefix,
)
from .storage import ARCHIVE_ENV, PutResult, Storage, check_key, default_archive_dir, open_storage

__all__ = [
    "ARCHIVE_ENV",
    "MANIFEST_OBJECT",
    "PACKET_OBJECT",
    "ArchivedVersion",
    "LocalStorage",
    "Problem",
    "PutResult",
    "Storage",
    "archive_packet",
    "check_id",
    "check_key",
    "check_sha_prefix",
    "default_archive_dir",
    "find_versions",
    "get_version",
    "list_versions",
    "manifest_bytes",
    "open_storage",
    "retrieve_version",
    "verify_version",
    "version_prefix",
    "write_new_file",
]

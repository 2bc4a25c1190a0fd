"""One error hierarchy for the whole project, and the codes its errors carry.

Every error carries a stable :class:`ErrorCode` and a ``message`` that is safe
to show a user: it may name fields, files (by the name the user gave), limits
and case ids, but never PHI such as names, member ids, dates of birth or note
text. Doors (CLI, web, batch) turn these into their own kind of answer.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code an error carries; the values are part of the external contract (JSON, batch reports)."""

    PACKETIZER_ERROR = "packetizer_error"
    USAGE = "usage"
    CONFIG = "config"
    BUSY = "busy"
    OUT_DIR = "out_dir"
    # bad input: the case, its payer policy, its attachments, uploads
    BAD_CASE = "bad_case"
    BAD_POLICY = "bad_policy"
    UNKNOWN_PAYER = "unknown_payer"
    BLOCKED = "blocked"
    BAD_ATTACHMENT = "bad_attachment"
    LIMIT_EXCEEDED = "limit_exceeded"
    BAD_UPLOAD = "bad_upload"
    BAD_FOLDER = "bad_folder"
    OCR_FAILED = "ocr_failed"
    OCR_UNAVAILABLE = "ocr_unavailable"
    # disclosure: minimum necessary could not be guaranteed
    DISCLOSURE = "disclosure"
    REDACTION_FAILED = "redaction_failed"
    LEAK = "leak"
    LEAK_CHECK_FAILED = "leak_check_failed"
    BAD_REPORT = "bad_report"
    # making the packet
    RENDER = "render"
    ASSEMBLY = "assembly"
    # the archive and its spool
    STORAGE = "storage"
    NOT_FOUND = "not_found"
    INTEGRITY = "integrity"
    BAD_KEY = "bad_key"
    BAD_ID = "bad_id"
    BAD_MANIFEST = "bad_manifest"
    AMBIGUOUS = "ambiguous"
    EXISTS = "exists"
    UNSUPPORTED = "unsupported"
    READ_FAILED = "read_failed"
    WRITE_FAILED = "write_failed"
    ARCHIVE_FAILED = "archive_failed"
    SPOOL_FAILED = "spool_failed"
    SPOOL_DAMAGED = "spool_damaged"
    BAD_CONFIG = "bad_config"
    NO_CREDENTIALS = "no_credentials"
    UNREACHABLE = "unreachable"
    NO_BUCKET = "no_bucket"
    ACCESS_DENIED = "access_denied"
    S3_ERROR = "s3_error"
    # the web application's registry and accounts
    REGISTRY = "registry"
    ACCOUNT = "account"


class PacketizerError(Exception):
    """Root of every error Packetizer raises on purpose."""

    code: ErrorCode = ErrorCode.PACKETIZER_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class CaseError(PacketizerError):
    """The case file is missing, unreadable or invalid."""

    code = ErrorCode.BAD_CASE


class PolicyError(PacketizerError):
    """A payer policy file is missing or invalid."""

    code = ErrorCode.BAD_POLICY


class PolicyBlock(PacketizerError):
    """The case is blocked by the checks (triage, payer rules, validation)."""

    code = ErrorCode.BLOCKED

    def __init__(self, message: str, *, findings=None):
        super().__init__(message)
        self.findings = list(findings or [])


class DisclosureError(PacketizerError):
    """Minimum-necessary filtering or redaction could not be guaranteed."""

    code = ErrorCode.DISCLOSURE


class IngestError(PacketizerError):
    """An attachment could not be turned into exhibit pages."""

    code = ErrorCode.BAD_ATTACHMENT


class LimitExceeded(IngestError):
    """Input exceeds one of the named limits in :mod:`packetizer.limits`."""

    code = ErrorCode.LIMIT_EXCEEDED


class UploadError(PacketizerError):
    """An uploaded file was refused; the message names the file and the reason."""

    code = ErrorCode.BAD_UPLOAD


class RenderError(PacketizerError):
    """A template could not be rendered to PDF."""

    code = ErrorCode.RENDER


class AssemblyError(PacketizerError):
    """The packet could not be assembled from its parts."""

    code = ErrorCode.ASSEMBLY


class StorageError(PacketizerError):
    """The archive backend failed."""

    code = ErrorCode.STORAGE


class NotFound(StorageError):
    """The requested archived object does not exist."""

    code = ErrorCode.NOT_FOUND


class IntegrityError(StorageError):
    """An archived object does not match its recorded hash."""

    code = ErrorCode.INTEGRITY


class ConfigError(PacketizerError):
    """A configuration value is missing or malformed; the message names the setting."""

    code = ErrorCode.CONFIG


class RegistryError(PacketizerError):
    """The registry database cannot be opened or migrated."""

    code = ErrorCode.REGISTRY


class AccountError(PacketizerError):
    """A username, role or password is not acceptable; the message says why."""

    code = ErrorCode.ACCOUNT

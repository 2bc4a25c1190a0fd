"""One error hierarchy for the whole project, and the codes its errors carry.

Every error carries a stable :class:`ErrorCode` and a message that is safe to
show a user: it may name fields, files (by the name the user gave), limits and
case ids, but never PHI such as names, member ids, dates of birth or note text.

The message is put together from parts that stay apart on the error, so each
door (CLI, web, batch) can tell it its own way without cutting strings:

* ``detail``: the problem itself (``file not found``);
* ``subject``: the file or thing it is about, as the user named it
  (``notes/visit.pdf``), introduced by ``noun`` when the message has one
  (``manifest cases.csv``);
* ``field``: the case, form or JSON field it concerns (``attachments[0].file``).

``message`` (and ``str(error)``) reads ``<field>: <noun> <subject>: <detail>``,
each part only when present; ``told()`` gives it with the subject renamed (a
stored upload told by the name the user knows) or without the field (a form
shows the error beside the field, a batch row names the manifest column).
"""

from __future__ import annotations

import copy
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
    BAD_TRACKING = "bad_tracking"
    # remittance files (X12 835)
    BAD_REMITTANCE = "bad_remittance"


class PacketizerError(Exception):
    """Root of every error Packetizer raises on purpose.

    Args:
        detail: The problem, without the field or subject it is about.
        code: Overrides the class's code.
        field: The case, form or JSON field the problem concerns.
        subject: The file or thing the problem is about, as the user named it.
        noun: The word that introduces ``subject`` in the message (``manifest``).
        field_first: Whether the message starts with ``field``; false when the
            field only tells a door where to show the message (a field set
            after the error was made is never part of its message).
    """

    code: ErrorCode = ErrorCode.PACKETIZER_ERROR

    def __init__(self, detail: str, *, code: ErrorCode | None = None, field: str | None = None,
                 subject: str | None = None, noun: str | None = None, field_first: bool = True):
        self.detail = detail
        self.field = field
        self.subject = subject
        self.noun = noun
        self.field_first = field_first and field is not None
        if code:
            self.code = code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """What a user is shown: ``<field>: <noun> <subject>: <detail>``, each part only when present."""
        return self.told()

    def told(self, *, subject: str | None = None, beside_field: bool = False) -> str:
        """The message for one audience.

        Args:
            subject: Tell the subject by this name instead (the name a user
                knows for a stored upload); ignored when the error has none.
            beside_field: Leave out the field the message starts with, because
                the door shows the message beside that field.
        """
        parts = [self.field] if self.field_first and not beside_field else []
        if self.subject is not None:
            named = self.subject if subject is None else subject
            parts.append(f"{self.noun} {named}" if self.noun else named)
        parts.append(self.detail)
        return ": ".join(parts)

    def about(self, subject: str) -> "PacketizerError":
        """The same error told with ``subject`` as the name of its subject (when it has one)."""
        other = copy.copy(self)
        if other.subject is not None:
            other.subject = subject
        other.args = (other.message,)
        return other

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Pickled whole (a layout's error comes back from the render process, packetizer.renderproc):
        # rebuilding it from its message would tell the subject twice.
        return _rebuilt_error, (type(self), self.__dict__.copy())


def _rebuilt_error(kind: type, state: dict) -> PacketizerError:
    error = kind.__new__(kind)
    error.__dict__.update(state)
    error.args = (error.message,)
    return error


class CaseError(PacketizerError):
    """The case file is missing, unreadable or invalid.

    Args:
        problems: Every (field, detail) validation found, when it looked at the
            whole case; the message tells the first and counts the rest, a form
            shows each beside its field.
    """

    code = ErrorCode.BAD_CASE

    def __init__(self, detail: str, *, problems=(), **parts):
        super().__init__(detail, **parts)
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)


class PolicyError(PacketizerError):
    """A payer policy file is missing or invalid."""

    code = ErrorCode.BAD_POLICY


class PolicyBlock(PacketizerError):
    """The case is blocked by the checks (triage, payer rules, validation)."""

    code = ErrorCode.BLOCKED

    def __init__(self, detail: str, *, findings=None):
        super().__init__(detail)
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
    """An uploaded file was refused; the subject is the file's name, the detail the reason."""

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
    """A username, role or password is not acceptable; the field names which, the detail says why."""

    code = ErrorCode.ACCOUNT


class TrackingError(PacketizerError):
    """A submission, request for information, answer, determination or correction that cannot have happened
    (dates out of order or in the future, a second determination) or lacks what it needs (a reason for a
    correction); the field names the input, the detail says why in a user's words."""

    code = ErrorCode.BAD_TRACKING


class EraError(PacketizerError):
    """An X12 835 remittance file is not a well-formed 835 and was refused as a whole.

    The subject is the file's name as the user gave it; the detail names the segment by its number in the
    file (the ISA is segment 1) and the problem, never a value from the file (names, member ids and claim
    amounts are PHI or close to it).

    Args:
        segment: The number of the segment the problem was found at, or None for the file as a whole.
    """

    code = ErrorCode.BAD_REMITTANCE

    def __init__(self, detail: str, *, segment: int | None = None, **parts):
        super().__init__(detail, **parts)
        self.segment = segment

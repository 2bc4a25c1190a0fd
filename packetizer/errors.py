"""One error hierarchy for the whole project.

Every error carries a stable ``code`` and a ``message`` that is safe to show a
user: it may name fields, files (by the name the user gave), limits and case
ids, but never PHI such as names, member ids, dates of birth or note text.
Doors (CLI, web, batch) turn these into their own kind of answer.
"""

from __future__ import annotations


class PacketizerError(Exception):
    """Root of every error Packetizer raises on purpose."""

    code = "packetizer_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class CaseError(PacketizerError):
    """The case file is missing, unreadable or invalid."""

    code = "bad_case"


class PolicyError(PacketizerError):
    """A payer policy file is missing or invalid."""

    code = "bad_policy"


class PolicyBlock(PacketizerError):
    """The case is blocked by the checks (triage, payer rules, validation)."""

    code = "blocked"

    def __init__(self, message: str, *, findings=None):
        super().__init__(message)
        self.findings = list(findings or [])


class DisclosureError(PacketizerError):
    """Minimum-necessary filtering or redaction could not be guaranteed."""

    code = "disclosure"


class IngestError(PacketizerError):
    """An attachment could not be turned into exhibit pages."""

    code = "bad_attachment"


class LimitExceeded(IngestError):
    """Input exceeds one of the named limits in :mod:`packetizer.limits`."""

    code = "limit_exceeded"


class RenderError(PacketizerError):
    """A template could not be rendered to PDF."""

    code = "render"


class AssemblyError(PacketizerError):
    """The packet could not be assembled from its parts."""

    code = "assembly"


class StorageError(PacketizerError):
    """The archive backend failed."""

    code = "storage"


class NotFound(StorageError):
    """The requested archived object does not exist."""

    code = "not_found"


class IntegrityError(StorageError):
    """An archived object does not match its recorded hash."""

    code = "integrity"

"""Where a case sits in its manifest, so every message can name the line and the column or field."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CaseError
from ..model import Case

# Case fields (as caseio/checks name them) -> the CSV column that feeds them.
_FIELD_COLUMNS = {
    "case_id": "case_id", "payer_id": "payer_id",
    "member": "member_id", "member.member_id": "member_id", "member.first_name": "first_name",
    "member.last_name": "last_name", "member.dob": "dob",
    "claim": "claim_number", "claim.claim_number": "claim_number", "claim.denial_date": "denial_date",
    "claim.denial_codes": "denial_codes",
    "rendering_provider": "rendering_name", "rendering_provider.name": "rendering_name",
    "rendering_provider.npi": "rendering_npi",
    "referring_provider": "referring_name", "referring_provider.name": "referring_name",
    "referring_provider.npi": "referring_npi",
    "late_reason": "late_reason_category", "late_reason.category": "late_reason_category",
    "late_reason.explanation": "late_reason_explanation", "medical_necessity": "medical_necessity",
    "contact": "contact_phone", "contact.name": "contact_name", "contact.phone": "contact_phone",
    "contact.email": "contact_email",
}
_INDEXED = re.compile(r"^(services|attachments)\[(\d+)\](?:\.([a-z_]+))?")


@dataclass(frozen=True)
class Locator:
    """Where a case came from in the manifest, to name lines and columns in messages.

    Attributes:
        lines: Manifest line numbers of the case (CSV rows, a JSONL line, a JSON item's first line).
        csv: True for CSV manifests (fields are named by column).
        service_lines: CSV: line of each service line, in case order.
        attachment_sources: CSV: (line, column) that listed each attachment, in case order.
    """

    lines: tuple[int, ...]
    csv: bool = False
    service_lines: tuple[int, ...] = ()
    attachment_sources: tuple[tuple[int, str], ...] = ()

    @property
    def label(self) -> str:
        """``line 5`` or ``lines 5, 6, 9``."""
        if len(self.lines) == 1:
            return f"line {self.lines[0]}"
        return "lines " + ", ".join(map(str, self.lines))

    def where(self, case_field: str | None) -> str:
        """Name the manifest place of a case field such as ``services[1].diagnosis_codes[0]``."""
        first = self.lines[0] if self.lines else 0
        if not case_field:
            return f"line {first}" if self.csv else self.label
        if not self.csv:
            return f"line {first}, {case_field}"
        match = _INDEXED.match(case_field)
        if match:
            index = int(match[2])
            if match[1] == "services" and index < len(self.service_lines):
                return f"line {self.service_lines[index]}, column {match[3] or 'code'}"
            if match[1] == "attachments" and index < len(self.attachment_sources):
                line, column = self.attachment_sources[index]
                return f"line {line}, column {column}"
            return f"line {first}"
        column = _FIELD_COLUMNS.get(case_field.split("[")[0])
        return f"line {first}, column {column}" if column else f"line {first}, {case_field}"


@dataclass(frozen=True)
class ManifestEntry:
    """One case of a manifest: a loaded :class:`Case`, or the reason it could not be loaded.

    Attributes:
        locator: Where the case sits in the manifest.
        case_id: The case id as written (None when the row has none).
        case: The validated case, or None when ``error`` is set.
        error: A user-safe message naming line and column/field, or None.
    """

    locator: Locator
    case_id: str | None
    case: Case | None = None
    error: str | None = None

    @property
    def lines(self) -> tuple[int, ...]:
        return self.locator.lines


def manifest_error(name: str, detail: str) -> CaseError:
    """A problem with the manifest ``name`` as a whole: ``manifest <name>: <detail>``."""
    return CaseError(detail, subject=name, noun="manifest")


def located_message(locator: Locator, case_field: str | None, message: str) -> str:
    """``message`` (told beside ``case_field``, so without it) prefixed with its manifest line and column."""
    return f"{locator.where(case_field)}: {message}"



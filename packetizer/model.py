"""The domain: frozen dataclasses that flow through the pipeline."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

LATE_REASON_WORDS = {
    "payer_portal_outage": "the payer's authorization portal was unavailable",
    "coverage_discovered_after_service": "the patient's coverage with this plan was discovered only after the service",
    "emergency": "the service was delivered as an emergency",
    "eligibility_unverifiable": "eligibility could not be verified before the service",
    "retroactive_eligibility": "the patient's eligibility was granted retroactively",
    "administrative_error": "an administrative error in the practice",
    "other": "another reason, explained below",
}

ATTACHMENT_KIND_WORDS = {
    "clinical_note": "Clinical note",
    "evaluation": "Evaluation",
    "plan_of_care": "Plan of care",
    "imaging": "Imaging report",
    "lab": "Laboratory result",
    "referral": "Referral",
    "order": "Order",
    "correspondence": "Correspondence",
    "denial_letter": "Denial letter",
    "psychotherapy_note": "Psychotherapy note",
    "substance_use_record": "Substance use disorder record",
    "other": "Supporting document",
}


@dataclass(frozen=True)
class Member:
    member_id: str
    first_name: str
    last_name: str
    dob: dt.date

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Claim:
    claim_number: str | None = None
    denial_codes: tuple[str, ...] = ()
    denial_date: dt.date | None = None


@dataclass(frozen=True)
class ServiceLine:
    code: str
    start: dt.date
    end: dt.date
    place_of_service: str | None = None
    modifiers: tuple[str, ...] = ()
    units: float | int = 1
    diagnosis_codes: tuple[str, ...] = ()
    description: str | None = None
    discharge_date: dt.date | None = None

    @property
    def is_span(self) -> bool:
        return self.start != self.end


@dataclass(frozen=True)
class Provider:
    name: str
    npi: str | None = None


@dataclass(frozen=True)
class LateReason:
    category: str
    explanation: str
    evidence: str | None = None

    @property
    def in_words(self) -> str:
        return LATE_REASON_WORDS[self.category]


@dataclass(frozen=True)
class TimelineEvent:
    date: dt.date
    event: str


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str | None = None
    fax: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Attachment:
    file: str           # as written in the case file (relative path)
    path: Path          # resolved, inside the case folder
    kind: str
    date: dt.date
    title: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or ATTACHMENT_KIND_WORDS[self.kind]

    @property
    def label(self) -> str:
        """How a person names the document: its title, kind and date, or (untitled) its kind and date."""
        described = f"{ATTACHMENT_KIND_WORDS[self.kind]}, {self.date:%m/%d/%Y}"
        return f"{self.title} ({described})" if self.title else described


DECISION_WORDS = {"denied": "denied", "partially_approved": "partially approved"}


@dataclass(frozen=True)
class PriorRequest:
    """The retro request already sent and the payer's decision on it (SPEC section 10)."""

    submitted: dt.date | None = None
    reference: str | None = None
    decision: str | None = None          # denied | partially_approved
    decision_date: dt.date | None = None
    reason: str | None = None            # the payer's own words
    denial_codes: tuple[str, ...] = ()

    @property
    def decision_words(self) -> str:
        return DECISION_WORDS.get(self.decision or "", "decided")


@dataclass(frozen=True)
class Appeal:
    """The appeal of that decision: the argument (one paragraph a point), the level, what is asked for."""

    argument: str = ""
    level: int = 1
    requested: str | None = None

    @property
    def points(self) -> tuple[str, ...]:
        """The rebuttal point by point: one point per paragraph (or per line of a list)."""
        blocks = [b for b in re.split(r"\n\s*\n", self.argument) if b.strip()]
        if len(blocks) == 1:
            lines = [ln for ln in blocks[0].splitlines() if ln.strip()]
            if len(lines) > 1 and all(re.match(r"\s*(?:[-*\u2022]|\d+[.)])\s+", ln) for ln in lines):
                blocks = lines
        return tuple(" ".join(re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s+", "", b).split()) for b in blocks)


@dataclass(frozen=True)
class Consents:
    psychotherapy_notes: bool = False
    part2_records: bool = False


@dataclass(frozen=True)
class Case:
    case_id: str
    payer_id: str
    member: Member
    services: tuple[ServiceLine, ...]
    rendering_provider: Provider
    late_reason: LateReason
    medical_necessity: str
    contact: Contact
    claim: Claim | None = None
    referring_provider: Provider | None = None
    facility: Provider | None = None
    timeline: tuple[TimelineEvent, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    consents: Consents = Consents()
    prior_request: PriorRequest | None = None
    appeal: Appeal | None = None
    base_dir: Path = Path(".")
    # The case exactly as given (after scalar normalisation), for the
    # disclosure filter and the input hashes; never printed into a packet.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def first_date_of_service(self) -> dt.date:
        return min(s.start for s in self.services)

    @property
    def last_date_of_service(self) -> dt.date:
        return max(s.end for s in self.services)


@dataclass(frozen=True)
class Window:
    days: int
    count: str          # calendar | business
    start_from: str     # date_of_service | denial_date | discharge_date | decision_date (appeals)


@dataclass(frozen=True)
class AppealPolicy:
    """How the payer takes an appeal of a denied retro request (policy ``appeal``)."""

    allowed: bool
    window: Window | None = None
    channel: str | None = None
    address: str | None = None
    levels: int = 1


@dataclass(frozen=True)
class PayerPolicy:
    id: str
    name: str
    retro_allowed: bool
    source_title: str
    source_effective: dt.date | None = None
    categories: tuple[str, ...] | None = None
    window: Window | None = None
    channel: str | None = None
    address: str | None = None
    required_documents: tuple[str, ...] = ()
    follow_up_days: int | None = None
    max_pages: int | None = None
    max_file_mb: float | None = None
    include_fields: tuple[str, ...] = ()
    relevance_window_days: int = 30
    notes: str | None = None
    appeal: AppealPolicy | None = None     # None: the policy does not say how appeals go
    era_payer_ids: tuple[str, ...] = ()     # payer ids on its 835 remittances (N1*PR XV/PI, REF*2U, TRN03)
    path: Path | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

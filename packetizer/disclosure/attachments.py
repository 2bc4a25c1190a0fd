"""Which attachments reach the packet (SPEC section 4, "Attachments").

Withheld, in this order of reasons:
- psychotherapy notes without ``consents.psychotherapy_notes`` (45 CFR 164.508(a)(2));
- substance use disorder records without ``consents.part2_records`` (42 CFR Part 2);
- documents dated further than the payer's ``relevance_window_days`` from every
  date of service (a service span counts from its first to its last day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..model import ATTACHMENT_KIND_WORDS, Attachment, Case, PayerPolicy

PSYCHOTHERAPY = "psychotherapy_note_without_authorization"
PART2 = "part2_record_without_consent"
OUT_OF_WINDOW = "outside_relevance_window"


@dataclass(frozen=True)
class WithheldAttachment:
    """An attachment kept out of the packet, named by position, kind and date (file names often hold names)."""

    index: int           # 0-based position in case.attachments
    kind: str
    date: dt.date
    reason: str          # stable code
    reason_text: str     # the reason in words

    @property
    def field(self) -> str:
        return f"attachments[{self.index}]"

    def describe(self) -> str:
        return f"{self.field} ({ATTACHMENT_KIND_WORDS[self.kind].lower()} dated {self.date.isoformat()})"

    def to_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "kind": self.kind, "date": self.date.isoformat(),
                "reason": self.reason, "reason_text": self.reason_text}


def sort_attachments(case: Case, policy: PayerPolicy) -> tuple[tuple[tuple[int, Attachment], ...], tuple[WithheldAttachment, ...]]:
    """Split the case's attachments into (index, attachment) included, and withheld records."""
    included, withheld = [], []
    for index, att in enumerate(case.attachments):
        reason = _reason(att, case, policy)
        if reason is None:
            included.append((index, att))
        else:
            withheld.append(WithheldAttachment(index, att.kind, att.date, *reason))
    return tuple(included), tuple(withheld)


def days_from_service(att_date: dt.date, case: Case) -> int:
    """Days between ``att_date`` and the nearest date of service (0 inside a span)."""
    best = None
    for line in case.services:
        if line.start <= att_date <= line.end:
            return 0
        gap = (line.start - att_date).days if att_date < line.start else (att_date - line.end).days
        best = gap if best is None else min(best, gap)
    return best if best is not None else 0


def _reason(att: Attachment, case: Case, policy: PayerPolicy) -> tuple[str, str] | None:
    if att.kind == "psychotherapy_note" and not case.consents.psychotherapy_notes:
        return PSYCHOTHERAPY, (
            "psychotherapy notes need the patient's specific authorization (45 CFR 164.508(a)(2)), "
            "and consents.psychotherapy_notes is not true"
        )
    if att.kind == "substance_use_record" and not case.consents.part2_records:
        return PART2, (
            "substance use disorder records need the patient's written consent under 42 CFR Part 2, "
            "and consents.part2_records is not true"
        )
    window = policy.relevance_window_days
    gap = days_from_service(att.date, case)
    # The payer's own denial letter is dated after the request by nature: never withheld for its date.
    if gap > window and att.kind != "denial_letter":
        return OUT_OF_WINDOW, (
            f"dated {gap} days from the nearest date of service; this payer's relevance window is {window} days"
        )
    return None

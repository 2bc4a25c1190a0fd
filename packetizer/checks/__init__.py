"""Checks before a packet is built (SPEC section 2): triage, payer rules, validation.

``run_checks(case, policy, today=...)`` is the one entry point every door uses
(``packetizer check``, ``build``, batch, web). It reads nothing but the case,
the policy and the sizes of the attachment files, and returns a
:class:`CheckResult`: blocking findings (the case is not ready) and warnings.

Every finding has a stable ``code`` (listed in the README, "Checks before building"), a
``field`` path such as ``services[1].diagnosis_codes[0]`` and a message a
billing specialist can act on. Messages never carry PHI: no member name,
member id or date of birth, and attachments are named by their position,
kind and date rather than their file name (file names often hold names).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from ..errors import PolicyBlock
from ..model import Case, PayerPolicy


@dataclass(frozen=True)
class Finding:
    """One problem found in a case: a stable code, a message and the field it concerns.

    ``detail`` is set when the message starts with ``<field>: ``: it is the
    message without that start, for doors that show the field apart.
    """

    code: str
    message: str
    field: str | None = None
    detail: str | None = None

    @classmethod
    def at_field(cls, code: str, detail: str, field: str) -> "Finding":
        """A finding whose message reads ``<field>: <detail>``."""
        return cls(code, f"{field}: {detail}", field, detail)

    def told(self, *, beside_field: bool = False) -> str:
        """The message, without the field it starts with when the field is shown beside it."""
        return self.detail if beside_field and self.detail is not None else self.message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}


@dataclass
class Findings:
    """Collects findings while the checks run, sorted into blocking and warnings."""

    blocking: list[Finding] = dataclasses.field(default_factory=list)
    warnings: list[Finding] = dataclasses.field(default_factory=list)

    def block(self, code: str, message: str, field: str | None = None) -> None:
        self.blocking.append(Finding(code, message, field))

    def block_at(self, code: str, detail: str, field: str) -> None:
        """Block with a message that reads ``<field>: <detail>``."""
        self.blocking.append(Finding.at_field(code, detail, field))

    def warn(self, code: str, message: str, field: str | None = None) -> None:
        self.warnings.append(Finding(code, message, field))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`run_checks`; ``ready`` is true when nothing blocks."""

    ready: bool
    triage: str
    deadline: dt.date | None
    days_left: int | None
    channel: str | None
    blocking: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    kind: str = "request"                  # request | appeal: what a build of the case would send
    appeal_reported: bool = False          # the case carries the payer's decision (prior_request.decision)
    appeal_deadline: dt.date | None = None
    appeal_days_left: int | None = None
    appeal_channel: str | None = None

    def to_dict(self) -> dict:
        """The SPEC section 2 JSON object (``schemas/check-result.schema.json``)."""
        return {
            "ready": self.ready,
            "triage": self.triage,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "days_left": self.days_left,
            "channel": self.channel,
            **({"appeal_deadline": self.appeal_deadline.isoformat() if self.appeal_deadline else None,
                "appeal_days_left": self.appeal_days_left,
                "appeal_channel": self.appeal_channel} if self.appeal_reported else {}),
            "blocking": [f.to_dict() for f in self.blocking],
            "warnings": [f.to_dict() for f in self.warnings],
        }


# The submodules import Finding/Findings from this package, so they are
# imported only after those classes exist.
from .deadlines import Deadline, compute_deadline, days_left_words, describe_window  # noqa: E402
from .rules import OVERRIDABLE_CODES, channel_limit_findings, check_payer_rules  # noqa: E402
from .triage import triage_claim  # noqa: E402
from .appeals import appeal_deadline, check_appeal, has_decision  # noqa: E402
from .validation import check_fields  # noqa: E402


def run_checks(case: Case, policy: PayerPolicy, *, today: dt.date, kind: str = "request") -> CheckResult:
    """Run triage, payer rules and field validation for ``case`` under ``policy``.

    Args:
        case: the loaded :class:`~packetizer.model.Case`.
        policy: the payer's :class:`~packetizer.model.PayerPolicy`.
        today: the date deadlines and "in the future" are judged against.
        kind: ``request`` (the retro request) or ``appeal`` (an appeal of the payer's decision on it:
            the appeal window and rules replace the retro window; ``deadline`` is the appeal's).

    Returns:
        The :class:`CheckResult`; ``ready`` is false when any finding blocks.
    """
    if kind not in ("request", "appeal"):
        raise ValueError(f"kind must be 'request' or 'appeal', not {kind!r}")
    out = Findings()
    triage = triage_claim(case.claim, out)
    deadline = check_payer_rules(case, policy, today, out, request_deadline=kind == "request")
    appeal = None
    if kind == "appeal":
        appeal = check_appeal(case, policy, today, out)
        deadline = appeal
    elif has_decision(case):
        appeal = appeal_deadline(case, policy)
    check_fields(case, policy, today, out)
    appeal_channel = policy.appeal.channel if policy.appeal and policy.appeal.allowed else None
    return CheckResult(
        ready=not out.blocking,
        triage=triage,
        deadline=deadline.date if deadline else None,
        days_left=(deadline.date - today).days if deadline else None,
        channel=appeal_channel if kind == "appeal" else policy.channel,
        blocking=tuple(out.blocking),
        warnings=tuple(out.warnings),
        kind=kind,
        appeal_reported=kind == "appeal" or has_decision(case),
        appeal_deadline=appeal.date if appeal else None,
        appeal_days_left=(appeal.date - today).days if appeal else None,
        appeal_channel=appeal_channel,
    )


def finding_lines(findings) -> str:
    """One ``[code] field: message`` line per finding."""
    return "\n".join(f"[{f.code}] {f.field + ': ' if f.field else ''}{f.told(beside_field=True)}" for f in findings)


def blocked_error(result: CheckResult) -> PolicyBlock:
    """A :class:`~packetizer.errors.PolicyBlock` carrying ``result``'s blocking findings."""
    summary = f"the case is blocked by {len(result.blocking)} finding(s):\n" + finding_lines(result.blocking)
    return PolicyBlock(summary, findings=result.blocking)


__all__ = [
    "CheckResult",
    "Deadline",
    "Finding",
    "Findings",
    "OVERRIDABLE_CODES",
    "blocked_error",
    "channel_limit_findings",
    "compute_deadline",
    "days_left_words",
    "describe_window",
    "finding_lines",
    "run_checks",
]

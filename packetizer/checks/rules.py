"""Payer-rule findings: retro allowed, late-reason category, deadline, documents, channel limits.

Every message about a payer rule names where the rule comes from (the policy
name, its source title and effective date) so staff can look it up.
"""

from __future__ import annotations

import datetime as dt

from . import Finding, Findings
from ..model import LATE_REASON_WORDS, Case, PayerPolicy
from .deadlines import Deadline, add_days, days_left_words, describe_window, window_anchor
from .validation import KIND_WORDS, attachment_words, consent_missing, is_relevant

# A deadline this close (in calendar days) is a warning.
NEAR_DEADLINE_DAYS = 3

# Blocking findings that staff may override with a recorded justification
# (build --override-reason): the payer's rules and the triage table are
# judgements a person can overrule after talking to the payer. Validation
# findings are facts about the case file and must be fixed in it.
OVERRIDABLE_CODES = frozenset({
    "retro_not_allowed",
    "category_not_accepted",
    "deadline_passed",
    "appeal_not_allowed",
    "appeal_deadline_passed",
    "triage_eligibility",
    "triage_coding",
})

CHANNEL_WORDS = {"fax": "fax", "portal": "the payer's portal", "mail": "mail", "appeal": "the appeal process"}

_MB = 1024 * 1024
_TOO_BIG = "Ask the payer how to send a larger submission, or split it."


def source_citation(policy: PayerPolicy) -> str:
    """``source: Provider manual 4.2, effective 2026-01-01`` (messages name the policy itself)."""
    effective = f", effective {policy.source_effective.isoformat()}" if policy.source_effective else ""
    return f"source: {policy.source_title}{effective}"


def channel_words(policy: PayerPolicy) -> str:
    """How to send, e.g. ``fax (+1-800-555-0199)``."""
    if not policy.channel:
        return "the payer's channel"
    how = CHANNEL_WORDS.get(policy.channel, policy.channel)
    return f"{how} ({policy.address})" if policy.address else how


def check_payer_rules(case: Case, policy: PayerPolicy, today: dt.date, out: Findings, *,
                      request_deadline: bool = True) -> Deadline | None:
    """Apply ``policy`` to ``case``, adding findings to ``out``; returns the deadline when one applies.

    ``request_deadline=False`` (an appeal: the request was already sent) leaves the retro window out.
    """
    cite = source_citation(policy)
    deadline = None
    if not policy.retro_allowed:
        out.block(
            "retro_not_allowed",
            f"{policy.name} does not accept retro-authorization requests ({cite}). Use the payer's post-service "
            "route (claim appeal or request for payment) instead, unless the payer has confirmed an exception.",
            "payer_id",
        )
    else:
        _check_category(case, policy, cite, out)
        if policy.window is not None and request_deadline:
            deadline = _check_deadline(case, policy, today, cite, out)
    _check_required_documents(case, policy, cite, out)
    _check_file_sizes(case, policy, cite, out)
    return deadline


def _check_category(case: Case, policy: PayerPolicy, cite: str, out: Findings) -> None:
    category = case.late_reason.category
    if policy.categories is None or category in policy.categories:
        return
    accepted = "; ".join(f"{c} ({LATE_REASON_WORDS[c]})" for c in policy.categories) or "none"
    out.block(
        "category_not_accepted",
        f"{policy.name} accepts a retro request only when prior authorization was missed for one of these "
        f"reasons: {accepted}. This case's late_reason.category is {category} ({LATE_REASON_WORDS[category]}), "
        f"which the payer does not accept ({cite}).",
        "late_reason.category",
    )


def _check_deadline(case: Case, policy: PayerPolicy, today: dt.date, cite: str, out: Findings) -> Deadline | None:
    window = policy.window
    anchor = window_anchor(case, window)
    rule = describe_window(window)
    if anchor.date is None:
        out.warn(
            "deadline_unknown",
            f"{policy.name} counts its retro window as {rule}, but the case has no {anchor.missing}, so no "
            f"deadline can be computed yet. Add it when known ({cite}).",
            anchor.field,
        )
        return None
    deadline = Deadline(add_days(anchor.date, window.days, window.count), anchor.date, anchor.field, window)
    days_left = (deadline.date - today).days
    basis = f"{rule} ({deadline.start.isoformat()}, {deadline.start_field})"
    if days_left < 0:
        late = -days_left
        out.block(
            "deadline_passed",
            f"The {policy.name} retro-authorization deadline was {deadline.date.isoformat()}: {basis}. Today is "
            f"{today.isoformat()}, {late} day{'s' if late != 1 else ''} late ({cite}).",
            deadline.start_field,
        )
    elif days_left <= NEAR_DEADLINE_DAYS:
        when = days_left_words(days_left)
        out.warn(
            "deadline_near",
            f"The {policy.name} retro-authorization deadline is {deadline.date.isoformat()} ({when}): {basis}. "
            f"Send it by {channel_words(policy)} now ({cite}).",
            deadline.start_field,
        )
    return deadline


def _check_required_documents(case: Case, policy: PayerPolicy, cite: str, out: Findings) -> None:
    window = policy.relevance_window_days
    for kind in dict.fromkeys(policy.required_documents):
        present = [(i, att) for i, att in enumerate(case.attachments) if att.kind == kind]
        if any(is_relevant(att, case, policy) and not consent_missing(att, case) for _, att in present):
            continue
        words = KIND_WORDS[kind]
        if not present:
            why = f"none is attached. Add one to attachments with kind: {kind}"
        else:
            reasons = []
            for i, att in present:
                consent = consent_missing(att, case)
                if consent:
                    reasons.append(f"{attachment_words(i, att)} will be withheld because consents.{consent} is "
                                   "not true")
                else:
                    reasons.append(f"{attachment_words(i, att)} is more than {window} days from every date of "
                                   "service and will be withheld")
            why = "; ".join(reasons)
        out.block(
            "required_document_missing",
            f"{policy.name} requires a {words} with a retro request ({cite}): {why}.",
            "attachments",
        )


def _check_file_sizes(case: Case, policy: PayerPolicy, cite: str, out: Findings) -> None:
    if not policy.max_file_mb:
        return
    limit = policy.max_file_mb * _MB
    for i, att in enumerate(case.attachments):
        if consent_missing(att, case) or not is_relevant(att, case, policy):
            continue  # withheld from the packet, so its size does not matter
        try:
            size = att.path.stat().st_size
        except OSError:
            out.warn("attachment_unreadable", f"{attachment_words(i, att)} cannot be read any more; check the file.",
                     f"attachments[{i}].file")
            continue
        if size > limit:
            out.warn(
                "attachment_too_large",
                f"{attachment_words(i, att)} is {size / _MB:.1f} MB, more than the {policy.max_file_mb:g} MB "
                f"{policy.name} accepts by {channel_words(policy)} ({cite}); the packet will be larger still. "
                "Ask the payer how to send large records, or use a smaller scan.",
                f"attachments[{i}].file",
            )


def channel_limit_findings(policy: PayerPolicy, pages: int, size_bytes: int) -> list[Finding]:
    """Warnings when a built packet exceeds the payer channel's page or file-size limit."""
    cite = source_citation(policy)
    found = []
    if policy.max_pages and pages > policy.max_pages:
        found.append(Finding(
            "packet_too_many_pages",
            f"The packet has {pages} pages, more than the {policy.max_pages} pages {policy.name} "
            f"accepts by {channel_words(policy)} ({cite}). {_TOO_BIG}",
            None,
        ))
    if policy.max_file_mb and size_bytes > policy.max_file_mb * _MB:
        found.append(Finding(
            "packet_too_large",
            f"The packet is {size_bytes / _MB:.1f} MB, more than the {policy.max_file_mb:g} MB "
            f"{policy.name} accepts by {channel_words(policy)} ({cite}). {_TOO_BIG}",
            None,
        ))
    return found

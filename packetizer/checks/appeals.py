"""Appeal findings (SPEC section 10): may the payer's decision still be appealed, by when, and how.

A case that carries the payer's decision on its retro request (``prior_request.decision``) gets an
appeal deadline from the policy's ``appeal`` section, counted the way retro windows are (see
:mod:`packetizer.checks.deadlines`; ``from: decision_date`` starts at ``prior_request.decision_date``).
``packetizer check`` only reports it; ``build --kind appeal`` is blocked, like a request, when the
policy allows no appeal or the window has passed (staff may override both with a recorded reason),
and when the case lacks what an appeal letter must say.
"""

from __future__ import annotations

import datetime as dt

from . import Findings
from ..model import Case, PayerPolicy
from .deadlines import Deadline, add_days, days_left_words, describe_window, window_anchor
from .rules import CHANNEL_WORDS, NEAR_DEADLINE_DAYS, source_citation


def has_decision(case: Case) -> bool:
    """True when the case records the payer's decision on its retro request."""
    return case.prior_request is not None and case.prior_request.decision is not None


def appeal_channel_words(policy: PayerPolicy) -> str:
    """How to send an appeal, e.g. ``mail (Appeals, PO Box 1, ...)``."""
    ap = policy.appeal
    if ap is None or not ap.channel:
        return "the payer's appeal channel"
    how = CHANNEL_WORDS.get(ap.channel, ap.channel)
    return f"{how} ({ap.address})" if ap.address else how


def appeal_deadline(case: Case, policy: PayerPolicy) -> Deadline | None:
    """The last day the payer takes an appeal of the decision, or None (no appeal, no rule, no date)."""
    ap = policy.appeal
    if ap is None or not ap.allowed or ap.window is None:
        return None
    anchor = window_anchor(case, ap.window)
    if anchor.date is None:
        return None
    return Deadline(add_days(anchor.date, ap.window.days, ap.window.count), anchor.date, anchor.field, ap.window)


def check_appeal(case: Case, policy: PayerPolicy, today: dt.date, out: Findings) -> Deadline | None:
    """The findings that stop (or warn about) an appeal build of ``case``; returns its deadline."""
    cite = source_citation(policy)
    ap = policy.appeal
    prior = case.prior_request
    if not has_decision(case):
        out.block_at("appeal_no_decision", "an appeal needs the payer's decision on the request: add it "
                     "(denied or partially approved, with its date and the payer's reason)", "prior_request.decision")
        return None
    for name, words in (("decision_date", "the date of the payer's decision"),
                        ("reason", "the payer's reason for the decision, in the payer's words")):
        if getattr(prior, name) is None:
            out.block_at("appeal_incomplete", f"an appeal letter quotes {words}: add it", f"prior_request.{name}")
    if case.appeal is None or not case.appeal.points:
        out.block_at("appeal_incomplete", "an appeal letter rebuts the payer's reason point by point: add the "
                     "argument", "appeal.argument")
    if ap is None or not ap.allowed:
        said = "does not accept appeals of retro-authorization decisions" if ap else \
            "has no appeal rules on file (its policy has no appeal section)"
        out.block("appeal_not_allowed", f"{policy.name} {said} ({cite}). Call the payer before sending an appeal.",
                  "payer_id")
        return None
    level = case.appeal.level if case.appeal else 1
    if level > ap.levels:
        out.block_at("appeal_level_not_allowed", f"{policy.name} allows {ap.levels} level"
                     f"{'s' if ap.levels != 1 else ''} of appeal; this would be level {level} ({cite})", "appeal.level")
    if ap.window is None:
        return None
    deadline = appeal_deadline(case, policy)
    rule = describe_window(ap.window)
    if deadline is None:
        missing = window_anchor(case, ap.window)
        out.warn("appeal_deadline_unknown", f"{policy.name} counts its appeal window as {rule}, but the case has "
                 f"no {missing.missing}, so no appeal deadline can be computed yet ({cite}).", missing.field)
        return None
    days_left = (deadline.date - today).days
    basis = f"{rule} ({deadline.start.isoformat()}, {deadline.start_field})"
    if days_left < 0:
        late = -days_left
        out.block("appeal_deadline_passed", f"The {policy.name} appeal deadline was {deadline.date.isoformat()}: "
                  f"{basis}. Today is {today.isoformat()}, {late} day{'s' if late != 1 else ''} late ({cite}).",
                  deadline.start_field)
    elif days_left <= NEAR_DEADLINE_DAYS:
        out.warn("appeal_deadline_near", f"The {policy.name} appeal deadline is {deadline.date.isoformat()} "
                 f"({days_left_words(days_left)}): {basis}. Send it by {appeal_channel_words(policy)} now ({cite}).",
                 deadline.start_field)
    return deadline

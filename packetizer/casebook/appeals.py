"""Appeals of a denied retro request (SPEC section 10), as the web app tracks them.

The case file holds the appeal: ``prior_request`` (the decision it contests, in the payer's words) and
``appeal`` (the argument and the level). Staff prepare it from the determination recorded in tracking:
:func:`appeal_defaults` pre-fills the form, :func:`with_appeal` writes what they confirmed into the case
mapping. Levels follow one another: once a level-N appeal was sent and the payer decided against it
again, the next appeal is level N + 1, as far as the policy's ``levels`` goes.

:func:`appeal_due` is the appeal deadline of a recorded adverse decision, counted like any window
(:mod:`packetizer.checks.deadlines`); the follow-up queue lists it beside the request deadlines.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from ..checks.deadlines import add_days
from ..errors import PacketizerError
from ..model import Case, PayerPolicy
from ..registry import CaseRecord, Determination, Submission

#: Determinations a payer can be asked to reconsider.
ADVERSE = ("denied", "partially_approved")


@dataclass(frozen=True)
class RecordedDecision:
    """The newest current adverse determination of a case and the submission it decided."""

    submission: Submission
    determination: Determination


def recorded_decision(record: CaseRecord) -> RecordedDecision | None:
    """The decision an appeal contests: the newest submission's current determination, when it is adverse."""
    current = record.current_submissions
    if not current:
        return None
    decided = current[-1].current_determination
    if decided is None or decided.determination not in ADVERSE:
        return None
    return RecordedDecision(current[-1], decided)


def allowed_levels(policy: PayerPolicy) -> int:
    """How many appeal levels the payer's policy allows (0: no appeal, or no rules on file)."""
    return policy.appeal.levels if policy.appeal is not None and policy.appeal.allowed else 0


def appeal_due(policy: PayerPolicy, decided_on: dt.date, first_date_of_service: dt.date,
               denial_date: dt.date | None = None) -> dt.date | None:
    """The last day to appeal a decision of ``decided_on`` under the policy, or None (no appeal, no rule)."""
    rules = policy.appeal
    if rules is None or not rules.allowed or rules.window is None:
        return None
    start = {"decision_date": decided_on, "date_of_service": first_date_of_service,
             "denial_date": denial_date}[rules.window.start_from]
    return None if start is None else add_days(start, rules.window.days, rules.window.count)


def queue_appeal_due(payers, cases_dir, record, decided) -> dt.date | None:
    """The appeal deadline of a case's recorded adverse decision, as the follow-up queue lists it (web and
    ``packetizer followups``): its payer's policy, counted from the date the policy names (the claim's
    denial date is read from the case file, where only it is kept). None: no appeal, or no way to count."""
    from .cases import case_folder

    try:
        policy = payers.get(record.payer_id)
    except PacketizerError:
        return None
    denial_date = None
    if policy.appeal is not None and policy.appeal.window is not None and policy.appeal.window.start_from == "denial_date":
        try:
            claim = case_folder(cases_dir, record).read().get("claim") or {}
            denial_date = dt.date.fromisoformat(str(claim.get("denial_date")))
        except (PacketizerError, ValueError, AttributeError):
            return None
    return appeal_due(policy, decided.decided_on, record.first_date_of_service, denial_date)


def appeal_defaults(case: Case, decision: RecordedDecision, policy: PayerPolicy) -> dict[str, Any]:
    """The Prepare-appeal form's values: the case file's appeal when it is about this decision, else the
    recorded determination (and the next level when the case file's appeal was about an earlier one)."""
    det, sub = decision.determination, decision.submission
    prior, appeal = case.prior_request, case.appeal
    same = (prior is not None and prior.decision_date == det.decided_on
            and (prior.reference or None) == (sub.reference or None))
    stored_level = appeal.level if appeal is not None else 0
    if same:
        level = max(stored_level, 1)
    else:
        # an earlier appeal in the case file was sent (this decision came after it): the next level
        level = stored_level + 1 if prior is not None and prior.decision_date and prior.decision_date < det.decided_on \
            else 1
    level = min(level, max(allowed_levels(policy), 1))
    codes = prior.denial_codes if same and prior else (case.claim.denial_codes if case.claim else ())
    return {
        "decision": prior.decision if same and prior.decision else det.determination,
        "decision_date": det.decided_on,
        "submitted": sub.submitted_on,
        "reference": sub.reference or "",
        "reason": (prior.reason if same and prior.reason else det.reason) or "",
        "denial_codes": " ".join(codes),
        "argument": appeal.argument if same and appeal else "",
        "requested": (appeal.requested or "") if same and appeal else "",
        "level": level,
    }


def with_appeal(doc: Mapping[str, Any], *, decision: str, decision_date: dt.date, submitted: dt.date | None,
                reference: str | None, reason: str, denial_codes: list[str], argument: str, level: int,
                requested: str | None) -> dict:
    """The case mapping with ``prior_request`` and ``appeal`` replaced by what staff confirmed."""
    out = copy.deepcopy(dict(doc))
    prior: dict[str, Any] = {"decision": decision, "decision_date": decision_date.isoformat(), "reason": reason}
    if submitted is not None:
        prior["submitted"] = submitted.isoformat()
    if reference:
        prior["reference"] = reference
    if denial_codes:
        prior["denial_codes"] = denial_codes
    out["prior_request"] = prior
    out["appeal"] = {"argument": argument, "level": level, **({"requested": requested} if requested else {})}
    return out


@dataclass(frozen=True)
class AppealStatus:
    """What the case page shows about appealing a recorded adverse decision."""

    decision: RecordedDecision
    levels: int                      # levels the policy allows (0: no appeal, or no rules on file)
    deadline: dt.date | None
    days_left: int | None
    prepared: bool                   # the case file's appeal is about this very decision
    level: int                       # the prepared level, else the level an appeal would be
    check: Any = None                # the appeal build's checks (a CheckResult) once prepared


def appeal_status(record: CaseRecord, case: Case, policy: PayerPolicy, *, today: dt.date) -> AppealStatus | None:
    """The appeal of the case's recorded adverse decision, or None when there is no such decision."""
    from ..checks import run_checks

    decision = recorded_decision(record)
    if decision is None:
        return None
    defaults = appeal_defaults(case, decision, policy)
    prior = case.prior_request
    prepared = (prior is not None and prior.decision is not None and case.appeal is not None
                and prior.decision_date == decision.determination.decided_on
                and (prior.reference or None) == (decision.submission.reference or None))
    check = run_checks(case, policy, today=today, kind="appeal") if prepared else None
    if check is not None:
        due = check.deadline
    else:
        due = appeal_due(policy, decision.determination.decided_on, case.first_date_of_service,
                         case.claim.denial_date if case.claim else None)
    return AppealStatus(decision=decision, levels=allowed_levels(policy), deadline=due,
                        days_left=None if due is None else (due - today).days, prepared=prepared,
                        level=defaults["level"], check=check)

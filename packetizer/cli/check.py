"""``packetizer check CASE``: triage, payer rules and validation before a build (SPEC section 2).

Exit status: 0 ready, 1 blocked or bad input (``error: ...`` on stderr), 2 usage error.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from ..caseio import load_case
from ..checks import CheckResult, Finding, compute_deadline, days_left_words, describe_window
from ..checks.appeals import appeal_channel_words
from ..checks.rules import channel_words
from ..errors import CaseError, PacketizerError
from ..model import Case, PayerPolicy
from ..pipeline import check_case
from ..policy import load_payer
from .common import CommandFailure, payers_option, today_option


@click.command("check")
@click.argument("case_file", metavar="CASE", type=click.Path(dir_okay=False))
@today_option
@payers_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of readable text.")
def check(case_file: str, today: dt.date | None, payers_dir: str | None, as_json: bool) -> None:
    """Check CASE before building: triage, payer rules, deadline and field validation.

    Exits 0 when the case is ready and 1 when something blocks it.
    """
    today = today or dt.date.today()
    try:
        case = load_case(case_file)
        policy = load_payer(case.payer_id, payers_dir)
        # The case file and the payer's rules only: attachments are sized, not read. Scans and
        # pictures are read by OCR when the packet is built, and only the build knows which pages
        # OCR could not read reliably (page_not_checked in its warnings and disclosure report).
        result = check_case(case, policy, today=today)
    except CaseError as exc:
        raise CommandFailure(case_error_text(exc)) from None
    except PacketizerError as exc:
        raise CommandFailure(exc.message) from None
    except OSError as exc:
        raise CommandFailure(f"{exc.strerror or exc}") from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_text(case, policy, result, today))
    if not result.ready:
        click.get_current_context().exit(1)


def case_error_text(exc: CaseError) -> str:
    """The case error's message, then every field it found wrong or missing on a line of its own.

    A draft from a remittance (``era import --drafts``) lacks several fields at once; staff see them all.
    """
    if len(exc.problems) <= 1:
        return exc.message
    return exc.message + "".join(f"\n  - {field}: {detail}" for field, detail in exc.problems)


def render_text(case: Case, policy: PayerPolicy, result: CheckResult, today: dt.date) -> str:
    """The readable report: status, triage, deadline, channel, then findings."""
    status = "READY" if result.ready else "BLOCKED"
    lines = [
        f"{status}: case {case.case_id}, payer {policy.id} ({policy.name})",
        f"  triage:   {result.triage}",
        f"  deadline: {_deadline_text(case, policy, result)}",
        f"  channel:  {channel_words(policy) if policy.channel else 'none (no retro path)'}",
        f"  today:    {today.isoformat()}",
    ]
    if result.appeal_reported:
        lines[-1:-1] = [f"  appeal:   {_appeal_text(case, policy, result)}"]
    for title, findings in (("Blocking", result.blocking), ("Warnings", result.warnings)):
        if findings:
            lines.append("")
            lines.append(f"{title} ({len(findings)}):")
            lines.extend(_finding_text(f) for f in findings)
    return "\n".join(lines)


def _deadline_text(case: Case, policy: PayerPolicy, result: CheckResult) -> str:
    if result.deadline is None:
        return "none" if policy.window is None or not policy.retro_allowed else "unknown (see warnings)"
    when = days_left_words(result.days_left)
    deadline = compute_deadline(case, policy.window)
    basis = f"; {describe_window(policy.window)}, {deadline.start.isoformat()}" if deadline else ""
    return f"{result.deadline.isoformat()} ({when}{basis})"


def _appeal_text(case: Case, policy: PayerPolicy, result: CheckResult) -> str:
    """The appeal deadline and channel of a case that carries the payer's decision."""
    ap = policy.appeal
    if ap is None:
        return f"{policy.name} has no appeal rules on file"
    if not ap.allowed:
        return f"{policy.name} does not accept appeals"
    if result.appeal_deadline is None:
        return f"deadline unknown (the case lacks the date its window counts from); by {appeal_channel_words(policy)}"
    basis = f"; {describe_window(ap.window)}" if ap.window else ""
    return (f"deadline {result.appeal_deadline.isoformat()} ({days_left_words(result.appeal_days_left)}{basis}); "
            f"by {appeal_channel_words(policy)}; up to {ap.levels} level{'s' if ap.levels != 1 else ''}")


def _finding_text(finding: Finding) -> str:
    where = f"  [{finding.field}]" if finding.field else ""
    return f"  - {finding.code}{where}\n      {finding.message}"

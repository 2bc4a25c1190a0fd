"""``packetizer followups``: what is due today and what is overdue, from the web application's registry.

It reads the same configuration as the web app (``PACKETIZER_DATABASE_URL``, the
instance folder), like ``packetizer users``. It prints case ids, payers, due
dates and what is due: never a member's name or id, never a payer reference.
"""

from __future__ import annotations

import json

import click

from .common import reports_errors


@click.command("followups")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines of text.")
@reports_errors
def followups(as_json: bool) -> None:
    """List the follow-ups, answers owed to payers, deadlines to submit by and appeal deadlines due today or overdue.

    A follow-up falls due at the payer's interval after the submission, and again after each request for more
    information is answered. Case ids only: no patient data is printed.
    """
    from ..casebook.appeals import queue_appeal_due
    from ..casebook.tracking import follow_up_queue
    from .web import _app, _registry_and_now

    app = _app()
    registry, _now = _registry_and_now(app)
    services = app.extensions["packetizer"]
    today = services.today()
    payers = services.payers()

    def appeal_due_of(case, decided):
        return queue_appeal_due(payers, services.cases_dir, case, decided)

    with registry.session() as session:
        items = follow_up_queue(session, today, horizon_days=0, appeal_due_of=appeal_due_of)
    overdue = [i for i in items if i.overdue]
    due_today = [i for i in items if not i.overdue]
    if as_json:
        click.echo(json.dumps({"today": today.isoformat(), "overdue": [_entry(i) for i in overdue],
                               "due_today": [_entry(i) for i in due_today]}, indent=2))
        return
    if not items:
        click.echo(f"Nothing is due or overdue ({today.isoformat()}).")
        return
    for title, group in ((f"Overdue ({len(overdue)})", overdue), (f"Due today, {today.isoformat()} ({len(due_today)})",
                                                                   due_today)):
        if not group:
            continue
        click.echo(title)
        for item in group:
            late = f"overdue by {-item.days_left} day{'s' if item.days_left != -1 else ''}" if item.overdue else "today"
            click.echo(f"  {item.due.isoformat()}  {late:<18} {item.case_id}  {item.payer_id}  {item.label}"
                       f" ({item.basis})")


def _entry(item) -> dict:
    return {"case_id": item.case_id, "payer_id": item.payer_id, "due": item.due.isoformat(),
            "days_overdue": max(0, -item.days_left), "what": item.what, "what_words": item.label,
            "counts_from": item.basis}

"""This test ensures that ``packetizer followups`` lists, from the registry the web app uses, what is due today and
what is overdue (follow-ups at the payer's interval after the submission and after each answered request for
information, answers owed to payers, deadlines to submit by), as text and as JSON, with case ids and no patient
data."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from click.testing import CliRunner

from packetizer.casebook.audit import Actor
from packetizer.casebook.tracking import (answer_info_request, record_determination, record_info_request,
                                          record_submission)
from packetizer.cli import main
from packetizer.registry import Build, CaseRecord, open_registry

SAM = Actor("sam", "staff", "127.0.0.1")
NOW = dt.datetime.now(dt.timezone.utc)


def _seed(url: str, today: dt.date) -> None:
    def ago(days: int) -> dt.date:
        return today - dt.timedelta(days=days)

    registry = open_registry(url)
    with registry.session() as session:
        def case(case_id: str, *, deadline=None, build=True) -> CaseRecord:
            row = CaseRecord(case_id=case_id, payer_id="demo-commercial", folder=secrets.token_hex(8),
                             first_date_of_service=ago(60), deadline=deadline, ready=True,
                             late_reason_category="emergency", service_codes="97110", status="ready",
                             member_first_name="Ana", member_last_name="Ortiz", member_id="XJH123456789",
                             created_at=NOW, created_by="sam", updated_at=NOW, updated_by="sam")
            session.add(row)
            session.flush()
            if build:
                row.builds.append(Build(created_at=NOW - dt.timedelta(days=90), built_by="web:sam", folder="x",
                                        file_name="p.pdf", report_name="r.json", report_html_name="r.html",
                                        sha256="0" * 64, size=1, pages=1))
                session.flush()
            return row

        def send(row: CaseRecord, days_ago: int):
            return record_submission(session, row, build_id=row.builds[0].id, submitted_on=ago(days_ago),
                                     channel="fax", reference="REF-SECRET-1", follow_up_days=10, actor=SAM, now=NOW,
                                     today=today)

        send(case("FU-OVERDUE"), 12)                     # follow up 2 days ago
        send(case("FU-TODAY"), 10)                       # follow up today
        answered = send(case("FU-ANSWERED"), 20)         # would be 10 days late, but the payer asked for more
        request = record_info_request(session, answered, requested_on=ago(15), due_on=ago(8), note=None, actor=SAM,
                                      now=NOW, today=today)
        answer_info_request(session, request, responded_on=ago(5), actor=SAM, now=NOW, today=today)  # due in 5
        asked = send(case("FU-ASKED"), 12)               # an answer owed since yesterday
        record_info_request(session, asked, requested_on=ago(4), due_on=ago(1), note=None, actor=SAM, now=NOW,
                            today=today)
        send(case("FU-LATER"), 3)                        # follow up in a week
        case("FU-UNSENT", deadline=today, build=False)   # submit by today
        denied = send(case("FU-APPEAL"), 70)             # denied 60 days ago: the appeal window ends today
        record_determination(session, denied, determination="denied", decided_on=ago(60), reason=None, actor=SAM,
                             now=NOW, today=today)
        session.commit()
    registry.close()


def test_followups_lists_what_is_due_today_and_overdue(web_env):
    runner = CliRunner()
    today = dt.date.today()
    _seed(web_env["PACKETIZER_DATABASE_URL"], today)
    result = runner.invoke(main, ["followups"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Overdue (2)"
    assert "FU-OVERDUE" in lines[1] and "overdue by 2 days" in lines[1] and "Follow up with the payer" in lines[1]
    assert "(after the submission)" in lines[1]
    assert "FU-ASKED" in lines[2] and "overdue by 1 day " in lines[2]
    assert "Send the information the payer asked for" in lines[2]
    assert lines[3] == f"Due today, {today.isoformat()} (3)"
    assert {line.split()[2] for line in lines[4:]} == {"FU-APPEAL", "FU-TODAY", "FU-UNSENT"}
    assert "Send the appeal (the payer's appeal window)" in result.output
    for absent in ("FU-ANSWERED", "FU-LATER", "Ana", "Ortiz", "XJH123456789", "REF-SECRET-1"):
        assert absent not in result.output

    answer = json.loads(runner.invoke(main, ["followups", "--json"]).output)
    assert answer["today"] == today.isoformat()
    assert [(e["case_id"], e["what"], e["days_overdue"]) for e in answer["overdue"]] == [
        ("FU-OVERDUE", "follow_up", 2), ("FU-ASKED", "info_request", 1)]
    assert sorted((e["case_id"], e["what"], e["due"]) for e in answer["due_today"]) == [
        ("FU-APPEAL", "appeal_by", today.isoformat()), ("FU-TODAY", "follow_up", today.isoformat()),
        ("FU-UNSENT", "submit_by", today.isoformat())]
    assert set(answer["overdue"][0]) == {"case_id", "payer_id", "due", "days_overdue", "what", "what_words",
                                         "counts_from"}


def test_a_follow_up_falls_due_again_after_an_answered_request(web_env):
    """Ten days after the information was sent, the answered case is due, and says what it counts from."""
    today = dt.date.today()
    _seed(web_env["PACKETIZER_DATABASE_URL"], today - dt.timedelta(days=5))  # everything five days older
    answer = json.loads(CliRunner().invoke(main, ["followups", "--json"]).output)
    entry = next(e for e in answer["due_today"] if e["case_id"] == "FU-ANSWERED")
    assert entry["counts_from"] == f"after the information sent on {(today - dt.timedelta(days=10)).isoformat()}"


def test_nothing_due_is_said_plainly(web_env):
    open_registry(web_env["PACKETIZER_DATABASE_URL"]).close()
    result = CliRunner().invoke(main, ["followups"])
    assert result.exit_code == 0 and result.output.startswith("Nothing is due or overdue")
    assert "followups" in CliRunner().invoke(main, ["--help"]).output

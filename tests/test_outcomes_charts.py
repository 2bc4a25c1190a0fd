"""This test ensures that every figure on the Outcomes page (each bar of each chart, requests and appeals apart, and
the time to decision) equals a total computed straight from the registry's rows with SQL, and that the CSV export
holds the same decisions with formula cells escaped."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
import xml.etree.ElementTree as ET
from collections import Counter

from sqlalchemy import select, text

from packetizer.casebook.audit import Actor
from packetizer.casebook.outcomes import DECISION_BUCKETS, NOT_NAMED, outcome_chart, outcome_patterns, outcomes_csv, \
    outcome_records
from packetizer.casebook.tracking import (BilledLine, correct_determination, correct_submission, record_determination,
                                          record_submission)
from packetizer.registry import AuditEntry, Build, CaseRecord, Determination, Submission

from browser.registry_support import NOW

SVG = "{http://www.w3.org/2000/svg}"
TODAY = dt.date(2026, 10, 20)
SAM = Actor("sam", "staff", "127.0.0.1")
D = dt.date


def _case(session, case_id, payer, reason, facility, provider, lines) -> CaseRecord:
    case = CaseRecord(case_id=case_id, payer_id=payer, folder=secrets.token_hex(8), first_date_of_service=D(2026, 8, 1),
                      ready=True, late_reason_category=reason, service_codes=" ".join(sorted({c for c, _ in lines})),
                      facility_name=facility, rendering_provider=provider, status="ready", created_at=NOW,
                      created_by="sam", updated_at=NOW, updated_by="sam")
    session.add(case)
    session.flush()
    return case


def _send(session, case, on, *, name="RETRO-AUTH.pdf", channel="fax") -> Submission:
    build = Build(case_pk=case.id, created_at=dt.datetime(2026, 8, 1, 12, tzinfo=dt.timezone.utc), built_by="web:sam",
                  folder="x", file_name=name, report_name="r.json", report_html_name="r.html", sha256="0" * 64,
                  size=1, pages=1)
    session.add(build)
    case.builds.append(build)
    session.flush()
    return record_submission(session, case, build_id=build.id, submitted_on=on, channel=channel, reference=None,
                             follow_up_days=10, actor=SAM, now=NOW, today=TODAY)


def _decide(session, sub, lines, outcome, on, units=None) -> Determination:
    return record_determination(session, sub, determination=outcome, decided_on=on, reason=None, actor=SAM, now=NOW,
                                today=TODAY, billed=[BilledLine(c, u) for c, u in lines], approved_units=units)


def seed(session) -> None:
    """Requests and appeals, split decisions, corrections and a decision dated before its submission."""
    lines = [("97110", 4.0), ("97140", 2.0)]
    c1 = _case(session, "OC-1", "demo-commercial", "payer_portal_outage", "Uptown", "Lake Street PT", lines)
    _decide(session, _send(session, c1, D(2026, 9, 1)), lines, "partially_approved", D(2026, 9, 11), [2, 2])

    lines = [("97110", 3.0)]
    c2 = _case(session, "OC-2", "demo-commercial", "emergency", None, "Lake Street PT", lines)
    first = _decide(session, _send(session, c2, D(2026, 9, 5)), lines, "approved", D(2026, 9, 25))
    session.flush()
    correct_determination(session, first, outcome="denied", decided_on=D(2026, 9, 26), reason=None,
                          correction_reason="misread", actor=SAM, now=NOW, today=TODAY,
                          billed=[BilledLine("97110", 3.0)])

    lines = [("97162", 1.0), ("97110", 2.0)]
    c3 = _case(session, "OC-3", "priority-health", "emergency", "Downtown", "River Clinic", lines)
    _decide(session, _send(session, c3, D(2026, 9, 2)), lines, "denied", D(2026, 9, 9))
    appeal = _send(session, c3, D(2026, 10, 1), name="APPEAL_priority-health_OC-3_2026-08-01.pdf", channel="mail")
    _decide(session, appeal, lines, "partially_approved", D(2026, 10, 15), [1, 2])
    lines = [("97530", 1.0)]
    c7 = _case(session, "OC-7", "priority-health", "emergency", "Downtown", "River Clinic", lines)
    _decide(session, _send(session, c7, D(2026, 9, 20), channel="appeal"), lines, "denied", D(2026, 9, 30))

    # A remittance's case-level partial approval, dated (before dates were checked) before its submission.
    c4 = _case(session, "OC-4", "priority-health", "administrative_error", "Downtown", "=HYPERLINK(\"x\")",
               [("97110", 1.0), ("97530", 1.0)])
    sub = _send(session, c4, D(2026, 9, 10))
    sub.determinations.append(Determination(determination="partially_approved", decided_on=D(2026, 9, 8),
                                            recorded_at=NOW, recorded_by="sam"))
    c5 = _case(session, "OC-5", "hometown-health", "emergency", None, "Lake Street PT", [("97110", 1.0)])
    _send(session, c5, D(2026, 10, 1))                                   # awaiting a decision

    lines = [("97140", 2.0)]
    c6 = _case(session, "OC-6", "hometown-health", "coverage_discovered_after_service", "Uptown", "Lake Street PT",
               lines)
    sent = _send(session, c6, D(2026, 9, 3))
    _decide(session, sent, lines, "denied", D(2026, 9, 14))
    session.flush()
    correct_submission(session, sent, build_id=sent.build_id, submitted_on=D(2026, 9, 4), channel="fax",
                       reference=None, follow_up_days=10, correction_reason="sent a day later", actor=SAM, now=NOW,
                       today=TODAY)
    session.commit()


CURRENT = ("FROM determinations d JOIN submissions s ON s.id = d.submission_id JOIN cases c ON c.id = s.case_pk "
           "JOIN builds b ON b.id = s.build_id WHERE d.superseded_at IS NULL AND s.superseded_at IS NULL")
APPEAL = "(s.channel = 'appeal' OR b.file_name LIKE 'APPEAL\\_%' ESCAPE '\\')"


def sql_totals(session, kind: str) -> dict:
    """Each chart's counts, computed from the rows with SQL alone: {chart: {label: Counter(outcome)}}."""
    where = f" AND {APPEAL}" if kind == "appeal" else f" AND NOT {APPEAL}"
    totals: dict = {name: {} for name in ("payer", "service", "reason", "facility", "provider")}
    rows = session.execute(text(
        "SELECT d.id, d.determination, c.payer_id, c.late_reason_category, c.facility_name, c.rendering_provider, "
        f"c.service_codes, s.submitted_on, d.decided_on {CURRENT}{where}")).all()
    days = []
    for _id, outcome, payer, reason, facility, provider, _codes, submitted, decided in rows:
        for name, label in (("payer", payer), ("reason", reason), ("facility", facility or NOT_NAMED),
                            ("provider", provider or NOT_NAMED)):
            totals[name].setdefault(label, Counter())[outcome] += 1
        submitted, decided = (v if isinstance(v, dt.date) else D.fromisoformat(v) for v in (submitted, decided))
        if decided >= submitted:
            days.append((decided - submitted).days)
    lined = session.execute(text(
        f"SELECT d.id, l.code, l.outcome FROM determination_lines l JOIN determinations d2 ON d2.id = l.determination_id "
        f"JOIN (SELECT d.id {CURRENT}{where}) d ON d.id = d2.id")).all()
    for _id, code, outcome in lined:     # every code is on one line of a decision here
        totals["service"].setdefault(code, Counter())[outcome] += 1
    with_lines = {row[0] for row in lined}
    for determination_id, outcome, *_rest, codes, _s, _d in rows:
        if determination_id not in with_lines:
            for code in codes.split():
                totals["service"].setdefault(code, Counter())[outcome] += 1
    totals["days"] = sorted(days)
    totals["decided"] = len(rows)
    return totals


def _bars(svg_markup: str) -> dict:
    svg = ET.fromstring(svg_markup)
    return {g.get("data-label"): Counter({k: int(g.get(a)) for k, a in (
        ("approved", "data-approved"), ("partially_approved", "data-partial"), ("denied", "data-denied"))
        if int(g.get(a))}) for g in svg.iter(f"{SVG}g")}


def _as_counts(table: dict) -> dict:
    return {label: +counter for label, counter in table.items()}


def test_each_chart_figure_equals_the_total_computed_from_the_rows(registry):
    with registry.session() as session:
        seed(session)
    with registry.session() as session:
        patterns = outcome_patterns(session)
        for kind, part in (("request", patterns.requests), ("appeal", patterns.appeals)):
            expected = sql_totals(session, kind)
            for name, rows in (("payer", part.by_payer), ("service", part.by_service),
                               ("reason", part.by_late_reason), ("facility", part.by_facility),
                               ("provider", part.by_provider)):
                assert _bars(str(outcome_chart(rows, name))) == _as_counts(expected[name]), (kind, name)
            assert list(part.decision_days) == expected["days"]
            assert part.decided == expected["decided"]
        assert patterns.pending == 1
    # What the rows say, written out: the split decision counts 97110 partial and 97140 approved, not both
    # partial; the corrected decision counts once, as corrected; the appeals are apart.
    assert {r.label: (r.approved, r.partially_approved, r.denied) for r in patterns.requests.by_service} == {
        "97110": (0, 2, 2), "97140": (1, 0, 1), "97162": (0, 0, 1), "97530": (0, 1, 0)}
    assert {r.label: (r.approved, r.partially_approved, r.denied) for r in patterns.appeals.by_service} == {
        "97110": (1, 0, 0), "97162": (1, 0, 0), "97530": (0, 0, 1)}
    assert patterns.requests.decision_days == (7, 10, 10, 21) and patterns.requests.out_of_order == 1
    assert patterns.appeals.decision_days == (10, 14) and patterns.requests.decided == 5


def test_the_outcomes_page_and_its_csv_show_the_same_totals(app, staff):
    with app.extensions["packetizer"].registry.session() as session:
        seed(session)
    html = staff.get("/tracking/outcomes").get_data(as_text=True)
    assert "5 requests and 2 appeals decided; 1 awaiting a decision" in html
    assert "1 decision is dated before its submission and left out of the time to decision" in html
    with app.extensions["packetizer"].registry.session() as session:
        for kind, key in (("request", "requests"), ("appeal", "appeals")):
            expected = sql_totals(session, kind)
            for name in ("payer", "service", "reason", "facility", "provider"):
                figure = re.search(rf'<figure id="chart-{key}-{name}">(.*?)</figure>', html, re.S)[1]
                assert _bars(figure) == _as_counts(expected[name]), (kind, name)
            figure = ET.fromstring(re.search(rf'<figure id="chart-{key}-time">(.*?)</figure>', html, re.S)[1])
            counts = {g.get("data-label"): int(g.get("data-count")) for g in figure.iter(f"{SVG}g")}
            assert counts == {label: sum(1 for d in expected["days"] if d >= low and (high is None or d <= high))
                              for low, high, label in DECISION_BUCKETS}

    response = staff.get("/tracking/outcomes.csv")
    assert response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="outcomes_\d{4}-\d{2}-\d{2}\.csv"',
                        response.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    with app.extensions["packetizer"].registry.session() as session:
        decided = session.execute(text(f"SELECT c.case_id, d.decided_on, d.determination {CURRENT}")).all()
        assert {(r["case_id"], r["decided_on"], r["case_determination"]) for r in rows} == {
            (case_id, str(on), outcome) for case_id, on, outcome in decided}
        assert len(decided) == 7
        assert sum(1 for r in rows if r["kind"] == "appeal") == 3  # OC-3: two codes, OC-7: one
        split = {r["service_code"]: r for r in rows if r["case_id"] == "OC-1"}
        assert (split["97110"]["outcome"], split["97110"]["units_approved"], split["97110"]["units_billed"]) == (
            "partially_approved", "2", "4")
        assert split["97140"]["outcome"] == "approved"
        late = [r for r in rows if r["case_id"] == "OC-4"]
        assert {r["rendering_provider"] for r in late} == {"'=HYPERLINK(\"x\")"}   # escaped, not a formula
        assert {r["days_to_decision"] for r in late} == {""}                     # out of order: no time told
        [audit] = session.scalars(select(AuditEntry).where(AuditEntry.action == "outcomes.export")).all()
        assert json.loads(audit.detail)["rows"] == len(rows) and audit.actor == "sam"


def test_every_csv_cell_a_spreadsheet_would_run_is_escaped(registry):
    with registry.session() as session:
        seed(session)
        case = session.scalars(select(CaseRecord).where(CaseRecord.case_id == "OC-1")).one()
        case.facility_name, case.late_reason_category = "+cmd|' /C calc'!A0", "@SUM(1+1)"
        session.commit()
        rows = list(csv.reader(io.StringIO(outcomes_csv(outcome_records(session)))))
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    oc1 = [row for row in rows if row[0] == "OC-1"]
    assert {row[3] for row in oc1} == {"'+cmd|' /C calc'!A0"} and {row[5] for row in oc1} == {"'@SUM(1+1)"}

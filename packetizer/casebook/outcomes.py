"""Outcome patterns: how payers decided, counted from the registry, the charts that show them, and the CSV export.

:func:`outcome_records` reads every current determination of every current
submission (a corrected submission or determination counts as corrected, never
twice) as one :class:`OutcomeRecord` per service code: a determination recorded
line by line gives each code the outcome of its own lines (all approved:
approved, all denied: denied, else partially approved), so a partial approval no
longer counts against every code on the claim; a determination without lines (one
read from a remittance that did not tell them, or recorded before lines existed)
gives every code of the case its one value.

:func:`outcome_patterns` counts those records by payer, service code,
late-reason category, facility and rendering provider, requests and appeals
apart. A submission is an **appeal** when it was sent through the ``appeal``
channel or the packet sent is an appeal packet (its file name starts with
``APPEAL_``, as ``build --kind appeal`` names it); every other submission is a
request. Time to decision counts each decision once, and only when it is dated
on or after its submission (a record made before dates were checked may be out
of order until someone corrects it: it is left out, and counted as such).

The charts are drawn on the server as SVG: no script, no inline style, nothing
fetched. Each chart is an ``<svg>`` element with presentation attributes only
(the Content-Security-Policy forbids inline styles) and a ``<title>`` per bar so
a pointer or a screen reader gives the exact numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from ..batch.report import escape_cell
from ..model import LATE_REASON_WORDS
from ..registry import DETERMINATIONS, CaseRecord, Submission
from .tracking import case_status, derived_determination, latest_submission, tracked_cases

#: What a submission is, for the outcome breakdowns.
KINDS = ("request", "appeal")
#: The prefix of an appeal packet's file name (``build --kind appeal``).
APPEAL_PACKET_PREFIX = "APPEAL_"
#: Shown for a case whose row does not name a facility or rendering provider.
NOT_NAMED = "(not named)"


def is_appeal(submission: Submission) -> bool:
    """Whether the submission appealed a decision: sent through the appeal channel, or an appeal packet sent."""
    build = submission.build
    return submission.channel == "appeal" or (build is not None and build.file_name.startswith(APPEAL_PACKET_PREFIX))


@dataclass(frozen=True)
class OutcomeRecord:
    """One decided submission's outcome for one service code, with what it is broken down by."""

    case_id: str
    kind: str                    # request | appeal
    payer_id: str
    facility: str
    rendering_provider: str
    late_reason: str
    code: str
    outcome: str                 # the code's outcome on this decision
    units_billed: float | None   # None when the decision was not recorded line by line
    units_approved: float | None
    determination: str           # the decision's case-level value
    submitted_on: dt.date
    decided_on: dt.date
    determination_id: int

    @property
    def days(self) -> int:
        return (self.decided_on - self.submitted_on).days


def outcome_records(session: Session, cases: Iterable[CaseRecord] | None = None) -> list[OutcomeRecord]:
    """Every current determination of every current submission, one record per service code, by case id."""
    out: list[OutcomeRecord] = []
    for case in tracked_cases(session) if cases is None else cases:
        for submission in case.current_submissions:
            decided = submission.current_determination
            if decided is None:
                continue
            if decided.lines:
                by_code: dict[str, list] = {}
                for line in decided.lines:
                    by_code.setdefault(line.code, []).append(line)
                codes = {code: (derived_determination(l.outcome for l in lines),
                                sum(l.units_billed for l in lines), sum(l.units_approved for l in lines))
                         for code, lines in by_code.items()}
            else:
                codes = {code: (decided.determination, None, None) for code in case.service_codes.split()}
            for code in sorted(codes):
                outcome, billed, approved = codes[code]
                out.append(OutcomeRecord(
                    case.case_id, "appeal" if is_appeal(submission) else "request", case.payer_id,
                    case.facility_name or NOT_NAMED, case.rendering_provider or NOT_NAMED, case.late_reason_category,
                    code, outcome, billed, approved, decided.determination, submission.submitted_on,
                    decided.decided_on, decided.id))
    return sorted(out, key=lambda r: (r.case_id, r.decided_on, r.determination_id, r.code))


@dataclass(frozen=True)
class OutcomeRow:
    """Determinations counted for one payer, service code, late-reason category, facility or provider."""

    label: str
    approved: int = 0
    partially_approved: int = 0
    denied: int = 0

    @property
    def total(self) -> int:
        return self.approved + self.partially_approved + self.denied

    @property
    def approval_rate(self) -> float:
        """Approved share, counting a partial approval as half."""
        return (self.approved + 0.5 * self.partially_approved) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Breakdown:
    """The decisions on requests, or on appeals, counted every way the Outcomes page shows them."""

    by_payer: tuple[OutcomeRow, ...] = ()
    by_service: tuple[OutcomeRow, ...] = ()
    by_late_reason: tuple[OutcomeRow, ...] = ()
    by_facility: tuple[OutcomeRow, ...] = ()
    by_provider: tuple[OutcomeRow, ...] = ()
    decision_days: tuple[int, ...] = ()   # one per decision dated on or after its submission
    decided: int = 0                      # decisions counted
    out_of_order: int = 0                 # decisions dated before their submission (left out of the time)

    @property
    def median_decision_days(self) -> float | None:
        return statistics.median(self.decision_days) if self.decision_days else None


@dataclass(frozen=True)
class Outcomes:
    """Outcome patterns over every decided submission, requests and appeals apart."""

    requests: Breakdown
    appeals: Breakdown
    pending: int          # cases whose newest submission awaits a decision


def _rows(counts: dict[str, dict[str, int]]) -> tuple[OutcomeRow, ...]:
    rows = [OutcomeRow(label, **c) for label, c in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.total, r.label)))


def _count(table: dict[str, dict[str, int]], label: str, outcome: str) -> None:
    bucket = table.setdefault(label, {"approved": 0, "partially_approved": 0, "denied": 0})
    bucket[outcome] += 1


def breakdown(records: Iterable[OutcomeRecord]) -> Breakdown:
    """Count records: each decision once per payer, reason, facility and provider, and once per service code."""
    tables: dict[str, dict[str, dict[str, int]]] = {k: {} for k in ("payer", "service", "reason", "facility",
                                                                   "provider")}
    decisions: dict[int, OutcomeRecord] = {}
    for record in records:
        _count(tables["service"], record.code, record.outcome)
        decisions.setdefault(record.determination_id, record)
    days, out_of_order = [], 0
    for record in decisions.values():
        for name, label in (("payer", record.payer_id), ("reason", record.late_reason),
                            ("facility", record.facility), ("provider", record.rendering_provider)):
            _count(tables[name], label, record.determination)
        if record.days >= 0:
            days.append(record.days)
        else:
            out_of_order += 1
    return Breakdown(_rows(tables["payer"]), _rows(tables["service"]), _rows(tables["reason"]),
                     _rows(tables["facility"]), _rows(tables["provider"]), tuple(sorted(days)), len(decisions),
                     out_of_order)


def outcome_patterns(session: Session) -> Outcomes:
    """Count the current determinations by payer, service code, late reason, facility and provider."""
    cases = list(tracked_cases(session))
    records = outcome_records(session, cases)
    pending = sum(1 for case in cases
                  if latest_submission(case) is not None and case_status(case) not in DETERMINATIONS)
    return Outcomes(breakdown(r for r in records if r.kind == "request"),
                    breakdown(r for r in records if r.kind == "appeal"), pending)


#: The CSV export's columns, in order (no patient data: the case id names the case).
CSV_COLUMNS = ("case_id", "kind", "payer_id", "facility", "rendering_provider", "late_reason_category",
               "service_code", "outcome", "units_billed", "units_approved", "case_determination", "submitted_on",
               "decided_on", "days_to_decision")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def outcomes_csv(records: Iterable[OutcomeRecord]) -> str:
    """The records as CSV, one row per decision and service code; every text cell escaped against formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow([escape_cell(v) for v in (
            r.case_id, r.kind, r.payer_id, r.facility, r.rendering_provider, r.late_reason, r.code, r.outcome,
            _number(r.units_billed), _number(r.units_approved), r.determination, r.submitted_on.isoformat(),
            r.decided_on.isoformat(), r.days if r.days >= 0 else "")])
    return buffer.getvalue()


# The charts: sizes in SVG user units (pixels at 100 %).
WIDTH = 720
LABEL_WIDTH = 230
BAR_AREA = WIDTH - LABEL_WIDTH - 110
ROW_HEIGHT = 28
BAR_HEIGHT = 18
COLOURS = {"approved": "#2e7d32", "partially_approved": "#f9a825", "denied": "#c62828"}
WORDS = {"approved": "approved", "partially_approved": "partially approved", "denied": "denied"}
#: Days to decision, grouped.
DECISION_BUCKETS = ((0, 7, "0-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"), (31, 60, "31-60 days"),
                    (61, None, "over 60 days"))


def _label(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _legend(y: int) -> list[str]:
    parts, x = [], LABEL_WIDTH
    for key in ("approved", "partially_approved", "denied"):
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{COLOURS[key]}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 10}" font-size="12">{WORDS[key]}</text>')
        x += 30 + round(6.6 * len(WORDS[key]))  # ~6.6 px per character at 12 px
    return parts


def outcome_chart(rows: Sequence[OutcomeRow], title: str, *, label_words: bool = False) -> Markup:
    """Stacked horizontal bars, one per row, the bar's length being that row's share of decisions."""
    if not rows:
        return Markup(f'<p class="empty">{escape(title)}: no determinations recorded yet.</p>')
    height = 40 + ROW_HEIGHT * len(rows) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="0" y="16" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for i, row in enumerate(rows):
        y = 30 + i * ROW_HEIGHT
        label = LATE_REASON_WORDS.get(row.label, row.label) if label_words else row.label
        shown = row.label.replace("_", " ") if label_words else row.label
        parts.append(f'<g class="bar" data-label="{escape(row.label)}" data-total="{row.total}" '
                     f'data-approved="{row.approved}" data-partial="{row.partially_approved}" data-denied="{row.denied}">')
        parts.append(f'<title>{escape(label)}: {row.approved} approved, {row.partially_approved} partially approved, '
                     f'{row.denied} denied</title>')
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" font-size="12" text-anchor="end">'
                     f'{escape(_label(shown))}</text>')
        x = float(LABEL_WIDTH)
        for key, count in (("approved", row.approved), ("partially_approved", row.partially_approved),
                           ("denied", row.denied)):
            if count:
                width = BAR_AREA * count / row.total
                parts.append(f'<rect class="{key}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
                             f'fill="{COLOURS[key]}"/>')
                x += width
        parts.append(f'<text x="{LABEL_WIDTH + BAR_AREA + 8}" y="{y + 13}" font-size="12">'
                     f'{round(100 * row.approval_rate)}% of {row.total}</text>')
        parts.append("</g>")
    parts.extend(_legend(height - 18))
    parts.append("</svg>")
    return Markup("".join(parts))


def decision_time_chart(days: Sequence[int]) -> Markup:
    """Vertical bars: how many decisions came within each span of days after submission."""
    title = "Time from submission to decision"
    if not days:
        return Markup(f'<p class="empty">{escape(title)}: no determinations recorded yet.</p>')
    counts = [sum(1 for d in days if d >= low and (high is None or d <= high)) for low, high, _ in DECISION_BUCKETS]
    peak = max(counts)
    height, base, column = 230, 190, 100
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-label="{title}">',
        f'<title>{title}</title>',
        f'<text x="0" y="16" font-size="15" font-weight="bold">{title}</text>',
        f'<line x1="40" y1="{base}" x2="{40 + column * len(counts) + 20}" y2="{base}" stroke="#555"/>',
    ]
    for i, ((_, _, label), count) in enumerate(zip(DECISION_BUCKETS, counts)):
        x = 60 + i * column
        bar = 0 if not peak else 150 * count / peak
        parts.append(f'<g class="bucket" data-label="{label}" data-count="{count}">')
        parts.append(f'<title>{label}: {count} decision{"s" if count != 1 else ""}</title>')
        parts.append(f'<rect x="{x}" y="{base - bar:.1f}" width="{column - 30}" height="{bar:.1f}" fill="#1565c0"/>')
        parts.append(f'<text x="{x + (column - 30) / 2:.0f}" y="{base - bar - 4:.1f}" font-size="12" '
                     f'text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + (column - 30) / 2:.0f}" y="{base + 16}" font-size="12" '
                     f'text-anchor="middle">{label}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))

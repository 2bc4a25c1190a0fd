"""Outcome patterns: how payers decided, counted from the registry, and the charts that show them.

:func:`outcome_patterns` counts the current determination of every case's
latest current submission by payer, service code and late-reason category:
a corrected submission or determination counts as corrected, never twice. The charts are drawn on the
server as SVG: no script, no inline style, nothing fetched. Each chart is an
``<svg>`` element with presentation attributes only (the
Content-Security-Policy forbids inline styles) and a ``<title>`` per bar so a
pointer or a screen reader gives the exact numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from ..model import LATE_REASON_WORDS
from ..registry import DETERMINATIONS
from .tracking import case_status, latest_submission, tracked_cases


@dataclass(frozen=True)
class OutcomeRow:
    """Determinations counted for one payer, service code or late-reason category."""

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
class Outcomes:
    """Outcome patterns over every decided submission."""

    by_payer: tuple[OutcomeRow, ...]
    by_service: tuple[OutcomeRow, ...]
    by_late_reason: tuple[OutcomeRow, ...]
    decision_days: tuple[int, ...]
    pending: int

    @property
    def decided(self) -> int:
        return len(self.decision_days)

    @property
    def median_decision_days(self) -> float | None:
        return statistics.median(self.decision_days) if self.decision_days else None


def _rows(counts: dict[str, dict[str, int]]) -> tuple[OutcomeRow, ...]:
    rows = [OutcomeRow(label, **c) for label, c in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.total, r.label)))


def outcome_patterns(session: Session) -> Outcomes:
    """Count the current determination of every case by payer, service code and late-reason category."""
    by_payer: dict[str, dict[str, int]] = {}
    by_service: dict[str, dict[str, int]] = {}
    by_reason: dict[str, dict[str, int]] = {}
    days: list[int] = []
    pending = 0
    for case in tracked_cases(session):
        latest = latest_submission(case)
        if latest is None:
            continue
        outcome = case_status(case)
        if outcome not in DETERMINATIONS:
            pending += 1
            continue
        decided = latest.current_determination
        for table, label in ((by_payer, case.payer_id), (by_reason, case.late_reason_category)):
            bucket = table.setdefault(label, {"approved": 0, "partially_approved": 0, "denied": 0})
            bucket[outcome] += 1
        for code in sorted(set(case.service_codes.split())):
            bucket = by_service.setdefault(code, {"approved": 0, "partially_approved": 0, "denied": 0})
            bucket[outcome] += 1
        # Records made before dates were checked may be out of order until someone corrects them.
        days.append(max(0, (decided.decided_on - latest.submitted_on).days))
    return Outcomes(_rows(by_payer), _rows(by_service), _rows(by_reason), tuple(sorted(days)), pending)


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

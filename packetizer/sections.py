"""The packet's own sections: cover note (with the index), request narrative, service summary.

They are one HTML document rendered by WeasyPrint. The cover's index prints the
page range of every section and exhibit, and the index itself can push the
cover onto a second page, which moves everything after it. So the sections are
rendered with a guess of their page numbers, the real numbers are read back
from the layout, and they are rendered again until the two agree.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .checks.rules import channel_words
from .checks.validation import icd10cm_description
from .errors import AssemblyError
from .limits import MAX_INDEX_RENDER_PASSES
from .model import Case, PayerPolicy, ServiceLine
from .render import format_long_date, layout_html, render_html

SECTION_TITLES = {"cover": "Cover note", "narrative": "Request narrative", "summary": "Service summary"}

# CMS place-of-service codes outpatient practices use most; others print as the bare code.
PLACE_OF_SERVICE = {
    "02": "telehealth other than in the patient's home",
    "10": "telehealth in the patient's home",
    "11": "office",
    "12": "home",
    "19": "off-campus outpatient hospital",
    "20": "urgent care facility",
    "22": "on-campus outpatient hospital",
    "23": "emergency room, hospital",
    "24": "ambulatory surgical center",
    "31": "skilled nursing facility",
    "49": "independent clinic",
    "53": "community mental health center",
    "57": "non-residential substance abuse treatment facility",
    "62": "comprehensive outpatient rehabilitation facility",
    "81": "independent laboratory",
}

CLINICAL_KINDS = frozenset({"clinical_note", "evaluation", "plan_of_care", "imaging", "lab",
                            "referral", "order", "psychotherapy_note", "substance_use_record"})


@dataclass(frozen=True)
class ExhibitEntry:
    """An exhibit as the sections see it: its letter, what it is, and how many pages it has."""

    letter: str
    title: str
    kind: str
    date: dt.date
    pages: int


@dataclass(frozen=True)
class IndexEntry:
    title: str
    kind: str            # cover | narrative | summary | exhibit
    letter: str | None
    first_page: int
    last_page: int

    @property
    def range(self) -> tuple[int, int]:
        return (self.first_page, self.last_page)


@dataclass(frozen=True)
class RenderedSections:
    pdf: bytes
    pages: int
    index: tuple[IndexEntry, ...]
    passes: int


def exhibit_title(entry: ExhibitEntry) -> str:
    """``Exhibit A — PT progress note, September 14, 2026``."""
    return f"Exhibit {entry.letter} \u2014 {entry.title}, {format_long_date(entry.date)}"


def render_sections(
    case: Case,
    policy: PayerPolicy,
    exhibits: list[ExhibitEntry],
    *,
    letter_date: dt.date,
    deadline: dt.date | None,
    extra_fields: tuple[tuple[str, str], ...] = (),
) -> RenderedSections:
    """Render cover, narrative and summary so that the printed index matches the layout.

    Every page number is a ``target-counter()`` that WeasyPrint resolves while laying
    out, against stand-in pages for the exhibits (a page counter can jump by the
    exhibit's length, so two stand-ins cover any exhibit). Only the choice between
    "p. 4" and "pp. 4–6" for the three sections is guessed; a wrong guess costs one
    more layout.

    Raises:
        AssemblyError: the sections' lengths did not settle within MAX_INDEX_RENDER_PASSES layouts.
    """
    base = _context(case, policy, letter_date=letter_date, deadline=deadline, extra_fields=extra_fields)
    placeholders = _placeholders(exhibits)
    refs = _exhibit_refs(exhibits)
    exhibit_ctx = [
        {"letter": x.letter, "title": x.title, "kind": x.kind, "date": x.date, "ref": refs[x.letter]}
        for x in exhibits
    ]
    # First guess: a one-page cover and summary, a narrative of two pages or more.
    multi = {"cover": False, "narrative": True, "summary": False}
    for number in range(1, MAX_INDEX_RENDER_PASSES + 1):
        index_ctx = [
            {"title": SECTION_TITLES[kind], "ref": _ref(f"sec-{kind}", f"sec-{kind}-end", multi[kind])}
            for kind in ("cover", "narrative", "summary")
        ] + [{"title": exhibit_title(x), "ref": refs[x.letter]} for x in exhibits]
        context = dict(
            base,
            index=index_ctx,
            exhibits=exhibit_ctx,
            placeholders=placeholders,
            last_page_id=placeholders[-1]["id"] if placeholders else "sec-summary-end",
            services=_service_context(case, policy, exhibit_ctx),
        )
        layout = layout_html(render_html("packet.html", context, payer_id=policy.id))
        try:
            spans = {kind: (layout.anchors[f"sec-{kind}"], layout.anchors[f"sec-{kind}-end"])
                     for kind in ("cover", "narrative", "summary")}
        except KeyError:
            raise AssemblyError("a packet template dropped a section anchor (sec-cover, sec-narrative, sec-summary)") from None
        front = spans["summary"][1]
        if placeholders and layout.anchors.get(placeholders[0]["id"]) != front + 1:
            raise AssemblyError("the packet template put content after the service summary")
        actual = {kind: last > first for kind, (first, last) in spans.items()}
        if actual == multi:
            index = [IndexEntry(SECTION_TITLES[k], k, None, *spans[k]) for k in ("cover", "narrative", "summary")]
            page = front + 1
            for x in exhibits:
                index.append(IndexEntry(exhibit_title(x), "exhibit", x.letter, page, page + x.pages - 1))
                page += x.pages
            return RenderedSections(pdf=layout.write_pdf(front), pages=front, index=tuple(index), passes=number)
        multi = actual
    raise AssemblyError(f"the cover index did not settle after {MAX_INDEX_RENDER_PASSES} layouts")


def _ref(start: str, end: str, multi: bool) -> dict:
    return {"start": start, "end": end, "multi": multi}


def _exhibit_refs(exhibits: list[ExhibitEntry]) -> dict[str, dict]:
    return {x.letter: _ref(f"ex-{x.letter}", f"ex-{x.letter}-end" if x.pages > 1 else f"ex-{x.letter}", x.pages > 1)
            for x in exhibits}


def _placeholders(exhibits: list[ExhibitEntry]) -> list[dict]:
    """Stand-in pages: each exhibit's first page, and its last page when it has more than one.

    The last page's stand-in advances the page counter by the pages in between,
    so the counters on the stand-ins are the exhibit's real page numbers.
    """
    out = []
    for x in exhibits:
        out.append({"id": f"ex-{x.letter}", "increment": 1, "page_name": f"pktz-ex-{x.letter}"})
        if x.pages > 1:
            out.append({"id": f"ex-{x.letter}-end", "increment": x.pages - 1, "page_name": f"pktz-ex-{x.letter}-end"})
    return out


def _context(case: Case, policy: PayerPolicy, *, letter_date: dt.date, deadline: dt.date | None,
             extra_fields) -> dict[str, Any]:
    claim = case.claim
    return {
        "case_id": case.case_id,
        "letter_date": letter_date,
        "payer": {
            "name": policy.name,
            "department": "prior authorization department",
            "channel_words": channel_words(policy),
        },
        "member": {"name": case.member.full_name, "dob": case.member.dob, "member_id": case.member.member_id},
        "claim": None if claim is None else {
            "claim_number": claim.claim_number,
            "denial_codes": list(claim.denial_codes),
            "denial_date": claim.denial_date,
        },
        "rendering": case.rendering_provider,
        "referring": case.referring_provider,
        "facility": case.facility,
        "contact": case.contact,
        "late_reason": {
            "words": case.late_reason.in_words,
            "explanation": _sentence(case.late_reason.explanation),
            "evidence": (case.late_reason.evidence or "").rstrip(". ") or None,
        },
        "service_period": _period(case.first_date_of_service, case.last_date_of_service),
        "chronology": _chronology(case),
        "after_events": [e for e in _timeline(case) if e["date"] > case.last_date_of_service],
        "deadline_sentence": _deadline_sentence(policy, deadline, letter_date),
        "medical_necessity": [p.strip() for p in re.split(r"\n\s*\n", case.medical_necessity) if p.strip()],
        "extra_fields": list(extra_fields),
        "total_units": _units_text(sum(s.units for s in case.services)),
    }


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _units_text(units) -> str:
    return f"{units:g}" if isinstance(units, float) else str(units)


def _period(first: dt.date, last: dt.date) -> str:
    if first == last:
        return f"on {format_long_date(first)}"
    return f"from {format_long_date(first)} to {format_long_date(last)}"


def _dates(s: ServiceLine) -> str:
    if not s.is_span:
        return format_long_date(s.start)
    return f"{format_long_date(s.start)} \u2013 {format_long_date(s.end)}"


def _timeline(case: Case) -> list[dict]:
    return [{"date": e.date, "text": " ".join(e.event.split())} for e in case.timeline]


def _chronology(case: Case) -> list[dict]:
    """Timeline events, service dates and the denial in one date-ordered list (stable for ties)."""
    events = []
    for e in _timeline(case):
        events.append((e["date"], 0, e["text"]))
    by_date: dict[dt.date, list[str]] = {}
    for s in case.services:
        by_date.setdefault(s.start, []).append(_service_words(s))
    for day, words in by_date.items():
        events.append((day, 1, "Service delivered: " + "; ".join(words) + "."))
        for s in case.services:
            if s.start == day and s.is_span:
                events.append((s.end, 1, f"Last day of the {s.code} service span."))
    claim = case.claim
    if claim and claim.denial_date:
        codes = f" with codes {', '.join(claim.denial_codes)}" if claim.denial_codes else ""
        number = f"Claim {claim.claim_number}" if claim.claim_number else "The claim"
        events.append((claim.denial_date, 2, f"{number} denied{codes}: no authorization on file."))
    events.sort(key=lambda e: (e[0], e[1]))
    return [{"date": d, "text": t} for d, _, t in events]


def _service_words(s: ServiceLine) -> str:
    units = _units_text(s.units)
    mods = f"-{'-'.join(s.modifiers)}" if s.modifiers else ""
    what = f"{s.code}{mods}"
    if s.description:
        what += f" ({s.description})"
    return f"{what}, {units} unit{'s' if str(units) != '1' else ''}"


def _deadline_sentence(policy: PayerPolicy, deadline: dt.date | None, letter_date: dt.date) -> str:
    """Says the request is on time, and only when it is (an overridden late request says nothing)."""
    if deadline is None or letter_date > deadline:
        return ""
    return (f"within the period {policy.name} allows for retroactive requests, which ends on "
            f"{format_long_date(deadline)} ({policy.source_title})")


def _service_context(case: Case, policy: PayerPolicy, exhibits: list[dict]) -> list[dict]:
    window = dt.timedelta(days=policy.relevance_window_days)
    out = []
    for line, s in enumerate(case.services, start=1):
        cites = [x for x in exhibits
                 if x["kind"] in CLINICAL_KINDS and s.start - window <= x["date"] <= s.end + window]
        diagnoses = [(code, icd10cm_description(code)) for code in s.diagnosis_codes]
        pos = s.place_of_service
        out.append({
            "line": line,
            "dates": _dates(s),
            "when_sentence": (f"On {format_long_date(s.start)}," if not s.is_span
                              else f"From {format_long_date(s.start)} to {format_long_date(s.end)},"),
            "what": _what(s),
            "pos": f"{pos} ({PLACE_OF_SERVICE[pos]})" if pos in PLACE_OF_SERVICE else pos,
            "code": s.code,
            "description": s.description,
            "modifiers": list(s.modifiers),
            "units": _units_text(s.units),
            "diagnoses": diagnoses,
            "diagnoses_text": ", ".join(f"{c} ({w})" if w else c for c, w in diagnoses),
            "cites": cites,
        })
    return out


def _what(s: ServiceLine) -> str:
    units = _units_text(s.units)
    mods = f" with modifier{'s' if len(s.modifiers) > 1 else ''} {', '.join(s.modifiers)}" if s.modifiers else ""
    desc = f" ({s.description})" if s.description else ""
    return f"{units} unit{'s' if units != '1' else ''} of {s.code}{desc}{mods}"


__all__ = ["ExhibitEntry", "IndexEntry", "RenderedSections", "exhibit_title",
           "render_sections"]

"""The packet's own sections: cover note (with the index), request narrative, service summary.

The cover's index prints the page range of every section and exhibit, and the
narrative cites exhibits by page, so the numbers depend on how long the
sections turn out. They are printed as plain text and checked against the
layout they are printed in:

1. The narrative and summary are laid out together, with exhibit page numbers
   that assume a guessed length of the front sections (estimated from the
   amount of text). If the layout is longer or shorter than guessed, the numbers
   are corrected and the two are laid out once more. DejaVu Sans has digits of
   one width, so a corrected number rarely moves anything else; one that
   gains a digit may, and the next pass checks again.
2. The cover is laid out with the pages the narrative and summary took. If
   the index makes the cover longer than one page, everything after it moves,
   and both are laid out again.

The cover and the body are written as two PDFs, so that a build with a second
core lays the cover out beside the body (:func:`render_cover` from the body's
guessed pages, then :func:`join_front`; a wrong guess lays out the cover again
from the body's own pages). The packet is the same either way.

A packet whose numbers do not match its layout is never written. The usual
case is one layout of each; WeasyPrint's own ``target-counter()`` would lay
every page that refers forward out three times.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import math
import re
from dataclasses import dataclass
from typing import Any

from .checks.rules import channel_words
from .checks.validation import icd10cm_description
from .errors import AssemblyError
from .limits import MAX_INDEX_RENDER_PASSES
from .model import Case, PayerPolicy, ServiceLine
from .render import Layout, format_long_date, layout_html, render_html

SECTION_TITLES = {"cover": "Cover note", "narrative": "Request narrative", "summary": "Service summary"}
# An appeal packet (SPEC section 10) is the request's sections behind another front section.
APPEAL_TITLE = "Appeal letter"

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
    """One index entry of the packet: a section or an exhibit and its pages."""

    title: str
    kind: str            # cover | narrative | summary | exhibit
    letter: str | None
    first_page: int
    last_page: int

    def to_dict(self) -> dict:
        return {"title": self.title, "first_page": self.first_page, "last_page": self.last_page}

    @property
    def range(self) -> tuple[int, int]:
        return (self.first_page, self.last_page)


@dataclass(frozen=True)
class RenderedSections:
    """The front sections: the cover note's PDF and the narrative and summary's, written apart (so that two
    processes can lay them out at once, and a packet's bytes do not depend on which did), their page counts
    and the packet's index."""

    cover_pdf: bytes
    cover_pages: int
    body_pdf: bytes
    pages: int           # the cover's and the body's
    index: tuple[IndexEntry, ...]

    @property
    def documents(self) -> tuple[tuple[bytes, int], ...]:
        """The cover's PDF and the body's, each with its pages, in packet order."""
        return ((self.cover_pdf, self.cover_pages), (self.body_pdf, self.pages - self.cover_pages))


@dataclass(frozen=True)
class FrontBody:
    """The narrative and the summary laid out and written, for a cover of ``cover_pages`` pages."""

    pdf: bytes
    narrative: tuple[int, int]     # pages of the body (1-based, the body's own numbering)
    summary: tuple[int, int]
    cover_pages: int

    @property
    def pages(self) -> int:
        return self.summary[1]


@dataclass(frozen=True)
class FrontCover:
    """The cover note laid out and written, for a body whose sections have the pages it was told (or guessed)."""

    pdf: bytes
    pages: int
    narrative: tuple[int, int]     # the body's pages the cover's index assumed
    summary: tuple[int, int]
    index: tuple[IndexEntry, ...]


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
    kind: str = "request",
) -> RenderedSections:
    """Render cover, narrative and summary so that every page number they print is right.

    ``kind="appeal"``: the cover is an appeal letter (the level, the decision contested, the payer's
    reason quoted, the rebuttal point by point, what is asked) and ``deadline`` is the appeal's.

    The body (narrative and summary) and the cover can also be laid out apart, at once, in two processes:
    :func:`render_body` and :func:`render_cover` (its index from the body's guessed pages), then
    :func:`join_front`. The sections are the same either way.

    Raises:
        AssemblyError: the page numbers did not settle within MAX_INDEX_RENDER_PASSES passes,
            or a payer's template dropped a section anchor or added content after a section.
    """
    front = _Front(case, policy, exhibits, letter_date=letter_date, deadline=deadline, extra_fields=extra_fields,
                   kind=kind)
    cover_pages, body = 1, None
    for _ in range(MAX_INDEX_RENDER_PASSES):
        body = front.body(cover_pages, None if body is None else body.pages)
        cover = front.cover(cover_pages, body.narrative, body.summary)
        joined = join_front(body, cover)
        if joined is not None:
            return joined
        cover_pages = cover.pages   # the index made the cover longer (or shorter): everything after it moves
    raise AssemblyError(f"the page numbers of the index did not settle after {MAX_INDEX_RENDER_PASSES} passes")


def render_body(case: Case, policy: PayerPolicy, exhibits: list[ExhibitEntry], **options) -> FrontBody:
    """The narrative and the summary behind a one-page cover (the arguments as :func:`render_sections` takes
    them), to be joined with the cover by :func:`join_front`."""
    return _Front(case, policy, exhibits, **options).body(1)


def render_cover(case: Case, policy: PayerPolicy, exhibits: list[ExhibitEntry], *, body: FrontBody | None = None,
                 **options) -> FrontCover:
    """The cover note, its index printing the pages of ``body`` (the other arguments as :func:`render_sections`
    takes them); without one, the pages the narrative and summary are guessed to take behind a one-page cover, so
    that the cover is laid out while they are (:func:`join_front` tells whether the guess was right)."""
    front = _Front(case, policy, exhibits, **options)
    if body is not None:
        return front.cover(body.cover_pages, body.narrative, body.summary)
    narrative, summary = front.guessed_pages()
    return front.cover(1, (1, narrative), (narrative + 1, narrative + summary))


def join_front(body: FrontBody, cover: FrontCover) -> RenderedSections | None:
    """The sections of ``body`` behind ``cover``, or None when the cover's index printed other pages than the
    body has, or the cover is not as long as the body assumed."""
    if (cover.narrative, cover.summary) != (body.narrative, body.summary) or cover.pages != body.cover_pages:
        return None
    return RenderedSections(cover_pdf=cover.pdf, cover_pages=cover.pages, body_pdf=body.pdf,
                            pages=cover.pages + body.pages, index=cover.index)


class _Front:
    """What the cover and the body print, for one packet: their context, and the two laid out."""

    def __init__(self, case: Case, policy: PayerPolicy, exhibits: list[ExhibitEntry], *, letter_date: dt.date,
                 deadline: dt.date | None, extra_fields: tuple[tuple[str, str], ...] = (),
                 kind: str = "request") -> None:
        base = _context(case, policy, letter_date=letter_date, deadline=None if kind == "appeal" else deadline,
                        extra_fields=extra_fields)
        if kind == "appeal":
            base["appeal"] = _appeal_context(case, policy, deadline, letter_date)
            base["chronology"] = _appeal_chronology(case, base["chronology"])
        self._case, self._policy, self._base, self._kind = case, policy, base, kind
        self._exhibits = exhibits

    def _context_for(self, ranges: dict) -> dict:
        exhibit_ctx = [{"letter": x.letter, "title": x.title, "kind": x.kind, "date": x.date,
                        "range": ranges[x.letter]} for x in self._exhibits]
        return dict(self._base, exhibits=exhibit_ctx, services=_service_context(self._case, self._policy, exhibit_ctx))

    def _body_html(self, ranges: dict) -> str:
        return render_html("front-body.html", self._context_for(ranges), payer_id=self._policy.id)

    def guessed_pages(self) -> tuple[int, int]:
        """The pages the narrative and the summary are guessed to take (from the amount of their text)."""
        counts = _estimated_section_pages(self._body_html(_exhibit_ranges(self._exhibits, 4)))
        narrative = counts[0] if counts else 1   # a payer's template may have other sections: a guess still
        return narrative, max(1, sum(counts) - narrative)

    def body(self, cover_pages: int, body_pages: int | None = None) -> FrontBody:
        """The narrative and summary laid out and written, behind a cover of ``cover_pages`` pages: laid out again
        until the exhibits' pages they print are right (first from ``body_pages``, else from a guess)."""
        body_pages = body_pages or sum(self.guessed_pages())
        for _ in range(MAX_INDEX_RENDER_PASSES):
            body = layout_html(self._body_html(_exhibit_ranges(self._exhibits, cover_pages + body_pages + 1)))
            narrative, summary = (_span(body, kind) for kind in ("narrative", "summary"))
            if body.pages != summary[1]:
                raise AssemblyError("the packet template put content after the service summary")
            if summary[1] == body_pages:
                return FrontBody(body.write_pdf(), narrative, summary, cover_pages)
            body_pages = summary[1]
        raise AssemblyError(f"the page numbers of the index did not settle after {MAX_INDEX_RENDER_PASSES} passes")

    def cover(self, cover_pages: int, narrative: tuple[int, int], summary: tuple[int, int]) -> FrontCover:
        """The cover laid out and written, its index printing these pages of the body behind a cover of
        ``cover_pages`` pages (it may turn out longer or shorter: :func:`join_front` checks)."""
        body_pages = summary[1]
        front = cover_pages + body_pages
        ranges = _exhibit_ranges(self._exhibits, front + 1)
        cover_title = APPEAL_TITLE if self._kind == "appeal" else SECTION_TITLES["cover"]
        index = [IndexEntry(cover_title, "cover", None, 1, cover_pages),
                 IndexEntry(SECTION_TITLES["narrative"], "narrative", None, *(cover_pages + p for p in narrative)),
                 IndexEntry(SECTION_TITLES["summary"], "summary", None, *(cover_pages + p for p in summary))]
        index += [IndexEntry(exhibit_title(x), "exhibit", x.letter, *ranges[x.letter]) for x in self._exhibits]
        cover = layout_html(render_html("front-cover.html", dict(
            self._context_for(ranges), index=[{"title": e.title, "range": e.range} for e in index],
            total_pages=front + sum(x.pages for x in self._exhibits)), payer_id=self._policy.id))
        if cover.pages != _span(cover, "cover")[1]:
            raise AssemblyError("the packet template put content after the cover note")
        return FrontCover(cover.write_pdf(), cover.pages, narrative, summary, tuple(index))


def render_part_cover(
    case: Case,
    policy: PayerPolicy,
    *,
    part: tuple[int, int],
    pages: tuple[int, int],
    total_pages: int,
    index: list[dict],
    limits_words: str,
    letter_date: dt.date,
    extra_fields: tuple[tuple[str, str], ...] = (),
) -> tuple[bytes, int]:
    """The cover sheet of one part of a submission sent in parts: its PDF and page count.

    Args:
        part: (this part's number, how many parts).
        pages: the first and last page of the whole submission this part holds.
        total_pages: the whole submission's pages (its stamps count them all).
        index: the whole submission's index: ``title``, ``range`` and ``parts`` (which part holds it, as words).
        limits_words: the channel's limits in words ("100 pages and 25 MB a file").
    """
    context = _context(case, policy, letter_date=letter_date, deadline=None, extra_fields=extra_fields)
    context.update(part={"number": part[0], "count": part[1], "first_page": pages[0], "last_page": pages[1]},
                   total_pages=total_pages, index=index, limits_words=limits_words)
    layout = layout_html(render_html("part-cover.html", context, payer_id=policy.id))
    if layout.pages != _span(layout, "part")[1]:
        raise AssemblyError("the part cover template put content after the cover sheet")
    return layout.write_pdf(), layout.pages


def _span(layout: Layout, kind: str) -> tuple[int, int]:
    try:
        return layout.anchors[f"sec-{kind}"], layout.anchors[f"sec-{kind}-end"]
    except KeyError:
        raise AssemblyError(f"a packet template dropped the section anchor sec-{kind} or sec-{kind}-end") from None


def _exhibit_ranges(exhibits: list[ExhibitEntry], first_page: int) -> dict[str, tuple[int, int]]:
    ranges = {}
    for x in exhibits:
        ranges[x.letter] = (first_page, first_page + x.pages - 1)
        first_page += x.pages
    return ranges


# A guess only: a wrong one costs a second layout of the narrative and summary.
# Fitted on the example case grown to 1-40 service lines, 2-15 events and up to
# 8 times its medical-necessity text: a line holds about 85 characters, a
# paragraph, list item or heading adds half a line, a service row takes a line
# plus one for every 50 characters in it, and a page holds 46 lines.
_CHARS_PER_LINE = 85
_CHARS_PER_ROW_LINE = 50
_LINES_PER_PAGE = 46
_BLOCK = re.compile(r"<(p|li|h[1-6]|tr|dt)\b[^>]*>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _estimated_section_pages(document: str) -> list[int]:
    """Pages each section of the body (the narrative, the summary) will take, each starting on a new page (a
    guess)."""
    counts = []
    for section in re.split(r'<section class="section"', document)[1:]:
        lines = 0.0
        for tag, inner in _BLOCK.findall(section):
            text = " ".join(html_lib.unescape(_TAG.sub(" ", inner)).split())
            if tag == "tr":
                lines += 1 + len(text) / _CHARS_PER_ROW_LINE
            elif tag.startswith("h"):
                lines += 0.5
            else:
                lines += math.ceil(len(text) / _CHARS_PER_LINE) + 0.5
        counts.append(max(1, math.ceil(lines / _LINES_PER_PAGE)))
    return counts


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
        "appeal": None,      # the appeal letter's facts, for an appeal packet
    }


def _appeal_context(case: Case, policy: PayerPolicy, deadline: dt.date | None, letter_date: dt.date) -> dict:
    """What the appeal letter says about the decision it contests and the appeal itself."""
    from .checks.appeals import appeal_channel_words
    from .checks.deadlines import describe_window

    prior, appeal, rules = case.prior_request, case.appeal, policy.appeal
    sentence = ""
    if deadline is not None and letter_date <= deadline and rules is not None and rules.window is not None:
        sentence = (f"within the appeal period {policy.name} allows, which ends on {format_long_date(deadline)} "
                    f"({describe_window(rules.window)}; {policy.source_title})")
    return {
        "level": appeal.level if appeal else 1,
        "levels": rules.levels if rules else None,
        "channel_words": appeal_channel_words(policy),
        "reference": prior.reference if prior else None,
        "submitted": prior.submitted if prior else None,
        "decision": prior.decision if prior else None,
        "decision_words": prior.decision_words if prior else "decided",
        "decision_date": prior.decision_date if prior else None,
        "reason": (prior.reason or "") if prior else "",
        "denial_codes": list(prior.denial_codes) if prior else [],
        "points": list(appeal.points) if appeal else [],
        "requested": _sentence(appeal.requested) if appeal and appeal.requested else None,
        "deadline": deadline,
        "deadline_sentence": sentence,
    }


def _appeal_chronology(case: Case, chronology: list[dict]) -> list[dict]:
    """The request's chronology with the request itself and the payer's decision added, in date order."""
    prior = case.prior_request
    if prior is None:
        return chronology
    added = []
    if prior.submitted:
        ref = f" (reference {prior.reference})" if prior.reference else ""
        added.append({"date": prior.submitted, "text": f"Retroactive authorization request sent{ref}."})
    if prior.decision_date:
        added.append({"date": prior.decision_date,
                      "text": f"{prior.decision_words.capitalize()} by the payer; this appeal contests that decision."})
    return sorted(chronology + added, key=lambda e: e["date"])


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


__all__ = ["ExhibitEntry", "FrontBody", "FrontCover", "IndexEntry", "RenderedSections", "exhibit_title",
           "join_front", "render_body", "render_cover", "render_part_cover", "render_sections"]

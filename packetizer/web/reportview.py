"""A disclosure report and a preview, shaped for a staff page: the summary first, pages in runs.

The report JSON (``schemas/disclosure-report.schema.json``) lists every page check and every
redaction; a 200-page note is 200 of each. Staff read it as a few runs of pages checked the
same way with the same kinds of value removed ("Pages 1–180: text layer, nothing removed").
Nothing here holds a removed or withheld value: the report never has one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..disclosure.redactor import TYPE_WORDS
from ..disclosure.report import METHOD_WORDS
from ..model import ATTACHMENT_KIND_WORDS, Attachment
from ..pagecheck import METHODS, UNCHECKED
from ..pipeline import exhibit_letter
from ..render import format_long_date
from .wording import label

#: A page of a report written before pages were checked one by one (report version 1).
NOT_RECORDED = "not_recorded"
#: More runs than this in one document are folded into a ``<details>`` element on the page.
RUNS_SHOWN_OPEN = 6

_METHOD_WORDS = {**METHOD_WORDS, NOT_RECORDED: "check not recorded"}
_METHOD_ORDER = (*METHODS, NOT_RECORDED)

def field_words(path: str) -> str:
    """A case field's name for staff, as the case form labels it (``member.ssn`` -> ``Member, SSN``), never its path."""
    return label(path)


def type_words(type_: str, count: int = 1) -> str:
    """A kind of value removed, counted: ``2 phone or fax numbers``."""
    words = TYPE_WORDS.get(type_, "identifier")
    if count != 1:
        words += "es" if words.endswith("ss") else "s"
    return f"{count} {words}"


def _in_order(types: Iterable[str]) -> list[str]:
    """Kinds of value in the redactor's order (SSN first), unknown ones last."""
    return sorted(types, key=lambda t: (list(TYPE_WORDS).index(t) if t in TYPE_WORDS else len(TYPE_WORDS), t))


def removed_words(counts: Mapping[str, int]) -> str:
    """``1 Social Security number, 2 phone or fax numbers`` (the kinds in the redactor's order)."""
    return ", ".join(type_words(t, counts[t]) for t in _in_order(counts) if counts[t])


def _values(count: int) -> str:
    return f"{count} value{'' if count == 1 else 's'}"


def pages_words(first: int, last: int) -> str:
    return f"Page {first}" if first == last else f"Pages {first}\u2013{last}"


@dataclass(frozen=True)
class PageRun:
    """Consecutive pages checked the same way with the same kinds of value removed from each."""

    first: int
    last: int
    method: str
    removed: tuple[tuple[str, int], ...]   # (type, count over the run)
    confidence: tuple[int, int] | None     # lowest and highest OCR confidence of the run
    reasons: tuple[str, ...]               # why the text layer was not trusted

    @property
    def removed_count(self) -> int:
        return sum(count for _, count in self.removed)

    @property
    def words(self) -> str:
        method = _METHOD_WORDS.get(self.method, self.method)
        if self.confidence is not None:
            low, high = self.confidence
            method += f" (confidence {low})" if low == high else f" (confidence {low}\u2013{high})"
        if self.removed:
            removed = f"{_values(self.removed_count)} removed ({removed_words(dict(self.removed))})"
        else:
            removed = "nothing removed"
        return f"{pages_words(self.first, self.last)}: {method}, {removed}"


def page_runs(pages: int, page_checks: Iterable[Mapping], redactions: Iterable[Mapping]) -> list[PageRun]:
    """The document's pages as runs: a page joins the run before it when it was checked the same
    way and the same kinds of value were removed from it (their counts add up over the run)."""
    checks = {int(c["page"]): c for c in page_checks}
    removed: dict[int, Counter] = {}
    for r in redactions:
        removed.setdefault(int(r["page"]), Counter())[r["type"]] += int(r["count"])
    last_page = max([pages or 0, *checks, *removed])
    runs: list[dict] = []
    for page in range(1, last_page + 1):
        check = checks.get(page, {})
        here = removed.get(page, Counter())
        key = (check.get("method", NOT_RECORDED), tuple(sorted(t for t, n in here.items() if n)))
        if runs and runs[-1]["key"] == key and runs[-1]["last"] == page - 1:
            run = runs[-1]
            run["last"] = page
        else:
            run = {"key": key, "first": page, "last": page, "removed": Counter(), "confidence": [], "reasons": []}
            runs.append(run)
        run["removed"].update(here)
        if check.get("confidence") is not None:
            run["confidence"].append(round(check["confidence"]))
        if check.get("reason") and check["reason"] not in run["reasons"]:
            run["reasons"].append(check["reason"])
    return [PageRun(first=r["first"], last=r["last"], method=r["key"][0],
                    removed=tuple((t, r["removed"][t]) for t in r["key"][1]),
                    confidence=(min(r["confidence"]), max(r["confidence"])) if r["confidence"] else None,
                    reasons=tuple(r["reasons"])) for r in runs]


def checked_words(runs: Iterable[PageRun]) -> str:
    """How a document's pages were checked, counted: ``All 200 pages by text layer`` or
    ``180 pages by text layer, 20 pages by OCR``."""
    counts = Counter()
    for run in runs:
        counts[run.method] += run.last - run.first + 1
    methods = [m for m in _METHOD_ORDER if counts[m]] + sorted(m for m in counts if m not in _METHOD_ORDER)
    if not methods:
        return "No pages"
    if len(methods) == 1:
        total = counts[methods[0]]
        lead = {1: "The only page", 2: "Both pages"}.get(total, f"All {total} pages")
        return f"{lead} {_by(methods[0])}"
    parts = [f"{counts[m]} page{'s' if counts[m] != 1 else ''} {_by(m)}" for m in methods]
    return ", ".join(parts)


def _by(method: str) -> str:
    if method == NOT_RECORDED:
        return "not recorded"
    if method == UNCHECKED:
        return _METHOD_WORDS[method]
    return f"by {_METHOD_WORDS.get(method, method)}"


@dataclass(frozen=True)
class DocumentView:
    """One document as the staff page shows it: what it is, how it was read, what came out of it."""

    letter: str
    kind: str
    date: str
    pages: int
    runs: tuple[PageRun, ...]
    removed: tuple[tuple[str, int], ...]
    rasterized_pages: tuple[int, ...] = ()
    unchecked_pages: tuple[int, ...] = ()

    @property
    def kind_words(self) -> str:
        return ATTACHMENT_KIND_WORDS.get(self.kind, "Document")

    @property
    def date_words(self) -> str:
        return date_words(self.date)

    @property
    def removed_count(self) -> int:
        return sum(n for _, n in self.removed)

    @property
    def removed_items(self) -> list[tuple[str, str]]:
        """(kind, ``2 phone or fax numbers``) for each kind of value removed from the document."""
        return [(t, type_words(t, n)) for t, n in self.removed]

    @property
    def removed_words(self) -> str:
        if not self.removed:
            return "Nothing removed"
        return f"{_values(self.removed_count)} removed: {removed_words(dict(self.removed))}"

    @property
    def checked_words(self) -> str:
        return checked_words(self.runs)

    @property
    def folded(self) -> bool:
        return len(self.runs) > RUNS_SHOWN_OPEN


def document_view(letter: str, kind: str, date: str, pages: int, page_checks: Iterable[Mapping],
                  redactions: Iterable[Mapping], *, rasterized: Iterable[int] = (),
                  unchecked: Iterable[int] = ()) -> DocumentView:
    redactions = list(redactions)
    runs = page_runs(pages, page_checks, redactions)
    totals = Counter()
    for r in redactions:
        totals[r["type"]] += int(r["count"])
    return DocumentView(letter=letter, kind=kind, date=date, pages=pages, runs=tuple(runs),
                        removed=tuple((t, totals[t]) for t in _in_order(totals) if totals[t]),
                        rasterized_pages=tuple(rasterized), unchecked_pages=tuple(unchecked))


def date_words(iso: str | None) -> str:
    """``2026-09-14`` -> ``September 14, 2026``; a build time keeps its hour (UTC)."""
    if not iso:
        return ""
    try:
        if "T" in iso:
            moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
            return f"{format_long_date(moment)}, {moment:%H:%M} UTC"
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return format_long_date(day)


@dataclass(frozen=True)
class ReportView:
    """A disclosure report for the staff and auditor pages (``_report_body.html``)."""

    case_id: str
    payer_id: str
    created: str
    exhibits: tuple[DocumentView, ...]
    fields_sent: tuple[str, ...]
    fields_requested: tuple[str, ...]
    withheld_fields: tuple[tuple[str, tuple[str, ...]], ...]   # (reason, field names)
    withheld_documents: tuple[dict, ...]                       # kind_words, date_words, reason
    searched: tuple[tuple[str, str], ...]                      # (field name, kind of value)
    warnings: tuple[str, ...]
    override: dict | None

    @property
    def pages(self) -> int:
        return sum(e.pages for e in self.exhibits)

    @property
    def pages_by_method(self) -> list[str]:
        """How many pages were checked each way: ``60 by text layer``, ``0 by OCR``, ``0 unchecked``."""
        counts = Counter()
        for exhibit in self.exhibits:
            for run in exhibit.runs:
                counts[run.method] += run.last - run.first + 1
        shown = [*METHODS, *([NOT_RECORDED] if counts[NOT_RECORDED] else [])]
        return [f"{counts[m]} {_by(m)}" for m in shown]

    @property
    def unchecked_pages(self) -> int:
        return sum(len(e.unchecked_pages) for e in self.exhibits)

    @property
    def removed_count(self) -> int:
        return sum(e.removed_count for e in self.exhibits)

    @property
    def removed_words(self) -> str:
        totals = Counter()
        for exhibit in self.exhibits:
            totals.update(dict(exhibit.removed))
        return removed_words(totals)

    @property
    def withheld_field_count(self) -> int:
        return sum(len(names) for _, names in self.withheld_fields)

    @property
    def removal_rows(self) -> list[tuple[str, str, str]]:
        """(exhibit, pages, what) for every run of pages something was removed from."""
        return [(e.letter, pages_words(r.first, r.last), removed_words(dict(r.removed)))
                for e in self.exhibits for r in e.runs if r.removed]


def report_view(report: Mapping) -> ReportView:
    """Shape a disclosure report (version 1 or 2) for the page."""
    included = report.get("included") or {}
    withheld = report.get("withheld") or {}
    redactions = report.get("redactions") or []
    exhibits = []
    for a in included.get("attachments") or []:
        letter = a.get("letter", "")
        exhibits.append(document_view(
            letter, a.get("kind", "other"), a.get("date", ""), int(a.get("pages") or 0), a.get("page_checks") or [],
            [r for r in redactions if r.get("exhibit") == letter],
            rasterized=a.get("rasterized_pages") or (), unchecked=a.get("unchecked_pages") or ()))
    by_reason: dict[str, list[str]] = {}
    for f in withheld.get("fields") or []:
        by_reason.setdefault(f.get("reason", ""), []).append(field_words(f["field"]))
    documents = tuple({"kind_words": ATTACHMENT_KIND_WORDS.get(d.get("kind"), "Document"),
                       "date_words": date_words(d.get("date")),
                       "reason": d.get("reason_text") or d.get("reason", "")}
                      for d in withheld.get("attachments") or [])
    return ReportView(
        case_id=report.get("case_id", ""), payer_id=report.get("payer_id", ""),
        created=date_words(report.get("created")), exhibits=tuple(exhibits),
        fields_sent=tuple(field_words(p) for p in included.get("fields") or []),
        fields_requested=tuple(field_words(p) for p in included.get("requested_by_payer") or []),
        withheld_fields=tuple((reason, tuple(names)) for reason, names in by_reason.items()),
        withheld_documents=documents,
        searched=tuple((field_words(s["field"]), TYPE_WORDS.get(s.get("type"), "identifier"))
                       for s in report.get("searched_in_documents") or []),
        warnings=tuple(w.get("message", "") if isinstance(w, Mapping) else str(w)
                       for w in report.get("warnings") or []),
        override=report.get("override") or None,
    )


@dataclass(frozen=True)
class PreviewDocument:
    """One uploaded document in a preview: sent as an exhibit (with what happens to its pages), or withheld."""

    att: Attachment                   # as the case lists it
    letter: str | None                # its exhibit letter when it is sent
    view: DocumentView | None         # its pages, when it was converted
    error: str | None = None          # why it could not be converted
    withheld: str | None = None       # why it is not sent


def preview_documents(case, plan, items: list[Mapping]) -> list[PreviewDocument]:
    """Every document of the case, in the case's order, from the plan and a stored preview result
    (``items``: one per included document, in exhibit order)."""
    out: dict[int, PreviewDocument] = {}
    for number, (index, item) in enumerate(zip(plan.included_indexes, items)):
        att, letter = case.attachments[index], exhibit_letter(number)
        if item.get("error") or item.get("pages") is None:
            out[index] = PreviewDocument(att, letter, None, error=item.get("error") or "It could not be converted.")
        else:
            out[index] = PreviewDocument(att, letter, document_view(
                letter, att.kind, att.date.isoformat(), int(item["pages"]), item.get("page_checks") or [],
                item.get("redactions") or [], unchecked=item.get("unchecked_pages") or ()))
    for w in plan.withheld_attachments:
        out[w.index] = PreviewDocument(case.attachments[w.index], None, None, withheld=w.reason_text)
    return [out[i] for i in sorted(out)]

"""The disclosure report: what went to the payer, what did not, and why.

One JSON document per build (``schemas/disclosure-report.schema.json``) and a
readable HTML page of it for staff. Neither is part of the packet; both are
written next to it and archived with it. The report names fields by path and
attachments by position, kind and date; it never holds a withheld value.
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import limits
from ..errors import DisclosureError, ErrorCode
from ..model import ATTACHMENT_KIND_WORDS
from ..pagecheck import OCR, TEXT_LAYER, UNCHECKED, PageCheck
from ..render import prepare_template, render_html
from ..schemas import schema_errors
from .redactor import TYPE_WORDS

# 2: each included attachment says how every page was checked (page_checks, ocr_pages) and the
# summary counts pages read by OCR; page_not_checked now means "OCR confidence below the minimum".
REPORT_VERSION = 2

# How the staff page names each method.
METHOD_WORDS = {TEXT_LAYER: "text layer", OCR: "OCR", UNCHECKED: "unchecked"}


def disclosure_report(
    plan,
    *,
    exhibits: Iterable[tuple[str, Any]],
    case_id: str,
    payer_id: str,
    created: str,
    override: dict | None = None,
    warnings: Iterable[dict | str] = (),
) -> dict:
    """The report of one build, valid against the disclosure-report schema.

    Args:
        plan: the build's :class:`~.plan.DisclosurePlan`.
        exhibits: (letter, ExhibitDocument) for each included attachment, in packet order.
        case_id: the case.
        payer_id: the payer.
        created: build time, ISO 8601 UTC.
        override: who overrode a blocking check and why, or None.
        warnings: findings of the checks (dicts with code, message, field) or plain strings.

    Raises:
        DisclosureError: the report would not match its schema (a bug; nothing is released).
    """
    exhibits = list(exhibits)
    indexes = dict(zip((id(a) for a in plan.included_attachments), plan.included_indexes))
    included_attachments, redactions = [], []
    all_warnings = [_finding(w) for w in warnings] + [dict(n) for n in plan.notes]
    for letter, doc in exhibits:
        att = doc.attachment
        index = indexes.get(id(att), _position(plan, att))
        field = f"attachments[{index}]"
        checks = _page_checks(doc, field)
        removed = sum(r.count for r in doc.redactions)
        included_attachments.append({
            "letter": letter, "index": index, "field": field, "kind": att.kind,
            "date": att.date.isoformat(), "pages": doc.pages, "redactions": removed,
            "rasterized_pages": list(getattr(doc, "rasterized", ())),
            "page_checks": [c.to_dict() for c in checks],
            "ocr_pages": [c.page for c in checks if c.method in (OCR, UNCHECKED)],
            "unchecked_pages": [c.page for c in checks if c.method == UNCHECKED],
        })
        for r in doc.redactions:
            redactions.append({"exhibit": letter, "attachment_index": index, "type": r.type,
                               "page": r.page, "count": r.count})
        named = f"Exhibit {letter} ({field}, {ATTACHMENT_KIND_WORDS[att.kind].lower()} dated {att.date.isoformat()})"
        all_warnings += unchecked_page_warnings(named, field, checks)
    report = {
        "report_version": REPORT_VERSION,
        "case_id": case_id,
        "payer_id": payer_id,
        "created": created,
        "included": {
            "fields": list(plan.included_fields),
            "requested_by_payer": list(plan.extra_field_paths),
            "attachments": included_attachments,
        },
        "withheld": {
            "fields": [{"field": path, "reason": reason} for path, reason in plan.withheld_fields],
            "attachments": [w.to_dict() for w in plan.withheld_attachments],
        },
        "searched_in_documents": [{"field": path, "type": type_} for path, type_ in plan.searched_fields],
        "redactions": redactions,
        "summary": {
            "fields_withheld": len(plan.withheld_fields),
            "attachments_included": len(included_attachments),
            "attachments_withheld": len(plan.withheld_attachments),
            "redactions": sum(r["count"] for r in redactions),
            "pages_rasterized": sum(len(a["rasterized_pages"]) for a in included_attachments),
            "pages_ocr": sum(len(a["ocr_pages"]) for a in included_attachments),
            "pages_unchecked": sum(len(a["unchecked_pages"]) for a in included_attachments),
        },
        "warnings": all_warnings,
        "override": _override(override),
    }
    problems = schema_errors("disclosure-report", report)
    if problems:
        where, message = problems[0]
        raise DisclosureError(f"disclosure report: {where}: {message}", code=ErrorCode.BAD_REPORT)
    return report


def unchecked_page_warnings(named: str, field: str, checks: Iterable[PageCheck]) -> list[dict]:
    """One ``page_not_checked`` warning per exhibit naming its pages that OCR could not read reliably.

    Such a page was still sent as a picture with everything OCR did read burnt out, but its
    OCR confidence is below ``MIN_OCR_CONFIDENCE``: an identifier on it may have been missed.
    The words are for billing staff: which page, how sure, the minimum, and what to do.
    """
    low = [c for c in checks if c.method == UNCHECKED]
    if not low:
        return []
    figures = [_figure(c.confidence) for c in low]
    if len(low) == 1:
        which, it = f"page {low[0].page} was", "it"
        scores = "no confidence figure" if low[0].confidence is None else f"{figures[0]} out of 100"
    else:
        which, it = f"pages {_and([str(c.page) for c in low])} were", "them"
        known = [round(c.confidence) for c in low if c.confidence is not None]
        if len(low) <= 5 or not known:
            scores = f"{_and(figures)} out of 100"
        else:
            scores = f"between {min(known)} and {max(known)} out of 100"
    return [{
        "code": "page_not_checked", "field": field,
        "message": f"{named}: {which} read by text recognition (OCR) with too little confidence ({scores}; "
                   f"the minimum is {limits.MIN_OCR_CONFIDENCE}, MIN_OCR_CONFIDENCE). A number, name or address "
                   f"on {it} may have been missed. Look at {it} in the packet before sending; if {it} "
                   f"{'shows' if it == 'it' else 'show'} anything the payer does not need, send a clearer copy "
                   "of the document instead.",
    }]


def page_check_groups(page_checks: Iterable[dict]) -> list[dict]:
    """Consecutive pages checked the same way, for the staff page.

    ``[{page 1..3 text_layer}, {page 4 ocr 91}]`` gives ``pp. 1–3 text layer`` and
    ``p. 4 OCR (conf 91)``: each group has ``pages``, ``method``, ``words`` and ``reasons``.
    """
    groups: list[list[dict]] = []
    for check in page_checks:
        last = groups[-1][-1] if groups else None
        if last is not None and last["method"] == check["method"] and last["page"] + 1 == check["page"]:
            groups[-1].append(check)
        else:
            groups.append([check])
    out = []
    for group in groups:
        first, last = group[0]["page"], group[-1]["page"]
        pages = f"p. {first}" if first == last else f"pp. {first}\u2013{last}"
        words = f"{pages} {METHOD_WORDS.get(group[0]['method'], group[0]['method'])}"
        confidences = [round(c["confidence"]) for c in group if c.get("confidence") is not None]
        if confidences:
            low, high = min(confidences), max(confidences)
            words += f" (conf {low})" if low == high else f" (conf {low}\u2013{high})"
        reasons = list(dict.fromkeys(c["reason"] for c in group if c.get("reason")))
        out.append({"pages": pages, "method": group[0]["method"], "words": words, "reasons": reasons})
    return out


_REPORT_TEMPLATE = "disclosure-report.html"


def prepare_report_html() -> None:
    """Compile the report's template ahead of :func:`render_report_html`: about 40 ms in a new process,
    which a build pays while it waits for its front sections rather than after its proof."""
    prepare_template(_REPORT_TEMPLATE)


def render_report_html(report: dict) -> str:
    """The report as a self-contained HTML page for staff."""
    checked = {}
    for attachment in report["included"]["attachments"]:
        groups = page_check_groups(attachment["page_checks"])
        reasons = list(dict.fromkeys(reason for group in groups for reason in group["reasons"]))
        checked[attachment["letter"]] = {"groups": groups, "reasons": reasons}
    return render_html(_REPORT_TEMPLATE, {
        "report": report, "type_words": TYPE_WORDS, "kind_words": ATTACHMENT_KIND_WORDS, "checked": checked,
        "ocr_dpi": limits.OCR_DPI, "min_confidence": limits.MIN_OCR_CONFIDENCE,
    })


def _page_checks(doc, field: str) -> tuple[PageCheck, ...]:
    """The exhibit's page checks, refused unless there is exactly one per page, in page order,
    and its ``unchecked_pages`` are exactly the pages checked as unchecked: the report must not
    claim a page was checked when ingest said otherwise."""
    checks = tuple(doc.page_checks)
    if [c.page for c in checks] != list(range(1, doc.pages + 1)):
        raise DisclosureError(
            f"disclosure report: {field}: {len(checks)} page checks for {doc.pages} pages", code=ErrorCode.BAD_REPORT)
    if [c.page for c in checks if c.method == UNCHECKED] != sorted(doc.unchecked_pages):
        raise DisclosureError(
            f"disclosure report: {field}: unchecked pages disagree with the page checks", code=ErrorCode.BAD_REPORT)
    return checks


def _figure(confidence: float | None) -> str:
    return "no figure" if confidence is None else str(round(confidence))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _finding(item: dict | str) -> dict:
    if isinstance(item, str):
        return {"code": "warning", "message": item, "field": None}
    return {"code": str(item.get("code") or "warning"), "message": str(item.get("message", "")),
            "field": item.get("field")}


def _override(override: dict | None) -> dict | None:
    if not override:
        return None
    out = {"reason": str(override.get("reason", "")), "by": str(override.get("by", ""))}
    if override.get("findings"):
        out["findings"] = [str(code) for code in override["findings"]]
    return out


def _position(plan, att) -> int:
    """The attachment's position when the exhibits list holds a copy rather than the plan's object."""
    for index, candidate in zip(plan.included_indexes, plan.included_attachments):
        if candidate == att:
            return index
    return 0

"""The disclosure report: what went to the payer, what did not, and why.

One JSON document per build (``schemas/disclosure-report.schema.json``) and a
readable HTML page of it for staff. Neither is part of the packet; both are
written next to it and archived with it. The report names fields by path and
attachments by position, kind and date; it never holds a withheld value.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import DisclosureError
from ..model import ATTACHMENT_KIND_WORDS, Case, PayerPolicy
from ..render import render_html
from ..schemas import schema_errors
from .redactor import TYPE_WORDS

REPORT_VERSION = 1


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
        removed = sum(r.count for r in doc.redactions)
        included_attachments.append({
            "letter": letter, "index": index, "field": field, "kind": att.kind,
            "date": att.date.isoformat(), "pages": doc.pages, "redactions": removed,
            "rasterized_pages": list(getattr(doc, "rasterized", ())),
            "unchecked_pages": list(doc.text_layer_missing),
        })
        for r in doc.redactions:
            redactions.append({"exhibit": letter, "attachment_index": index, "type": r.type,
                               "page": r.page, "count": r.count})
        named = f"Exhibit {letter} ({field}, {ATTACHMENT_KIND_WORDS[att.kind].lower()} dated {att.date.isoformat()})"
        all_warnings += unchecked_page_warnings(named, field, doc.text_layer_missing, doc.pages)
        pictures = getattr(doc, "pictures", 0)
        if pictures:
            all_warnings.append({
                "code": "pictures_not_checked", "field": field,
                "message": f"{named} contains {pictures} picture(s); text inside pictures cannot be checked for identifiers",
            })
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
            "pages_unchecked": sum(len(a["unchecked_pages"]) for a in included_attachments),
        },
        "warnings": all_warnings,
        "override": _override(override),
    }
    problems = schema_errors("disclosure-report", report)
    if problems:
        where, message = problems[0]
        raise DisclosureError(f"disclosure report: {where}: {message}", code="bad_report")
    return report


def unchecked_page_warnings(named: str, field: str, pages: Iterable[int], total: int) -> list[dict]:
    """One warning per attachment listing its pages without a text layer."""
    pages = list(pages)
    if not pages:
        return []
    which = "every page" if len(pages) == total and total > 1 else (
        f"page {pages[0]}" if len(pages) == 1 else "pages " + ", ".join(map(str, pages)))
    return [{
        "code": "page_not_checked", "field": field,
        "message": f"{named}: {which} {'has' if len(pages) == 1 else 'have'} no text layer (a scan or picture)"
                   " and could not be checked for identifiers; look at it before sending",
    }]


def text_layer_findings(case: Case, policy: PayerPolicy) -> list[dict]:
    """Warnings for ``check``: included attachments with pages that cannot be checked.

    PDFs are sanitised (in the sandbox) to find their pages without text;
    every page of an image attachment is a picture.
    """
    from ..ingest import ingest_attachment
    from .attachments import sort_attachments

    included, _ = sort_attachments(case, policy)
    findings: list[dict] = []
    for index, att in included:
        suffix = att.path.suffix.lower()
        if suffix not in (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"):
            continue
        doc = ingest_attachment(att)
        field = f"attachments[{index}]"
        named = f"{field} ({ATTACHMENT_KIND_WORDS[att.kind].lower()} dated {att.date.isoformat()})"
        findings += unchecked_page_warnings(named, field, doc.text_layer_missing, doc.pages)
    return findings


def render_report_html(report: dict) -> str:
    """The report as a self-contained HTML page for staff."""
    return render_html("disclosure-report.html", {"report": report, "type_words": TYPE_WORDS,
                                                  "kind_words": ATTACHMENT_KIND_WORDS})


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

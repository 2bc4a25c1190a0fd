"""Minimum necessary (SPEC section 4): only what the payer needs leaves the building.

- :func:`plan_disclosure` decides which case fields and attachments reach the
  packet (an allowlist plus the payer's ``include_fields``; consents and the
  relevance window for attachments) and builds the :class:`Redactor` that
  removes identifiers the payer does not need from the included documents.
- Ingest calls the redactor (``ingest_attachment(att, redactor=plan.redactor)``):
  text and DOCX get a visible marker before layout; every PDF, image or DOCX
  page is searched as a reader sees it (its trusted text layer, or OCR of its
  pixels, :mod:`.pdfredact`), and a page with findings is replaced by a
  picture of itself with the boxes burnt in.
- :func:`verify_no_leak` proves, on the finished packet, that nothing withheld
  is left (text by two extractors, raw streams, metadata, and every picture
  one that OCR read as sent); it fails closed.
- :func:`disclosure_report` and :func:`render_report_html` write down what was
  included, withheld and removed, without the withheld values.

The plan and the redactor load with the package; the proof and the report
(PDFium, pypdf) load when first named, so a cold build plans its disclosure and
hands its notes to the render process before it pays for the PDF libraries.
"""

import importlib

from .attachments import WithheldAttachment
from .plan import DisclosurePlan, plan_disclosure
from .redactor import MARKERS, Hit, Redaction, Redactor

_LATER = {"disclosure_report": "report", "render_report_html": "report", "prepare_report_html": "report",
          "Leak": "verify", "find_leaks": "verify", "verify_no_leak": "verify"}


def __getattr__(name: str):
    if name in _LATER:
        return getattr(importlib.import_module(f".{_LATER[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MARKERS",
    "DisclosurePlan",
    "Hit",
    "Leak",
    "Redaction",
    "Redactor",
    "WithheldAttachment",
    "disclosure_report",
    "find_leaks",
    "plan_disclosure",
    "prepare_report_html",
    "render_report_html",
    "verify_no_leak",
]

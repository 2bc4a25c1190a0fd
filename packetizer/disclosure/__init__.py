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
"""

from .attachments import WithheldAttachment
from .plan import DisclosurePlan, plan_disclosure
from .redactor import MARKERS, Hit, Redaction, Redactor
from .report import disclosure_report, render_report_html
from .verify import Leak, find_leaks, verify_no_leak

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
    "render_report_html",
    "verify_no_leak",
]

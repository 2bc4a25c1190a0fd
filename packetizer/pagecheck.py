"""How each page of an exhibit was checked for identifiers (SPEC section 4, "what a reader can see is what is checked")."""

from __future__ import annotations

from dataclasses import dataclass

TEXT_LAYER = "text_layer"   # the page's own text layer was trusted and searched (the page stays vector unless
                            # something was burnt out of it)
OCR = "ocr"                 # the page was rendered, read by OCR, searched, and sent as a picture of itself
UNCHECKED = "unchecked"     # read by OCR, but with a confidence below MIN_OCR_CONFIDENCE, no word read on a page
                            # that is not blank, or not read in time: look at it before sending
METHODS = (TEXT_LAYER, OCR, UNCHECKED)


@dataclass(frozen=True)
class PageCheck:
    """The check one exhibit page had.

    Attributes:
        page: 1-based page of the exhibit.
        method: ``text_layer``, ``ocr`` or ``unchecked``.
        confidence: mean OCR word confidence (0-100) of an OCR'd page, else None.
        reason: why the page's text layer was not trusted, in words staff understand.
    """

    page: int
    method: str
    confidence: float | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        out: dict = {"page": self.page, "method": self.method}
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 1)
        if self.reason:
            out["reason"] = self.reason
        return out

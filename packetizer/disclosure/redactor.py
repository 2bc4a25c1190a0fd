"""Find and remove identifiers in text, HTML fragments and PDFs.

One :class:`Redactor` per build holds the case's withheld values (as
:class:`~.identifiers.Needle` searches), the values that must stay, and the
pattern detectors. Ingest calls it duck-typed (``redact_html``,
``redact_pdf``), so the ingest package never imports this one.
"""

from __future__ import annotations

import html
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

from .identifiers import Needle, keep_key, normalise
from .patterns import DETECTORS, Detector

# What a reader sees where something was removed.
MARKERS = {
    "ssn": "[SSN removed]",
    "phone": "[phone removed]",
    "email": "[email removed]",
    "street_address": "[address removed]",
    "mrn": "[MRN removed]",
    "identifier": "[identifier removed]",
}
TYPE_WORDS = {
    "ssn": "Social Security number",
    "phone": "phone or fax number",
    "email": "email address",
    "street_address": "street address",
    "mrn": "medical record or account number",
    "identifier": "withheld identifier",
}


@dataclass(frozen=True)
class Hit:
    """One identifier found in a text: characters ``start:end`` are of ``type``."""

    start: int
    end: int
    type: str


@dataclass(frozen=True)
class Redaction:
    """Identifiers of one type removed from one page of an exhibit (page 1-based)."""

    type: str
    page: int
    count: int

    def to_dict(self) -> dict:
        return {"type": self.type, "page": self.page, "count": self.count}


@dataclass(frozen=True)
class RedactedHtml:
    """An HTML fragment with identifiers replaced by marker spans, one anchor id per marker."""

    html: str
    marks: tuple[tuple[str, str], ...] = ()     # (anchor id, type), in document order

    @property
    def anchor_ids(self) -> tuple[str, ...]:
        return tuple(anchor for anchor, _ in self.marks)

    def tally(self, pages: Mapping[str, int]) -> tuple[Redaction, ...]:
        """Count the markers per (type, page), given the page each anchor landed on."""
        counts: Counter = Counter()
        last_page = 1
        for anchor, type_ in self.marks:
            # An anchor the layout did not report sits with the one before it.
            last_page = pages.get(anchor, last_page)
            counts[(type_, last_page)] += 1
        return tuple(Redaction(t, p, n) for (t, p), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])))


@dataclass(frozen=True)
class Redactor:
    """Finds identifiers the payer does not need.

    Attributes:
        needles: the case's withheld values, as searches.
        keep: lookup keys (see :func:`~.identifiers.keep_key`) of values that stay.
        detectors: shape-based detectors run on every text.
    """

    needles: tuple[Needle, ...] = field(default=(), repr=False)
    keep: frozenset[str] = field(default=frozenset(), repr=False)
    detectors: tuple[Detector, ...] = field(default=DETECTORS, repr=False)

    def find(self, text: str) -> list[Hit]:
        """Every identifier in ``text``, overlapping finds merged, in order."""
        hits: list[Hit] = []
        needles = self._present(text)
        for needle in needles:
            hits.extend(Hit(m.start(), m.end(), needle.type) for m in needle.strict.finditer(text) if m.end() > m.start())
        if needles and _NON_SPACE.fullmatch(text) is None:
            squashed, where = _squash(text)
            for needle in needles:
                for m in needle.loose.finditer(squashed):
                    if m.end() > m.start():
                        hits.append(Hit(where[m.start()], where[m.end() - 1] + 1, needle.type))
        for detector in self.detectors:
            for m in detector.regex.finditer(text):
                start, end = m.span(detector.group)
                if end > start and keep_key(detector.type, m.group(detector.group)) not in self.keep:
                    hits.append(Hit(start, end, detector.type))
        if hits and self.keep:
            # A value the payer needs stays whole, even when a withheld
            # number happens to sit inside it (a member id holding the SSN digits).
            kept = [m.span() for m in _TOKEN.finditer(text) if normalise(m.group(0)) in self.keep]
            if kept:
                hits = [h for h in hits if not any(s <= h.start and h.end <= e for s, e in kept)]
        return _merge(hits)

    def _present(self, text: str) -> list[Needle]:
        """The needles whose anchor is in ``text``: only they can match (one fast pass, then regexes)."""
        if not self.needles:
            return []
        letters_and_digits = _NOT_ALNUM.sub("", text).upper()
        return [n for n in self.needles if n.anchor in letters_and_digits]

    def first_hit(self, text: str) -> Hit | None:
        """Some identifier in ``text``, or None: :meth:`find` for when one is enough."""
        kept: list[tuple[int, int]] | None = None

        def allowed(start: int, end: int) -> bool:
            nonlocal kept
            if not self.keep:
                return True
            if kept is None:
                kept = [m.span() for m in _TOKEN.finditer(text) if normalise(m.group(0)) in self.keep]
            return not any(s <= start and end <= e for s, e in kept)

        needles = self._present(text)
        for needle in needles:
            for m in needle.strict.finditer(text):
                if m.end() > m.start() and allowed(m.start(), m.end()):
                    return Hit(m.start(), m.end(), needle.type)
        if needles and _NON_SPACE.fullmatch(text) is None:
            squashed, where = _squash(text)
            for needle in needles:
                for m in needle.loose.finditer(squashed):
                    if m.end() > m.start():
                        start, end = where[m.start()], where[m.end() - 1] + 1
                        if allowed(start, end):
                            return Hit(start, end, needle.type)
        for detector in self.detectors:
            for m in detector.regex.finditer(text):
                start, end = m.span(detector.group)
                if end > start and keep_key(detector.type, m.group(detector.group)) not in self.keep \
                        and allowed(start, end):
                    return Hit(start, end, detector.type)
        return None

    def redact_text(self, text: str) -> tuple[str, list[Hit]]:
        """``text`` with every identifier replaced by its visible marker."""
        hits = self.find(text)
        out, position = [], 0
        for hit in hits:
            out.append(text[position:hit.start])
            out.append(MARKERS[hit.type])
            position = hit.end
        out.append(text[position:])
        return "".join(out), hits

    def redact_html(self, fragment: str) -> RedactedHtml:
        """Redact the text of an HTML fragment made by ingest (escaped text, attribute-free inline tags).

        Text is matched across inline tags (Word splits a number over several
        runs), and across blocks as if they were line breaks: the final
        no-leak proof reads a table's cells joined the same way, so what it
        would find must be gone here already. Each removed value becomes a
        marker span with an id, so the renderer can say on which page it landed.
        """
        tokens = _TAG.split(fragment)
        texts: list[str] = []
        owner = array("q")           # combined-text position -> token index (-1: block separator)
        offset = array("q")          # combined-text position -> offset inside that token's text
        decoded: dict[int, str] = {}
        for index, token in enumerate(tokens):
            if index % 2:            # a tag
                if not _INLINE.match(token):
                    texts.append("\n")
                    owner.append(-1)
                    offset.append(0)
                continue
            if not token:
                continue
            text = html.unescape(token)
            decoded[index] = text
            texts.append(text)
            owner.extend([index] * len(text))
            offset.extend(range(len(text)))
        combined = "".join(texts)
        hits = self.find(combined)
        if not hits:
            return RedactedHtml(fragment)
        # Per token: character ranges to drop, and where a marker goes.
        drops: dict[int, list[tuple[int, int]]] = {}
        inserts: dict[int, list[tuple[int, str]]] = {}
        marks: list[tuple[str, str]] = []
        for number, hit in enumerate(hits, start=1):
            anchor = f"redaction-{number}"
            marks.append((anchor, hit.type))
            placed = False
            position = hit.start
            while position < hit.end:
                token = owner[position]
                if token < 0:
                    position += 1
                    continue
                run_end = position
                while run_end < hit.end and owner[run_end] == token:
                    run_end += 1
                drops.setdefault(token, []).append((offset[position], offset[run_end - 1] + 1))
                if not placed:
                    inserts.setdefault(token, []).append((offset[position], _marker_html(anchor, hit.type)))
                    placed = True
                position = run_end
        for index, text in decoded.items():
            if index in drops or index in inserts:
                tokens[index] = _rebuild(text, drops.get(index, []), inserts.get(index, []))
        return RedactedHtml("".join(tokens), tuple(marks))

    def redact_pdf(self, pdf: bytes, *, name: str):
        """Sanitise a PDF attachment and burn identifiers out of it (see :mod:`.pdfredact`)."""
        from .pdfredact import redact_pdf

        return redact_pdf(pdf, self, name=name)


_TAG = re.compile(r"(<[^>]*>)")
_NON_SPACE = re.compile(r"\S+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
# An identifier-like token: letters and digits, with inner dashes, dots or slashes.
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-./]*[A-Za-z0-9])?")
# Tags that do not break the flow of text: a value may continue across them.
_INLINE = re.compile(r"</?(?:strong|em|b|i|u|s|del|ins|code|span|sup|sub|a|small|mark|abbr)\b", re.I)


def _marker_html(anchor: str, type_: str) -> str:
    return f'<span class="redaction" id="{anchor}">{html.escape(MARKERS[type_])}</span>'


def _rebuild(text: str, drops: list[tuple[int, int]], inserts: list[tuple[int, str]]) -> str:
    """Re-escape ``text`` without the dropped ranges, with marker HTML at the insert points."""
    dropped = [False] * len(text)
    for start, end in drops:
        for i in range(start, end):
            dropped[i] = True
    at = {}
    for position, markup in inserts:
        at.setdefault(position, []).append(markup)
    out, run = [], []
    for i, char in enumerate(text):
        if i in at:
            out.append(html.escape("".join(run)))
            run = []
            out.extend(at[i])
        if not dropped[i]:
            run.append(char)
    out.append(html.escape("".join(run)))
    return "".join(out)


def _squash(text: str) -> tuple[str, array]:
    """``text`` without white space, and the original position of each kept character."""
    runs = list(_NON_SPACE.finditer(text))
    where = array("q")      # 8 bytes a position, not a Python int each
    for run in runs:
        where.extend(range(run.start(), run.end()))
    return "".join(run.group() for run in runs), where


def _merge(hits: list[Hit]) -> list[Hit]:
    """Overlapping or touching hits become one, keeping the type of the first."""
    merged: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if merged and hit.start < merged[-1].end:
            last = merged[-1]
            if hit.end > last.end:
                merged[-1] = Hit(last.start, hit.end, last.type)
            continue
        merged.append(hit)
    return merged

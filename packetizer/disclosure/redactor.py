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
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

from .identifiers import Needle, keep_key, normalise
from .patterns import DETECTORS, VERIFY_DETECTORS, Detector
from .textfold import fold, ocr_reading

if TYPE_CHECKING:
    from .pdfredact import PendingRedaction, RedactedPdf

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

    Text is folded before it is searched (see :mod:`.textfold`: NFKC, every
    dash and space variant, invisible characters removed); hits are spans of
    the text as given.

    Attributes:
        needles: the case's withheld values, as searches.
        keep: lookup keys (see :func:`~.identifiers.keep_key`) of values that stay.
        detectors: shape-based detectors run on every text.
    """

    needles: tuple[Needle, ...] = field(default=(), repr=False)
    keep: frozenset[str] = field(default=frozenset(), repr=False)
    detectors: tuple[Detector, ...] = field(default=DETECTORS, repr=False)

    def proof_searches(self) -> "Redactor":
        """The searches of the no-leak proof: the same withheld values and kept values, and only the
        detectors strong enough to fail a finished packet on their own (a dashed or labelled SSN)."""
        return Redactor(needles=self.needles, keep=self.keep, detectors=VERIFY_DETECTORS)

    def find(self, text: str, *, ocr: bool = False) -> list[Hit]:
        """Every identifier in ``text``, overlapping finds merged, in order.

        Args:
            text: the text as extracted.
            ocr: the text was read by OCR: also search it with digit-like
                letters read as digits (``44B6`` as ``4486``).
        """
        folded = fold(text)
        readings = _readings(folded.text, ocr)
        hits = list(self._scan(readings))
        if hits and self.keep:
            # A value the payer needs stays whole, even when a withheld
            # number happens to sit inside it (a member id holding the SSN digits).
            kept = self._kept(readings)
            if kept:
                hits = [h for h in hits if not _inside(h, kept)]
        return _merge([Hit(*folded.span(h.start, h.end), h.type) for h in _merge(hits)])

    def first_hit(self, text: str, *, ocr: bool = False) -> Hit | None:
        """Some identifier in ``text``, or None: :meth:`find` for when one is enough."""
        folded = fold(text)
        readings = _readings(folded.text, ocr)
        kept: list[tuple[int, int]] | None = None
        for hit in self._scan(readings):
            if self.keep:
                if kept is None:
                    kept = self._kept(readings)
                if _inside(hit, kept):
                    continue
            return Hit(*folded.span(hit.start, hit.end), hit.type)
        return None

    def find_in_pages(self, texts: Sequence[str], *, ocr: Sequence[bool] | None = None,
                      found: Sequence[list[Hit] | None] | None = None,
                      breaks_found: Mapping[int, list[list[Hit]]] | None = None) -> list[list[Hit]]:
        """:meth:`find` on each page, plus the values split across a page break.

        A value that starts at the foot of one page and ends at the head of the
        next is searched in the two joined, with and without a short last and
        first line between them (a running footer such as "Page 1 of 3", a fax
        header); each page gets the hit for its own part.

        Args:
            texts: the text of each page, in order.
            ocr: per page, whether OCR read it (see :meth:`find`); default none.
            found: per page, its own hits when they are known already (None: search it).
            breaks_found: per break (by the 0-based page before it), the hits on the two pages
                already found across it (see :meth:`find_across_breaks`); the others are searched.
        """
        flags = _ocr_flags(texts, ocr)
        known = list(found) if found is not None else [None] * len(texts)
        pages = [list(hits) if hits is not None else self.find(text, ocr=flag)
                 for text, flag, hits in zip(texts, flags, known)]
        done = breaks_found or {}
        search = [b for b in range(len(texts) - 1) if b not in done]
        across = self.find_across_breaks(texts, ocr=flags, breaks=search)
        for b, (first, second) in done.items():
            across[b] = across[b] + first
            across[b + 1] = across[b + 1] + second
        return [_merge(hits + more) for hits, more in zip(pages, across)]

    def find_across_breaks(self, texts: Sequence[str], *, ocr: Sequence[bool] | None = None,
                           breaks: Iterable[int] | None = None) -> list[list[Hit]]:
        """Per page, the parts of values split across a page break (see :meth:`find_in_pages`).

        Args:
            texts: the text of each page, in order.
            ocr: per page, whether OCR read it.
            breaks: the breaks to search, each by the 0-based page before it; default all of them.
        """
        flags = _ocr_flags(texts, ocr)
        found: list[list[Hit]] = [[] for _ in texts]
        for page in (range(len(texts) - 1) if breaks is None else breaks):
            for join in _joins(texts[page], texts[page + 1]):
                for hit in self.find(join.text, ocr=flags[page] or flags[page + 1]):
                    for offset, part in join.parts(hit):
                        found[page + offset].append(part)
        return found

    def split_across_break(self, before: str, after: str, *, ocr: bool = False) -> frozenset[tuple[str, str]]:
        """The identifiers the break between two pages' texts cuts in two (part of each ends ``before``, the
        rest begins ``after``; see :meth:`find_in_pages`): each as its type and :func:`split_key`.

        ``ocr``: the texts were read by OCR (see :meth:`find`).
        """
        split = set()
        for join in _joins(before, after):
            for hit in self.find(join.text, ocr=ocr):
                if hit.start < join.a_end - join.a_start < hit.end - 1:   # a part on each side of the break
                    split.add((hit.type, split_key(join.text[hit.start:hit.end])))
        return frozenset(split)

    def first_hit_in_pages(self, texts: Sequence[str], *,
                           ocr: Sequence[bool] | None = None) -> tuple[int, Hit] | None:
        """Some identifier on the pages or across a break, as (0-based page, hit), or None."""
        flags = _ocr_flags(texts, ocr)
        for page, (text, flag) in enumerate(zip(texts, flags)):
            hit = self.first_hit(text, ocr=flag)
            if hit is not None:
                return page, hit
        for page in range(len(texts) - 1):
            for join in _joins(texts[page], texts[page + 1]):
                hit = self.first_hit(join.text, ocr=flags[page] or flags[page + 1])
                if hit is not None:
                    offset, part = next(join.parts(hit))
                    return page + offset, part
        return None

    def _scan(self, readings: tuple[str, ...]) -> Iterator[Hit]:
        """Hits in the folded text, before the whole values of the keep set are spared."""
        base = readings[0]
        for reading in readings:
            needles = self._present(reading)
            for needle in needles:
                for m in needle.strict.finditer(reading):
                    if m.end() > m.start():
                        yield Hit(m.start(), m.end(), needle.type)
            loose = [n for n in needles if n.loose is not None]
            if loose and _NON_SPACE.fullmatch(reading) is None:
                squashed, where = _squash(reading)
                for needle in loose:
                    for m in needle.loose.finditer(squashed):
                        if m.end() > m.start():
                            yield Hit(where[m.start()], where[m.end() - 1] + 1, needle.type)
            keep = self.keep
            for detector in self.detectors:
                if detector.hint is not None and detector.hint.search(reading) is None:
                    continue
                for m in detector.regex.finditer(reading):
                    start, end = m.span(detector.group)
                    if end > start and not (keep and (
                            keep_key(detector.type, m.group(detector.group)) in keep
                            or reading is not base and keep_key(detector.type, base[start:end]) in keep)):
                        yield Hit(start, end, detector.type)

    def _present(self, text: str) -> list[Needle]:
        """The needles whose anchor is in ``text``: only they can match (one fast pass, then regexes)."""
        if not self.needles:
            return []
        # The text's ASCII letters and digits, upper case: bytes.translate deletes and maps in one C pass.
        letters_and_digits = text.encode("ascii", "ignore").translate(_UPPER_BYTES, _NOT_ALNUM_BYTES)
        return [needle for needle, anchor in self._anchors if anchor is not None and anchor in letters_and_digits]

    @cached_property
    def _anchors(self) -> tuple[tuple[Needle, bytes | None], ...]:
        """Each needle and its anchor as bytes; None for an anchor with a character other than an ASCII
        letter or digit, which the letters and digits of a text never hold."""
        return tuple((n, n.anchor.encode("ascii") if n.anchor.isascii() else None) for n in self.needles)

    def _kept(self, readings: tuple[str, ...]) -> list[tuple[int, int]]:
        """Spans of whole tokens that are values the payer needs, in any reading of the text."""
        base, keep, shortest = readings[0], self.keep, self._shortest_kept
        # A token shorter than every kept value cannot normalise to one (normalising only drops characters).
        kept = [m.span() for m in _TOKEN.finditer(base)
                if m.end() - m.start() >= shortest and _token_key(m.group(0)) in keep]
        for reading in readings[1:]:
            kept += [m.span() for m in _TOKEN.finditer(reading) if m.end() - m.start() >= shortest
                     and (_token_key(m.group(0)) in keep or normalise(base[m.start():m.end()]) in keep)]
        return kept

    @cached_property
    def _shortest_kept(self) -> int:
        return min(map(len, self.keep), default=0)

    def redact_text(self, text: str, *, ocr: bool = False) -> tuple[str, list[Hit]]:
        """``text`` with every identifier replaced by its visible marker."""
        hits = self.find(text, ocr=ocr)
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

    def redact_pdf(self, pdf: bytes, *, name: str) -> RedactedPdf:
        """Sanitise a PDF attachment and burn identifiers out of it (see :mod:`.pdfredact`)."""
        from .pdfredact import redact_pdf

        return redact_pdf(pdf, self, name=name)

    def start_redact_pdf(self, pdf: bytes, *, name: str) -> PendingRedaction:
        """:meth:`redact_pdf`, started in its sandboxed child without waiting for it."""
        from .pdfredact import start_redact_pdf

        return start_redact_pdf(pdf, self, name=name)


_TAG = re.compile(r"(<[^>]*>)")
_NON_SPACE = re.compile(r"\S+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
# bytes.translate tables: every byte but an ASCII letter or digit deleted, lower case mapped to upper.
_NOT_ALNUM_BYTES = bytes(b for b in range(256) if not (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122))
_UPPER_BYTES = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# An identifier-like token: letters and digits, with inner dashes, dots or slashes.
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-./]*[A-Za-z0-9])?")
# Tags that do not break the flow of text: a value may continue across them.
_INLINE = re.compile(r"</?(?:strong|em|b|i|u|s|del|ins|code|span|sup|sub|a|small|mark|abbr)\b", re.I)


def _token_key(token: str) -> str:
    """:func:`~.identifiers.normalise` of a ``_TOKEN`` match (ASCII letters and digits, inner ``-./``),
    without a regex: ``_kept`` runs it on every word of a text with a find."""
    if token.isalnum():
        return token.upper()
    return token.replace("-", "").replace(".", "").replace("/", "").upper()


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


def _readings(folded: str, ocr: bool) -> tuple[str, ...]:
    """The folded text, and its OCR reading when that differs (same positions)."""
    if ocr:
        reading = ocr_reading(folded)
        if reading != folded:
            return folded, reading
    return (folded,)


def _inside(hit: Hit, spans: list[tuple[int, int]]) -> bool:
    return any(s <= hit.start and hit.end <= e for s, e in spans)


def _ocr_flags(texts: Sequence[str], ocr: Sequence[bool] | None) -> list[bool]:
    if ocr is None:
        return [False] * len(texts)
    if len(ocr) != len(texts):
        raise ValueError(f"ocr has {len(ocr)} flags for {len(texts)} pages")
    return [bool(flag) for flag in ocr]


# Page breaks: how much of each page is joined, and the lines skipped between them.
_BREAK_WINDOW = 400
_RUNNING_LINE = 80       # a footer, header or fax line is at most this long
_RUNNING_LINES = 4       # and at most this many lines at the foot or the head of a page


@dataclass(frozen=True)
class _Join:
    """The foot of one page (``a[a_start:a_end]``), a line break, and the head of the next (``b[b_start:b_end]``)."""

    text: str
    a_start: int
    a_end: int
    b_start: int

    def parts(self, hit: Hit) -> Iterator[tuple[int, Hit]]:
        """The hit's part on the first page (0) and on the second (1), in each page's positions."""
        foot = self.a_end - self.a_start
        if hit.start < foot:
            yield 0, Hit(self.a_start + hit.start, self.a_start + min(hit.end, foot), hit.type)
        if hit.end > foot + 1:
            yield 1, Hit(self.b_start + max(hit.start - foot - 1, 0), self.b_start + hit.end - foot - 1, hit.type)


def split_key(value: str) -> str:
    """What two readings of the same value have in common: its letters and digits, folded, upper case, with
    OCR's digit look-alikes read as digits (``47826-I935`` and ``478-26-1935`` give the same key)."""
    return _NOT_ALNUM.sub("", ocr_reading(fold(value).text)).upper()


def _joins(a: str, b: str) -> list[_Join]:
    """The joins of page ``a`` and page ``b`` worth searching (see :meth:`Redactor.find_in_pages`)."""
    foot_ends, end = [], len(a.rstrip())
    for _ in range(_RUNNING_LINES + 1):
        foot_ends.append(end)
        line_start = a.rfind("\n", 0, end) + 1
        if end == 0 or end - line_start > _RUNNING_LINE or line_start == 0:
            break
        end = len(a[:line_start].rstrip())
    head_starts, start = [], len(b) - len(b.lstrip())
    for _ in range(_RUNNING_LINES + 1):
        head_starts.append(start)
        line_end = b.find("\n", start)
        if start == len(b) or line_end < 0 or line_end - start > _RUNNING_LINE:
            break
        start = line_end + len(b[line_end:]) - len(b[line_end:].lstrip())
    joins = []
    for a_end in foot_ends:
        a_start = max(0, a_end - _BREAK_WINDOW)
        # Whole tokens only: a number cut in half would look like a shorter one.
        while a_start > 0 and not a[a_start - 1].isspace():
            a_start -= 1
        for b_start in head_starts:
            b_end = min(len(b), b_start + _BREAK_WINDOW)
            while b_end < len(b) and not b[b_end].isspace():
                b_end += 1
            joins.append(_Join(a[a_start:a_end] + "\n" + b[b_start:b_end], a_start, a_end, b_start))
    return joins


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

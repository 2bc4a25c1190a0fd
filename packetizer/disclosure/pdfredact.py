"""True redaction of PDF exhibits, judged on what a reader of each page sees.

Every page gets one of two treatments (:mod:`packetizer.ingest.trust` decides):

- **Its text layer can be trusted** (fonts with Unicode maps, no pictures,
  patterns, shadings, soft masks, ``/ActualText`` or outlines, and PDFium and
  poppler reading the same words): the text is searched as PDFium and poppler
  extract it, and the data hidden in the page's objects too. A page with no
  finding is copied as it is and stays vector.
- **Otherwise** the page is rendered at ``OCR_DPI``, encoded as it will be
  sent (one bit a pixel for a black-and-white page, JPEG otherwise), and
  Tesseract reads that picture. The OCR words and whatever text layer the
  page had are searched together.

Values are also matched across the break between two pages. Whatever is found
is burnt into the pixels of a fresh rendering of the page (never drawn over
the old content), and the picture is encoded again. A page OCR had not read
yet is then read whole; on a page it had read, only the burnt boxes changed,
so the lines around each box are read again from the picture as sent. Any
identifier a reading still shows is burnt out too, for up to
``MAX_OCR_ROUNDS`` readings; a page that still shows one fails the attachment.
A page sent as a picture carries an invisible text layer made of the words
OCR read on it, without the removed values, so a reviewer can search and
copy it. Pictures reach the packet only as these new encodings of the visible
pixels: hidden image samples, masks and metadata are left behind.

The SHA-256 of each picture sent is returned, so the no-leak proof of the
finished packet can insist that every picture in it is one that was read.

The work runs in the sandboxed child that sanitises the attachment
(:func:`packetizer.sandbox.start_sandboxed`), right after it: PDFium parses
content streams that came from an uploaded file. Tesseract runs as processes
of that child, and goes with it if it runs out of time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageDraw
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, IndirectObject, NameObject,
                           NumberObject, StreamObject)

from ..errors import DisclosureError, ErrorCode, IngestError, LimitExceeded
from ..ingest import trust
from ..ingest.pdf import copy_layer_visibility, sanitise_failure, sanitise_in_child
from ..workfolders import WorkFolder
from ..sandbox import SandboxedChild, in_two, stage_done, start_sandboxed, tell_parent
from ..limits import (MAX_OCR_ATTACHMENT_SECONDS, MAX_OCR_PAGE_SECONDS, MAX_OCR_ROUNDS, MAX_PDF_PARSE_MEMORY_BYTES,
                      MAX_PDF_PARSE_SECONDS, MAX_PDF_REDACT_SECONDS, MAX_POPPLER_SECONDS, MAX_REDACTED_PAGE_PIXELS,
                      MIN_OCR_CONFIDENCE, OCR_DPI, SPLIT_PDF_PAGES)
from ..ocr import OcrPage, has_ink, read_pictures
from ..pagecheck import OCR, TEXT_LAYER, UNCHECKED, PageCheck
from .pdftext import PopplerReading, object_strings, page_text
from .redactor import Hit, Redaction

log = logging.getLogger(__name__)


_PROBE_DPI = 24                # a thumbnail is enough to tell colour from black and white
_JPEG_QUALITY = 80
_JPEG_BLOCK = 16                # pixels of the largest JPEG block (colour, 4:2:0); grey blocks are 8
_BOX_PADDING = 1.0             # points around each character box: antialiased glyph edges are covered
_COLOUR_THRESHOLD = 24         # channel difference below which a pixel counts as grey
_MID_TONES_PER_DARK = 0.5      # a page with fewer mid-tones than half its dark pixels is black and white...
_MAX_MID_TONES = 0.03          # ...and with mid-tones in under 3 % of it (a grey photo has far more)
_MAX_DATA_DEPTH = 24
# Why an OCR'd page is unchecked, in words for staff.
OCR_TIMED_OUT = f"OCR did not finish reading it in MAX_OCR_PAGE_SECONDS ({MAX_OCR_PAGE_SECONDS} s)"
NO_WORDS = "OCR read no words, but the page is not blank"


@dataclass(frozen=True)
class RedactedPdf:
    """A PDF with identifiers burnt out, and what was done."""

    pdf: bytes
    pages: int
    redactions: tuple[Redaction, ...] = ()
    unchecked_pages: tuple[int, ...] = ()
    rasterized: tuple[int, ...] = ()
    page_checks: tuple[PageCheck, ...] = ()
    pictures_read: tuple[str, ...] = ()     # SHA-256 of every picture in ``pdf``, each read by OCR
    streams_searched: tuple[str, ...] = ()  # SHA-256 of stream data searched as the proof does, found clean


def redact_pdf(data: bytes, redactor, *, name: str, timeout: float = MAX_PDF_REDACT_SECONDS,
               parse_timeout: float = MAX_PDF_PARSE_SECONDS, memory: int = MAX_PDF_PARSE_MEMORY_BYTES) -> RedactedPdf:
    """Sanitise a PDF attachment, check every page as a reader sees it, and burn identifiers out of it.

    The child has ``parse_timeout`` seconds to open and sanitise the file (as
    :func:`packetizer.ingest.pdf.sanitise_pdf` does), then ``timeout`` seconds
    to redact it, plus twice ``MAX_OCR_PAGE_SECONDS`` for each page it reads by OCR
    (``MAX_OCR_ATTACHMENT_SECONDS`` at most);
    a failure is reported for the step that failed.

    Args:
        data: the attachment's bytes.
        redactor: the build's :class:`~.redactor.Redactor`.
        name: the attachment's file name as the user gave it (for messages).

    Raises:
        IngestError: encrypted, damaged or empty, not processed in time, or OCR failed.
        DisclosureError: an identifier is still there after ``MAX_OCR_ROUNDS`` readings.
        LimitExceeded: too many pages, a page too large to rasterise, or the work needs too much memory.
    """
    return start_redact_pdf(data, redactor, name=name, timeout=timeout, parse_timeout=parse_timeout,
                            memory=memory).result()


def start_redact_pdf(data: bytes, redactor, *, name: str, timeout: float = MAX_PDF_REDACT_SECONDS,
                     parse_timeout: float = MAX_PDF_PARSE_SECONDS,
                     memory: int = MAX_PDF_PARSE_MEMORY_BYTES) -> "PendingRedaction":
    """:func:`redact_pdf`, started: the child works while this process goes on (see :class:`PendingRedaction`)."""
    workdir = WorkFolder("redact")
    try:
        child = start_sandboxed(
            lambda pdf: _sanitise_and_redact_in_child(pdf, redactor, Path(workdir.name)), data,
            # A page may be read twice when its batch runs out of time (see packetizer.ocr).
            timeout=parse_timeout, memory=memory, next_timeouts=(timeout,), extend_seconds=2 * MAX_OCR_PAGE_SECONDS,
            extend_limit=MAX_OCR_ATTACHMENT_SECONDS,
        )
    except BaseException:
        workdir.cleanup()
        raise
    return PendingRedaction(child, workdir, name=name, timeout=timeout, parse_timeout=parse_timeout, memory=memory)


class PendingRedaction:
    """A PDF being sanitised and redacted in its sandboxed child (see :func:`start_redact_pdf`).

    :attr:`pages` is known as soon as the child has sanitised the file, long before it has checked every
    page: redaction keeps every page, so the exhibit will have that many. :meth:`result` waits for the rest;
    :meth:`stop` gives up on it.
    """

    def __init__(self, child: SandboxedChild, workdir: WorkFolder, *, name: str, timeout: float,
                 parse_timeout: float, memory: int) -> None:
        self.child = child
        self._workdir = workdir
        self._name, self._timeout, self._parse_timeout, self._memory = name, timeout, parse_timeout, memory

    @property
    def pages(self) -> int | None:
        """The PDF's pages, once the child has opened and sanitised it; else None."""
        return self._told("pages")

    @property
    def ocr_pages(self) -> int | None:
        """How many pages the child reads by OCR, once it has surveyed them all; else None."""
        return self._told("ocr_pages")

    def _told(self, key: str) -> int | None:
        for told in self.child.told:
            if isinstance(told.get(key), int):
                return told[key]
        return None

    def stop(self) -> None:
        """Kill the child and remove its folder (the result is not wanted)."""
        try:
            self.child.stop()
        finally:
            self._workdir.cleanup()

    def result(self) -> RedactedPdf:
        """Wait for the child: the redacted PDF, or raise what went wrong (see :func:`redact_pdf`)."""
        try:
            status, meta, payload = self.child.result()
        finally:
            # Page pictures hold PHI: the folder goes however the child ended.
            self._workdir.cleanup()
        return _outcome(status, meta, payload, name=self._name, timeout=self._timeout,
                        parse_timeout=self._parse_timeout, memory=self._memory)


def _outcome(status: str, meta: dict, payload: bytes, *, name: str, timeout: float, parse_timeout: float,
             memory: int) -> RedactedPdf:
    if status == "ok":
        checks = tuple(PageCheck(**check) for check in meta["page_checks"])
        return RedactedPdf(
            pdf=payload, pages=meta["pages"],
            redactions=tuple(Redaction(t, p, n) for t, p, n in meta["redactions"]),
            unchecked_pages=tuple(c.page for c in checks if c.method == UNCHECKED),
            rasterized=tuple(meta["rasterized"]), page_checks=checks, pictures_read=tuple(meta["pictures_read"]),
            streams_searched=tuple(meta["streams_searched"]),
        )
    if meta.get("stages_done", 0) < 1:   # it failed while opening and sanitising
        raise sanitise_failure(status, meta, name=name, timeout=parse_timeout, memory=memory)
    if status == "timeout":
        raise IngestError(f"redaction took longer than MAX_PDF_REDACT_SECONDS ({timeout:g} s)"
                          f" plus twice MAX_OCR_PAGE_SECONDS ({MAX_OCR_PAGE_SECONDS} s) for each page read by OCR", subject=name)
    if status == "memory":
        raise LimitExceeded(f"needs more memory than MAX_PDF_PARSE_MEMORY_BYTES ({memory}) to redact", subject=name)
    if status == "too_large":
        raise LimitExceeded(
            f"page {meta['page']} is {meta['pixels']} pixels at {OCR_DPI} dpi"
            f" > MAX_REDACTED_PAGE_PIXELS ({MAX_REDACTED_PAGE_PIXELS})", subject=name
        )
    if status in (ErrorCode.OCR_FAILED, ErrorCode.OCR_UNAVAILABLE):
        raise IngestError(meta["message"], code=ErrorCode(status), subject=name)
    if status == "leak":
        raise DisclosureError(
            f"page {meta['page']}: a {meta['type'].replace('_', ' ')} is still present after redaction;"
            " the attachment was not used", code=ErrorCode.REDACTION_FAILED, subject=name,
        )
    log.info("PDF redaction failed: %s", status)
    raise DisclosureError("could not be checked for identifiers (the PDF could not be processed)",
                          code=ErrorCode.REDACTION_FAILED, subject=name)


# --------------------------------------------------------------------------
# Inside the child.
# --------------------------------------------------------------------------


class _Stop(Exception):
    """Ends the work in the child with a status for the parent."""

    def __init__(self, **meta):
        super().__init__(meta.get("status"))
        self.meta = meta


@dataclass
class _Page:
    """What the child learns about one page (mutable, child-only)."""

    index: int
    text: str                                  # PDFium's text layer
    second_text: str | None                    # another extractor's reading of the same layer
    doubt: str = ""                            # why the text layer is not trusted ("" = trusted)
    picture: Path | None = None                # the picture as it will be sent
    picture_info: tuple = ()                   # (pixel width, height, mode, width pt, height pt)
    reading: OcrPage | None = None             # OCR of the whole picture, before its last burns
    boxes: list = field(default_factory=list)  # pixel boxes burnt out so far
    new_boxes: list = field(default_factory=list)
    recheck_failed: bool = False               # OCR did not finish re-reading lines around a burnt box
    left_type: str = ""                        # the type of the last identifier a reading showed


def _sanitise_and_redact_in_child(data: bytes, redactor, workdir: Path) -> tuple[dict, bytes]:
    # Every temporary file of this child and its programs (pytesseract's, Tesseract's) goes into the
    # parent's folder, which the parent removes however the child ends: page pictures hold PHI.
    tempfile.tempdir = str(workdir)
    os.environ["TMPDIR"] = str(workdir)
    meta, clean = sanitise_in_child(data, find_text=False)
    if meta["status"] != "ok":
        return meta, b""
    stage_done()
    tell_parent({"pages": meta["pages"]})   # the build lays out its index meanwhile
    try:
        meta, pdf = _redact_in_child(clean, redactor, workdir)
    except _Stop as stop:
        return stop.meta, b""
    except IngestError as exc:   # OCR could not run or finish
        failed = exc.code if exc.code in (ErrorCode.OCR_FAILED, ErrorCode.OCR_UNAVAILABLE) else ErrorCode.OCR_FAILED
        return {"status": failed, "message": exc.message}, b""
    return meta, pdf if meta["changed"] else clean


def _redact_in_child(data: bytes, redactor, workdir: Path) -> tuple[dict, bytes]:
    document = pdfium.PdfDocument(data)
    reader = PdfReader(io.BytesIO(data), strict=False)
    try:
        # A long PDF is surveyed on both cores: each half of its pages in its own process.
        halves = in_two(len(document), lambda indexes: _survey(data, document, reader, indexes, redactor, workdir),
                        min_count=SPLIT_PDF_PAGES)
        pages = [page for half in halves for page in half.pages]
        own = [hits for half in halves for hits in half.hits]
        breaks = {b: parts for half in halves for b, parts in half.breaks.items()}
        joins = {index: values for half in halves for index, values in half.second_joins.items()}
        if len(halves) == 2:   # the break between the halves, which neither half read across
            joins.update(_doubt_second_joins(redactor, pages, own, [len(halves[0].pages) - 1]))
        counts: Counter = Counter()
        # The build starts another attachment's child beside this one only if this one reads no page by OCR.
        tell_parent({"ocr_pages": sum(1 for p in pages if p.doubt)})
        _read(document, [p for p in pages if p.doubt], workdir)
        hits = _find_all(redactor, pages, own, breaks)
        late = [page for page, found in zip(pages, hits) if not page.doubt and found
                and not all(_char_boxes(document, page, [hit]) for hit in found)]
        for page in late:
            # Characters with no place on the page (zero-size, generated): only the pixels can say.
            page.doubt = trust.UNLOCATABLE
        if late:
            _read(document, late, workdir)
            hits = _find_all(redactor, pages, own, breaks)
        _check_second_joins(redactor, pages, joins)
        for page, found in zip(pages, hits):
            _locate(document, page, found, redactor, counts)
        _burn_until_clean(document, pages, redactor, workdir, counts)
        rasterized = [p for p in pages if p.picture is not None]
        checks = [_check(p).__dict__ for p in pages]
        kept = {digest for half in halves for digest in half.clean_streams}
        meta = {
            "status": "ok", "pages": len(pages), "changed": bool(rasterized),
            "rasterized": [p.index + 1 for p in rasterized], "page_checks": checks,
            "pictures_read": [], "streams_searched": sorted(kept), "redactions": [
                [t, n_page, n] for (t, n_page), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
        }
        if not rasterized:
            return meta, b""
        pdf, digests = _rebuild(reader, pages, redactor)
    finally:
        document.close()
    meta["pictures_read"] = digests
    _check_rebuilt(pdf, rasterized, redactor)
    return meta, pdf


@dataclass
class _Survey:
    """What the text layers of some pages say (see :func:`_survey`)."""

    pages: list[_Page]
    hits: list[list[Hit] | None]          # per page: the hits in its trusted text layer (None: read by OCR)
    breaks: dict[int, list[list[Hit]]]    # per break between two trusted pages: the hits across it
    clean_streams: set[str]               # digests of the stream data searched and found clean
    second_joins: dict[int, set]          # per break sent to OCR: what poppler's reading cut in two there


def _survey(data: bytes, document, reader: PdfReader, indexes: range, redactor, workdir: Path) -> _Survey:
    """Decide for each of the pages ``indexes`` whether its text layer can be trusted, and search the
    trusted ones: their text (and across the breaks between two of them), and for a page with nothing
    found, the data it carries without showing it."""
    poppler = PopplerReading(data, workdir, pages=indexes)   # reads on the other core while PDFium reads here
    pages = [_look(document, reader, index) for index in indexes]
    _compare(pages, reader, poppler.texts(len(pages), timeout=MAX_POPPLER_SECONDS))
    hits = [None if page.doubt else redactor.find(page.text) for page in pages]
    breaks = {}
    for offset in range(len(pages) - 1):
        if not pages[offset].doubt and not pages[offset + 1].doubt:
            breaks[indexes[offset]] = redactor.find_across_breaks([pages[offset].text, pages[offset + 1].text])
    objects = _ObjectSearch(redactor.proof_searches())
    for offset, page in enumerate(pages):
        index = indexes[offset]
        if page.doubt or hits[offset] or any(breaks.get(b, [[], []])[side] for b, side in ((index - 1, 1), (index, 0))):
            continue
        page.doubt = _hidden(redactor, page, reader.pages[index], objects)
        if page.doubt:
            hits[offset] = None
    joins = _doubt_second_joins(redactor, pages, hits, range(len(pages) - 1))
    return _Survey(pages, hits, breaks, objects.clean_streams, joins)


def _look(document, reader: PdfReader, index: int) -> _Page:
    """Read one page's text layer with PDFium and decide whether anything in the page casts doubt on it."""
    page = document[index]
    text_page = page.get_textpage()
    try:
        text = page_text(text_page)
        try:
            pypdf_page = reader.pages[index]
        except Exception:  # noqa: BLE001 - a page pypdf cannot read: the pixels decide
            return _Page(index, text, None, trust.UNREADABLE_PAGE)
        return _Page(index, text, None, trust.text_layer_doubt(pypdf_page, page, text_page, text))
    finally:
        text_page.close()
        page.close()


def _compare(pages: list[_Page], reader: PdfReader, second: list[str] | None) -> None:
    """Doubt every page whose second reading (poppler's, one text per page of ``pages``; pypdf's where
    poppler could not run) has words PDFium's does not: the search runs on PDFium's text."""
    for offset, page in enumerate(pages):
        if second is not None:
            page.second_text = second[offset]
        else:
            try:
                page.second_text = reader.pages[page.index].extract_text() or ""
            except Exception:  # noqa: BLE001 - content pypdf cannot read: the pixels decide
                page.doubt = page.doubt or trust.DISAGREE
                continue
        if not page.doubt and not trust.extractors_agree(page.text, page.second_text):
            page.doubt = trust.DISAGREE


def _hidden(redactor, page: _Page, pypdf_page, objects: "_ObjectSearch") -> str:
    """Why a trusted page with nothing found in its text layer must still be read from its pixels, or "".

    The second extractor decodes fonts its own way: a value only it reads
    cannot be located through PDFium's characters. And the no-leak proof
    searches every object of the finished file: a value only there (an
    alternate text, a marked-content property, a string no operator shows)
    would stop the build; read from its pixels, the page leaves that data behind.
    The objects are searched as the proof searches them (:meth:`Redactor.proof_searches`).
    """
    if page.second_text and redactor.first_hit(page.second_text) is not None:
        return trust.DISAGREE
    if objects.reaches_a_find(pypdf_page):
        return trust.HIDDEN_DATA
    return ""


def _doubt_second_joins(redactor, pages: list[_Page], hits: list, breaks: Iterable[int]) -> dict[int, set]:
    """Send to OCR both pages of each break (after one of ``breaks``: positions in ``pages`` of the page before
    it) where the second reading (poppler's) cuts in two an identifier the no-leak proof searches for, and
    PDFium's reading of the two pages does not cut the same one there. Returns, for each break sent (by the
    0-based index of the page before it), those identifiers (:meth:`Redactor.split_across_break`): OCR's
    reading must cut them there too (:func:`_check_second_joins`).

    Poppler reads a page top to bottom, PDFium in the order its text is drawn: a
    value one page ends and the next begins can meet in poppler's reading of the
    two and not in PDFium's (a footer drawn first, the last lines drawn before
    the first). The proof searches poppler's reading across breaks, so such a
    value would stop the build; PDFium's characters cannot locate it, the pixels
    can: OCR reads top to bottom too, and both parts are burnt where it reads them.
    """
    searches = redactor.proof_searches()
    sent: dict[int, set] = {}
    edges: dict[int, tuple[bool, bool]] = {}

    def alike(position: int) -> tuple[bool, bool]:
        """Whether both readings of the page begin, and end, with the same lines (white space aside)."""
        if position not in edges:
            page = pages[position]
            first, second = _lines(page.text), _lines(page.second_text)
            edges[position] = (_head(first) == _head(second), _head(first[::-1]) == _head(second[::-1]))
        return edges[position]

    for offset in breaks:
        before, after = pages[offset], pages[offset + 1]
        if not before.second_text or not after.second_text or (before.doubt and after.doubt):
            continue
        if alike(offset)[1] and alike(offset + 1)[0]:
            continue   # the usual typed page: poppler's joins of the two are PDFium's, searched already
        split = searches.split_across_break(before.second_text, after.second_text)
        if not split or split <= searches.split_across_break(before.text, after.text):
            continue   # PDFium's reading cuts the same values there: they are found and burnt as before
        for position, page in ((offset, before), (offset + 1, after)):
            if not page.doubt:
                page.doubt = trust.BREAK_JOIN
                hits[position] = None
        sent[before.index] = set(split)
    return sent


def _check_second_joins(redactor, pages: list[_Page], sent: dict[int, set]) -> None:
    """Stop unless OCR's reading cuts, at each break next to a page :func:`_doubt_second_joins` sent to OCR,
    every identifier either other reading cut there: what poppler's cut of what the proof looks for, and
    all that PDFium's cut, whose characters would have located its parts (and burnt them) had the page
    stayed trusted. What the main readings hold across a break is found and burnt out (:func:`_find_all`);
    what they do not would be left in the pictures sent. Such a packet was refused by the proof before
    redaction read poppler's joins, and the attachment is refused here instead."""
    sent_pages = [page.index for page in pages if page.doubt == trust.BREAK_JOIN]
    if not sent_pages:
        return
    texts = _main_readings(pages)
    edges = sorted({b for b in sent} | {b for index in sent_pages for b in (index - 1, index)
                                        if 0 <= b < len(pages) - 1})
    for b in edges:
        wanted = set(sent.get(b, ())) | redactor.split_across_break(pages[b].text, pages[b + 1].text)
        read = redactor.split_across_break(texts[b], texts[b + 1], ocr=bool(pages[b].doubt or pages[b + 1].doubt))
        missing = sorted(wanted - read)
        if missing:
            raise _Stop(status="leak", page=b + 1, type=missing[0][0])


def _lines(text: str) -> list[str]:
    """The lines of a reading as the joins across a break see them (cut at line feeds), white space inside
    each made one space, empty lines left out."""
    return [line for line in (" ".join(raw.split()) for raw in text.split("\n")) if line]


# Characters of whole lines at a page's head (or foot) that cover every join searched across its break: the
# break window, the running lines skipped, and the rest of the token the window starts in.
_EDGE_CHARACTERS = 1000


def _head(lines: list[str]) -> list[str]:
    """The first lines, up to and including the one that reaches _EDGE_CHARACTERS characters."""
    total = 0
    for count, line in enumerate(lines, start=1):
        total += len(line) + 1
        if total >= _EDGE_CHARACTERS:
            return lines[:count]
    return lines


class _ObjectSearch:
    """Searches the objects a page reaches (not its parent), each object's own strings as the no-leak proof
    does, and each object once per document: pages share their fonts and resources."""

    def __init__(self, redactor):
        self._redactor = redactor
        self._seen: dict[tuple[int, int], tuple[bool, list]] = {}
        self.clean_streams: set[str] = set()   # digests of the stream data searched and found clean

    def reaches_a_find(self, page) -> bool:
        stack = [page.indirect_reference] if page.indirect_reference is not None else []
        if not stack:
            found, stack = self._search(page)
            if found:
                return True
        visited: set[tuple[int, int]] = set()
        while stack:
            ref = stack.pop()
            key = (ref.idnum, ref.generation)
            if key in visited:
                continue
            visited.add(key)
            if key not in self._seen:
                try:
                    self._seen[key] = self._search(ref.get_object())
                except Exception:  # noqa: BLE001 - an unreadable object is not in the finished file either
                    self._seen[key] = (False, [])
            found, children = self._seen[key]
            if found:
                return True
            stack.extend(children)
        return False

    def _search(self, obj) -> tuple[bool, list]:
        """Whether the object's own strings hold a find, and the objects it refers to."""
        digests: list[str] = []
        found = any(self._redactor.first_hit(text) is not None for text in object_strings(obj, digests=digests))
        if not found:
            self.clean_streams.update(digests)
        children, stack, depth = [], [(obj, 0)], 0
        while stack:
            item, depth = stack.pop()
            if isinstance(item, IndirectObject):
                children.append(item)
            elif depth > _MAX_DATA_DEPTH:
                continue
            elif isinstance(item, DictionaryObject):
                stack.extend((value, depth + 1) for key, value in item.items() if key != "/Parent")
            elif isinstance(item, ArrayObject):
                stack.extend((value, depth + 1) for value in item)
        return found, children


def _find_all(redactor, pages: list[_Page], own: list, breaks: dict) -> list[list[Hit]]:
    """Hits on each page's main reading (OCR words where the text layer is not trusted), across page breaks
    too; what the survey found on trusted pages is not searched again."""
    texts = _main_readings(pages)
    found = [None if page.doubt else hits for page, hits in zip(pages, own)]
    known = {b: parts for b, parts in breaks.items() if not pages[b].doubt and not pages[b + 1].doubt}
    return redactor.find_in_pages(texts, ocr=[bool(p.doubt) for p in pages], found=found, breaks_found=known)


def _main_readings(pages: list[_Page]) -> list[str]:
    """Each page's main reading: OCR's words where the text layer is not trusted, else PDFium's text."""
    return [p.reading.text()[0] if p.doubt and p.reading is not None else p.text for p in pages]


def _locate(document, page: _Page, hits: list[Hit], redactor, counts: Counter) -> None:
    """Turn a page's hits into pixel boxes to burn: OCR word boxes, and PDFium character boxes of its text layer."""
    found = Counter(hit.type for hit in hits)
    if page.doubt:
        page.new_boxes += _word_boxes(page.reading, hits)
        # Whatever the old text layer says is gone with it, but where it is
        # visible too, its boxes are burnt as well: OCR may have misread it.
        layer_hits = redactor.find(page.text) if page.text.strip() else []
        if layer_hits:
            page.new_boxes += _char_boxes(document, page, layer_hits)
            # The same value read twice (pixels and layer) is one find.
            found |= Counter(hit.type for hit in layer_hits)
    elif hits:
        page.new_boxes += _char_boxes(document, page, hits)
    for type_, count in found.items():
        counts[(type_, page.index + 1)] += count


def _burn_until_clean(document, pages: list[_Page], redactor, workdir: Path, counts: Counter) -> None:
    """Burn, encode, read again; until no reading shows an identifier, or fail.

    A page never read before (a trusted page with a finding) is read whole.
    A page read before differs from the picture that was read only where boxes
    were burnt: the lines around them are read again (see :func:`_reread_changes`).
    """
    for _ in range(MAX_OCR_ROUNDS):
        dirty = [p for p in pages if p.new_boxes]
        if not dirty:
            return
        fresh = [p for p in dirty if p.reading is None]
        changed = {p.index: p.new_boxes for p in dirty if p.reading is not None}
        for page in dirty:
            page.boxes += page.new_boxes
            page.new_boxes = []
        _read(document, fresh, workdir)
        for page in fresh:
            hits = redactor.find(page.reading.text()[0], ocr=True)
            _count(counts, page, hits)
            page.new_boxes = _word_boxes(page.reading, hits)
        _reread_changes(document, [p for p in dirty if p.index in changed], changed, redactor, workdir, counts)
    still = next((p for p in pages if p.new_boxes), None)
    if still is not None:
        raise _Stop(status="leak", page=still.index + 1, type=still.left_type)


def _count(counts: Counter, page: _Page, hits: list[Hit]) -> None:
    for hit in hits:
        counts[(hit.type, page.index + 1)] += 1
    if hits:
        page.left_type = hits[0].type


def _reread_changes(document, pages: list[_Page], changed: dict[int, list], redactor, workdir: Path,
                    counts: Counter) -> None:
    """Encode each page again with its new boxes burnt in, and read the lines they changed.

    Outside the burnt boxes the new picture has exactly the pixels that were
    read (one-bit pictures are lossless; a grey or colour JPEG encodes each
    block on its own, so only the blocks a box touches differ, and their
    neighbours at most by the smoothing of colour). What a burn can change is
    how the lines around it read: the band of each box (see :func:`_bands`),
    across the whole page, is read again from the picture as sent, and whatever
    it shows is burnt in turn.
    """
    if not pages:
        return
    bands, where = [], []
    for page in pages:
        _draw(document, page, workdir)
        stage_done()
        with Image.open(page.picture) as sent:
            sent.load()
            for number, band in enumerate(_bands(changed[page.index], sent.size, page.reading.turn)):
                path = workdir / f"band-{page.index + 1}-{number}.{'pbm' if sent.mode == '1' else 'ppm'}"
                sent.crop(band).save(path, format="PPM")   # uncompressed: Tesseract reads it as it is
                bands.append(path)
                where.append((page, band))
    readings = read_pictures(bands, dpi=OCR_DPI, turns=[page.reading.turn for page, _ in where])
    for path, (page, band), reading in zip(bands, where, readings):
        path.unlink()
        if reading.timed_out:
            page.recheck_failed = True
            continue
        hits = redactor.find(reading.text()[0], ocr=True)
        _count(counts, page, hits)
        left, top = band[0], band[1]
        page.new_boxes += [(x0 + left, y0 + top, x1 + left, y1 + top) for x0, y0, x1, y1 in _word_boxes(reading, hits)]


def _bands(boxes: list, size: tuple[int, int], turn: int) -> list[tuple[int, int, int, int]]:
    """Crop boxes of the whole-width bands (whole-height, on a page read turned by 90 or 270 degrees) around
    ``boxes``: each box's own line and half its thickness above and below, widened out to whole JPEG
    blocks (16 pixels, the largest) and one block more, overlapping bands merged."""
    across = turn in (90, 270)      # lines run down the picture
    extent = size[0] if across else size[1]
    spans = []
    for left, top, right, bottom in boxes:
        low, high = (left, right) if across else (top, bottom)
        margin = max(high - low, 8) // 2
        low = (low - margin) // _JPEG_BLOCK * _JPEG_BLOCK - _JPEG_BLOCK
        high = -(-(high + margin) // _JPEG_BLOCK) * _JPEG_BLOCK + _JPEG_BLOCK
        spans.append((max(low, 0), min(high, extent)))
    spans.sort()
    merged: list[list[int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    if across:
        return [(low, 0, high, size[1]) for low, high in merged]
    return [(0, low, size[0], high) for low, high in merged]


def _read(document, pages: list[_Page], workdir: Path) -> None:
    """Render each page as it will be sent (with its boxes burnt in) and read the picture by OCR."""
    if not pages:
        return
    for page in pages:
        _draw(document, page, workdir)
        stage_done()   # each page to read gives the child MAX_OCR_PAGE_SECONDS more
    # A page read before is read again turned as it was then (an upside-down fax stays turned).
    turns = [p.reading.turn if p.reading is not None else None for p in pages]
    readings = read_pictures([p.picture for p in pages], dpi=OCR_DPI, turns=turns)
    for page, reading in zip(pages, readings):
        page.reading = reading


def _draw(document, page: _Page, workdir: Path) -> None:
    if page.picture is not None and page.picture_info[2] == "1":
        # A one-bit picture is stored losslessly: the new boxes are burnt into it instead of
        # rendering the page again (a grey or colour page is rendered again: its JPEG is not lossless).
        with Image.open(page.picture) as sent:
            image = sent.copy()
        _burn(image, page.boxes)
        _encode(image, page, workdir)
        return
    pdf_page = document[page.index]
    try:
        width_pt, height_pt = pdf_page.get_size()   # after /Rotate, as the renderer draws it
        scale = OCR_DPI / 72.0
        pixels = round(width_pt * scale) * round(height_pt * scale)
        if pixels > MAX_REDACTED_PAGE_PIXELS:
            raise _Stop(status="too_large", page=page.index + 1, pixels=pixels)
        # Black-and-white pages (most notes and faxes) are rendered grey: a third
        # of the pixels to push through, and a smaller file. A thumbnail decides.
        probe = pdf_page.render(scale=_PROBE_DPI / 72.0, may_draw_forms=False, rev_byteorder=True).to_pil()
        colour = _has_colour(probe)
        image = pdf_page.render(scale=scale, may_draw_forms=False, grayscale=not colour, rev_byteorder=True).to_pil()
    finally:
        pdf_page.close()
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if colour else "L")
    if image.mode == "L" and _black_and_white(image):
        # Faxes and typed notes: one bit a pixel, stored losslessly, about a tenth of a JPEG's size.
        image = image.point(lambda value: 255 if value >= 128 else 0, mode="1")
    page.picture_info = (image.width, image.height, image.mode, width_pt, height_pt)
    _burn(image, page.boxes)
    _encode(image, page, workdir)


def _burn(image: Image.Image, boxes: list) -> None:
    if boxes:
        draw = ImageDraw.Draw(image)
        for left, top, right, bottom in boxes:
            # Text can sit outside what the page shows (beyond its crop box): nothing to burn there.
            left, top = max(left, 0), max(top, 0)
            right, bottom = min(right, image.width - 1), min(bottom, image.height - 1)
            if right >= left and bottom >= top:
                draw.rectangle((left, top, right, bottom), fill=0)


def _encode(image: Image.Image, page: _Page, workdir: Path) -> None:
    if image.mode == "1":
        path = workdir / f"page-{page.index + 1}.png"
        image.save(path, format="PNG", dpi=(OCR_DPI, OCR_DPI))
    else:
        path = workdir / f"page-{page.index + 1}.jpg"
        image.save(path, format="JPEG", quality=_JPEG_QUALITY, optimize=False, progressive=False,
                   dpi=(OCR_DPI, OCR_DPI))
    page.picture = path


def _black_and_white(image: Image.Image) -> bool:
    """Whether a grey page is ink on paper: few mid-tones beside its dark pixels (antialiased edges only)."""
    histogram = image.histogram()
    dark, middle = sum(histogram[:128]), sum(histogram[48:208])
    return middle < _MID_TONES_PER_DARK * dark and middle < _MAX_MID_TONES * image.width * image.height


def _word_boxes(reading: OcrPage | None, hits: list[Hit]) -> list[tuple[int, int, int, int]]:
    """Pixel boxes covering the characters of ``hits`` in an OCR reading (part of a word by its share of letters)."""
    if reading is None or not hits:
        return []
    text, owner = reading.text()
    starts: dict[int, int] = {}
    for position, index in enumerate(owner):
        if index >= 0 and index not in starts:
            starts[index] = position
    boxes = []
    for hit in hits:
        covered: dict[int, list[int]] = {}
        for position in range(hit.start, min(hit.end, len(owner))):
            index = owner[position]
            if index >= 0:
                covered.setdefault(index, []).append(position - starts[index])
        for index, offsets in covered.items():
            word = reading.words[index]
            left, top, right, bottom = word.box
            pad = max(2, round(min(right - left, bottom - top) * 0.15))
            if reading.turn or bottom - top > right - left:
                # Read turned or running down the page: the letters do not run left to right in the box.
                boxes.append((left - pad, top - pad, right + pad, bottom + pad))
                continue
            share = (right - left) / max(len(word.text), 1)
            pad_x = max(2, round(share / 2))
            x0 = left + share * min(offsets) - pad_x
            x1 = left + share * (max(offsets) + 1) + pad_x
            boxes.append((round(x0), top - pad, round(x1), bottom + pad))
    return boxes


def _char_boxes(document, page: _Page, hits: list[Hit]) -> list[tuple[int, int, int, int]]:
    """Pixel boxes of the text-layer characters of ``hits``, in the picture the page is rendered to
    (none for a hit whose characters have no place on the page)."""
    pdf_page = document[page.index]
    text_page = pdf_page.get_textpage()
    try:
        width_pt, height_pt = pdf_page.get_size()
        size = (round(width_pt * OCR_DPI / 72.0), round(height_pt * OCR_DPI / 72.0))
        boxes = []
        for hit in hits:
            boxes += [_to_pixels(pdf_page, size, box) for box in _page_boxes(text_page, page.text, hit)]
        return boxes
    finally:
        text_page.close()
        pdf_page.close()


def _page_boxes(text_page, text: str, hit: Hit) -> list[tuple[float, float, float, float]]:
    """Page-space boxes (left, bottom, right, top) of the visible characters of ``hit``."""
    boxes = []
    for i in range(hit.start, min(hit.end, len(text))):
        if text[i].isspace():
            continue
        left, bottom, right, top = text_page.get_charbox(i, loose=True)
        if right <= left or top <= bottom:
            # A generated or degenerate character: fall back to the tight box.
            left, bottom, right, top = text_page.get_charbox(i)
        if right > left or top > bottom:
            boxes.append((left - _BOX_PADDING, bottom - _BOX_PADDING, right + _BOX_PADDING, top + _BOX_PADDING))
    return boxes


def _to_pixels(pdf_page, size: tuple[int, int], box) -> tuple[int, int, int, int]:
    """A page-space box in pixels of the page rendered at ``size``, a pixel wider all round."""
    left, top, right, bottom = trust.box_in_pixels(pdf_page, size, box)
    return left - 1, top - 1, right + 1, bottom + 1


def _check(page: _Page) -> PageCheck:
    """How the page was searched: through its trusted text layer (whether it was then sent as it is or, with
    something burnt out, as a picture: see ``rasterized``), or by OCR of the picture sent."""
    if not page.doubt:
        return PageCheck(page.index + 1, TEXT_LAYER)
    reading = page.reading
    confidence = reading.confidence if reading is not None else None
    if reading is None or reading.timed_out or page.recheck_failed:
        return PageCheck(page.index + 1, UNCHECKED, 0.0, f"{page.doubt}; {OCR_TIMED_OUT}")
    if confidence is None and has_ink(page.picture):
        return PageCheck(page.index + 1, UNCHECKED, 0.0, f"{page.doubt}; {NO_WORDS}")
    if confidence is not None and confidence < MIN_OCR_CONFIDENCE:
        return PageCheck(page.index + 1, UNCHECKED, confidence, page.doubt)
    return PageCheck(page.index + 1, OCR, confidence, page.doubt)


def _has_colour(image: Image.Image) -> bool:
    if image.mode != "RGB":
        image = image.convert("RGB")
    red, green, blue = image.split()
    spread = max(ImageChops.difference(red, green).getextrema()[1], ImageChops.difference(green, blue).getextrema()[1])
    return spread > _COLOUR_THRESHOLD


# --------------------------------------------------------------------------
# The new PDF.
# --------------------------------------------------------------------------


def _rebuild(reader: PdfReader, pages: list[_Page], redactor) -> tuple[bytes, list[str]]:
    """A new PDF: trusted pages copied as they are, the others as their pictures with an invisible text layer.

    A fresh writer copies only what the kept pages reach, so the content
    streams of replaced pages (which hold their old text) are not carried along.
    """
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"), NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    }))
    digests = []
    for page, original in zip(pages, reader.pages):
        if page.picture is None:
            writer.add_page(original)
            continue
        data = _stream_data(page)
        digests.append(hashlib.sha256(data).hexdigest())
        _add_picture_page(writer, font, data, page, redactor)
    copy_layer_visibility(reader, writer)
    writer.metadata = None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), digests


def _stream_data(page: _Page) -> bytes:
    """The image stream of the picture that was read: the JPEG file itself, or the one-bit pixels of the
    PNG, deflated (the PDF's own encoding of exactly the pixels Tesseract read)."""
    if page.picture_info[2] != "1":
        return page.picture.read_bytes()
    with Image.open(page.picture) as picture:
        return zlib.compress(picture.tobytes(), 6)


def _add_picture_page(writer: PdfWriter, font, data: bytes, page: _Page, redactor) -> None:
    px_w, px_h, mode, width_pt, height_pt = page.picture_info
    image = StreamObject()
    image.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(px_w),
        NameObject("/Height"): NumberObject(px_h),
        NameObject("/ColorSpace"): NameObject("/DeviceRGB" if mode == "RGB" else "/DeviceGray"),
        NameObject("/BitsPerComponent"): NumberObject(1 if mode == "1" else 8),
        NameObject("/Filter"): NameObject("/FlateDecode" if mode == "1" else "/DCTDecode"),
    })
    image._data = data   # already encoded: pypdf writes the bytes as they are
    content = DecodedStreamObject()
    content.set_data(f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm /Im0 Do Q\n".encode()
                     + _invisible_text(_layer_words(page, redactor), width_pt / px_w, height_pt))
    new = PageObject.create_blank_page(width=width_pt, height=height_pt)
    new[NameObject("/Resources")] = DictionaryObject({
        NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)}),
        NameObject("/Font"): DictionaryObject({NameObject("/F0"): font}),
    })
    new[NameObject("/Contents")] = writer._add_object(content)
    writer.add_page(new)


def _layer_words(page: _Page, redactor) -> list:
    """The words of the last reading that go into the invisible text layer: none that a burnt box touches,
    and none that, once their neighbours are gone, spell something withheld with the words around them."""
    if page.reading is None:
        return []
    words = [w for w in page.reading.words
             if not any(w.box[0] < b[2] and b[0] < w.box[2] and w.box[1] < b[3] and b[1] < w.box[3]
                        for b in page.boxes)]
    while words:
        kept = OcrPage(tuple(words), page.reading.width, page.reading.height)
        text, owner = kept.text()
        hits = redactor.find(text, ocr=True)
        if not hits:
            break
        dropped = {owner[i] for hit in hits for i in range(hit.start, hit.end) if owner[i] >= 0}
        words = [w for i, w in enumerate(words) if i not in dropped]
    return words


def _invisible_text(words: list, points_per_pixel: float, height_pt: float) -> bytes:
    """``words`` as text a reader cannot see (render mode 3), each stretched over its box in the picture."""
    if not words:
        return b""
    lines = [b"BT 3 Tr"]
    for word in words:
        left, top, right, bottom = word.box
        encoded = word.text.encode("cp1252", "replace")
        size = max((bottom - top) * points_per_pixel, 1.0)
        # Helvetica's letters are about half as wide as high; stretch each word to its box.
        stretch = min(max(100 * (right - left) * points_per_pixel / (0.5 * size * len(encoded)), 10), 1000)
        x = left * points_per_pixel
        y = height_pt - bottom * points_per_pixel + 0.2 * size
        escaped = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        # A space after each word: extractors then never run two words together.
        lines.append(b"/F0 %.2f Tf %.1f Tz 1 0 0 1 %.2f %.2f Tm (%s ) Tj" % (size, stretch, x, y, escaped))
    lines.append(b"ET\n")
    return b"\n".join(lines)


def _check_rebuilt(pdf: bytes, rasterized: list[_Page], redactor) -> None:
    """The pages sent as pictures must show nothing withheld in their new text layer either."""
    document = pdfium.PdfDocument(pdf)
    try:
        for page in rasterized:
            pdf_page = document[page.index]
            text_page = pdf_page.get_textpage()
            try:
                hit = redactor.first_hit(page_text(text_page))
            finally:
                text_page.close()
                pdf_page.close()
            if hit is not None:
                raise _Stop(status="leak", page=page.index + 1, type=hit.type)
    finally:
        document.close()

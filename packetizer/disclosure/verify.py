"""The proof that nothing withheld is in a finished packet (fail closed).

Before a packet is released its bytes are searched for every withheld value
of the case (in all the spellings the redactor knows, Unicode folded) and for
any dashed or labelled SSN:

- in the text of every page as PDFium extracts it and as poppler extracts it
  (two extractors that decode fonts their own way: a value either one reads
  is found), as pypdf extracts it where PDFium read (almost) nothing or an
  undecodable glyph, and across the break between two pages;
- in every object of the file: strings (metadata, bookmarks, annotations,
  names), and the string operands of every decoded stream that is not a
  picture or a font (XML metadata whole). The exhibits' redaction already
  searched the streams of the pages it kept as they are, with these same
  searches: a stream whose decoded data has the SHA-256 of one it found clean
  (``streams_searched``) is not searched twice. Every page's text is read by
  every extractor and searched, whatever redaction read on the way in: the
  footer stamp, the placing and the merge make each packet page's reading
  its own;
- in the strings and comments outside the object table (dead revisions).

The pixels are proven too: every picture drawn on any page must be one that
redaction read by OCR exactly as it is sent (its bytes' SHA-256 is among the
``pictures_read`` of the exhibits), after its last identifiers were burnt
out. A picture nobody read fails the proof like a leak.

A find raises :class:`~packetizer.errors.DisclosureError` naming the kind of
identifier and where it is (page and section), never the value. The search
runs in the sandboxed child that ingest uses, under its own time limit.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pypdf import PdfReader

from ..errors import DisclosureError, ErrorCode
from ..ingest.trust import page_objects
from ..sandbox import in_two, run_sandboxed
from ..workfolders import WorkFolder
from ..limits import MAX_PDF_PARSE_MEMORY_BYTES, MAX_POPPLER_SECONDS, MAX_VERIFY_SECONDS, SPLIT_PDF_PAGES
from .pdftext import PopplerReading, page_text, qpdf_object_strings, text_pieces
from .redactor import TYPE_WORDS, Redactor

log = logging.getLogger(__name__)

_WINDOW = 1 << 20
_OVERLAP = 512
_STREAM_BODY = re.compile(rb"stream\r?\n.*?endstream", re.DOTALL)


@dataclass(frozen=True)
class Leak:
    """Where a withheld identifier was found (never what it was)."""

    type: str
    page: int | None      # 1-based packet page; None for file data outside page text
    source: str           # "pdfium" | "pypdf" | "file data"


def verify_no_leak(packet_pdf: bytes, plan, *, sections: Iterable | None = None,
                   pictures_read: Iterable[str] | None = None, streams_searched: Iterable[str] = (),
                   timeout: float = MAX_VERIFY_SECONDS) -> None:
    """Raise unless ``packet_pdf`` is free of everything ``plan`` withholds.

    Args:
        packet_pdf: the finished packet.
        plan: the build's :class:`~.plan.DisclosurePlan`.
        sections: the packet's index entries (``title``, ``kind``, ``letter``,
            ``first_page``, ``last_page``), to name the section in the message.
        pictures_read: SHA-256 of every picture the exhibits' redaction read by OCR
            as sent; any other picture in the packet fails the proof. None: pictures
            are not checked (only for callers that search text alone).
        streams_searched: SHA-256 of decoded stream data the exhibits' redaction searched with
            these same searches and found clean: such data is not searched twice (the text
            of every page is still extracted and searched, and every other stream).
        timeout: wall-clock seconds for the search.

    Raises:
        DisclosureError: something withheld is present, or the search could not complete.
    """
    searcher = plan.redactor.proof_searches()
    read = None if pictures_read is None else frozenset(pictures_read)
    searched = frozenset(streams_searched)
    # The folder is the parent's, so that nothing the child wrote outlives a child that ran out of time.
    with WorkFolder("verify") as folder:
        status, meta, _ = run_sandboxed(lambda pdf: _search_in_child(pdf, searcher, read, Path(folder), searched),
                                        packet_pdf, timeout=timeout, memory=MAX_PDF_PARSE_MEMORY_BYTES)
    if status != "ok":
        log.warning("no-leak proof of case %s did not complete: %s", plan.case_id, status)
        raise DisclosureError(
            "the finished packet could not be checked for withheld information "
            f"({'took longer than MAX_VERIFY_SECONDS' if status == 'timeout' else status}); it was not released",
            code=ErrorCode.LEAK_CHECK_FAILED,
        )
    leaks = [Leak(**item) for item in meta["leaks"]]
    if leaks:
        first = leaks[0]
        log.warning("no-leak proof of case %s failed: %s (%s)", plan.case_id, first.type, first.source)
        if first.type == _UNREAD_PICTURE:
            raise DisclosureError(
                f"a picture {_where(first, list(sections or ())).removeprefix('is ')} was not read by OCR as it is sent, so it "
                "cannot be shown to hold nothing withheld; the packet was not released", code=ErrorCode.LEAK,
            )
        raise DisclosureError(
            f"withheld information is still in the packet: a {TYPE_WORDS.get(first.type, first.type)} "
            f"{_where(first, list(sections or ()))}; the packet was not released",
            code=ErrorCode.LEAK,
        )


def find_leaks(packet_pdf: bytes, redactor: Redactor, pictures_read: Iterable[str] | None = None,
               streams_searched: Iterable[str] = ()) -> list[Leak]:
    """Every leak in ``packet_pdf`` (in this process; tests and diagnostics)."""
    with WorkFolder("verify") as folder:
        return _search(packet_pdf, redactor.proof_searches(), None if pictures_read is None else frozenset(pictures_read),
                       Path(folder), frozenset(streams_searched))


def _where(leak: Leak, sections: list) -> str:
    if leak.page is None:
        return "is in the file's data (metadata, bookmarks, annotations or hidden content)"
    for section in sections:
        if section.first_page <= leak.page <= section.last_page:
            name = f"Exhibit {section.letter}" if getattr(section, "letter", None) else section.title
            return f"is on page {leak.page} ({name}, page {leak.page - section.first_page + 1} of it)"
    return f"is on page {leak.page}"


def _search_in_child(pdf: bytes, searcher: Redactor, pictures_read: frozenset | None,
                     folder: Path, searched: frozenset = frozenset()) -> tuple[dict, bytes]:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    leaks = _search(pdf, searcher, pictures_read, folder, searched)
    return {"status": "ok", "leaks": [leak.__dict__ for leak in leaks[:20]]}, b""


_UNREAD_PICTURE = "picture_not_read"
_FEW_CHARACTERS = 20


def _search(pdf: bytes, searcher: Redactor, pictures_read: frozenset | None, folder: Path,
            searched: frozenset = frozenset()) -> list[Leak]:
    leaks: list[Leak] = []
    document = pdfium.PdfDocument(pdf)
    count = len(document)

    def search(indexes: range) -> _PagesSearch:
        found = _search_pages(pdf, document, indexes, searcher, pictures_read, folder)
        if indexes.stop == count:   # the last pages' process also searches the file's data
            found.data = _file_data_leaks(pdf, searcher, searched)
        return found

    try:
        # A long packet is read on both cores: the first pages here, the others and the file's data (about a
        # sixth of the work) in a process of their own. In a short one the file's data is about as much work
        # as all its pages: that process reads the last page and the file's data, this one the others (the
        # example's 8 pages: 74 -> 64 ms, median of 12 alternating proofs; 70 ms with the long packets' share).
        halves = in_two(count, search, min_count=2, first_share=LEAD_SHARE if count >= SPLIT_PDF_PAGES else 1.0)
    finally:
        document.close()
    leaks += [leak for half in halves for leak in half.pictures]
    for source in _TEXT_SOURCES:
        found = [half.found[source] for half in halves if source in half.found]
        if len(halves) == 2:
            # The break between the halves: the last page of one and the first of the other.
            edge = halves[0].pages.stop - 1
            across = searcher.first_hit_in_pages([halves[0].edges[source][1], halves[1].edges[source][0]])
            if across is not None:
                found.append(Leak(across[1].type, edge + across[0] + 1, source))
        if found:
            leaks.append(min(found, key=lambda leak: leak.page))
    leaks += [leak for half in halves for leak in half.data]
    return leaks


#: The share of a long packet's pages the proof's lead process reads; the other process reads the rest and
#: searches the file's data, which costs about as much as a sixth of the pages (a 208-page packet: 0.08 s of
#: reading and searching its objects against 0.44 s of PDFium's reading of its pages).
LEAD_SHARE = 0.57


def _file_data_leaks(pdf: bytes, searcher: Redactor, searched: frozenset) -> list[Leak]:
    """The withheld values in the file's data, one for each text that holds one: every object's strings
    and decoded streams (but the stream data already ``searched``), and what lies outside the object
    table."""
    def texts():
        yield from _object_texts(pdf, searched)
        # Outside the object table (dead revisions, junk between objects): the
        # strings and comments, without the stream bodies searched decoded above.
        yield text_pieces(_STREAM_BODY.sub(b" ", pdf))

    hits = (_first_hit(searcher, text) for text in texts())
    return [Leak(hit.type, None, "file data") for hit in hits if hit is not None]


def _first_hit(searcher: Redactor, text: str):
    """Some identifier in ``text``, searched in overlapping windows: memory stays bounded, and a value
    shorter than the overlap cannot fall between two windows."""
    for start in range(0, max(len(text), 1), _WINDOW):
        hit = searcher.first_hit(text[max(0, start - _OVERLAP):start + _WINDOW])
        if hit is not None:
            return hit
    return None


_TEXT_SOURCES = ("pdfium", "poppler", "pypdf")


@dataclass
class _PagesSearch:
    """What the search of some pages found (see :func:`_search_pages`)."""

    pages: range
    pictures: list[Leak]                        # pictures nobody read
    found: dict[str, Leak]                      # per extractor, the first hit on these pages
    edges: dict[str, tuple[str, str]]           # per extractor, the text of the first and the last page
    data: list[Leak] = field(default_factory=list)   # a withheld value in the file's data (the last pages' search)


def _search_pages(pdf: bytes, document, indexes: range, searcher: Redactor,
                  pictures_read: frozenset | None, folder: Path) -> _PagesSearch:
    """Read the pages ``indexes`` with each extractor and search them, across the breaks between them too."""
    poppler = PopplerReading(pdf, folder, pages=indexes)   # reads on the other core while PDFium reads here
    texts: list[str] = []
    pictures: list[Leak] = []
    for index in indexes:
        page = document[index]
        try:
            text_page = page.get_textpage()
            try:
                texts.append(page_text(text_page))
            finally:
                text_page.close()
            if pictures_read is not None and _unread_picture(page, pictures_read):
                pictures.append(Leak(_UNREAD_PICTURE, index + 1, "picture"))
        finally:
            page.close()
    # Poppler reads fonts its own way: a second opinion on every page. pypdf,
    # a third, reads where PDFium saw (almost) nothing or a glyph it could not
    # decode, and every page if poppler could not run.
    second = poppler.texts(len(texts), timeout=MAX_POPPLER_SECONDS)
    if second is None:
        doubtful = set(range(len(texts)))
        second = [""] * len(texts)
    else:
        doubtful = {i for i, text in enumerate(texts) if len(text.strip()) < _FEW_CHARACTERS or "\ufffd" in text}
    third = []
    reader = None   # pypdf reads the file only when a page needs it (most packets: none)
    for offset, index in enumerate(indexes):
        if offset not in doubtful:
            third.append("")
            continue
        if reader is None:
            reader = PdfReader(io.BytesIO(pdf), strict=False)
        try:
            third.append(reader.pages[index].extract_text() or "")
        except Exception:  # noqa: BLE001 - content pypdf cannot parse; the other readings and the stream scan stand
            third.append("")
    found, edges = {}, {}
    for source, readings in zip(_TEXT_SOURCES, (texts, second, third)):
        first = searcher.first_hit_in_pages(readings)
        if first is not None:
            found[source] = Leak(first[1].type, indexes[first[0]] + 1, source)
        edges[source] = (readings[0], readings[-1]) if readings else ("", "")
    return _PagesSearch(indexes, pictures, found, edges)


def _unread_picture(page, pictures_read: frozenset) -> bool:
    """Whether ``page`` draws a picture (inline, in a form, anywhere) whose bytes were not read by OCR."""
    for kind, raw in page_objects(page, 16):
        if kind != pdfium_c.FPDF_PAGEOBJ_IMAGE:
            continue
        size = pdfium_c.FPDFImageObj_GetImageDataRaw(raw, None, 0)
        buffer = (ctypes.c_char * size)()
        pdfium_c.FPDFImageObj_GetImageDataRaw(raw, buffer, size)
        if hashlib.sha256(bytes(buffer)).hexdigest() not in pictures_read:
            return True
    return False


def _object_texts(pdf: bytes, searched: frozenset) -> Iterator[str]:
    """The strings and decoded stream data of every object in the file's object table (but stream data
    already ``searched``), and of the trailer's document information.

    qpdf reads the objects (a 208-page packet's file data is searched in 78 ms, where pypdf took 117 ms);
    :func:`~.pdftext.qpdf_object_strings` gives every text :func:`~.pdftext.object_strings`, which the
    exhibits' redaction searches with, gives of pypdf's, and the same digests of the same stream data.

    Raises:
        pikepdf.PdfError: qpdf cannot read the file (the proof then fails closed).
    """
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for obj in document.objects:
            yield from qpdf_object_strings(obj, searched=searched)
        info = document.trailer.get("/Info")
        if info is not None and not info.is_indirect:   # an indirect one is among the objects
            yield from qpdf_object_strings(info)

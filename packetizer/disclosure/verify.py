"""The proof that nothing withheld is in a finished packet (fail closed).

Before a packet is released its bytes are searched for every withheld value
of the case (in all the spellings the redactor knows) and for any dashed or
labelled SSN:

- in the text of every page as PDFium extracts it, and as pypdf extracts it
  wherever PDFium found (almost) no text or a glyph it could not decode;
- in every object of the file: strings (metadata, bookmarks, annotations,
  names), and the string operands of every decoded stream that is not a
  picture or a font (XML metadata whole);
- in the strings and comments outside the object table (dead revisions).

A find raises :class:`~packetizer.errors.DisclosureError` naming the kind of
identifier and where it is (page and section), never the value. The search
runs in the sandboxed child that ingest uses, under its own time limit.
"""

from __future__ import annotations

import binascii
import io
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import pypdfium2 as pdfium
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
    TextStringObject,
)

from ..errors import DisclosureError
from ..ingest.pdf import run_sandboxed
from ..limits import MAX_PDF_PARSE_MEMORY_BYTES, MAX_VERIFY_SECONDS, MAX_VERIFY_STREAM_BYTES
from .patterns import VERIFY_DETECTORS
from .pdfredact import page_text
from .redactor import TYPE_WORDS, Redactor

log = logging.getLogger(__name__)

_WINDOW = 1 << 20
_OVERLAP = 512
_FEW_CHARACTERS = 20
_STREAM_BODY = re.compile(rb"stream\r?\n.*?endstream", re.DOTALL)

# Font programs are glyph outlines, not text: TrueType and Type 1 carry
# /Length1, compact fonts a /Subtype of their own.
_FONT_SUBTYPES = ("/Type1C", "/CIDFontType0C", "/OpenType")


@dataclass(frozen=True)
class Leak:
    """Where a withheld identifier was found (never what it was)."""

    type: str
    page: int | None      # 1-based packet page; None for file data outside page text
    source: str           # "pdfium" | "pypdf" | "file data"


def verify_no_leak(packet_pdf: bytes, plan, *, sections: Iterable | None = None,
                   timeout: float = MAX_VERIFY_SECONDS) -> None:
    """Raise unless ``packet_pdf`` is free of everything ``plan`` withholds.

    Args:
        packet_pdf: the finished packet.
        plan: the build's :class:`~.plan.DisclosurePlan`.
        sections: the packet's index entries (``title``, ``kind``, ``letter``,
            ``first_page``, ``last_page``), to name the section in the message.
        timeout: wall-clock seconds for the search.

    Raises:
        DisclosureError: something withheld is present, or the search could not complete.
    """
    searcher = _verifier(plan.redactor)
    status, meta, _ = run_sandboxed(lambda pdf: _search_in_child(pdf, searcher), packet_pdf,
                                    timeout=timeout, memory=MAX_PDF_PARSE_MEMORY_BYTES)
    if status != "ok":
        log.warning("no-leak proof of case %s did not complete: %s", plan.case_id, status)
        raise DisclosureError(
            "the finished packet could not be checked for withheld information "
            f"({'took longer than MAX_VERIFY_SECONDS' if status == 'timeout' else status}); it was not released",
            code="leak_check_failed",
        )
    leaks = [Leak(**item) for item in meta["leaks"]]
    if leaks:
        first = leaks[0]
        log.warning("no-leak proof of case %s failed: %s (%s)", plan.case_id, first.type, first.source)
        raise DisclosureError(
            f"withheld information is still in the packet: a {TYPE_WORDS.get(first.type, first.type)} "
            f"{_where(first, list(sections or ()))}; the packet was not released",
            code="leak",
        )


def find_leaks(packet_pdf: bytes, redactor: Redactor) -> list[Leak]:
    """Every leak in ``packet_pdf`` (in this process; tests and diagnostics)."""
    return _search(packet_pdf, _verifier(redactor))


def _verifier(redactor: Redactor) -> Redactor:
    """The plan's own searches plus the SSN shapes, with the same values kept."""
    return Redactor(needles=redactor.needles, keep=redactor.keep, detectors=VERIFY_DETECTORS)


def _where(leak: Leak, sections: list) -> str:
    if leak.page is None:
        return "is in the file's data (metadata, bookmarks, annotations or hidden content)"
    for section in sections:
        if section.first_page <= leak.page <= section.last_page:
            name = f"Exhibit {section.letter}" if getattr(section, "letter", None) else section.title
            return f"is on page {leak.page} ({name}, page {leak.page - section.first_page + 1} of it)"
    return f"is on page {leak.page}"


def _search_in_child(pdf: bytes, searcher: Redactor) -> tuple[dict, bytes]:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    leaks = _search(pdf, searcher)
    return {"status": "ok", "leaks": [leak.__dict__ for leak in leaks[:20]]}, b""


def _search(pdf: bytes, searcher: Redactor) -> list[Leak]:
    leaks: list[Leak] = []

    def look(text: str, page: int | None, source: str) -> None:
        # Long texts in overlapping windows: memory stays bounded, and a value
        # shorter than the overlap cannot fall between two windows.
        for start in range(0, max(len(text), 1), _WINDOW):
            hit = searcher.first_hit(text[max(0, start - _OVERLAP):start + _WINDOW])
            if hit is not None:
                leaks.append(Leak(hit.type, page, source))
                return

    doubtful: list[int] = []
    document = pdfium.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            page = document[index]
            text_page = page.get_textpage()
            try:
                text = page_text(text_page)
            finally:
                text_page.close()
                page.close()
            look(text, index + 1, "pdfium")
            if len(text.strip()) < _FEW_CHARACTERS or "\ufffd" in text:
                doubtful.append(index)
    finally:
        document.close()

    reader = PdfReader(io.BytesIO(pdf), strict=False)
    # pypdf reads fonts its own way: asked where PDFium saw (almost) nothing or
    # could not decode a glyph, it is a second opinion where one is needed.
    # Asking it for every page would cost 10-50 ms a page for the same answer.
    for index in doubtful:
        try:
            text = reader.pages[index].extract_text() or ""
        except Exception:  # noqa: BLE001 - content pypdf cannot parse; PDFium's reading and the stream scan stand
            continue
        look(text, index + 1, "pypdf")
    for text in _object_texts(reader):
        look(text, None, "file data")
    # Outside the object table (dead revisions, junk between objects): the
    # strings and comments, without the stream bodies searched decoded above.
    outside = _STREAM_BODY.sub(b" ", pdf)
    look(_text_pieces(outside), None, "file data")
    return leaks


def _object_texts(reader: PdfReader) -> Iterator[str]:
    """The strings and decoded stream data of every object in the file's object table."""
    numbers = {(num, gen) for gen, table in reader.xref.items() for num in table}
    numbers |= {(num, 0) for num in reader.xref_objStm}
    for num, gen in sorted(numbers):
        try:
            obj = reader.get_object(IndirectObject(num, gen, reader))
        except Exception:  # noqa: BLE001 - an unreadable object holds nothing a reader could show
            continue
        yield from _strings(obj)
    trailer_info = reader.trailer.get("/Info")
    if trailer_info is not None:
        yield from _strings(trailer_info.get_object())


_LITERAL = re.compile(rb"\((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*\)", re.DOTALL)
_HEX = re.compile(rb"<([0-9A-Fa-f\s]+)>")
_COMMENT = re.compile(rb"%[^\r\n]*")
_WHITESPACE = b" \t\r\n\f\x0b\x00"   # PDF white space, and the vertical tab that _HEX lets in
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _text_pieces(data: bytes) -> str:
    """The literal and hex strings and the comments of PDF syntax, decoded, one per line.

    Strings shown one after another (a TJ array of kerned pieces) are joined
    by a line break, which the redactor's whitespace-free search bridges.
    """
    pieces = [_unescape(match.group(0)[1:-1]) for match in _LITERAL.finditer(data)]
    pieces += _hex_texts(_HEX.findall(data))
    pieces += [m.group(0).decode("latin-1") for m in _COMMENT.finditer(data)]
    return "\n".join(pieces)


_HEX_SEPARATOR = b"|"
_ODD_HEX = re.compile(rb"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2})*[0-9A-Fa-f](?![0-9A-Fa-f])")
_UTF16_HEX = re.compile(rb"(?<![0-9A-Fa-f])[fF][eE][fF][fF]")


def _hex_texts(strings: list[bytes]) -> list[str]:
    """Hex strings (the digits between ``<`` and ``>``) decoded: Latin-1, or UTF-16 after a byte-order mark.

    A page of WeasyPrint text holds thousands of them (glyph ids), so they are
    decoded in one pass: digits joined by the hex of a line break, a trailing
    0 added where a string has an odd number of digits (as a reader does).
    The same text, line for line, as decoding one string at a time, which is
    what happens when any string is UTF-16.
    """
    if not strings:
        return []
    joined = _HEX_SEPARATOR.join(strings).translate(None, _WHITESPACE)
    if _UTF16_HEX.search(joined):
        return [_hex_text(digits) for digits in joined.split(_HEX_SEPARATOR)]
    joined = _ODD_HEX.sub(rb"\g<0>0", joined)
    return [binascii.unhexlify(joined.replace(_HEX_SEPARATOR, b"0a")).decode("latin-1")]


def _hex_text(digits: bytes) -> str:
    if len(digits) % 2:
        digits += b"0"
    raw = binascii.unhexlify(digits)
    return raw.decode("utf-16-be", "replace") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def _unescape(body: bytes) -> str:
    if b"\\" not in body:
        return body.decode("utf-16-be", "replace") if body.startswith(b"\xfe\xff") else body.decode("latin-1")
    out = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: _ESCAPES.get(m.group(1), bytes([int(m.group(1), 8) & 0xFF])
                                                           if m.group(1)[:1].isdigit() else m.group(1)), body,
                 flags=re.DOTALL)
    if out.startswith(b"\xfe\xff"):
        return out.decode("utf-16-be", "replace")
    return out.decode("latin-1")


def _strings(root) -> Iterator[str]:
    stack = [root]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            continue   # reached through the object table on its own
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, StreamObject):
            subtype = obj.get("/Subtype")
            if subtype != "/Image" and subtype not in _FONT_SUBTYPES and "/Length1" not in obj:
                try:
                    data = obj.get_data()[:MAX_VERIFY_STREAM_BYTES]
                except Exception:  # noqa: BLE001 - undecodable data is not readable text either
                    data = b""
                # XML (metadata) is text throughout; anything else is searched
                # in its strings: the numbers of a content stream are
                # coordinates, and would only make coincidences.
                yield data.decode("latin-1") if subtype == "/XML" else _text_pieces(data)
        if isinstance(obj, DictionaryObject):
            stack.extend(obj.values())
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
        elif isinstance(obj, (TextStringObject, NameObject)):
            yield str(obj)
        elif isinstance(obj, ByteStringObject):
            yield bytes(obj).decode("latin-1")

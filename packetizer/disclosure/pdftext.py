"""Text a reader or a tool can get out of a PDF: PDFium's page text, and the strings hidden in its objects.

Shared by the redaction of exhibits (which must find what the no-leak proof
would find, and act on it first) and the no-leak proof of the finished packet.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pypdfium2.raw as pdfium_c
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
    TextStringObject,
)

from ..limits import MAX_VERIFY_STREAM_BYTES

# Font programs are glyph outlines, not text: TrueType and Type 1 carry
# /Length1, compact fonts a /Subtype of their own.
_FONT_SUBTYPES = ("/Type1C", "/CIDFontType0C", "/OpenType")

# PDFium marks a hyphen it thinks breaks a word at a line end with \x02 (one
# call) or \ufffe (the other); as white space, the pieces join again when the
# redactor searches the text without white space.
_SOFT_HYPHENS = ("\x02", "\ufffe", "\xad", "\x00")


POPPLER = "pdftotext"


class PopplerReading:
    """Poppler's ``pdftotext`` reading a whole PDF in its own process while the caller does other work.

    A second extractor with its own font decoding, next to PDFium: a value
    either one reads is found. One process reads the whole file (a few
    milliseconds a page; pypdf takes 30-200 ms a page of embedded fonts).
    Started inside the sandboxed child, so it goes with the child's process group.
    """

    def __init__(self, pdf: bytes, folder: Path, *, pages: range | None = None):
        """Start reading ``pdf`` (only the 0-based ``pages``, when given)."""
        name = "all" if pages is None else f"{pages.start}-{pages.stop}"
        self._source, self._target = folder / f"poppler-{name}.pdf", folder / f"poppler-{name}.txt"
        self._source.write_bytes(pdf)
        only = [] if pages is None else ["-f", str(pages.start + 1), "-l", str(pages.stop)]
        try:
            self._process: subprocess.Popen | None = subprocess.Popen(
                [POPPLER, "-q", "-enc", "UTF-8", "-eol", "unix", *only, str(self._source), str(self._target)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:   # not installed: the caller falls back to pypdf
            self._process = None

    def texts(self, pages: int, *, timeout: float) -> list[str] | None:
        """Each page's text (``pages`` of them: those asked for), or None when poppler could not read
        the file (or its pages differ in number)."""
        if self._process is None:
            return None
        try:
            code = self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            return None
        if code != 0:
            return None
        try:
            texts = self._target.read_bytes().decode("utf-8", "replace").split("\f")
        except OSError:
            return None
        # pdftotext ends every page with a form feed: one more piece than pages.
        return texts[:pages] if len(texts) == pages + 1 else None


def page_text(text_page) -> str:
    """The page's characters, one per PDFium character index (so positions map to boxes)."""
    count = text_page.count_chars()
    if count <= 0:
        return ""
    text = text_page.get_text_range()
    if len(text) != count:
        # Rare: the bulk call dropped or added characters; ask for each one.
        chars = []
        for i in range(count):
            code = pdfium_c.FPDFText_GetUnicode(text_page.raw, i)
            chars.append(chr(code) if 0 < code < 0x110000 else "\ufffd")
        text = "".join(chars)
    # One search a character, not str.translate: a page holding any character past ASCII (a stamp's
    # middle dot) takes translate's slow path, 0.2 ms a page, against microseconds.
    for hyphen in _SOFT_HYPHENS:
        if hyphen in text:
            text = text.replace(hyphen, " ")
    return text


_LITERAL = re.compile(rb"\((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*\)", re.DOTALL)
_HEX = re.compile(rb"<([0-9A-Fa-f\s]+)>")
_COMMENT = re.compile(rb"%[^\r\n]*")
_WHITESPACE = b" \t\r\n\f\x0b\x00"   # PDF white space, and the vertical tab that _HEX lets in
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def text_pieces(data: bytes) -> str:
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
    # Only digits and separators are left: a string begins with a byte-order mark where FEFF comes first or
    # after a separator (a substring search, not a regex trying every digit: a fifth of a page's reading).
    folded = joined.lower()
    if folded.startswith(b"feff") or b"|feff" in folded:
        return [_hex_text(digits) for digits in joined.split(_HEX_SEPARATOR)]
    if any(length % 2 for length in set(map(len, joined.split(_HEX_SEPARATOR)))):
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


def object_strings(root, *, searched: frozenset[str] = frozenset(),
                   digests: list[str] | None = None) -> Iterator[str]:
    """The strings of an object and of the direct objects in it, and the strings of its decoded stream data.

    Args:
        searched: SHA-256 of stream data already searched by the same searches
            (see :func:`stream_digest`): that data is not yielded again.
        digests: when given, the SHA-256 of every stream's data is appended to it.
    """
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
            reading = _stream_reading(None if subtype is None else str(subtype), "/Length1" in obj, obj.get_data,
                                      searched, digests)
            if reading is not None:
                yield reading
        if isinstance(obj, DictionaryObject):
            stack.extend(obj.values())
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
        elif isinstance(obj, (TextStringObject, NameObject)):
            yield str(obj)
        elif isinstance(obj, ByteStringObject):
            yield bytes(obj).decode("latin-1")


def qpdf_object_strings(root, *, searched: frozenset[str] = frozenset()) -> Iterator[str]:
    """:func:`object_strings` for an object read by qpdf (pikepdf): the same texts, and the same digests of
    the same decoded stream data. A string is searched as text (PDFDocEncoding or UTF-16) and, where its
    bytes read otherwise, as those bytes too (pypdf reads a string that is not text by its bytes)."""
    import pikepdf

    stack = [root]
    while stack:
        obj = stack.pop()
        # Numbers, booleans and null come as Python values; an indirect object is reached on its own.
        if not isinstance(obj, pikepdf.Object) or (obj is not root and obj.is_indirect):
            continue
        if isinstance(obj, pikepdf.Stream):
            subtype = obj.get("/Subtype")
            reading = _stream_reading(None if subtype is None else str(subtype), "/Length1" in obj,
                                      obj.read_bytes, searched, None)
            if reading is not None:
                yield reading
            stack.extend(obj.stream_dict.values())
        elif isinstance(obj, pikepdf.Dictionary):
            stack.extend(obj.values())
        elif isinstance(obj, pikepdf.Array):
            stack.extend(obj)
        elif isinstance(obj, pikepdf.Name):
            yield str(obj)
        elif isinstance(obj, pikepdf.String):
            text, raw = str(obj), bytes(obj).decode("latin-1")
            yield text
            if raw != text:
                yield raw


def _stream_reading(subtype: str | None, has_length1: bool, read, searched: frozenset[str],
                    digests: list[str] | None) -> str | None:
    """What of a stream is searched (``read()`` gives its decoded data), or None: pictures and font programs
    are not text, and data already ``searched`` is not searched again (``digests``, when given, gets the
    digest of every stream read)."""
    if subtype == "/Image" or subtype in _FONT_SUBTYPES or has_length1:
        return None
    try:
        data = read()[:MAX_VERIFY_STREAM_BYTES]
    except Exception:  # noqa: BLE001 - undecodable data is not readable text either
        data = b""
    xml = subtype == "/XML"
    # The digest binds the bytes and how they were searched (whole text, or the strings).
    digest = stream_digest(data, whole_text=xml) if searched or digests is not None else ""
    if digests is not None:
        digests.append(digest)
    if digest in searched:
        return None
    # XML (metadata) is text throughout; anything else is searched in its strings: the numbers of a
    # content stream are coordinates, and would only make coincidences.
    return data.decode("latin-1") if xml else text_pieces(data)


def stream_digest(data: bytes, *, whole_text: bool = False) -> str:
    """What binds a stream's decoded data to a search of it: the SHA-256 of the data and of how it was
    searched (as whole text, XML metadata; else its string operands), so that the same bytes searched
    one way never vouch for them searched the other."""
    return hashlib.sha256((b"text\0" if whole_text else b"strings\0") + data).hexdigest()

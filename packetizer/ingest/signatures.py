"""What a file is, judged by its first bytes: shared by ingest and the web upload check."""

from __future__ import annotations

import io
import zipfile

PDF = b"%PDF-"           # readers accept this header anywhere in the first 1024 bytes
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
TIFF = (b"II*\x00", b"MM\x00*")
ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # Compound File Binary: old .doc, password-protected Office
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def is_pdf(data: bytes) -> bool:
    return PDF in data[:1024]


def is_docx(data: bytes) -> bool:
    """A ZIP holding ``word/document.xml``."""
    if not data.startswith(ZIP):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def looks_binary(data: bytes, window: int = 1024) -> bool:
    """NUL bytes in the first ``window`` bytes mean binary content (unless UTF-16, which has a BOM)."""
    return b"\x00" in data[:window] and not data.startswith(UTF16_BOMS)


def sniff(data: bytes) -> str:
    """What the bytes are, in words, judged by their content alone."""
    head = data[:1024]
    if is_pdf(data):
        return "a PDF"
    if data.startswith(ZIP):
        return "a Word (.docx) document" if is_docx(data) else "a ZIP archive"
    if data.startswith(PNG):
        return "a PNG image"
    if data.startswith(JPEG):
        return "a JPEG image"
    if data.startswith(TIFF):
        return "a TIFF image"
    if data.startswith(OLE):
        return "an old Word (.doc) or password-protected Office file"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml")):
        return "an HTML or XML page"
    if looks_binary(data):
        return "binary data"
    return "text"

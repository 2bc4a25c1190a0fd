"""Attachments -> clean exhibit PDFs (PDF, DOCX, text and Markdown, images).

One entry point, :func:`ingest_attachment`. It reads the file once, checks its
size and that its content matches its extension, then hands the bytes to the
converter for that kind of file. PDFs are rebuilt from their pages in a
sandboxed child process; DOCX, text and Markdown become escaped HTML that the
renderer lays out in the exhibit style; images are placed on Letter pages.
A build takes the same steps in two halves, :func:`start_attachment` and
:func:`finish_attachment`, so that the notes' layouts can run in the render
process (:mod:`packetizer.renderproc`) while the PDFs are converted, and the
PDFs' sandboxed children work while the build lays out notes and sections.

With a ``redactor`` (from :func:`packetizer.disclosure.plan_disclosure`),
identifiers the payer does not need are removed on the way: from the HTML of
DOCX, text and Markdown notes before layout (a visible marker takes their
place), and from every page a reader sees as pixels rather than trustworthy
text (PDF pages with pictures or doubtful fonts, image files, DOCX pages with
pictures) by OCR and burning them into a fresh picture of the page. The
redactor is any :class:`Redacting` (the disclosure package's ``Redactor`` is
the one), so this package does not import the disclosure package, which
imports this one.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ..errors import IngestError, LimitExceeded, RenderError
from ..limits import MAX_ATTACHMENT_BYTES
from ..model import ATTACHMENT_KIND_WORDS, Attachment
from ..pagecheck import TEXT_LAYER, PageCheck
from ..render import html_to_pdf, render_exhibit_html
from ..renderproc import Renderer
from .docx import docx_to_html
from .estimate import estimated_pages
from . import signatures
from .text import markdown_to_html, text_to_html

if TYPE_CHECKING:
    from ..disclosure.pdfredact import PendingRedaction, RedactedPdf
    from ..disclosure.redactor import RedactedHtml

__all__ = ["ExhibitDocument", "PendingExhibit", "PendingPdf", "Redacting", "SUPPORTED_SUFFIXES", "finish_attachment",
           "ingest_attachment", "start_attachment"]


class Redacting(Protocol):
    """What ingest asks of the build's redactor (:class:`packetizer.disclosure.Redactor`)."""

    def redact_html(self, fragment: str) -> RedactedHtml:
        """The fragment's text with the identifiers replaced by markers."""

    def redact_pdf(self, pdf: bytes, *, name: str) -> RedactedPdf:
        """The PDF sanitised, its pages checked (text layer or OCR) and the identifiers burnt out."""

    def start_redact_pdf(self, pdf: bytes, *, name: str) -> PendingRedaction:
        """:meth:`redact_pdf` at work in its sandboxed child: its ``pages`` once known, its ``result()``."""


@dataclass(frozen=True)
class ExhibitDocument:
    """One attachment as PDF pages ready to merge into the packet.

    Attributes:
        attachment: the attachment this came from.
        pdf: a clean PDF (no actions, forms, embedded files or metadata).
        pages: number of pages in ``pdf``.
        unchecked_pages: 1-based pages nobody could check for identifiers: read by OCR with
            too little confidence or, without a redactor, pages with no text layer.
        redactions: what the redactor removed, per (type, page); empty without one.
        rasterized: 1-based pages replaced by a picture of themselves (read by OCR or redacted).
        page_checks: how each page was checked (with a redactor; empty without one).
        pictures_read: SHA-256 of every picture in ``pdf``, each read by OCR.
        streams_searched: SHA-256 of the decoded data of streams in ``pdf`` that redaction searched
            as the no-leak proof does and found clean (the proof need not search them again).
        pictures: pictures embedded in a converted DOCX.
        source_sha256: SHA-256 of the attachment file as read (for the archive manifest).
        source_size: its size in bytes.
    """

    attachment: Attachment
    pdf: bytes
    pages: int
    unchecked_pages: tuple[int, ...] = ()
    redactions: tuple = ()
    rasterized: tuple[int, ...] = ()
    page_checks: tuple = ()
    pictures_read: tuple[str, ...] = ()
    streams_searched: tuple[str, ...] = ()
    pictures: int = 0
    source_sha256: str = ""
    source_size: int = 0


SUPPORTED_SUFFIXES = (".pdf", ".docx", ".txt", ".md", ".markdown", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def ingest_attachment(att: Attachment, *, redactor: Redacting | None = None) -> ExhibitDocument:
    """Convert one attachment to exhibit pages.

    Args:
        att: the attachment; ``att.path`` is read, ``att.file`` names it in messages.
        redactor: removes identifiers the payer does not need (None: nothing is removed).

    Returns:
        The attachment as a clean PDF.

    Raises:
        IngestError: unsupported, unreadable, damaged, encrypted or mislabelled file.
        LimitExceeded: the file breaks one of the limits in :mod:`packetizer.limits`.
        DisclosureError: an identifier could not be removed with certainty.
    """
    return finish_attachment(start_attachment(att, redactor=redactor))


@dataclass(frozen=True)
class PendingExhibit:
    """A note converted to HTML and handed to a renderer for layout (see :func:`start_attachment`)."""

    attachment: Attachment
    renderer: Renderer
    ticket: int
    redactor: Redacting | None
    redacted: RedactedHtml | None
    pictures: int
    source_sha256: str
    source_size: int
    pages_guess: int | None = None   # its pages, guessed from its HTML (see .estimate); None when unsure


@dataclass(frozen=True)
class PendingPdf:
    """A PDF or an image being sanitised, checked and redacted in its sandboxed child (see :func:`start_attachment`)."""

    attachment: Attachment
    redaction: PendingRedaction
    source_sha256: str
    source_size: int

    @property
    def pages(self) -> int | None:
        """The exhibit's pages, as soon as the child has opened the file (redaction keeps every page); else None."""
        return self.redaction.pages

    @property
    def light(self) -> bool:
        """Whether the child is known to read no page by OCR (it has surveyed them all): what is left of its
        work is short, and another child may work beside it."""
        return self.redaction.ocr_pages == 0


def start_attachment(att: Attachment, *, redactor: Redacting | None = None,
                     renderer: Renderer | None = None) -> ExhibitDocument | PendingExhibit | PendingPdf:
    """Convert one attachment as far as this process takes it, for :func:`finish_attachment`.

    A PDF or an image goes to its sandboxed child, which sanitises, checks and
    redacts it while the build goes on (without a redactor it is converted
    whole). A Word, text or Markdown note is converted to HTML and redacted
    here, and its layout handed to ``renderer``, which may run it on the other
    core (:mod:`packetizer.renderproc`) while the build goes on.

    Raises:
        The errors of :func:`ingest_attachment` that reading the file and checking what it is can
        show; those of a note's layout and of a PDF's or image's child come from :func:`finish_attachment`.
    """
    suffix = att.path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(
            f"unsupported file type {suffix or '(no extension)'}; "
            f"use one of {' '.join(SUPPORTED_SUFFIXES)}", subject=att.file
        )
    data = _read(att)
    _check_content(att, suffix, data)
    # The file is read once; its hash goes with the exhibit so nobody reads it again.
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    if suffix in NOTE_SUFFIXES:
        return _start_layout(att, suffix, data, redactor, renderer or Renderer(), sha256, size)
    if redactor is not None:
        return PendingPdf(att, redactor.start_redact_pdf(_as_pdf(att, suffix, data), name=att.file), sha256, size)
    return replace(_convert(att, suffix, data), source_sha256=sha256, source_size=size)


def finish_attachment(started: ExhibitDocument | PendingExhibit | PendingPdf) -> ExhibitDocument:
    """The exhibit of :func:`start_attachment`, once its layout or its sandboxed child (if any) is done.

    Raises:
        IngestError: the note could not be laid out as PDF pages; the PDF is unreadable, damaged,
            encrypted or took too long.
        LimitExceeded: the PDF breaks one of the limits in :mod:`packetizer.limits`.
        DisclosureError: an identifier on a page with pictures could not be removed with certainty.
    """
    if isinstance(started, ExhibitDocument):
        return started
    if isinstance(started, PendingPdf):
        done = _redacted(started.attachment, started.redaction.result())
        return replace(done, source_sha256=started.source_sha256, source_size=started.source_size)
    att = started.attachment
    try:
        rendered = started.renderer.result(started.ticket)
    except RenderError:
        raise IngestError("could not be laid out as PDF pages", subject=att.file) from None
    done = _laid_out(att, rendered, started.redactor, started.redacted, started.pictures)
    return replace(done, source_sha256=started.source_sha256, source_size=started.source_size)


#: Notes converted to HTML and laid out by the renderer; the other kinds are converted in a sandboxed child.
NOTE_SUFFIXES = (".docx", ".txt", ".md", ".markdown")


def _convert(att: Attachment, suffix: str, data: bytes) -> ExhibitDocument:
    """A PDF or an image attachment as exhibit pages, nothing removed (a build without a redactor)."""
    from .pdf import sanitise_pdf

    if suffix == ".pdf":
        clean = sanitise_pdf(data, name=att.file)
        return ExhibitDocument(att, clean.pdf, clean.pages, clean.text_layer_missing)
    pdf, pages = _image_pdf(att, data)
    # Every image page is a picture: none has a text layer.
    return ExhibitDocument(att, pdf, pages, tuple(range(1, pages + 1)))


def _as_pdf(att: Attachment, suffix: str, data: bytes) -> bytes:
    """The PDF a redactor checks: the file itself, or an image placed on Letter pages (read by OCR and
    redacted like a scanned PDF)."""
    return data if suffix == ".pdf" else _image_pdf(att, data)[0]


def _image_pdf(att: Attachment, data: bytes) -> tuple[bytes, int]:
    """An image (.png .jpg .jpeg .tif .tiff) placed on Letter pages."""
    # Imported here: a build hands its notes to the render process before it needs PDFium, pypdf or Pillow.
    from .image import images_to_pdf

    return images_to_pdf(data, name=att.file)


def _read(att: Attachment) -> bytes:
    """The file's bytes, refusing before reading anything too large or not a regular file."""
    try:
        # stat before open: opening a named pipe would block until someone writes to it.
        info = os.stat(att.path)
        if not stat.S_ISREG(info.st_mode):
            raise IngestError("is not a regular file", subject=att.file)
        if info.st_size > MAX_ATTACHMENT_BYTES:
            raise LimitExceeded(
                f"{info.st_size} bytes > MAX_ATTACHMENT_BYTES ({MAX_ATTACHMENT_BYTES})", subject=att.file
            )
        with open(att.path, "rb") as handle:
            # One byte past the limit: a file that grew since stat is caught too.
            data = handle.read(MAX_ATTACHMENT_BYTES + 1)
    except FileNotFoundError:
        raise IngestError("file not found", subject=att.file) from None
    except PermissionError:
        raise IngestError("cannot be read (permission denied)", subject=att.file) from None
    except OSError as exc:
        raise IngestError(f"cannot be read ({type(exc).__name__})", subject=att.file) from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise LimitExceeded(f"{len(data)} bytes > MAX_ATTACHMENT_BYTES ({MAX_ATTACHMENT_BYTES})", subject=att.file)
    if not data:
        raise IngestError("is empty", subject=att.file)
    return data


def _check_content(att: Attachment, suffix: str, data: bytes) -> None:
    """Refuse a file whose first bytes say it is not what its extension claims."""
    if suffix == ".pdf":
        ok, kind = signatures.is_pdf(data), "a PDF file"
    elif suffix == ".docx":
        if data.startswith(signatures.OLE):
            # Word saves password-protected .docx files (and old .doc files) in this container.
            raise IngestError(
                "is password-protected or an old .doc file; "
                "save it as .docx without a password and upload it again", subject=att.file
            )
        ok, kind = data.startswith(signatures.ZIP), "a Word (.docx) file"
    elif suffix == ".png":
        ok, kind = data.startswith(signatures.PNG), "a PNG image"
    elif suffix in (".jpg", ".jpeg"):
        ok, kind = data.startswith(signatures.JPEG), "a JPEG image"
    elif suffix in (".tif", ".tiff"):
        ok, kind = data.startswith(signatures.TIFF), "a TIFF image"
    else:
        # Text has no signature; NUL bytes mean binary content.
        ok, kind = not signatures.looks_binary(data, 65536), "a text file"
    if not ok:
        raise IngestError(f"not {kind} (content does not match the {suffix} extension)", subject=att.file)


def _start_layout(att: Attachment, suffix: str, data: bytes, redactor: Redacting | None, renderer: Renderer,
                  sha256: str, size: int) -> PendingExhibit:
    if suffix == ".docx":
        body_html = docx_to_html(data, name=att.file)
    elif suffix == ".txt":
        body_html = text_to_html(data, name=att.file)
    else:
        body_html = markdown_to_html(data, name=att.file)
    # The PDF title is metadata that assembly drops; a neutral kind word keeps
    # a user-given title (which may name the patient) out of it regardless.
    title = ATTACHMENT_KIND_WORDS.get(att.kind, "Supporting document")
    anchors: tuple[str, ...] = ()
    redacted = None
    if redactor is not None:
        # Removed before layout: the text never reaches the PDF. Each marker
        # carries an anchor, so the layout tells on which page it landed.
        redacted = redactor.redact_html(body_html)
        body_html, anchors = redacted.html, redacted.anchor_ids
    ticket = renderer.submit(html_to_pdf, render_exhibit_html(title, body_html), anchors=anchors)
    return PendingExhibit(att, renderer, ticket, redactor, redacted, body_html.count("<img "), sha256, size,
                          pages_guess=estimated_pages(body_html) if renderer.runs_aside else None)


def _laid_out(att: Attachment, rendered, redactor: Redacting | None, redacted: RedactedHtml | None,
              pictures: int) -> ExhibitDocument:
    redactions = redacted.tally(rendered.anchors) if redacted is not None else ()
    if redactor is None or not pictures:
        # The text was searched before layout, and our own fonts say what they draw.
        checks = tuple(PageCheck(n, TEXT_LAYER) for n in range(1, rendered.pages + 1)) if redactor else ()
        return ExhibitDocument(att, rendered.pdf, rendered.pages, redactions=redactions, page_checks=checks,
                               pictures=pictures)
    # Pictures in a Word file can show anything: their pages are read by OCR like scans.
    done = replace(_redacted(att, redactor.redact_pdf(rendered.pdf, name=att.file)), pictures=pictures)
    return replace(done, redactions=_merge_redactions(redactions, done.redactions))


def _redacted(att: Attachment, done) -> ExhibitDocument:
    return ExhibitDocument(att, done.pdf, done.pages, done.unchecked_pages, done.redactions, done.rasterized,
                           done.page_checks, done.pictures_read, done.streams_searched)


def _merge_redactions(first: tuple, second: tuple) -> tuple:
    """Redactions of the same (type, page) from two passes, added up."""
    counts: dict = {}
    for redaction in (*first, *second):
        key = (redaction.type, redaction.page)
        counts[key] = counts.get(key, 0) + redaction.count
    kind = type(first[0] if first else second[0]) if (first or second) else None
    return tuple(kind(t, p, n) for (t, p), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])))

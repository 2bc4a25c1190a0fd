"""PDF attachments: open in a sandboxed child process, copy the pages into a clean new PDF.

Hostile PDFs (fuzzer output, loops, decompression bombs) must never hang or
crash the process that builds packets, so parsing happens in a forked child
with an address-space limit and a wall-clock deadline (:mod:`packetizer.sandbox`). The child copies only
the pages into a new document; everything that can act, hide data or carry
metadata (catalog actions, forms, XFA, embedded files, annotations, Info and
XMP metadata, thumbnails) is left behind. The appearances of printable
annotations (filled form fields, stamps, signatures) are first burnt into the
page content by PDFium, so the payer gets what a print of the original shows,
minus the interactivity. Pages stay vector; nothing is rasterised.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NullObject, StreamObject

from ..errors import IngestError, LimitExceeded
from ..limits import MAX_PDF_PAGES, MAX_PDF_PARSE_MEMORY_BYTES, MAX_PDF_PARSE_SECONDS
from ..sandbox import run_sandboxed


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SanitisedPdf:
    """A PDF rebuilt from another one's pages, and what we learnt on the way."""

    pdf: bytes
    pages: int
    text_layer_missing: tuple[int, ...] = ()


# The only keys a page keeps: what draws it and where. Everything else in a
# page dictionary goes: /Annots (links carry actions, widgets form values;
# their look is flattened first), /B (article beads), /Thumb (a thumbnail
# would still show what redaction removes), /StructParents, /PieceInfo, /ID,
# /Metadata, transitions and private application keys, which carry data no
# reader sees and may hold an identifier a search of the visible page misses.
_PAGE_KEYS_KEPT = frozenset({
    "/Type", "/Parent", "/Resources", "/Contents", "/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox",
    "/Rotate", "/Group", "/UserUnit",
})
# Keys never copied at any depth (pypdf applies clone exclusions recursively,
# so an action or file hidden under /Resources is not pulled in either) and
# removed again from every object before writing. Only names that cannot be
# sensible resource names belong here: resource names are free-form, and a
# font called /B or /A must survive.
_DEEP_KEYS = (
    "/AA",            # additional actions (page open/close, field triggers)
    "/OpenAction",
    "/JS",
    "/JavaScript",
    "/URI",
    "/Launch",
    "/EmbeddedFiles",
    "/EF",
    "/AF",            # PDF 2.0 associated files
    "/XFA",
    "/AcroForm",
    "/Names",
    "/Metadata",      # XMP may name author, patient, software
    "/PieceInfo",     # private application data
)
# Dictionaries of these types (/S or /Type) are emptied wherever they turn up,
# and these names are nulled where they appear as values.
_DENIED_TYPES = frozenset(
    {
        "/JavaScript", "/Launch", "/URI", "/GoToR", "/GoToE", "/SubmitForm", "/ImportData",
        "/ResetForm", "/Rendition", "/Sound", "/Movie", "/Hide", "/SetOCGState", "/Trans3D",
        "/RichMediaExecute", "/EmbeddedFile", "/Filespec", "/Action",
    }
)
_DENIED_KEYS = frozenset(_DEEP_KEYS)

# Annotation flags (PDF 32000-1, 12.5.3). A packet is printed or faxed, so
# annotations are kept the way a print shows them: only those with the Print
# flag, never hidden ones (on-screen buttons and logos are left out).
_FLAG_HIDDEN = 1 << 1
_FLAG_PRINT = 1 << 2
_NOT_FLATTENED = frozenset({"/Link", "/Popup"})


def sanitise_pdf(
    data: bytes,
    *,
    name: str,
    timeout: float = MAX_PDF_PARSE_SECONDS,
    memory: int = MAX_PDF_PARSE_MEMORY_BYTES,
) -> SanitisedPdf:
    """Rebuild ``data`` as a clean PDF holding only its pages.

    Args:
        data: the uploaded file's bytes.
        name: the attachment's file name as the user gave it (for messages).
        timeout: wall-clock seconds the child may take.
        memory: address-space budget for the child, in bytes.

    Raises:
        IngestError: encrypted, damaged, empty, or too slow to open.
        LimitExceeded: more pages than MAX_PDF_PAGES, or needs more memory
            than MAX_PDF_PARSE_MEMORY_BYTES.
    """
    status, meta, pdf = run_sandboxed(sanitise_in_child, data, timeout=timeout, memory=memory)
    if status != "ok":
        raise sanitise_failure(status, meta, name=name, timeout=timeout, memory=memory)
    return SanitisedPdf(pdf=pdf, pages=meta["pages"], text_layer_missing=tuple(meta["no_text"]))


def sanitise_failure(status: str, meta: dict, *, name: str, timeout: float, memory: int) -> IngestError:
    """The error for a sanitising child's answer other than "ok" (also the redaction child's, see
    :func:`packetizer.disclosure.pdfredact.redact_pdf`, which sanitises first in the same child)."""
    if status == "timeout":
        return IngestError(f"took longer than MAX_PDF_PARSE_SECONDS ({_seconds(timeout)} s) to open", subject=name)
    if status == "memory":
        return LimitExceeded(f"needs more memory than MAX_PDF_PARSE_MEMORY_BYTES ({memory}) to open", subject=name)
    if status == "encrypted":
        return IngestError("is encrypted; remove the password and upload it again", subject=name)
    if status == "no_pages":
        return IngestError("has no pages", subject=name)
    if status == "too_many_pages":
        return LimitExceeded(f"{meta['pages']} pages > MAX_PDF_PAGES ({MAX_PDF_PAGES})", subject=name)
    # "damaged", or the child died (crash, signal) without a word.
    log.info("PDF attachment refused: %s", status)
    return IngestError("is damaged and cannot be read", subject=name)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------
# Work done inside the child.
# --------------------------------------------------------------------------


def sanitise_in_child(data: bytes, *, find_text: bool = True) -> tuple[dict, bytes]:
    """Sanitise ``data``; ``find_text=False`` leaves out finding the pages without text
    (the redaction that follows in the same child reads every page's text anyway)."""
    opened = _open(data)
    if isinstance(opened, str):
        return {"status": opened}, b""
    reader, pages = opened
    if not pages:
        return {"status": "no_pages"}, b""
    if len(pages) > MAX_PDF_PAGES:
        return {"status": "too_many_pages", "pages": len(pages)}, b""
    try:
        if any(_has_printable_annotations(page) for page in pages):
            opened = _open(_flatten_annotations(data))
            if isinstance(opened, str) or len(opened[1]) != len(pages):
                return {"status": "damaged"}, b""
            reader, pages = opened
        writer = PdfWriter()
        for page in pages:
            for key in [k for k in page if k not in _PAGE_KEYS_KEPT]:
                del page[key]
            _drop_unused_xobjects(page)
            writer.add_page(page, excluded_keys=_DEEP_KEYS)
        copy_layer_visibility(reader, writer)
        writer.metadata = None  # no /Info at all, not even /Producer
        _strip_hostile(writer)
        out = io.BytesIO()
        writer.write(out)
        pdf = out.getvalue()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - any failure on a hostile file means "damaged"
        return {"status": "damaged"}, b""
    return {"status": "ok", "pages": len(pages), "no_text": _pages_without_text(pdf) if find_text else []}, pdf


def _open(data: bytes) -> tuple[PdfReader, list] | str:
    """A reader and its pages, or the reason they cannot be had."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        # pypdf tries the empty password on construction; AES files then need
        # the optional cryptography package and raise DependencyError. Either
        # way an encrypted file is refused, even one that opens without a
        # password: the payer must get a plain document.
        if reader.is_encrypted:
            return "encrypted"
        pages = list(reader.pages)
    except DependencyError:
        return "encrypted"
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001
        return "damaged"
    return reader, pages


def _has_printable_annotations(page) -> bool:
    """Whether a print of ``page`` would show annotation appearances (form values, stamps)."""
    try:
        annots = page.get("/Annots")
        annots = annots.get_object() if annots is not None else None
        if not isinstance(annots, ArrayObject):
            return False
        for ref in annots:
            annot = ref.get_object()
            if not isinstance(annot, DictionaryObject) or annot.get("/Subtype") in _NOT_FLATTENED:
                continue
            flags = int(annot.get("/F", 0))
            if flags & _FLAG_PRINT and not flags & _FLAG_HIDDEN:
                return True
    except Exception:  # noqa: BLE001 - unreadable annotations are dropped with the rest
        return False
    return False


def _flatten_annotations(data: bytes) -> bytes:
    """Burn printable annotation appearances into page content with PDFium.

    PDFium places appearances by their matrix, bounding box and rotation as a
    viewer does, and with the form environment initialised it also builds the
    appearance of fields whose values have none yet (forms saved with
    /NeedAppearances). No JavaScript runs: pypdfium2 has no JS engine.
    """
    document = pdfium.PdfDocument(data)
    try:
        document.init_forms()
        for index in range(len(document)):
            page = document[index]
            try:
                if pdfium.raw.FPDFPage_Flatten(page.raw, pdfium.raw.FLAT_PRINT) == pdfium.raw.FLATTEN_FAIL:
                    raise ValueError("flatten failed")
            finally:
                page.close()
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()
    finally:
        document.close()


# "/Name Do" in a content stream: the XObjects a page or form really draws.
_DO = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s*Do\b")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_MAX_FORM_DEPTH = 12


def _drop_unused_xobjects(holder, depth: int = 0, seen: set | None = None) -> None:
    """Keep in ``holder``'s resources (a page or a form XObject) only the XObjects its content draws.

    Resource dictionaries are often shared by every page of a file, and
    PDFium's flattening adds each page's stamps and form values to them: an
    untouched page would otherwise carry another page's form values (or text
    that redaction removed from it) as unused resources. A new, smaller
    dictionary replaces the shared one, so other users are not affected, and
    what no kept page reaches is not copied at all. Any doubt keeps the lot.
    """
    seen = set() if seen is None else seen
    if depth > _MAX_FORM_DEPTH or id(holder) in seen:
        return
    seen.add(id(holder))
    try:
        resources = holder.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
        xobjects = xobjects.get_object() if xobjects is not None else None
        if not isinstance(xobjects, DictionaryObject) or not xobjects:
            return
        content = holder.get_contents() if hasattr(holder, "get_contents") else holder
        data = content.get_data() if content is not None else b""
        used = set()
        for match in _DO.finditer(data):
            raw = match.group(1)
            used.add(raw.decode("latin-1"))
            used.add(_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", "replace"))
        kept = DictionaryObject({key: value for key, value in xobjects.items() if key[1:] in used})
        if len(kept) < len(xobjects):
            smaller = DictionaryObject(resources)
            smaller[NameObject("/XObject")] = kept
            holder[NameObject("/Resources")] = smaller
        for value in kept.values():
            form = value.get_object()
            if isinstance(form, StreamObject) and form.get("/Subtype") == "/Form":
                _drop_unused_xobjects(form, depth + 1, seen)
    except Exception:  # noqa: BLE001 - unreadable content: keep every resource rather than guess
        return


def copy_layer_visibility(reader, writer) -> None:
    """Keep optional-content defaults, so layers the author switched off stay off."""
    try:
        props = reader.trailer["/Root"].get_object().get("/OCProperties")
        if props is not None:
            writer._root_object[NameObject("/OCProperties")] = props.get_object().clone(
                writer, False, _DEEP_KEYS
            )
    except Exception:  # noqa: BLE001 - broken layer data: every layer shows, nothing is lost
        return


def _strip_hostile(writer) -> None:
    """Last line of defence: walk every object that will be written and remove actions and files.

    Walks pypdf's object table (private, but it is exactly what the writer will
    emit, reachable or not) iteratively, because hostile files nest deep
    enough to overflow a recursive walk.
    """
    stack: list = [obj for obj in writer._objects if obj is not None]
    while stack:
        obj = stack.pop()
        if isinstance(obj, DictionaryObject):
            if obj.get("/S") in _DENIED_TYPES or obj.get("/Type") in _DENIED_TYPES:
                obj.clear()
                if isinstance(obj, StreamObject):
                    obj._data = b""   # an embedded file's bytes go too, not just its dictionary
                continue
            for key in [k for k in obj if k in _DENIED_KEYS]:
                del obj[key]
            for key, value in obj.items():
                if isinstance(value, NameObject) and value in _DENIED_TYPES:
                    obj[key] = NullObject()
                elif isinstance(value, (DictionaryObject, ArrayObject)):
                    stack.append(value)
        elif isinstance(obj, ArrayObject):
            for i, value in enumerate(obj):
                if isinstance(value, NameObject) and value in _DENIED_TYPES:
                    obj[i] = NullObject()
                elif isinstance(value, (DictionaryObject, ArrayObject)):
                    stack.append(value)


def _pages_without_text(pdf: bytes) -> list[int]:
    """1-based numbers of pages with no extractable text (scans that need OCR)."""
    try:
        document = pdfium.PdfDocument(pdf)
    except Exception:  # noqa: BLE001 - text-layer detection is advisory
        return []
    missing = []
    try:
        for number in range(len(document)):
            page = document[number]
            textpage = page.get_textpage()
            try:
                if not textpage.get_text_range().strip():
                    missing.append(number + 1)
            finally:
                textpage.close()
                page.close()
    except Exception:  # noqa: BLE001
        return []
    finally:
        document.close()
    return missing

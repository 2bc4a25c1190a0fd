"""PDF attachments: open in a sandboxed child process, copy the pages into a clean new PDF.

Hostile PDFs (fuzzer output, loops, decompression bombs) must never hang or
crash the process that builds packets, so parsing happens in a forked child
with an address-space limit and a wall-clock deadline. The child copies only
the pages into a new document; everything that can act, hide data or carry
metadata (catalog actions, forms, XFA, embedded files, annotations, Info and
XMP metadata, thumbnails) is left behind. The appearances of printable
annotations (filled form fields, stamps, signatures) are first burnt into the
page content by PDFium, so the payer gets what a print of the original shows,
minus the interactivity. Pages stay vector; nothing is rasterised.
"""

from __future__ import annotations

import faulthandler
import io
import json
import logging
import mmap
import os
import pickle
import re
import resource
import select
import signal
import struct
import time
import warnings
from dataclasses import dataclass
from typing import Callable, TypeVar

import pypdfium2 as pdfium
from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NullObject, StreamObject

from ..errors import IngestError, LimitExceeded
from ..limits import MAX_PDF_PAGES, MAX_PDF_PARSE_MEMORY_BYTES, MAX_PDF_PARSE_SECONDS

T = TypeVar("T")

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
        return IngestError(f"{name}: took longer than MAX_PDF_PARSE_SECONDS ({_seconds(timeout)} s) to open")
    if status == "memory":
        return LimitExceeded(f"{name}: needs more memory than MAX_PDF_PARSE_MEMORY_BYTES ({memory}) to open")
    if status == "encrypted":
        return IngestError(f"{name}: is encrypted; remove the password and upload it again")
    if status == "no_pages":
        return IngestError(f"{name}: has no pages")
    if status == "too_many_pages":
        return LimitExceeded(f"{name}: {meta['pages']} pages > MAX_PDF_PAGES ({MAX_PDF_PAGES})")
    # "damaged", or the child died (crash, signal) without a word.
    log.info("PDF attachment refused: %s", status)
    return IngestError(f"{name}: is damaged and cannot be read")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------
# The sandbox: fork, limit, run, report through a pipe.
# --------------------------------------------------------------------------

_HEADER = struct.Struct(">I")
_RESERVE_BYTES = 4 * 1024 * 1024


def run_sandboxed(
    work: Callable[[bytes], tuple[dict, bytes]], data: bytes, *, timeout: float, memory: int,
    next_timeouts: tuple[float, ...] = (), extend_seconds: float = 0.0, extend_limit: float = 0.0,
) -> tuple[str, dict, bytes]:
    """Run ``work(data)`` in a forked child under limits; return (status, meta, payload).

    ``work`` returns a JSON-able ``meta`` dict (its ``status`` is passed
    back) and a payload of bytes. Besides the statuses ``work`` sets, the
    answer may be "timeout", "memory", "damaged" (RecursionError) or
    "crashed". Also used by the disclosure package, whose redaction and
    no-leak proof parse the same untrusted content streams.

    Work done in stages calls :func:`stage_done` in the child after each one:
    the child then gets the next of ``next_timeouts`` (seconds from that
    moment) instead of what was left of ``timeout``. ``meta["stages_done"]``
    says how many stages the child finished, also when it timed out or died,
    so the caller can tell which stage failed. Marks past the last of
    ``next_timeouts`` each give the child ``extend_seconds`` more, up to
    ``extend_limit`` in all: work whose length is known only inside the child
    (OCR, page by page) asks for its time, within a bound.

    The child leads a process group of its own, and a child that runs out of
    time is killed with the whole group: programs it started (Tesseract) go too.

    os.fork rather than multiprocessing: no pickling, no resource tracker, and
    it also works inside daemonic pool workers, which multiprocessing forbids
    from having children.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        _child(work, data, write_fd, memory)  # never returns
    os.close(write_fd)
    try:
        os.setpgid(pid, pid)   # also done by the child; whichever runs first wins the race with a kill
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    stages = 0
    extended = 0.0
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            if not chunks:
                # Stage marks come before the answer, whose length header never starts with one.
                answer = chunk.lstrip(_STAGE_MARK)
                for _ in range(len(chunk) - len(answer)):
                    stages += 1
                    if stages <= len(next_timeouts):
                        deadline = time.monotonic() + next_timeouts[stages - 1]
                    elif extended + extend_seconds <= extend_limit:
                        deadline += extend_seconds
                        extended += extend_seconds
                if not answer:
                    continue
                chunk = answer
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        # Nothing the child started outlives it; the group goes before the child is
        # reaped, while its id cannot yet belong to anyone else.
        _kill(pid)
        os.waitpid(pid, 0)
    if timed_out:
        return "timeout", {"stages_done": stages}, b""
    blob = b"".join(chunks)
    if len(blob) < _HEADER.size:
        return "crashed", {"stages_done": stages}, b""
    (meta_len,) = _HEADER.unpack_from(blob)
    try:
        meta = json.loads(blob[_HEADER.size : _HEADER.size + meta_len])
    except ValueError:
        return "crashed", {"stages_done": stages}, b""
    meta["stages_done"] = stages
    return meta.get("status", "crashed"), meta, blob[_HEADER.size + meta_len :]


_STAGE_MARK = b"\xff"
_stage_fd: int | None = None   # set in the child only


def stage_done() -> None:
    """In a sandboxed child: tell the parent one stage of the work is finished (see :func:`run_sandboxed`)."""
    if _stage_fd is not None:
        _write_all(_stage_fd, _STAGE_MARK)


def in_two(count: int, work: Callable[[range], T], *, min_count: int) -> list[T]:
    """``work`` over ``range(count)`` on both cores: the first half here, the second half in a forked
    process at the same time; ``[first result, second result]``.

    Meant for a sandboxed child (the forked process is in its process group and
    goes with it, under the same limits), for work on many pages whose result
    is picklable. Below ``min_count``, or with one core, ``[work(range(count))]``.
    When the forked process fails, its half is done again here: never less work.
    """
    if count < min_count or (os.cpu_count() or 1) < 2:
        return [work(range(count))]
    middle = count // 2
    second_half = range(middle, count)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the forked half reports through the pipe
        global _stage_fd
        _stage_fd = None   # the lead process alone marks stages
        os.close(read_fd)
        code = 0
        try:
            _write_all(write_fd, pickle.dumps(work(second_half), protocol=pickle.HIGHEST_PROTOCOL))
        except BaseException:  # noqa: BLE001 - the lead process redoes the half
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    reaped = False
    try:
        first = work(range(middle))
        chunks = []
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        os.close(read_fd)
        if not reaped:   # this half failed: the other is not needed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    second = None
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            second = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a garbled answer: do the half here
            second = None
    if second is None:
        second = work(second_half)
    return [first, second]


def _kill(pid: int) -> None:
    _kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child(work, data: bytes, fd: int, memory: int) -> None:
    """Child side: set limits, do the work, write one framed answer, exit hard."""
    global _stage_fd
    _stage_fd = fd
    code = 0
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    # Address space set aside before the limit applies and given back when the
    # work runs out, so that reporting "memory" does not itself fail for want of
    # it. An anonymous mapping: a bytearray would be zero-filled (3 ms a fork).
    reserve = mmap.mmap(-1, _RESERVE_BYTES)
    try:
        # The child inherits the parent's mappings (interpreter, libraries,
        # other caches), so the budget is added on top of what is already
        # mapped; a flat cap could sit below the parent's own size and fail
        # every allocation.
        limit = _current_address_space() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        logging.disable(logging.CRITICAL)  # pypdf warns a lot about broken files
        warnings.simplefilter("ignore")
        faulthandler.disable()   # a crash here is reported by status, not a traceback on the parent's stderr
        try:
            meta, payload = work(data)
        except MemoryError:
            reserve.close()
            meta, payload = {"status": "memory"}, b""
        except RecursionError:
            meta, payload = {"status": "damaged"}, b""
        blob = json.dumps(meta).encode()
        _write_all(fd, _HEADER.pack(len(blob)) + blob)
        _write_all(fd, payload)
    except BaseException:  # noqa: BLE001 - the child must always exit, never unwind into the parent's code
        code = 1
    finally:
        # _exit: skip atexit handlers and buffered stdio inherited from the parent.
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _current_address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


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

"""WeasyPrint loaded without the work it would repeat in every process.

A process that renders imports WeasyPrint once: 0.6 s on this project's
machine, on the critical path of every command-line build (its render process
can lay out nothing before). Three parts of that, and of its first PDFs, redo
work whose result never changes, so they are done once:

- **Library names** (:func:`_no_library_search`): ``ctypes.util.find_library``
  is not run for the names that never match.
- **C declarations** (:func:`_declarations_kept`): cffi parses WeasyPrint's
  declarations of Pango, HarfBuzz and fontconfig with pycparser, 0.12 s of
  CPU. The parser's result (plain Python objects) is kept in this user's cache
  folder, bound to the declarations' text and to the versions of cffi,
  pycparser and Python, and restored from there (about 1 ms).
- **Array types** (:class:`_SizedArraysUnsized`): the font subsetting's arrays
  are made from one cffi type instead of one new type per length.

Each falls back to WeasyPrint's own way when it cannot apply; the PDFs are the
same either way (tests compare them).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from contextlib import contextmanager
from pathlib import Path

from .usercache import cache_folder, keep, read_kept

log = logging.getLogger(__name__)

# What of cffi's parser a parse sets; the rest (its memory of the syntax tree's nodes) is not needed after.
_PARSER_STATE = ("_declarations", "_int_constants", "_included_declarations", "_anonymous_counter",
                 "_uses_new_feature", "_inside_extern_python", "_partial_length")


def import_weasyprint():
    """``import weasyprint``, done once per process (see the module docstring); returns the module."""
    with _no_library_search(), _declarations_kept():
        import weasyprint

    _array_types_parsed_once()
    return weasyprint


class _SizedArraysUnsized:
    """WeasyPrint's ``ffi`` as its font subsetting sees it, with ``new("T[N]", init)`` made ``new("T[]", init)``.

    ``weasyprint.pdf.fonts`` makes its glyph arrays with the length in the type
    (``hb_codepoint_t[57]``). cffi parses every type string it has not seen with
    pycparser, against every type WeasyPrint declared: about 6 ms for each new
    length, two or three per font of every PDF written (18 parses and 0.12 s in a
    process's first build, more in a batch, whose packets use ever new numbers
    of glyphs). ``T[]`` with an initialiser of N items is the same array of N
    items, and its type is parsed once. Anything else goes to cffi unchanged.
    """

    def __init__(self, ffi) -> None:
        self._ffi = ffi

    def new(self, cdecl, init=None):
        if init is not None and isinstance(cdecl, str) and cdecl.endswith("]"):
            item, _, length = cdecl[:-1].rpartition("[")
            if item and length.isdigit() and "[" not in item and len(init) == int(length):
                return self._ffi.new(item + "[]", init)
        return self._ffi.new(cdecl, init)

    def __getattr__(self, name: str):
        return getattr(self._ffi, name)


def _array_types_parsed_once() -> None:
    """Put :class:`_SizedArraysUnsized` between WeasyPrint's font subsetting and cffi (when WeasyPrint still has
    that module; else nothing changes)."""
    try:
        from weasyprint.pdf import fonts
    except ImportError:   # a WeasyPrint laid out otherwise: nothing to shorten
        return
    ffi = getattr(fonts, "ffi", None)
    if ffi is not None and not isinstance(ffi, _SizedArraysUnsized):
        fonts.ffi = _SizedArraysUnsized(ffi)


@contextmanager
def _no_library_search():
    """While WeasyPrint loads Pango and its kin, a library name is looked up by ``dlopen`` alone.

    WeasyPrint tries several names for each library, the first ones without a
    file name (``libgobject-2.0-0``, ``gobject-2.0``); cffi hands those to
    ``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` (and
    compilers) for each: about 0.17 s of a build process's start, for names that
    never match. Every list ends with a name ``dlopen`` finds directly
    (``libgobject-2.0.so.0``, ``libgobject-2.0.0.dylib``, ``libgobject-2.0-0.dll``),
    so skipping the search loads the same libraries.
    """
    import ctypes.util

    search = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        yield
    finally:
        ctypes.util.find_library = search


@contextmanager
def _declarations_kept():
    """While WeasyPrint loads, ``cffi.FFI.cdef`` restores a kept parse of the same declarations, or parses them and
    keeps the result."""
    try:
        import cffi
        import pycparser
    except ImportError:   # WeasyPrint's own import reports it
        yield
        return
    original = cffi.FFI.cdef
    folder = cache_folder()

    def cdef(ffi, csource, override=False, packed=False, pack=None):
        plain = not override and not packed and not pack and isinstance(csource, str)
        if not plain or folder is None or ffi._cdefsources:
            return original(ffi, csource, override=override, packed=packed, pack=pack)
        key = hashlib.sha256("\0".join((csource, cffi.__version__, pycparser.__version__, sys.version)).encode())
        path = folder / f"cffi-{key.hexdigest()[:32]}.pickle"
        state = _read_kept(path)
        if state is not None:
            with ffi._lock:
                for name in _PARSER_STATE:
                    setattr(ffi._parser, name, state[name])
                ffi._cdef_version = object()
                ffi._cdefsources.append(csource)
            return None
        original(ffi, csource)
        _keep(path, {name: getattr(ffi._parser, name) for name in _PARSER_STATE})
        return None

    cffi.FFI.cdef = cdef
    try:
        yield
    finally:
        cffi.FFI.cdef = original


def _read_kept(path: Path) -> dict | None:
    """A kept parse (see :func:`.usercache.read_kept`), whole; else None."""
    blob = read_kept(path)
    if blob is None:
        return None
    try:
        state = pickle.loads(blob)
    except Exception:  # noqa: BLE001 - a damaged file: parsed anew (and kept again)
        return None
    if not isinstance(state, dict) or set(state) != set(_PARSER_STATE) or not isinstance(state["_declarations"], dict):
        return None
    return state


def _keep(path: Path, state: dict) -> None:
    """Keep ``state`` at ``path`` for the next process."""
    try:
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - only a shortcut for the next process
        log.debug("the parse of WeasyPrint's C declarations was not kept (%s)", type(exc).__name__)
        return
    keep(path, blob)

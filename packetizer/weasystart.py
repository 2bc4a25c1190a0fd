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
- **Default style sheets** (:func:`_stylesheets_kept`): ``weasyprint.html``
  parses the browser's default styles (``html5_ua.css`` and two more) at its
  import, 65 ms of CPU. The parsed sheets are kept in the same folder, bound to
  their CSS text and to the versions of WeasyPrint, tinycss2, cssselect2 and
  Python, and restored from there (about 3 ms).

Each falls back to WeasyPrint's own way when it cannot apply; the PDFs are the
same either way (tests compare them).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import io
import logging
import marshal
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path

from .usercache import cache_folder, keep, read_kept

log = logging.getLogger(__name__)

# What of cffi's parser a parse sets; the rest (its memory of the syntax tree's nodes) is not needed after.
_PARSER_STATE = ("_declarations", "_int_constants", "_included_declarations", "_anonymous_counter",
                 "_uses_new_feature", "_inside_extern_python", "_partial_length")


def import_weasyprint():
    """``import weasyprint``, done once per process (see the module docstring); returns the module."""
    with _no_library_search(), _declarations_kept(), _stylesheets_kept():
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
        _keep(path, {name: getattr(ffi._parser, name) for name in _PARSER_STATE},
              "the parse of WeasyPrint's C declarations was")
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


def _keep(path: Path, state: dict, what: str, pickler: type[pickle.Pickler] = pickle.Pickler) -> None:
    """Keep ``state`` (``what`` it is, for the log) at ``path`` for the next process, pickled by ``pickler``."""
    blob = io.BytesIO()
    try:
        pickler(blob, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    except Exception as exc:  # noqa: BLE001 - only a shortcut for the next process
        log.debug("%s not kept (%s)", what, type(exc).__name__)
        return
    keep(path, blob.getvalue())


# What ``weasyprint.html`` makes of the default style sheets at its import: the counter styles the user agent's
# sheet defines, and the three sheets (which hold their selectors compiled to functions).
_STYLESHEET_NAMES = ("UA_COUNTER_STYLE", "UA_STYLESHEET", "UA_FORM_STYLESHEET", "PH_STYLESHEET")
_STYLESHEET_FILES = ("html5_ua.css", "html5_ua_form.css", "html5_ph.css")
_SELECTOR_GLOBALS = {"split_whitespace", "ascii_lower", "urlparse", "__builtins__"}


@contextmanager
def _stylesheets_kept():
    """While WeasyPrint loads, ``weasyprint.html`` takes its default style sheets as a kept parse of the same
    CSS, or parses them (as it would) and keeps the result."""
    finder = _KeptStylesheetsFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class _KeptStylesheetsFinder(importlib.abc.MetaPathFinder):
    """Finds ``weasyprint.html`` as the path finder does, to be run by :class:`_KeptStylesheetsLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "weasyprint.html":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None   # laid out otherwise (a zip, a frozen build): imported as it comes
        spec.loader = _KeptStylesheetsLoader(spec.loader)
        return spec


class _KeptStylesheetsLoader(importlib.abc.Loader):
    """Runs ``weasyprint.html``; with a kept parse, its ``CSS(...)`` calls for the default sheets parse nothing
    and the kept sheets take their place (before ``weasyprint`` imports them from it)."""

    def __init__(self, loader: importlib.machinery.SourceFileLoader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        import weasyprint

        module.__loader__ = module.__spec__.loader = self._loader   # as if imported plainly
        css = weasyprint.CSS
        path = _stylesheets_path(weasyprint)
        blob = None if path is None else read_kept(path)
        kept = None
        if blob is not None:
            weasyprint.CSS = lambda *args, **kwargs: None   # the module-level calls parse nothing...
            try:
                self._loader.exec_module(module)
            finally:
                weasyprint.CSS = css
            # ...and the kept sheets take their place: read once the module's own imports are done.
            kept = _stylesheets_from(blob, css)
        if kept is None:   # nothing kept, or nothing usable: the module runs as WeasyPrint wrote it
            self._loader.exec_module(module)
            if path is not None and all(hasattr(module, name) for name in _STYLESHEET_NAMES):
                _keep(path, {name: getattr(module, name) for name in _STYLESHEET_NAMES},
                      "WeasyPrint's default style sheets were", _StylesheetPickler)
            return
        module.CSS = css
        for name in _STYLESHEET_NAMES:
            setattr(module, name, kept[name])


def _stylesheets_path(weasyprint) -> Path | None:
    """Where the parse of these default sheets is kept: bound to their text and to the versions of what
    parses them (and of Python, whose bytecode the compiled selectors are); None without a cache folder."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        import cssselect2
        import tinycss2
        from importlib.resources import files

        sheets = [(files(weasyprint) / "css" / name).read_bytes() for name in _STYLESHEET_FILES]
    except Exception:  # noqa: BLE001 - laid out otherwise: WeasyPrint parses them itself
        return None
    key = hashlib.sha256()
    for part in (weasyprint.__version__, tinycss2.__version__, cssselect2.__version__, sys.version):
        key.update(part.encode() + b"\0")
    for sheet in sheets:
        key.update(len(sheet).to_bytes(8, "big") + sheet)
    return folder / f"stylesheets-{key.hexdigest()[:32]}.pickle"


def _stylesheets_from(blob: bytes, css_class) -> dict | None:
    """The kept parse in ``blob``, whole and of the right kinds; else None."""
    try:
        kept = pickle.loads(blob)
    except Exception:  # noqa: BLE001 - a damaged file: parsed anew (and kept again)
        return None
    if not isinstance(kept, dict) or set(kept) != set(_STYLESHEET_NAMES):
        return None
    if not isinstance(kept["UA_COUNTER_STYLE"], dict) or not all(
            isinstance(kept[name], css_class) for name in _STYLESHEET_NAMES[1:]):
        return None
    return kept


class _StylesheetPickler(pickle.Pickler):
    """Pickles the default sheets, their compiled selectors as bytecode (cssselect2 makes each one a function
    with ``eval``, which pickle cannot name)."""

    def reducer_override(self, obj):
        if isinstance(obj, types.FunctionType) and obj.__code__.co_filename == "<string>" \
                and set(obj.__globals__) <= _SELECTOR_GLOBALS:
            return _compiled_selector, (marshal.dumps(obj.__code__),)
        return NotImplemented


def _compiled_selector(code: bytes) -> types.FunctionType:
    """A selector test as cssselect2 compiles it (``cssselect2.compiler.CompiledSelector``), from its bytecode."""
    from cssselect2 import compiler

    return types.FunctionType(marshal.loads(code), {
        "split_whitespace": compiler.split_whitespace, "ascii_lower": compiler.ascii_lower,
        "urlparse": compiler.urlparse,
    })

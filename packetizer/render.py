"""Jinja2 (sandboxed) -> HTML -> WeasyPrint -> PDF.

Templates render with autoescape and ``StrictUndefined`` in a sandbox, so a
payer-supplied template cannot reach Python internals. WeasyPrint fetches
resources only through :class:`TemplateOnlyFetcher`: ``data:`` URIs and files
inside the template folder; no other file, no network.

Every document is laid out with the print styles of ``templates/packet.css``,
parsed once per thread and applied as the base (user-origin) style sheet, so a
template's own ``<style>`` wins over it. The font configuration is kept per
thread too: parsing the style sheet and setting up fonts for every document
cost about a fifth of a packet's build time.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .errors import RenderError
from .resources import templates_dir
from .usercache import cache_folder, keep, read_kept

log = logging.getLogger(__name__)

# WeasyPrint is imported lazily: it costs ~0.25 s and commands such as
# ``check`` or ``archive list`` never render.
_weasy = None


def _weasyprint():
    global _weasy
    if _weasy is None:
        from .weasystart import import_weasyprint

        _weasy = import_weasyprint()
    return _weasy


def _template_env_key(payer_id: str | None) -> tuple[str, ...]:
    root = templates_dir()
    paths = []
    if payer_id:
        override = root / "payers" / payer_id
        if override.is_dir():
            paths.append(str(override))
    paths.append(str(root))
    return tuple(paths)


@lru_cache(maxsize=32)
def _environment(search_path: tuple[str, ...]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(list(search_path)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_kept_templates(),
    )
    env.filters["longdate"] = format_long_date
    env.filters["pages"] = format_page_range
    return env


class _KeptTemplates(jinja2.BytecodeCache):
    """Templates as Jinja compiled them, kept in this user's cache folder (:mod:`.usercache`): a new process
    reads the front sections' templates in about 5 ms instead of compiling them in 70 ms (the twin's share is
    on a build's critical path). Jinja binds each to the template's name and file, to its source's checksum
    and to Python's version; the file's name binds it to Jinja's version and to how the templates are
    compiled here (one set of options throughout)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, bucket: jinja2.bccache.Bucket) -> Path:
        return self._folder / f"jinja-{jinja2.__version__}-{_COMPILED_AS}-{bucket.key}.code"

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = read_kept(self._path(bucket))
        if data is not None:
            bucket.bytecode_from_string(data)   # compiled anew when the checksum or versions differ

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        keep(self._path(bucket), bucket.bytecode_to_string())


# How the environment compiles (part of a kept template's name): sandboxed, autoescaped, blocks trimmed.
_COMPILED_AS = "sandbox-autoescape-trim-lstrip"


def _kept_templates() -> _KeptTemplates | None:
    folder = cache_folder()
    return None if folder is None else _KeptTemplates(folder)


def format_long_date(value: dt.date | None) -> str:
    """``2026-09-14`` -> ``September 14, 2026`` (US style, as payers write it)."""
    if value is None:
        return ""
    return f"{value:%B} {value.day}, {value.year}"


def format_page_range(rng: tuple[int, int]) -> str:
    first, last = rng
    # No-break space and word joiners: a range never splits across lines.
    return f"p.\u00a0{first}" if first == last else f"pp.\u00a0{first}\u2060\u2013\u2060{last}"


def render_html(template: str, context: Mapping[str, Any], *, payer_id: str | None = None) -> str:
    """Render ``template`` (a file in ``templates/``, or the payer's override of it)."""
    env = _environment(_template_env_key(payer_id))
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} not found") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {template}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        # Syntax and sandbox errors: name the template, not the data.
        raise RenderError(f"template {template}: {type(exc).__name__}") from None


def prepare_template(template: str, *, payer_id: str | None = None) -> None:
    """Load and compile ``template`` now, into the environment's cache, where :func:`render_html` finds it
    (a template's first compile costs tens of milliseconds in a new process). Its errors are left to
    :func:`render_html`, which reports them."""
    try:
        _environment(_template_env_key(payer_id)).get_template(template)
    except jinja2.TemplateError:
        pass


def _is_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def _make_fetcher(root: Path):
    _weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse
    from urllib.request import url2pathname

    class TemplateOnlyFetcher(URLFetcher):
        """Serve ``data:`` URIs and files under the template folder; refuse the rest."""

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith("file:"):
                path = Path(url2pathname(url.split("?")[0].split("#")[0].removeprefix("file:")))
                if _is_inside(path, root) and path.is_file():
                    # Without a Content-Type WeasyPrint ignores a stylesheet.
                    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": kind})
            log.warning("refused to fetch a resource outside the template folder")
            raise ValueError("resource refused: only files inside the template folder may be loaded")

    return TemplateOnlyFetcher()


PRINT_STYLESHEET = "packet.css"
_per_thread = threading.local()


def _font_config():
    """This thread's WeasyPrint font configuration (Pango objects are not shared between threads)."""
    config = getattr(_per_thread, "font_config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        config = _per_thread.font_config = FontConfiguration()
    return config


def _fetcher(root: Path):
    """This thread's fetcher for ``root`` (a URLFetcher keeps per-request state: not shared between threads)."""
    fetchers = getattr(_per_thread, "fetchers", None)
    if fetchers is None:
        fetchers = _per_thread.fetchers = {}
    if root not in fetchers:
        fetchers[root] = _make_fetcher(root)
    return fetchers[root]


def _print_styles(root: Path):
    """``packet.css`` parsed once per thread, parsed again when the file changes."""
    path = root / PRINT_STYLESHEET
    try:
        info = path.stat()
    except OSError:
        raise RenderError(f"template {PRINT_STYLESHEET} not found") from None
    key = (str(path), info.st_mtime_ns, info.st_size)
    cached = getattr(_per_thread, "print_styles", None)
    if cached is None or cached[0] != key:
        try:
            sheet = _weasyprint().CSS(filename=str(path), url_fetcher=_fetcher(root),
                                      font_config=_font_config())
        except Exception as exc:  # a broken style sheet must not escape as a traceback
            log.error("parsing the print styles failed: %s", type(exc).__name__)
            raise RenderError(f"template {PRINT_STYLESHEET} could not be parsed ({type(exc).__name__})") from None
        cached = _per_thread.print_styles = (key, sheet)
    return cached[1]


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    pages: int
    anchors: Mapping[str, int]  # anchor id -> 1-based page number within this document


class Layout:
    """A laid-out HTML document: its page count and anchors, written to PDF on demand."""

    def __init__(self, document):
        self._document = document
        self.pages = len(document.pages)
        found: dict[str, int] = {}
        for number, page in enumerate(document.pages, start=1):
            for name in page.anchors:
                found.setdefault(name, number)
        self.anchors: Mapping[str, int] = found

    def write_pdf(self) -> bytes:
        """The PDF of the whole document."""
        return write_layouts(self)


def write_layouts(*layouts: Layout) -> bytes:
    """One PDF of the pages of ``layouts``, one after another (fonts embedded once)."""
    document = layouts[0]._document
    if len(layouts) > 1:
        document = document.copy([page for layout in layouts for page in layout._document.pages])
    try:
        return document.write_pdf()
    except Exception as exc:  # WeasyPrint raises many kinds; none may escape as a traceback
        log.error("writing the PDF failed: %s", type(exc).__name__)
        raise RenderError(f"PDF rendering failed ({type(exc).__name__})") from None


def layout_html(html: str) -> Layout:
    """Lay out ``html`` with the print styles (resources only from the template folder)."""
    weasyprint = _weasyprint()
    root = templates_dir()
    styles = _print_styles(root)
    try:
        document = weasyprint.HTML(
            string=html, base_url=root.as_uri() + "/", url_fetcher=_fetcher(root)
        ).render(stylesheets=[styles], font_config=_font_config())
    except RenderError:
        raise
    except Exception as exc:  # WeasyPrint raises many kinds; none may escape as a traceback
        log.error("rendering failed: %s", type(exc).__name__)
        raise RenderError(f"PDF rendering failed ({type(exc).__name__})") from None
    return Layout(document)


def html_to_pdf(html: str, *, anchors: tuple[str, ...] = ()) -> RenderedDocument:
    """Lay out and write ``html`` as PDF; report on which page each anchor id landed."""
    layout = layout_html(html)
    found = {name: page for name, page in layout.anchors.items() if name in anchors}
    return RenderedDocument(pdf=layout.write_pdf(), pages=layout.pages, anchors=found)


def render_exhibit_html(title: str, body_html: str) -> str:
    """Wrap an already-escaped HTML fragment (converted DOCX or text note) in the exhibit page template."""
    return render_html("exhibit.html", {"title": title, "body": jinja2.utils.markupsafe.Markup(body_html)})

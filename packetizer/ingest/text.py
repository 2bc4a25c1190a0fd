"""Plain-text and Markdown notes -> escaped HTML fragments for the exhibit template.

Every character of the note is HTML-escaped before any markup is added, and
the only markup added is a fixed set of attribute-free tags, so nothing in a
note can inject HTML, styles or resource fetches. Links keep their text only.
Markdown is parsed by markdown-it-py (CommonMark); this module only renders
its tokens.
"""

from __future__ import annotations

import functools
import html
import re

from ..errors import IngestError, LimitExceeded
from ..limits import MAX_TEXT_CHARS

# C0 controls other than tab, newline and form feed (and DEL) are never meaningful in a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes, *, name: str) -> str:
    """Decode a note: UTF-16 by BOM, else UTF-8, then cp1252, then latin-1; normalise newlines.

    Raises:
        LimitExceeded: more than MAX_TEXT_CHARS characters.
        IngestError: a UTF-16 BOM followed by invalid UTF-16.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError("is not valid UTF-16 text", subject=name) from None
    else:
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if len(text) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"{len(text)} characters > MAX_TEXT_CHARS ({MAX_TEXT_CHARS})", subject=name)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


EMPTY_NOTICE = '<p class="muted">[This document has no text.]</p>'


def text_to_html(data: bytes, *, name: str) -> str:
    """A plain-text note as preformatted, wrapped text; a form feed starts a new page."""
    text = decode_text(data, name=name)
    if not text.strip():
        return EMPTY_NOTICE
    blocks = []
    for number, page in enumerate(text.split("\f")):
        css = ' class="page-break"' if number else ""
        blocks.append(f"<pre{css}>{html.escape(page.strip(chr(10)))}</pre>")
    return "\n".join(blocks)


def markdown_to_html(data: bytes, *, name: str) -> str:
    """A Markdown note (CommonMark, with pipe tables and strikethrough, parsed by markdown-it-py):
    headings, paragraphs, lists, emphasis, code, quotes, tables, rules."""
    text = decode_text(data, name=name)
    if not text.strip():
        return EMPTY_NOTICE
    text = text.replace("\f", "\n")
    tokens = _markdown().parse(text)
    if _would_drop_text(tokens, text.split("\n")):
        # The note is shown as written instead, so that nothing in it is lost.
        return f"<pre>{html.escape(text.strip(chr(10)))}</pre>"
    return _render(tokens)


def _would_drop_text(tokens, lines: list[str]) -> bool:
    """Whether rendering the parse would lose text of the note: nesting as deep as the parser goes
    (maxNesting; beyond it, it drops what it cannot nest), or a table row with more cells than its header
    (a pipe table keeps as many cells as the header has)."""
    if any(token.level >= _markdown().options["maxNesting"] - 1 for token in tokens):
        return True
    for token in tokens:
        if token.type == "table_open" and token.map:
            start, end = token.map
            header = len(_cells(lines[start]))
            if any(len(_cells(line)) > header for line in lines[start + 2:end] if line.strip()):
                return True
    return False


def _cells(line: str) -> list[str]:
    """The cells of a pipe-table row, as the table rule splits them (an escaped ``\\|`` stays in its cell)."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return re.split(r"(?<!\\)\|", line)


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    # Raw HTML in a note is text, never markup; the parser bounds nesting (maxNesting). A line that
    # looks like a link definition ("[Dx]: hypertension") stays text: the parser would take it away.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("reference")


# Block tokens and the tag each becomes: attributes (list starts, cell alignment) are never copied.
_BLOCK_TAGS = {
    "paragraph": "p", "bullet_list": "ul", "ordered_list": "ol", "list_item": "li", "blockquote": "blockquote",
    "table": "table", "thead": "thead", "tbody": "tbody", "tr": "tr", "th": "th", "td": "td",
}
_HEADING_TAG = {"h1": "h2", "h2": "h3"}   # deeper levels share h4: the exhibit has little room for more
_INLINE_TAGS = {"strong": "strong", "em": "em", "s": "del"}


def _render(tokens) -> str:
    """The parsed note as HTML made only of the fixed, attribute-free tags above, every text escaped."""
    out: list[str] = []
    for token in tokens:
        kind, _, side = token.type.rpartition("_")
        if token.type == "inline":
            out.append(_render_inline(token.children or []))
        elif token.type in ("fence", "code_block"):
            out.append(f"<pre>{html.escape(token.content.removesuffix(chr(10)))}</pre>\n")
        elif token.type == "hr":
            out.append("<hr>")
        elif side in ("open", "close") and not token.hidden:
            tag = _HEADING_TAG.get(token.tag, "h4") if kind == "heading" else _BLOCK_TAGS.get(kind)
            if tag:
                out.append(f"<{tag}>" if side == "open" else f"</{tag}>")
            if side == "close" and kind in ("paragraph", "heading", "bullet_list", "ordered_list", "table",
                                            "blockquote"):
                out.append("\n")
    return "".join(out).strip()


def _render_inline(children) -> str:
    out: list[str] = []
    for token in children:
        kind, _, side = token.type.rpartition("_")
        if token.type == "text":
            out.append(html.escape(token.content))
        elif token.type == "code_inline":
            out.append(f"<code>{html.escape(token.content)}</code>")
        elif token.type == "softbreak":
            out.append(" ")
        elif token.type == "hardbreak":
            out.append("<br>")
        elif token.type == "image":
            alt = "".join(child.content for child in token.children or [])
            out.append(f"[image: {html.escape(alt)}]" if alt else "[image]")
        elif kind in _INLINE_TAGS and side in ("open", "close"):
            tag = _INLINE_TAGS[kind]
            out.append(f"<{tag}>" if side == "open" else f"</{tag}>")
        # Links keep their text only (their children); raw HTML is text already.
    return "".join(out)

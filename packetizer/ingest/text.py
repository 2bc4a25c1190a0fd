"""Plain-text and Markdown notes -> escaped HTML fragments for the exhibit template.

Every character of the note is HTML-escaped before any markup is added, and
the only markup added is a fixed set of attribute-free tags, so nothing in a
note can inject HTML, styles or resource fetches. Links keep their text only.
"""

from __future__ import annotations

import html
import re

from ..errors import IngestError, LimitExceeded
from ..limits import MAX_TEXT_CHARS

# C0 controls other than tab, newline and form feed (and DEL) are never meaningful in a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAX_QUOTE_DEPTH = 8   # deeper ">" levels stay as text: bounded recursion
_MAX_LIST_DEPTH = 8


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
            raise IngestError(f"{name}: is not valid UTF-16 text") from None
    else:
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if len(text) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"{name}: {len(text)} characters > MAX_TEXT_CHARS ({MAX_TEXT_CHARS})")
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
    """A Markdown note: headings, paragraphs, lists, emphasis, code, quotes, pipe tables."""
    text = decode_text(data, name=name)
    if not text.strip():
        return EMPTY_NOTICE
    return _blocks(text.replace("\f", "\n").split("\n"), depth=0)


# --------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_HEADING_TAG = {1: "h2", 2: "h3"}  # deeper levels share h4: the exhibit has little room for more


def _blocks(lines: list[str], depth: int) -> str:
    out: list[str] = []
    para: list[str] = []
    lists = _ListBuilder(out)

    def flush_para() -> None:
        if para:
            out.append(f"<p>{_inline_lines(para)}</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush_para()
            lists.blank()
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            flush_para()
            lists.close()
            marker = fence.group(1)
            body = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(marker):
                body.append(lines[i])
                i += 1
            out.append(f"<pre>{html.escape(chr(10).join(body))}</pre>")
            i += 1
            continue
        if para and not lists.open and _SETEXT.match(line):
            level = 1 if line.strip()[0] == "=" else 2
            text = _inline_lines(para)
            para.clear()
            out.append(f"<{_HEADING_TAG[level]}>{text}</{_HEADING_TAG[level]}>")
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_para()
            lists.close()
            tag = _HEADING_TAG.get(len(heading.group(1)), "h4")
            out.append(f"<{tag}>{_inline(heading.group(2) or '')}</{tag}>")
            i += 1
            continue
        if _RULE.match(line):
            flush_para()
            lists.close()
            out.append("<hr>")
            i += 1
            continue
        quote = _QUOTE.match(line)
        if quote and depth < _MAX_QUOTE_DEPTH:
            flush_para()
            lists.close()
            inner = []
            while i < len(lines) and (match := _QUOTE.match(lines[i])):
                inner.append(match.group(1))
                i += 1
            out.append(f"<blockquote>{_blocks(inner, depth + 1)}</blockquote>")
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush_para()
            lists.close()
            i = _table(lines, i, out)
            continue
        item = _ITEM.match(line)
        if item:
            flush_para()
            indent = len(item.group(1).expandtabs(4))
            tag = "ul" if item.group(2) in "-*+" else "ol"
            lists.item(indent, tag, _inline(item.group(3)))
            i += 1
            continue
        if lists.open and (line[:1] in " \t" or not lists.after_blank):
            lists.extend(_inline(line.strip()))
            i += 1
            continue
        lists.close()
        para.append(line)
        i += 1
    flush_para()
    lists.close()
    return "\n".join(out)


class _ListBuilder:
    """Nested <ul>/<ol> from list items with their indentation."""

    def __init__(self, out: list[str]):
        self.out = out
        self.stack: list[tuple[int, str]] = []   # (indent, tag) of each open list
        self.after_blank = False

    @property
    def open(self) -> bool:
        return bool(self.stack)

    def item(self, indent: int, tag: str, text: str) -> None:
        while self.stack and indent < self.stack[-1][0]:
            self._pop()
        if self.stack and indent == self.stack[-1][0]:
            if self.stack[-1][1] != tag:
                self._pop()
            else:
                self.out.append("</li>")
        if not self.stack or indent > self.stack[-1][0]:
            if len(self.stack) < _MAX_LIST_DEPTH:
                self.out.append(f"<{tag}>")
                self.stack.append((indent, tag))
            else:
                self.out.append("</li>")  # too deep: a sibling at the deepest level
        self.out.append(f"<li>{text}")
        self.after_blank = False

    def extend(self, text: str) -> None:
        self.out.append(f" {text}")

    def blank(self) -> None:
        self.after_blank = True

    def close(self) -> None:
        while self.stack:
            self._pop()
        self.after_blank = False

    def _pop(self) -> None:
        _, tag = self.stack.pop()
        self.out.append(f"</li></{tag}>")


def _table(lines: list[str], i: int, out: list[str]) -> int:
    """A GitHub-style pipe table starting at ``lines[i]``; returns the index after it."""
    header = _cells(lines[i])
    rows = []
    i += 2
    while i < len(lines) and "|" in lines[i] and lines[i].strip():
        rows.append(_cells(lines[i]))
        i += 1
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
    out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return i


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


# --------------------------------------------------------------------------
# Inline
# --------------------------------------------------------------------------

_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>])")
_CODE = re.compile(r"(`+)(.+?)\1")
_TARGET = r"\((?:[^()]|\([^()]*\))*\)"   # "(url)", allowing one level of parentheses inside
_IMAGE = re.compile(r"!\[([^\]]*)\]" + _TARGET)
_LINK = re.compile(r"\[([^\]]+)\]" + _TARGET)
_AUTOLINK = re.compile(r"&lt;((?:https?|mailto):[^\s&]+)&gt;")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")
_EM_UNDERSCORE = re.compile(r"(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def _inline_lines(lines: list[str]) -> str:
    """Paragraph lines joined; two trailing spaces or a backslash make a hard break."""
    parts = []
    for n, line in enumerate(lines):
        text = line.strip()
        last = n == len(lines) - 1
        hard = not last and (line.endswith("  ") or text.endswith("\\"))
        if hard and text.endswith("\\"):
            text = text[:-1]
        parts.append(_inline(text) + ("<br>" if hard else ("" if last else " ")))
    return "".join(parts)


def _inline(text: str) -> str:
    """Escape ``text``, then turn Markdown emphasis and code into tags."""
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return f"\x00{len(saved) - 1}\x00"   # NUL never survives decode_text, so no clash

    # Code spans first: inside them backslashes and asterisks are literal.
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(m.group(2).strip())}</code>"), text)
    text = _ESCAPED.sub(lambda m: keep(html.escape(m.group(1))), text)
    text = html.escape(text)
    text = _IMAGE.sub(lambda m: f"[image: {m.group(1)}]" if m.group(1) else "[image]", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _STRONG.sub(r"<strong>\2</strong>", text)
    text = _EM_STAR.sub(r"<em>\1</em>", text)
    text = _EM_UNDERSCORE.sub(r"<em>\1</em>", text)
    text = _STRIKE.sub(r"<del>\1</del>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)

"""How many pages a converted note will take, guessed from its HTML before it is laid out.

A cold build lays out its front sections beside its notes (see
:mod:`packetizer.renderproc`), and the sections print every exhibit's pages, so
they start from a guess of each note's length and are laid out again when a
guess proves wrong. A wrong guess costs that second layout; no guess costs the
wait for the notes. So a guess is given only when the estimate is clearly inside
a page count (its error grows with the note's length), and not for a note with
pictures or page breaks, whose length the text does not tell.

Fitted on 353 notes (MTSamples transcriptions as text and as Markdown, and the
Word files of the test fixtures and the corpus) laid out with the exhibit
template: with these figures every guess given was right (321 of them), and the
other 32 notes got none.
"""

from __future__ import annotations

import html
import math
import re

# A line of the monospaced text of a text note (9 pt DejaVu Sans Mono) holds 91 characters, a page 53 lines.
_PRE_CHARS_PER_LINE = 91
_PRE_LINES_PER_PAGE = 53
# Proportional text (10 pt DejaVu Sans): about 89 characters a line, 48 lines a page; a paragraph or list item
# adds half a line, a heading the lines its size and margins take (packet.css), and a table row the lines of
# its tallest cell (each cell a share of the width, less its padding) and its padding.
_CHARS_PER_LINE = 89
_LINES_PER_PAGE = 48
_CELL_WIDTH = 0.9
_ROW_PADDING_LINES = 0.45
_HEADING_LINES = {"h1": 2.5, "h2": 2.6, "h3": 1.8}   # h4 to h6: 1.4
# An estimate is a guess only if it stays within one page count when _RELATIVE of it and _MARGIN of a page
# more or less are added: its error grows with the note's length.
_RELATIVE = 0.04
_MARGIN = 0.06

_PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.DOTALL)
_BLOCK = re.compile(r"<(p|li|h[1-6]|tr|dt|dd|blockquote)\b[^>]*>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_CELL = re.compile(r"<(td|th)\b[^>]*>(.*?)</\1>", re.DOTALL)
_UNKNOWN_LENGTH = re.compile(r"<img\b|page-break")


def estimated_pages(body_html: str) -> int | None:
    """The pages the exhibit of ``body_html`` (a converted note's body) will take, or None when unsure."""
    if _UNKNOWN_LENGTH.search(body_html):
        return None
    lines = 0.0
    for block in _PRE.findall(body_html):
        for line in html.unescape(block).split("\n"):
            wrapped = max(1, math.ceil(len(line.rstrip().expandtabs(8)) / _PRE_CHARS_PER_LINE))
            lines += wrapped * _LINES_PER_PAGE / _PRE_LINES_PER_PAGE
    for tag, inner in _BLOCK.findall(_PRE.sub("", body_html)):
        if tag == "tr":
            cells = [len(_text(cell)) for _, cell in _CELL.findall(inner)] or [len(_text(inner))]
            width = _CHARS_PER_LINE / len(cells) * _CELL_WIDTH
            lines += max(1, *(math.ceil(length / width) for length in cells)) + _ROW_PADDING_LINES
            continue
        text = _text(inner)
        if tag.startswith("h"):
            lines += _HEADING_LINES.get(tag, 1.4)
        else:
            lines += math.ceil(len(text) / _CHARS_PER_LINE) + 0.5
    pages = lines / _LINES_PER_PAGE
    fewest = max(1, math.ceil(pages * (1 - _RELATIVE) - _MARGIN))
    most = max(1, math.ceil(pages * (1 + _RELATIVE) + _MARGIN))
    return fewest if fewest == most else None


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())

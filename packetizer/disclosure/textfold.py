"""Fold text before it is searched, and map what is found back to the original.

Identifiers hide behind Unicode: an SSN written with en dashes or minus
signs, a phone number with no-break spaces, full-width digits and ``＠``, a
zero-width space inside a number. :func:`fold` turns all of these into the
ASCII a search expects (NFKC, every decimal digit of any script to its ASCII digit, every dash to ``-``,
every space to `` ``, invisible format characters and marks that compose with no letter removed), and keeps
enough to turn a span of the
folded text back into a span of the original: callers map positions to PDF
character boxes and HTML runs.

:func:`ocr_reading` re-spells the digit-like letters of number-like tokens
(``44B6`` -> ``4486``, ``l23`` -> ``123``), one character for one, for text an
OCR engine read.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

# Dashes that Unicode does not file under "Pd" (dash punctuation).
_OTHER_DASHES = frozenset("\u2212\u2043\u02d7\u2796\u207b\u208b\u2e3a\u2e3b")
# Quote marks: a name typed as O’Brien is the same name as O'Brien.
_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'"}
# Invisible characters Unicode does not file under "Cf" (format).
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0")

_ASCII_BYTES = bytes(range(128))


@dataclass(frozen=True)
class Folded:
    """A folded text and the way back to the original.

    ``pieces`` is empty when the folded text has the original's positions
    (ASCII text, or only one-for-one replacements such as dashes). Otherwise
    it holds, per stretch of the folded text, ``(folded start, original
    start, original length or -1)``: -1 for a stretch that maps one for one,
    a length for characters that came from one group of the original (a
    ligature, a letter and its accents).
    """

    text: str
    pieces: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)
    starts: tuple[int, ...] = field(default=(), repr=False)     # the pieces' folded starts, for bisect

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded span ``start:end`` (``end > start``)."""
        if not self.pieces:
            return start, end
        return self._position(start, False), self._position(end - 1, True)

    def _position(self, index: int, after: bool) -> int:
        folded_start, original, length = self.pieces[bisect_right(self.starts, index) - 1]
        if length < 0:
            return original + index - folded_start + after
        return original + length if after else original


def fold(text: str) -> Folded:
    """``text`` as searches see it: NFKC, ASCII digits, dashes, spaces and quotes, no invisible characters."""
    if text.isascii():
        return Folded(text)
    # Most non-ASCII text (curly quotes, bullets, accents) folds to itself:
    # find out from the few distinct characters, not by walking the text.
    # (surrogatepass: a lone surrogate, which a text layer's Unicode map can hold, is one more character.)
    others = set(text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
    changing = [c for c in others if _fold_char(c) != c or unicodedata.combining(c)]
    if not changing:
        return Folded(text)
    out: list[str] = []
    pieces: list[tuple[int, int, int]] = []
    folded_at = 0          # length of the folded text so far
    copied_to = 0          # the original up to here is in ``out``
    shifted = False        # some stretch did not map one for one

    def linear(original: int, size: int) -> None:
        # A one-for-one stretch continuing the previous one needs no new piece.
        if size <= 0:
            return
        if pieces and pieces[-1][2] < 0 and pieces[-1][1] - pieces[-1][0] == original - folded_at:
            return
        pieces.append((folded_at, original, -1))

    for position in sorted(_positions(text, changing)):
        if position < copied_to:
            continue
        start, end = position, position + 1
        if unicodedata.combining(text[position]) and position > copied_to:
            start -= 1         # the letter the mark sits on
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        linear(copied_to, start - copied_to)
        out.append(text[copied_to:start])
        folded_at += start - copied_to
        folded = _fold_group(text[start:end])
        if len(folded) == end - start:
            linear(start, len(folded))
        else:
            shifted = True
            if folded:
                pieces.append((folded_at, start, end - start))
        out.append(folded)
        folded_at += len(folded)
        copied_to = end
    linear(copied_to, len(text) - copied_to)
    out.append(text[copied_to:])
    if not shifted:
        return Folded("".join(out))
    return Folded("".join(out), tuple(pieces), tuple(p[0] for p in pieces))


def _positions(text: str, chars: list[str]):
    for char in chars:
        position = text.find(char)
        while position >= 0:
            yield position
            position = text.find(char, position + 1)


def _fold_group(group: str) -> str:
    if len(group) == 1:
        return _fold_char(group)
    return "".join(_fold_char(c) for c in unicodedata.normalize("NFKC", group))


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    normal = unicodedata.normalize("NFKC", char)
    if normal != char:
        return "".join(_fold_char(c) for c in normal)
    category = unicodedata.category(char)
    if category == "Nd":
        # A decimal digit of any script (Arabic-Indic, Devanagari, Thai...): the number a reader sees.
        return str(unicodedata.decimal(char))
    if category == "Pd" or char in _OTHER_DASHES:
        return "-"
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    if category in ("Cf", "Mn", "Me") or char in _INVISIBLE:
        # Format characters, and marks that compose with nothing (a combining
        # underline under each digit, variation selectors): a reader sees the
        # digits through them.
        return ""
    return _QUOTES.get(char, char)


# --------------------------------------------------------------------------
# OCR: letters an engine reads where a digit is printed
# --------------------------------------------------------------------------

_CONFUSABLE = str.maketrans({
    "O": "0", "o": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "|": "1", "!": "1", "i": "1",
    "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "G": "6", "b": "6", "g": "9", "q": "9", "T": "7",
})
_OCR_TOKEN = re.compile(r"[0-9A-Za-z|!]+")


def ocr_reading(text: str) -> str:
    """``text`` with digit-like letters read as digits inside tokens that are mostly digits.

    A token qualifies when digits are at least half of its letters and
    digits, so words stay words ("Blood" is not "8100d"). One character for
    one: positions are those of ``text``.
    """
    out: list[str] = []
    position = 0
    for match in _OCR_TOKEN.finditer(text):
        token = match.group()
        digits = sum(c.isdigit() for c in token)
        if not digits or digits * 2 < len(token):
            continue
        spelled = token.translate(_CONFUSABLE)
        if spelled != token:
            out.append(text[position:match.start()])
            out.append(spelled)
            position = match.end()
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)

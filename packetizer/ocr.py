"""Read the words on page pictures with Tesseract 5: text, boxes and confidence.

Tesseract runs as its own process (Debian's ``tesseract-ocr``, driven through
pytesseract): a picture that crashes or hangs it takes down a child with a
time limit, never the build, and the engine is exactly the one the system
package installed, with its own model files; nothing is downloaded. Pages are
read in batches, one batch per process (the model loads once per batch), with
up to ``MAX_OCR_PROCESSES`` processes side by side so a build uses both cores.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ErrorCode, IngestError
from .limits import MAX_OCR_PAGE_SECONDS, MAX_OCR_PROCESSES, MIN_OCR_CONFIDENCE, OCR_DPI

log = logging.getLogger(__name__)

OCR_LANGUAGE = "eng"
# --psm 3: find the blocks and lines on the page (notes, forms, fax headers).
# Tesseract's inverted-text pass stays on: patient banners are often white on
# black, and it costs little on pages that have none.
_CONFIG = "--psm 3"
_ALNUM = re.compile(r"[0-9A-Za-z]")
_INK_SHARE = 0.002              # dark pixels in a page that may carry a line of text


@dataclass(frozen=True)
class OcrWord:
    """One word as read: ``box`` is (left, top, right, bottom) in pixels of the page picture."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: tuple[int, int, int]      # (block, paragraph, line): words of one line share it


@dataclass(frozen=True)
class OcrPage:
    """The words Tesseract read on one page picture."""

    words: tuple[OcrWord, ...]
    width: int
    height: int
    timed_out: bool = False         # Tesseract did not finish this page within MAX_OCR_PAGE_SECONDS
    turn: int = 0                   # degrees counterclockwise the picture was turned to be read
    _text: tuple = field(default=(), repr=False, compare=False)

    @property
    def confidence(self) -> float | None:
        """Mean confidence (0-100) of the words read, weighted by length; None when no word was read.

        Specks and rules read as one-character "words" (``|``, ``—``, ``.``)
        carry no text and only drag the mean down: words need two letters or digits.
        """
        if self.timed_out:
            return 0.0
        words = [w for w in self.words if len(_ALNUM.findall(w.text)) >= 2]
        total = sum(len(w.text) for w in words)
        if not total:
            return None
        return sum(w.confidence * len(w.text) for w in words) / total

    def text(self) -> tuple[str, array]:
        """The words in reading order (a space between words, a line break between lines),
        and for each character the index of its word (-1 for the separators)."""
        if self._text:
            return self._text
        pieces: list[str] = []
        owner = array("l")
        last_line = None
        for index, word in enumerate(self.words):
            if last_line is not None:
                pieces.append("\n" if word.line != last_line else " ")
                owner.append(-1)
            pieces.append(word.text)
            owner.extend([index] * len(word.text))
            last_line = word.line
        result = ("".join(pieces), owner)
        object.__setattr__(self, "_text", result)
        return result


@functools.lru_cache(maxsize=1)
def tesseract_available() -> bool:
    """Whether the Tesseract binary and its English model are installed."""
    if shutil.which("tesseract") is None:
        return False
    try:
        listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return OCR_LANGUAGE in listed.stdout.decode("utf-8", "replace").split()


def read_pictures(paths: list[Path], *, dpi: int = OCR_DPI, processes: int = MAX_OCR_PROCESSES,
                  page_seconds: float = MAX_OCR_PAGE_SECONDS, turns: list[int | None] | None = None) -> list[OcrPage]:
    """Read every picture (files of whole pages, rendered at ``dpi``), in order.

    A page that reads poorly although it has ink on it (a fax that went
    through the machine upside down, a page scanned sideways) is read again
    turned by 180, 90 and 270 degrees, and the best reading wins, as a reader
    would turn it. ``turns`` gives, per page, a known angle to read it turned
    by instead (a re-reading of a page read before), or None to find out.
    Word boxes are always given in the coordinates of the picture as it is.

    A page Tesseract cannot finish in ``page_seconds`` comes back with no
    words and ``timed_out`` set (confidence 0: the page is reported unchecked).

    Raises:
        IngestError: Tesseract is not installed, or failed.
    """
    if not paths:
        return []
    if not tesseract_available():
        raise IngestError("OCR is not available: the tesseract program or its English model is not installed "
                          "(apt-get install tesseract-ocr tesseract-ocr-eng)", code=ErrorCode.OCR_UNAVAILABLE)
    turns = list(turns) if turns is not None else [None] * len(paths)
    pages = _read_turned(paths, [turn or 0 for turn in turns], dpi, processes, page_seconds)
    poor = [i for i, page in enumerate(pages) if turns[i] is None and _poor(page) and has_ink(paths[i])]
    if poor:
        candidates = [(i, turn) for i in poor for turn in (180, 90, 270)]
        readings = _read_turned([paths[i] for i, _ in candidates], [t for _, t in candidates], dpi, processes,
                                page_seconds)
        for (i, _), reading in zip(candidates, readings):
            if _score(reading) > _score(pages[i]):
                pages[i] = reading
    return pages


def _read_all(paths: list[Path], dpi: int, processes: int, page_seconds: float) -> list[OcrPage]:
    processes = max(1, min(processes, os.cpu_count() or 1, len(paths)))
    # Contiguous batches, so that each process reads its pages in order.
    size = -(-len(paths) // processes)
    batches = [paths[i:i + size] for i in range(0, len(paths), size)]
    if len(batches) == 1:
        return _read_batch(batches[0], dpi, page_seconds)
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(lambda batch: _read_batch(batch, dpi, page_seconds), batches))
    return [page for batch in results for page in batch]


def _read_turned(paths: list[Path], turns: list[int], dpi: int, processes: int,
                 page_seconds: float) -> list[OcrPage]:
    """Read each picture turned counterclockwise by its angle; boxes mapped back to the picture as it is."""
    from PIL import Image

    transpose = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    with tempfile.TemporaryDirectory(prefix="pktz-turn-") as folder:
        turned = []
        for number, (path, turn) in enumerate(zip(paths, turns)):
            if not turn:
                turned.append(path)
                continue
            target = Path(folder) / f"{number}-{turn}.png"
            with Image.open(path) as picture:
                picture.transpose(transpose[turn]).save(target)
            turned.append(target)
        readings = _read_all(turned, dpi, processes, page_seconds)
    return [_turn_back(reading, turn) for reading, turn in zip(readings, turns)]


def _turn_back(page: OcrPage, turn: int) -> OcrPage:
    """``page`` read from a picture turned by ``turn`` degrees, in the coordinates of the unturned picture."""
    if not turn:
        return page
    width, height = (page.height, page.width) if turn in (90, 270) else (page.width, page.height)

    def back(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        u0, v0, u1, v1 = box
        if turn == 180:
            return (width - u1, height - v1, width - u0, height - v0)
        if turn == 90:    # (x, y) went to (y, width - x)
            return (width - v1, u0, width - v0, u1)
        return (v0, height - u1, v1, height - u0)   # 270: (x, y) went to (height - y, x)

    words = tuple(OcrWord(w.text, back(w.box), w.confidence, w.line) for w in page.words)
    return OcrPage(words, width, height, page.timed_out, turn)


def _poor(page: OcrPage) -> bool:
    confidence = page.confidence
    return not page.timed_out and (confidence is None or confidence < MIN_OCR_CONFIDENCE)


def _score(page: OcrPage) -> float:
    """How much a reading read: letters of confident words."""
    return sum(len(w.text) for w in page.words if w.confidence >= MIN_OCR_CONFIDENCE
               and len(_ALNUM.findall(w.text)) >= 2)


def has_ink(path: Path) -> bool:
    """Whether a page picture has enough dark pixels to hold text (a blank page is not turned and read again)."""
    from PIL import Image

    with Image.open(path) as picture:
        grey = picture.convert("L")
        grey.thumbnail((600, 600))
        dark = sum(grey.histogram()[:128])
    return dark > _INK_SHARE * grey.width * grey.height


def _read_batch(paths: list[Path], dpi: int, page_seconds: float) -> list[OcrPage]:
    """Read pages in one process; when that runs out of time, each page alone, so that only
    the page Tesseract cannot finish (speckled faxes can take minutes) comes back unread."""
    from PIL import Image

    sizes = []
    for path in paths:
        with Image.open(path) as picture:
            sizes.append(picture.size)
    try:
        return _run_tesseract(paths, sizes, dpi, page_seconds)
    except _OutOfTime:
        if len(paths) == 1:
            log.warning("OCR of a page did not finish in %s s", page_seconds)
            return [OcrPage((), *sizes[0], timed_out=True)]
        return [page for path in paths for page in _read_batch([path], dpi, page_seconds)]


class _OutOfTime(Exception):
    pass


def _run_tesseract(paths: list[Path], sizes: list[tuple[int, int]], dpi: int, page_seconds: float) -> list[OcrPage]:
    import pytesseract

    with tempfile.TemporaryDirectory(prefix="pktz-ocr-") as folder:
        listing = Path(folder) / "pages.txt"
        listing.write_text("".join(f"{p}\n" for p in paths))
        # One thread per process: the pages of a build are spread over processes instead.
        os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            data = pytesseract.image_to_data(
                str(listing) if len(paths) > 1 else str(paths[0]), lang=OCR_LANGUAGE,
                config=f"--dpi {dpi} {_CONFIG}", output_type=pytesseract.Output.DICT,
                timeout=page_seconds * len(paths),
            )
        except RuntimeError:   # pytesseract's timeout
            raise _OutOfTime() from None
        except pytesseract.TesseractError as exc:
            log.warning("tesseract failed with status %s", exc.status)
            raise IngestError("OCR failed on a page picture", code=ErrorCode.OCR_FAILED) from None
        except (pytesseract.TesseractNotFoundError, OSError):
            raise IngestError("OCR is not available: the tesseract program cannot be run",
                              code=ErrorCode.OCR_UNAVAILABLE) from None
    words: list[list[OcrWord]] = [[] for _ in paths]
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        page = int(data["page_num"][i]) - 1
        if not 0 <= page < len(paths):
            continue
        left, top = int(data["left"][i]), int(data["top"][i])
        box = (left, top, left + int(data["width"][i]), top + int(data["height"][i]))
        line = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        words[page].append(OcrWord(text, box, conf, line))
    return [OcrPage(tuple(w), width, height) for w, (width, height) in zip(words, sizes)]

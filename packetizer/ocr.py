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

from .errors import IngestError
from .limits import MAX_OCR_PAGE_SECONDS, MAX_OCR_PROCESSES, OCR_DPI

log = logging.getLogger(__name__)

OCR_LANGUAGE = "eng"
# --psm 3: find the blocks and lines on the page (notes, forms, fax headers).
# No inverted-text pass: it doubles the cost of a page for white-on-black
# text, which notes and faxes do not have; what it would read there is burnt
# out only if found, and the proof re-reads with the same settings.
_CONFIG = "--psm 3 -c tessedit_do_invert=0"
_ALNUM = re.compile(r"[0-9A-Za-z]")


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
                  page_seconds: float = MAX_OCR_PAGE_SECONDS) -> list[OcrPage]:
    """Read every picture (PNG files of whole pages, rendered at ``dpi``), in order.

    A page Tesseract cannot finish in ``page_seconds`` comes back with no
    words and ``timed_out`` set (confidence 0: the page is reported unchecked).

    Raises:
        IngestError: Tesseract is not installed, or failed.
    """
    if not paths:
        return []
    if not tesseract_available():
        raise IngestError("OCR is not available: the tesseract program or its English model is not installed "
                          "(apt-get install tesseract-ocr tesseract-ocr-eng)", code="ocr_unavailable")
    processes = max(1, min(processes, os.cpu_count() or 1, len(paths)))
    # Contiguous batches, so that each process reads its pages in order.
    size = -(-len(paths) // processes)
    batches = [paths[i:i + size] for i in range(0, len(paths), size)]
    if len(batches) == 1:
        return _read_batch(batches[0], dpi, page_seconds)
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(lambda batch: _read_batch(batch, dpi, page_seconds), batches))
    return [page for batch in results for page in batch]


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
            raise IngestError("OCR failed on a page picture", code="ocr_failed") from None
        except (pytesseract.TesseractNotFoundError, OSError):
            raise IngestError("OCR is not available: the tesseract program cannot be run",
                              code="ocr_unavailable") from None
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

"""Speed of PDF ingest: figures the unit tests used to assert (issue 14 moved them here).

1. Sanitising a 200-page text PDF (the one tests/test_ingest_pdf.py rebuilds page by page): the whole
   call, a sandboxed child opening, cleaning and rewriting every page. Target: under 2 s.
2. Ingesting each odd or hostile PDF of the test corpus (tests/fixtures/corpus/pdfs and the stand-ins the
   tests make for the files that stay outside the repository), whether it becomes a clean PDF or is refused
   with a clear error. Target: each under 10 s.

Wall time is what a person waits for; the CPU time of the sandboxed children is steadier on a busy machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packetizer.errors import IngestError  # noqa: E402
from packetizer.ingest import ingest_attachment  # noqa: E402
from packetizer.ingest.pdf import sanitise_pdf  # noqa: E402
# The very files and the 200-page PDF the unit tests use, so the figures and the tests cannot drift apart.
from tests.test_ingest_pdf import EXPECTED, MADE, attachment, corpus_file, make_text_pdf  # noqa: E402

RUNS = 5
LONG_PAGES = 200
TARGET_LONG_S = 2.0
TARGET_CORPUS_S = 10.0
SLOWEST_SHOWN = 5


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(work) -> tuple[float, float]:
    """Wall time of ``work()``, and the CPU time of the sandboxed children it ran."""
    cpu = children_cpu()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start, children_cpu() - cpu


def long_pdf() -> tuple[float, float]:
    pdf = make_text_pdf(LONG_PAGES)
    clean = sanitise_pdf(pdf, name="long.pdf")   # warm up: imports, fonts
    assert clean.pages == LONG_PAGES, clean.pages
    runs = [timed(lambda: sanitise_pdf(pdf, name="long.pdf")) for _ in range(RUNS)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def ingest_once(path: Path) -> None:
    try:
        ingest_attachment(attachment(path))
    except IngestError:
        pass   # a clear refusal is the expected outcome for many of these files; the tests check which


def corpus(tmp: Path) -> list[tuple[str, float, float]]:
    rows = []
    for relative in sorted(EXPECTED) + sorted(MADE):
        folder = tmp / relative.replace("/", "_")
        folder.mkdir()
        path = corpus_file(relative, folder)
        wall, cpu = timed(lambda: ingest_once(path))
        rows.append((relative, wall, cpu))
    return rows


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    long_wall, long_cpu = long_pdf()
    with tempfile.TemporaryDirectory() as tmp_name:
        rows = corpus(Path(tmp_name))
    slowest = sorted(rows, key=lambda row: row[1], reverse=True)
    worst_name, worst_wall, worst_cpu = slowest[0]
    long_ok, corpus_ok = long_wall < TARGET_LONG_S, worst_wall < TARGET_CORPUS_S

    print(f"{'':48}{'wall s':>8}{'cpu s':>8}   target")
    print(f"{f'sanitise a {LONG_PAGES}-page text PDF (median of {RUNS})':48}{long_wall:8.2f}{long_cpu:8.2f}"
          f"   < {TARGET_LONG_S:.0f} s {verdict(long_ok)}")
    print(f"{f'ingest one corpus PDF, slowest of {len(rows)}':48}{worst_wall:8.2f}{worst_cpu:8.2f}"
          f"   < {TARGET_CORPUS_S:.0f} s each {verdict(corpus_ok)}  ({worst_name})")
    print(f"{f'ingest all {len(rows)} corpus PDFs, one after another':48}"
          f"{sum(r[1] for r in rows):8.2f}{sum(r[2] for r in rows):8.2f}")
    for name, wall, cpu in slowest[1:SLOWEST_SHOWN]:
        print(f"  {name:46}{wall:8.2f}{cpu:8.2f}")
    print(f"targets: {LONG_PAGES} pages < {TARGET_LONG_S:.0f} s {verdict(long_ok)}; "
          f"each corpus PDF < {TARGET_CORPUS_S:.0f} s {verdict(corpus_ok)}")
    return 0   # a missed target is reported, not a crash of `make bench`


if __name__ == "__main__":
    sys.exit(main())

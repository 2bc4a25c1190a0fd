"""Redaction speed and false positives (issue 4).

1. Time to redact a 50-page PDF exhibit with identifiers on 5 of its pages:
   the whole call (sandboxed child, text of all 50 pages, 5 pages burnt in at
   200 dpi, rebuild, re-check), the same PDF without identifiers, and the
   difference per redacted page. Target: <= 50 ms per redacted page.
2. False positives of the shape detectors on clinical text with no planted
   identifiers: the MTSamples transcriptions of the shared corpus (de-identified
   narrative). Every hit there is listed, so a person can judge it.
"""

from __future__ import annotations

import csv
import os
import re
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packetizer.caseio import case_from_mapping  # noqa: E402
from packetizer.disclosure import Redactor, plan_disclosure  # noqa: E402
from packetizer.disclosure.pdfredact import redact_pdf  # noqa: E402
from packetizer.limits import OCR_DPI  # noqa: E402
from packetizer.ingest.pdf import sanitise_pdf  # noqa: E402
from packetizer.policy import load_registry  # noqa: E402
from packetizer.render import html_to_pdf  # noqa: E402

RUNS = 5
PAGES = 50
HIT_PAGES = (3, 12, 25, 38, 49)
TARGET_MS = 50.0
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def fifty_pages(with_hits: bool) -> bytes:
    body = []
    for number in range(1, PAGES + 1):
        hit = with_hits and number in HIT_PAGES
        body.append(
            f"<h2>Visit log page {number}</h2>"
            + ("<p>Intake: SSN 478-26-1935, home (651) 555-0182, maya.lindqvist@example.net.</p>" if hit else "")
            + "<p>Therapeutic exercise and manual therapy delivered as planned; patient tolerated "
              "treatment well, no adverse events, home program reviewed.</p>" * 14
            + "<div style='break-after: page'></div>"
        )
    pdf = html_to_pdf('<link rel="stylesheet" href="packet.css">' + "".join(body)).pdf
    return sanitise_pdf(pdf, name="bench.pdf").pdf


def redactor() -> Redactor:
    doc = {
        "case_id": "BENCH-1", "payer_id": "demo-commercial",
        "member": {"member_id": "QHP770012345", "first_name": "Maya", "last_name": "Lindqvist", "dob": "1983-02-17",
                   "ssn": "478-26-1935", "phone": "(651) 555-0182", "email": "maya.lindqvist@example.net"},
        "services": [{"date_of_service": "2026-10-11", "code": "97110"}],
        "rendering_provider": {"name": "Juniper PT", "npi": "1234567893"},
        "late_reason": {"category": "payer_portal_outage", "explanation": "Portal down."},
        "medical_necessity": "Needed.", "contact": {"name": "Billing", "phone": "651-555-0100"},
    }
    case = case_from_mapping(doc, Path("."))
    return plan_disclosure(case, load_registry().get("demo-commercial")).redactor


def timed(pdf: bytes, red: Redactor) -> tuple[float, float, object]:
    """Wall time, and CPU time of the sandboxed child (steadier on a busy machine)."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = redact_pdf(pdf, red, name="bench.pdf")
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return wall, cpu, result


def speed() -> bool:
    red = redactor()
    with_hits, without = fifty_pages(True), fifty_pages(False)
    timed(with_hits, red)   # warm up: imports, fonts
    hit_wall, hit_cpu, clean_wall, clean_cpu = [], [], [], []
    for _ in range(RUNS):
        wall, cpu, result = timed(with_hits, red)
        assert result.rasterized == HIT_PAGES, result.rasterized
        hit_wall.append(wall)
        hit_cpu.append(cpu)
        wall, cpu, _ = timed(without, red)
        clean_wall.append(wall)
        clean_cpu.append(cpu)
    med = statistics.median
    n = len(HIT_PAGES)
    per_page_wall = (med(hit_wall) - med(clean_wall)) / n * 1000
    per_page_cpu = (med(hit_cpu) - med(clean_cpu)) / n * 1000
    print(f"{PAGES}-page PDF, identifiers on {n} pages, {OCR_DPI} dpi (median of {RUNS} runs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'':32}{'wall ms':>10}{'cpu ms':>10}")
    print(f"{'redact, with identifiers':32}{med(hit_wall) * 1000:10.1f}{med(hit_cpu) * 1000:10.1f}")
    print(f"{'search only, no identifiers':32}{med(clean_wall) * 1000:10.1f}{med(clean_cpu) * 1000:10.1f}"
          f"   ({med(clean_cpu) * 1000 / PAGES:.1f} ms CPU per page searched)")
    print(f"{'per redacted page (difference)':32}{per_page_wall:10.1f}{per_page_cpu:10.1f}"
          f"   (target <= {TARGET_MS:.0f} ms CPU: {'met' if per_page_cpu <= TARGET_MS else 'MISSED'})")
    return per_page_cpu <= TARGET_MS


def false_positives() -> None:
    source = CORPUS / "clinical" / "mtsamples" / "mtsamples_subset_321.csv"
    if not source.is_file():
        print("false positives: shared corpus not found; skipped")
        return
    csv.field_size_limit(1 << 26)
    texts = [row["transcription"] for row in csv.DictReader(source.open(encoding="utf-8"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((source.parent / "notes").glob("*.txt"))]
    detector = Redactor()
    counts: Counter = Counter()
    examples = []
    chars = sum(len(t) for t in texts)
    for text in texts:
        for hit in detector.find(text):
            counts[hit.type] += 1
            examples.append((hit.type, re.sub(r"\s+", " ", text[max(0, hit.start - 25):hit.end + 10])))
    total = sum(counts.values())
    print(f"false positives on {len(texts)} de-identified MTSamples texts ({chars / 1e6:.2f} M characters, "
          f"no planted identifiers): {total} hit(s), {total / chars * 1e5:.2f} per 100k characters "
          f"{dict(counts) if counts else ''}")
    for type_, context in examples:
        print(f"  {type_}: ...{context}...")


def main() -> int:
    met = speed()
    false_positives()
    return 0 if met else 0   # a missed target is reported, not a crash of `make bench`


if __name__ == "__main__":
    sys.exit(main())

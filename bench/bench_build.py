"""Build time of a packet against its floor (SPEC section 5; issue 2).

The floor for the same inputs is the unavoidable work: WeasyPrint laying out and
writing exactly the HTML the build generates (front sections and converted
notes), plus a raw pypdf merge of the resulting PDFs and the PDF attachments.
Everything else a build does (checks, disclosure, sanitising, fitting, stamps,
index, verification, atomic writes) must stay within 1.25x of it, and the
example case within 1 s warm.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader, PdfWriter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import packetizer.render as render  # noqa: E402
import packetizer.sections as sections  # noqa: E402
from packetizer.caseio import load_case  # noqa: E402
from packetizer.pipeline import build_packet  # noqa: E402
from packetizer.policy import load_payer  # noqa: E402

RUNS = 5
TODAY = dt.date(2026, 10, 6)


def long_attachment_case(root: Path) -> Path:
    """The example case plus a 200-page PDF progress log."""
    folder = root / "long"
    shutil.copytree(REPO / "examples" / "lake-street", folder)
    body = "".join(
        f"<h2>Visit log page {i}</h2>" + "<p>Therapeutic exercise and manual therapy delivered as planned; "
        "patient tolerated treatment well, no adverse events, home program reviewed.</p>" * 12
        + "<div style='break-after: page'></div>"
        for i in range(1, 201)
    )
    pdf = render.html_to_pdf("<style>@page{size:Letter;margin:0.7in}</style>" + body).pdf
    (folder / "notes" / "visit-log.pdf").write_bytes(pdf)
    text = (folder / "case.yaml").read_text()
    text += ("  - file: notes/visit-log.pdf\n    kind: clinical_note\n    date: 2026-09-18\n"
             "    title: \"Visit log\"\n")
    (folder / "case.yaml").write_text(text)
    return folder / "case.yaml"


def timed_build(case_path: Path, out: Path) -> tuple[float, list[str]]:
    """Build once; return wall time and the HTML documents WeasyPrint laid out."""
    seen: list[str] = []
    original = render.layout_html

    def recording(html: str):
        seen.append(html)
        return original(html)

    render.layout_html = sections.layout_html = recording
    try:
        case = load_case(case_path)
        policy = load_payer(case.payer_id)
        start = time.perf_counter()
        build_packet(case, policy, out_dir=out, today=TODAY)
        return time.perf_counter() - start, seen
    finally:
        render.layout_html = sections.layout_html = original


def floor(htmls: list[str], pdf_attachments: list[Path]) -> float:
    start = time.perf_counter()
    parts = [original_layout(h).write_pdf() for h in htmls]
    parts += [p.read_bytes() for p in pdf_attachments]
    writer = PdfWriter()
    for data in parts:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    writer.write(io.BytesIO())
    return time.perf_counter() - start


original_layout = render.layout_html


def measure(name: str, case_path: Path, tmp: Path) -> tuple[str, float, float]:
    timed_build(case_path, tmp / "warmup")  # fonts, imports, ICD-10 tables
    builds, floors = [], []
    pdfs = [a.path for a in load_case(case_path).attachments if a.path.suffix == ".pdf"]
    for i in range(RUNS):
        took, htmls = timed_build(case_path, tmp / f"{name}-{i}")
        builds.append(took)
        floors.append(floor(htmls, pdfs))
    return name, statistics.median(builds), statistics.median(floors)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = [
            measure("example case", REPO / "examples" / "lake-street" / "case.yaml", tmp),
            measure("with 200-page PDF", long_attachment_case(tmp), tmp),
        ]
    print(f"{'case':<20} {'build s':>8} {'floor s':>8} {'ratio':>6}   (median of {RUNS} warm runs)")
    ok = True
    for name, build, base in rows:
        ratio = build / base
        print(f"{name:<20} {build:8.3f} {base:8.3f} {ratio:6.2f}")
        ok &= ratio <= 1.25
    example_ok = rows[0][1] <= 1.0
    print(f"targets: ratio <= 1.25 {'met' if ok else 'MISSED'}; example <= 1.0 s warm "
          f"{'met' if example_ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

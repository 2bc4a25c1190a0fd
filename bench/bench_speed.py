"""Speed of a whole packet against the paths it replaces (issue 13), side by side in one run.

1. **The typical case** (examples/lake-street: a DOCX evaluation, a PDF progress note, a text phone
   log) as a whole ``packetizer build`` process, against the manual path a clerk takes today:
   LibreOffice headless converting the DOCX and the text note to PDF, then qpdf merging the three
   (with a LibreOffice profile made once beforehand, as on a clerk's machine). Runs alternate, one of
   each in turn; medians, run-to-run ranges, the ratio, and the peak resident memory of each (the
   largest process of each tree). The manual output has no cover, index, narrative or redaction.
2. **The example case and the 200-page chart** (the example case plus a 200-page typed PDF), warm in
   this process, against the honest privacy floor: one PDFium text pass over each input PDF, the
   layout and writing of exactly the HTML the build renders (front sections, converted notes), one
   merge, and one PDFium text pass over the output.
   Beside the chart's ratio, for information (no target): its CPU time against the floor's, and the
   floor with poppler's reading of each input and of the output added after its other work, one
   after another as the floor does everything: the second extractor the no-leak contract requires on
   the way in and on the way out (README, "What is paid twice").
3. **The 20-page scanned fax**, warm, against the same floor with each of its pages rendered at
   ``OCR_DPI`` and read once by Tesseract (two processes, as a build reads them).
4. **Peak memory of a 1,000-page packet**: a ``packetizer build`` process whose case holds two
   500-page PDFs (``MAX_PDF_PAGES`` each).

Batch throughput is ``bench_batch.py``; OCR accuracy and cost per page ``ocr_accuracy.py``.

Targets (issue 13): typical case <= 1.0x the manual path; 200-page chart <= 1.25x its floor; peak
RSS <= 150 MB for the typical build and <= 300 MB for a 1,000-page packet; (issue 2) the example
case within 1 s warm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pypdfium2 as pdfium  # noqa: E402
from pypdf import PdfReader, PdfWriter  # noqa: E402

import packetizer.render as render  # noqa: E402
import packetizer.sections as sections  # noqa: E402
from packetizer.caseio import load_case  # noqa: E402
from packetizer.disclosure.pdftext import PopplerReading  # noqa: E402
from packetizer.limits import MAX_PDF_PAGES, OCR_DPI  # noqa: E402
from packetizer.ocr import read_pictures  # noqa: E402
from packetizer.pipeline import build_packet  # noqa: E402
from packetizer.policy import load_payer  # noqa: E402
from tests.support.channel_cases import case_with  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from peakrss import run_measured  # noqa: E402

EXAMPLE = REPO / "examples" / "lake-street"
TODAY = dt.date(2026, 10, 6)
PAIRS = 5
WARM_RUNS = 5          # builds (each with its floor) of the example and the chart: this machine's CPUs are
                       # shared, and one run in five may take half as long again
FAX_RUNS = 3           # the fax's take 12-15 s each
TARGET_TYPICAL = 1.0
TARGET_CHART = 1.25
TARGET_TYPICAL_MB = 150
TARGET_THOUSAND_MB = 300
TARGET_EXAMPLE_WARM = 1.0
PACKETIZER = Path(sys.executable).with_name("packetizer")


# --------------------------------------------------------------------------- whole processes


def timed_process(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``args`` to the end: (wall seconds, peak resident MB of the largest process in its tree), measured
    apart from this benchmark's own memory (see peakrss.py)."""
    wall, mb, code, error = run_measured(args, cwd)
    if code != 0:
        raise SystemExit(f"{args[0]} failed ({code}): {error[-500:]}")
    return wall, mb


def cli_build(case: Path, out: Path) -> tuple[float, float]:
    return timed_process([str(PACKETIZER), "build", str(case), "--out", str(out), "--today", TODAY.isoformat()],
                         cwd=case.parent)


def manual_path(notes: Path, out: Path, profile: Path) -> tuple[float, float]:
    """LibreOffice converts the DOCX and the text note, qpdf merges them with the PDF: one wall time, the
    larger of the two peaks."""
    out.mkdir(parents=True)
    convert = timed_process(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to",
                             "pdf", "--outdir", str(out), str(notes / "2026-09-14-evaluation.docx"),
                             str(notes / "2026-10-05-phone-log.txt")], cwd=out)
    merge = timed_process(["qpdf", "--empty", "--pages", str(out / "2026-09-14-evaluation.pdf"),
                           str(notes / "2026-09-18-progress-note.pdf"), str(out / "2026-10-05-phone-log.pdf"), "--",
                           str(out / "merged.pdf")], cwd=out)
    return convert[0] + merge[0], max(convert[1], merge[1])


def typical_case(tmp: Path) -> dict:
    profile = tmp / "lo-profile"
    manual_path(EXAMPLE / "notes", tmp / "manual-warmup", profile)   # LibreOffice makes its profile once
    cli_build(EXAMPLE / "case.yaml", tmp / "cli-warmup")              # the OS caches the interpreter's files
    cli, manual = [], []
    for i in range(PAIRS):
        cli.append(cli_build(EXAMPLE / "case.yaml", tmp / f"cli-{i}"))
        manual.append(manual_path(EXAMPLE / "notes", tmp / f"manual-{i}", profile))
    return {"cli": cli, "manual": manual}


# --------------------------------------------------------------------------- warm builds and their floors


def typed_pdf(pages: int) -> bytes:
    body = "".join(
        f"<h2>Visit log page {i}</h2>" + "<p>Therapeutic exercise and manual therapy delivered as planned; "
        "patient tolerated treatment well, no adverse events, home program reviewed.</p>" * 12
        + "<div style='break-after: page'></div>"
        for i in range(1, pages + 1)
    )
    return render.html_to_pdf("<style>@page{size:Letter;margin:0.7in}</style>" + body).pdf


def fax_pdf(pages: int) -> bytes:
    """A scanned fax of ``pages`` typed note pages: 204x196 dpi, one bit, CCITT Group 4 (no identifiers)."""
    sys.path.insert(0, str(REPO))
    from tests.support.hostile_pdfs import fax_pdf_pages, scan, to_fax, FAX_DPI, LETTER

    lines = ["JUNIPER PHYSICAL THERAPY  Progress note", "Therapeutic exercise: nerve glides and core work.",
             "Gait steady without an assistive device.", "Plan: continue skilled therapy twice a week."]
    frames = [to_fax(scan([f"Page {n + 1}", *lines * 6], LETTER, dpi=FAX_DPI, font_pt=11, seed=n))
              for n in range(pages)]
    return fax_pdf_pages(frames)


def warm_build(case_path: Path, out: Path) -> tuple[float, list[str], float]:
    """Build once; the wall time, the HTML documents WeasyPrint laid out, and the CPU time of this process
    and of its children (sandboxed children, their halves, poppler) meanwhile."""
    seen: list[str] = []
    original = render.layout_html

    def recording(html: str):
        seen.append(html)
        return original(html)

    render.layout_html = sections.layout_html = recording
    try:
        case = load_case(case_path)
        # The channel's page limit is lifted: these figures time one packet, as before packets were cut into
        # parts (issue 19); bench_channel.py times the cutting.
        policy = dataclasses.replace(load_payer(case.payer_id), max_pages=None, max_file_mb=None)
        start, cpu = time.perf_counter(), _cpu_seconds()
        build_packet(case, policy, out_dir=out, today=TODAY)
        return time.perf_counter() - start, seen, _cpu_seconds() - cpu
    finally:
        render.layout_html = sections.layout_html = original


def _cpu_seconds() -> float:
    """User and system CPU time of this process and of its children that have ended."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _text_pass(data: bytes) -> None:
    document = pdfium.PdfDocument(data)
    try:
        for index in range(len(document)):
            page = document[index]
            text_page = page.get_textpage()
            text_page.get_text_range()
            text_page.close()
            page.close()
    finally:
        document.close()


def privacy_floor(htmls: list[str], pdf_inputs: list[bytes], ocr_inputs: list[bytes], tmp: Path, *,
                  second_reader: bool = False) -> tuple[float, float]:
    """The least any honest build of these inputs does: (wall seconds, CPU seconds) (see the module
    docstring). ``second_reader``: poppler also reads each input PDF and the output, as the build's survey
    and proof do."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    for data in pdf_inputs:
        _text_pass(data)
        if second_reader:
            _poppler_pass(data, tmp)
    if ocr_inputs:
        pictures = []
        for number, data in enumerate(ocr_inputs):
            document = pdfium.PdfDocument(data)
            for index in range(len(document)):
                path = tmp / f"floor-{number}-{index}.png"
                document[index].render(scale=OCR_DPI / 72.0, grayscale=True).to_pil().convert("1").save(path)
                pictures.append(path)
            document.close()
        read_pictures(pictures, dpi=OCR_DPI, turns=[0] * len(pictures))
    parts = [render.layout_html(html).write_pdf() for html in htmls] + pdf_inputs + ocr_inputs
    writer = PdfWriter()
    for data in parts:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    merged = io.BytesIO()
    writer.write(merged)
    _text_pass(merged.getvalue())
    if second_reader:
        _poppler_pass(merged.getvalue(), tmp)
    return time.perf_counter() - start, _cpu_seconds() - cpu


def _poppler_pass(data: bytes, tmp: Path) -> None:
    """Poppler's reading of every page, as the build's survey and proof have it made."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    document = pdfium.PdfDocument(data)
    pages = len(document)
    document.close()
    if PopplerReading(data, folder).texts(pages, timeout=60) is None:
        raise SystemExit("bench: poppler's pdftotext could not read a floor's PDF")
    shutil.rmtree(folder)


def against_floor(name: str, case_path: Path, tmp: Path, *, scanned: bool, runs: int = WARM_RUNS,
                  second_reader: bool = False) -> dict:
    """Warm builds of the case, each followed by its floor (and, with ``second_reader``, the floor with
    poppler's readings): their wall and CPU seconds."""
    case = load_case(case_path)
    pdfs = [a.path.read_bytes() for a in case.attachments if a.path.suffix == ".pdf"]
    scans = [data for data in pdfs if scanned and b"/CCITTFaxDecode" in data]
    typed = [data for data in pdfs if data not in scans]
    warm_build(case_path, tmp / f"{name}-warmup")
    row: dict[str, list[float]] = {key: [] for key in ("build", "build_cpu", "floor", "floor_cpu", "floor2")}
    for i in range(runs):
        took, htmls, cpu = warm_build(case_path, tmp / f"{name}-{i}")
        row["build"].append(took)
        row["build_cpu"].append(cpu)
        floor, floor_cpu = privacy_floor(htmls, typed, scans, tmp)
        row["floor"].append(floor)
        row["floor_cpu"].append(floor_cpu)
        if second_reader:
            row["floor2"].append(privacy_floor(htmls, typed, scans, tmp, second_reader=True)[0])
    return row


# --------------------------------------------------------------------------- report


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> int:
    for program in ("soffice", "qpdf"):
        if shutil.which(program) is None:
            print(f"{program} is missing: run `make bench` (it installs LibreOffice Writer and qpdf) "
                  "or `sudo apt-get install -y libreoffice-writer-nogui qpdf`")
            return 1
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)
    # Warm builds are timed in a process warmed up as a batch worker or a web job server is (their fork
    # server imports packetizer.batch.warm: fonts initialised, a packet rendered, what that loaded frozen for
    # the garbage collector); its layouts are its own, none in a render process (packetizer.renderproc).
    import packetizer.batch.warm  # noqa: F401 - warms this process up on import
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        typical = typical_case(tmp)
        example = against_floor("example", EXAMPLE / "case.yaml", tmp, scanned=False)
        chart = against_floor("chart", case_with(tmp / "chart", [("visit-log.pdf", typed_pdf(200))]), tmp,
                              scanned=False, second_reader=True)
        fax = against_floor("fax", case_with(tmp / "fax", [("faxed-referral.pdf", fax_pdf(20))]), tmp, scanned=True,
                            runs=FAX_RUNS)
        half = typed_pdf(MAX_PDF_PAGES)
        thousand = case_with(tmp / "thousand", [("log-part-1.pdf", half), ("log-part-2.pdf", half + b"\n%\n")])
        big_wall, big_mb = cli_build(thousand, tmp / "thousand-out")

    cli_wall = [wall for wall, _ in typical["cli"]]
    manual_wall = [wall for wall, _ in typical["manual"]]
    cli_mb = max(mb for _, mb in typical["cli"])
    manual_mb = max(mb for _, mb in typical["manual"])
    ratio = statistics.median(cli_wall) / statistics.median(manual_wall)
    print(f"{'figure':44}{'ours':>10}{'other':>10}{'ratio':>8}   target")
    print(f"{'typical case, whole process vs manual path':44}{statistics.median(cli_wall):9.2f}s"
          f"{statistics.median(manual_wall):9.2f}s{ratio:8.2f}   <= {TARGET_TYPICAL:.2f}x: "
          f"{'met' if ratio <= TARGET_TYPICAL else 'MISSED'}   (runs {_range(cli_wall)} s vs {_range(manual_wall)} s)")
    print(f"{'  peak RSS, typical build vs manual path':44}{cli_mb:8.0f}MB{manual_mb:8.0f}MB{'':8}   "
          f"<= {TARGET_TYPICAL_MB} MB: {'met' if cli_mb <= TARGET_TYPICAL_MB else 'MISSED'}")
    warm = statistics.median(example["build"])
    print(f"{'example case, warm build':44}{warm:9.2f}s{'':10}{'':8}   <= {TARGET_EXAMPLE_WARM:.1f} s: "
          f"{'met' if warm <= TARGET_EXAMPLE_WARM else 'MISSED'}   (runs {_range(example['build'])} s; its floor "
          f"{statistics.median(example['floor']):.2f} s)")
    for label, row, target in (("200-page chart vs privacy floor", chart, TARGET_CHART),
                               ("20-page scanned fax vs floor (with OCR)", fax, None)):
        build, floor = statistics.median(row["build"]), statistics.median(row["floor"])
        verdict = (f"<= {target:.2f}x: {'met' if build / floor <= target else 'MISSED'}" if target
                   else "(no target)")
        print(f"{label:44}{build:9.2f}s{floor:9.2f}s{build / floor:8.2f}   {verdict}   "
              f"(runs {_range(row['build'])} s vs {_range(row['floor'])} s, warm)")
        if row["floor2"]:
            cpu, floor_cpu, floor2 = (statistics.median(row[key]) for key in ("build_cpu", "floor_cpu", "floor2"))
            print(f"{'  CPU time, build vs floor':44}{cpu:9.2f}s{floor_cpu:9.2f}s{cpu / floor_cpu:8.2f}   (no target)   "
                  f"(runs {_range(row['build_cpu'])} s vs {_range(row['floor_cpu'])} s; {os.cpu_count()} CPUs)")
            print(f"{'  vs the floor with poppler in and out':44}{build:9.2f}s{floor2:9.2f}s{build / floor2:8.2f}   "
                  f"(no target)   (runs {_range(row['floor2'])} s: the floor plus poppler's reading of the input "
                  f"and of the output)")
    print(f"{'peak RSS, 1,000-page packet (whole process)':44}{big_mb:8.0f}MB{'':10}{'':8}   "
          f"<= {TARGET_THOUSAND_MB} MB: {'met' if big_mb <= TARGET_THOUSAND_MB else 'MISSED'}   "
          f"(built in {big_wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

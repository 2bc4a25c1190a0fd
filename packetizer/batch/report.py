"""The batch report: one row per case, written as ``batch-report.csv`` and ``batch-report.json``.

Spreadsheets run a CSV cell that starts with ``=``, ``+``, ``-`` or ``@`` (and
some treat a leading tab or carriage return the same way) as a formula, so such
cells get a leading apostrophe, as OWASP's CSV-injection advice says. The JSON
report keeps every value as it is: it is read by programs, not spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPORT_CSV = "batch-report.csv"
REPORT_JSON = "batch-report.json"
REPORT_COLUMNS = ("row", "case_id", "status", "packet", "sha256", "pages", "error")
STATUSES = ("built", "skipped", "failed")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowResult:
    """What happened to one case of the manifest.

    Attributes:
        lines: Manifest line numbers of the case.
        case_id: As written in the manifest (None when the row had none).
        status: ``built``, ``skipped`` (unchanged since its last build) or ``failed``.
        packet: The packet's file name in the output folder.
        sha256, pages: Of the packet.
        error: Why the case failed (names line and column), or None.
        archived: Archive key prefix of the packet when it was archived.
    """

    lines: tuple[int, ...]
    case_id: str | None
    status: str
    packet: str | None = None
    sha256: str | None = None
    pages: int | None = None
    error: str | None = None
    archived: str | None = None

    @property
    def row(self) -> str:
        """The manifest lines as one cell: ``5`` or ``5;6;9``."""
        return ";".join(map(str, self.lines))

    def to_dict(self) -> dict:
        return {
            "row": self.row, "lines": list(self.lines), "case_id": self.case_id, "status": self.status,
            "packet": self.packet, "sha256": self.sha256, "pages": self.pages, "error": self.error,
            "archived": self.archived,
        }


@dataclass(frozen=True)
class BatchReport:
    """The outcome of a batch: every row, where the report files are, and the totals.

    Attributes:
        manifest: The manifest file.
        out_dir: Where the packets and the report are.
        rows: One result per case, in manifest order.
        engine: ``local`` or ``celery``.
        started, finished: ISO times (UTC).
        elapsed: Seconds the batch took.
        interrupted: True when the batch was stopped before every case was done.
    """

    manifest: Path
    out_dir: Path
    rows: tuple[RowResult, ...]
    engine: str
    started: str
    finished: str
    elapsed: float
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def built(self) -> int:
        return self.count("built")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def ok(self) -> bool:
        """True when no row failed and the batch ran to the end."""
        return not self.failed and not self.interrupted

    @property
    def csv_path(self) -> Path:
        return self.out_dir / REPORT_CSV

    @property
    def json_path(self) -> Path:
        return self.out_dir / REPORT_JSON

    def packet_path(self, row: RowResult) -> Path | None:
        return self.out_dir / row.packet if row.packet else None

    def to_dict(self) -> dict:
        return {
            "manifest": self.manifest.name,
            "engine": self.engine,
            "started": self.started,
            "finished": self.finished,
            "elapsed_seconds": round(self.elapsed, 3),
            "interrupted": self.interrupted,
            "counts": {"total": len(self.rows), **{status: self.count(status) for status in STATUSES}},
            "rows": [row.to_dict() for row in self.rows],
        }


def escape_cell(value: object) -> str:
    """A CSV cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def report_csv_bytes(report: BatchReport) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for row in report.rows:
        cells = (row.row, row.case_id, row.status, row.packet, row.sha256, row.pages,
                 " ".join((row.error or "").split()) or None)
        writer.writerow([escape_cell(cell) for cell in cells])
    # A BOM so that spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def report_json_bytes(report: BatchReport) -> bytes:
    return (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_report(report: BatchReport) -> tuple[Path, Path]:
    """Write ``batch-report.csv`` and ``.json`` into the report's folder, each atomically."""
    replace_file(report.csv_path, report_csv_bytes(report))
    replace_file(report.json_path, report_json_bytes(report))
    return report.csv_path, report.json_path


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp made it 0600, and so it stays: reports and tracking name cases (packetizer.private).
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Cases for the channel-output tests (issue 19): the example case plus typed PDF exhibits of many pages."""

from __future__ import annotations

import shutil
from pathlib import Path

from packetizer import render

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lake-street"
#: What the example case holds and the payer never needs (withheld): none may appear in any output.
WITHHELD = ("512-44-9021", "512449021", "(612) 555-0147", "612-555-0147", "2218 Elm Court", "LS-0048812")
#: The example case's packet file name, without its suffix.
NAME = "RETRO-AUTH_demo-commercial_RA-2026-0001_2026-09-14"


def export(fmt: str, case: Path, out: Path, *extra: str):
    """``packetizer export CASE --format FMT --out OUT`` through click's runner, as of the example's date."""
    from click.testing import CliRunner

    from packetizer.cli import main

    return CliRunner().invoke(main, ["export", str(case), "--format", fmt, "--out", str(out),
                                     "--today", "2026-10-06", *extra])


def typed_pdf(pages: int, tag: str, *, extra_first_page: str = "") -> bytes:
    """``pages`` typed pages, each headed ``<tag> visit log page N`` (so a page tells where it came from)."""
    body = "".join(
        f"<h2>{tag} visit log page {n}</h2><p>Therapeutic exercise delivered as planned; the patient "
        f"tolerated treatment well.</p>{extra_first_page if n == 1 else ''}<div style='break-after: page'></div>"
        for n in range(1, pages + 1))
    return render.html_to_pdf("<style>@page{size:Letter;margin:0.7in}</style>" + body).pdf


def case_with(root: Path, attachments: list[tuple[str, bytes]]) -> Path:
    """The example case plus PDF attachments (file name, bytes) dated within its episode; its case file."""
    folder = root / "case"
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "case.yaml").read_text()
    for file_name, data in attachments:
        (folder / "notes" / file_name).write_bytes(data)
        text += (f"  - file: notes/{file_name}\n    kind: clinical_note\n    date: 2026-09-18\n"
                 f"    title: \"{file_name.removesuffix('.pdf').replace('-', ' ').capitalize()}\"\n")
    (folder / "case.yaml").write_text(text)
    return folder / "case.yaml"

"""Assertions about a finished packet, shared by the build, outside-case and wheel tests.

They read the packet the way a payer's reviewer and an auditor would: open it,
extract each page's text, and compare what the cover's index promises with
where each section and exhibit really is.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader

FOOTER = re.compile(r"(?P<case>[A-Za-z0-9_-]+) \u00b7 Page (?P<n>\d+) of (?P<m>\d+)")
INDEX_ROW = re.compile(r"^(?P<title>.+?)\s+pp?\.\s*(?P<first>\d+)(?:\s*[\u2013-]\s*(?P<last>\d+))?\s*$")


def page_texts(pdf: bytes | Path) -> list[str]:
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def index_rows(cover_text: str) -> list[tuple[str, int, int]]:
    """The (title, first, last) rows of the cover's Contents table, as printed."""
    rows = []
    lines = cover_text.split("Contents", 1)[1].splitlines()
    for line in lines:
        match = INDEX_ROW.match(line.strip())
        if match:
            first = int(match["first"])
            rows.append((match["title"].strip(), first, int(match["last"] or first)))
    return rows


def assert_packet_consistent(pdf_path: Path, case_id: str, sections: list[dict], first_lines: dict[str, str]):
    """The index, the bookmarks, the footers and the real page contents all agree.

    Args:
        pdf_path: the packet.
        case_id: expected in every footer.
        sections: ``build --json`` sections (title, first_page, last_page).
        first_lines: for some section titles, a phrase that must appear on the section's
            first page and on no page before it.
    """
    data = pdf_path.read_bytes()
    reader = PdfReader(io.BytesIO(data))
    texts = page_texts(data)
    total = len(texts)

    # Every page carries the footer with its own number.
    for number, text in enumerate(texts, start=1):
        found = [m.groupdict() for m in FOOTER.finditer(text)]
        assert {"case": case_id, "n": str(number), "m": str(total)} in found, f"page {number} footer missing"

    # The printed index (which may run over several cover pages) matches the sections.
    cover_pages = sections[0]   # the cover note, or the appeal letter of an appeal packet
    cover_text = "\n".join(texts[cover_pages["first_page"] - 1: cover_pages["last_page"]])
    printed = index_rows(cover_text)
    assert [(first, last) for _, first, last in printed] == [(s["first_page"], s["last_page"]) for s in sections]
    assert len(printed) == len(sections)

    # The sections tile the packet exactly.
    assert sections[0]["first_page"] == 1 and sections[-1]["last_page"] == total
    for before, after in zip(sections, sections[1:]):
        assert after["first_page"] == before["last_page"] + 1

    # Content really starts where the index says.
    for title, phrase in first_lines.items():
        section = next(s for s in sections if s["title"].startswith(title))
        first = section["first_page"]
        squashed = "".join(phrase.split())
        assert squashed in "".join(texts[first - 1].split()), f"{title!r} does not start on page {first}"
        for earlier in texts[: first - 1]:
            assert squashed not in "".join(earlier.split()), f"{title!r} text appears before page {first}"

    # One bookmark per section, on its first page.
    outline = [(item.title, reader.get_destination_page_number(item) + 1) for item in reader.outline]
    assert outline == [(s["title"], s["first_page"]) for s in sections]
    return reader, texts


def assert_no_active_content(reader: PdfReader) -> None:
    catalog = reader.trailer["/Root"]
    for key in ("/OpenAction", "/AA", "/AcroForm", "/Metadata", "/Names"):
        assert key not in catalog, key
    for page in reader.pages:
        assert "/AA" not in page and "/Annots" not in page

"""A note's pages guessed from its HTML (packetizer.ingest.estimate): a guess given is the page count the note is
laid out to, and most notes get one.

A cold build lays out its front sections from these guesses beside the notes; a wrong guess costs a second
layout of the sections (tests/test_renderproc.py shows the packet is the same either way).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from packetizer.ingest.docx import docx_to_html
from packetizer.ingest.estimate import estimated_pages
from packetizer.ingest.text import markdown_to_html, text_to_html
from packetizer.render import html_to_pdf, render_exhibit_html

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"

VISIT = ("2026-09-{day:02d} 09:{minute:02d}  Therapeutic exercise, manual therapy and gait training delivered as "
         "planned; patient tolerated treatment well, home program reviewed and updated.")


def notes() -> list[tuple[str, str]]:
    """Every note of the fixtures and the example, and typed logs and Markdown notes of 4 to 220 lines."""
    found = []
    for path in sorted(FIXTURES.rglob("*.txt")) + sorted((REPO / "examples").rglob("*.txt")):
        if "LICENSES" not in path.parts:
            found.append((path.name, text_to_html(path.read_bytes(), name=path.name)))
    for path in sorted(FIXTURES.rglob("*.docx")) + sorted((REPO / "examples").rglob("*.docx")):
        found.append((path.name, docx_to_html(path.read_bytes(), name=path.name)))
    for lines in range(4, 221, 24):
        found.append((f"log of {lines} lines", log_html(lines)))
        markdown = "\n\n".join(f"## Visit {n}\n\n{VISIT.format(day=1 + n % 28, minute=n % 60)}" for n in range(lines // 2))
        found.append((f"Markdown note of {lines // 2} visits", markdown_to_html(markdown.encode(), name="note.md")))
    return found


@pytest.fixture(scope="module")
def laid_out() -> list[tuple[str, int | None, int]]:
    """(name, guess, pages laid out) of every note."""
    return [(name, estimated_pages(body), html_to_pdf(render_exhibit_html("Progress note", body)).pages)
            for name, body in notes()]


def test_every_guess_given_is_the_page_count_the_note_is_laid_out_to(laid_out):
    wrong = [(name, guess, pages) for name, guess, pages in laid_out if guess is not None and guess != pages]
    assert wrong == []


def test_most_notes_get_a_guess_and_long_ones_too(laid_out):
    guessed = {name: pages for name, guess, pages in laid_out if guess is not None}
    # The logs and Markdown notes of up to 220 lines are the hard part: the longer, the wider the doubt.
    assert len(guessed) >= 0.6 * len(laid_out), f"{len(guessed)} of {len(laid_out)} notes guessed"
    assert max(guessed.values()) >= 4   # not only the one-page notes
    # The example case's notes (a Word evaluation with a table, a text log) all get one.
    example = {path.name for path in (REPO / "examples").rglob("*") if path.suffix in (".docx", ".txt")}
    assert example and example <= set(guessed)


def test_a_note_whose_length_its_text_does_not_tell_gets_no_guess():
    picture = '<p>Wound on day 3:</p><p><img src="data:image/png;base64,iVBORw0KGgo=" alt=""></p>'
    assert estimated_pages(picture) is None
    assert estimated_pages('<p>Page one.</p><div class="page-break"></div><p>Page two.</p>') is None
    # A log whose last line ends a page (each of its lines wraps once): a line more or less moves a page, so
    # neither gets a guess.
    sizes = {lines: html_to_pdf(render_exhibit_html("Progress note", log_html(lines))).pages for lines in range(20, 34)}
    last_of_one_page = max(lines for lines, pages in sizes.items() if pages == 1)
    assert sizes[last_of_one_page + 1] == 2
    assert estimated_pages(log_html(last_of_one_page)) is None
    assert estimated_pages(log_html(last_of_one_page + 1)) is None


def log_html(lines: int) -> str:
    log = "\n".join(VISIT.format(day=1 + n % 28, minute=n % 60) for n in range(lines))
    return text_to_html(log.encode(), name="log.txt")

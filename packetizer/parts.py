"""A submission sent in parts, each within the payer channel's limits (SPEC section 11).

When the whole packet has more pages or bytes than the payer's channel accepts
(``limits.max_pages``, ``limits.max_file_mb``), it is cut into parts at section
and exhibit boundaries: an exhibit is cut only when it alone exceeds a limit.
Every part starts with its own cover sheet ("Part 1 of 3", the same
references, and the index of the whole submission saying which part holds
which section and exhibit). The pages after it keep the whole submission's
``Page N of M`` stamps; the cover sheets are stamped "Part k of n · cover sheet"
and are not counted.

Sizes are known only once a part is written: parts are planned with each
source's bytes per page, written, and planned again with a smaller budget if
one came out too large.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass
from typing import Sequence

from pypdf import PdfReader, PdfWriter

from .assemble import Bookmark, PartPdf, assemble_packet
from .errors import LimitExceeded
from .model import Case, PayerPolicy
from .sections import IndexEntry, render_part_cover

MB = 1024 * 1024
#: Parts are planned to this share of the size limit first (cover sheets and shared fonts add bytes).
FIRST_SIZE_BUDGET = 0.9
#: Each replanning after a part came out too large shrinks the budget by this factor.
SIZE_BUDGET_STEP = 0.85
MAX_PLANNING_ROUNDS = 8


@dataclass(frozen=True)
class Source:
    """Pages of the whole submission that come from one PDF: the front sections or one exhibit."""

    pdf: bytes
    first_page: int      # in the whole submission
    pages: int
    fit: bool
    label: str = ""

    @property
    def last_page(self) -> int:
        return self.first_page + self.pages - 1

    @property
    def bytes_per_page(self) -> float:
        return len(self.pdf) / max(1, self.pages)


@dataclass(frozen=True)
class PacketPart:
    """One written part: its file name, bytes, and the whole submission's pages it holds."""

    number: int
    count: int
    file_name: str
    pdf: bytes
    pages: int           # pages in this file, its cover sheet included
    first_page: int      # of the whole submission
    last_page: int
    cover_pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()

    @property
    def size(self) -> int:
        return len(self.pdf)

    def to_dict(self) -> dict:
        return {"part": self.number, "of": self.count, "file_name": self.file_name, "sha256": self.sha256,
                "size": self.size, "pages": self.pages, "first_page": self.first_page, "last_page": self.last_page}


def part_file_name(name: str, number: int, count: int) -> str:
    """``RETRO-AUTH_…_2026-09-14.pdf`` -> ``RETRO-AUTH_…_2026-09-14_part1of3.pdf``."""
    return f"{name.removesuffix('.pdf')}_part{number}of{count}.pdf"


def over_limits(policy: PayerPolicy, pages: int, size: int) -> bool:
    """The whole packet has more pages or bytes than the payer's channel accepts."""
    return bool((policy.max_pages and pages > policy.max_pages)
                or (policy.max_file_mb and size > policy.max_file_mb * MB))


def limits_words(policy: PayerPolicy) -> str:
    """``100 pages and 25 MB a file``."""
    words = []
    if policy.max_pages:
        words.append(f"{policy.max_pages} pages")
    if policy.max_file_mb:
        words.append(f"{policy.max_file_mb:g} MB")
    return " and ".join(words) + " a file"


def plan_ranges(units: Sequence[Source], *, max_pages: int | None, max_bytes: float | None,
                cover_pages: int, cover_bytes: int) -> list[tuple[int, int]]:
    """Cut the whole submission's pages into contiguous ranges, one per part.

    A unit (the front sections, an exhibit) goes whole into the current part if
    it fits there, else whole into a new part; only a unit that alone exceeds a
    part's room is cut, page by page.

    Raises:
        LimitExceeded: the limits leave a part no more pages than its cover sheet takes, or no bytes.
    """
    room_pages = (max_pages - cover_pages) if max_pages else math.inf
    room_bytes = (max_bytes - cover_bytes) if max_bytes else math.inf
    # A part made mostly of its cover sheet is no sensible submission: the page limit must leave a part
    # more pages of the submission than its cover sheet takes.
    if room_pages <= cover_pages or room_bytes <= 0:
        raise LimitExceeded("the payer's channel limits leave too little room beside a part's cover sheet")
    ranges: list[tuple[int, int]] = []
    start, pages, size = None, 0, 0.0

    def close() -> None:
        nonlocal start, pages, size
        if start is not None:
            ranges.append((start, start + pages - 1))
        start, pages, size = None, 0, 0.0

    for unit in units:
        unit_bytes = unit.pages * unit.bytes_per_page
        if pages + unit.pages <= room_pages and size + unit_bytes <= room_bytes:
            start = unit.first_page if start is None else start
            pages, size = pages + unit.pages, size + unit_bytes
            continue
        if unit.pages <= room_pages and unit_bytes <= room_bytes:
            close()
            start, pages, size = unit.first_page, unit.pages, unit_bytes
            continue
        page = unit.first_page   # this unit alone exceeds a part: cut it
        while page <= unit.last_page:
            fit_pages = room_pages - pages
            fit_bytes = (math.floor((room_bytes - size) / unit.bytes_per_page)
                         if unit.bytes_per_page and room_bytes != math.inf else math.inf)
            take = int(min(unit.last_page - page + 1, fit_pages, fit_bytes))
            if take < 1:
                if start is None:   # one page alone is larger than a part may be: it goes on its own
                    take = 1
                else:
                    close()
                    continue
            start = page if start is None else start
            pages, size = pages + take, size + take * unit.bytes_per_page
            page += take
    close()
    return ranges


def _pages_of(pdf: bytes, first: int, last: int) -> bytes:
    """Pages ``first``..``last`` (0-based, inclusive) of ``pdf`` as a PDF of their own."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    for number in range(first, last + 1):
        writer.add_page(reader.pages[number])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _parts_words(numbers: list[int]) -> str:
    if not numbers:
        return ""
    if len(numbers) == 1:
        return str(numbers[0])
    return f"{numbers[0]}\u2013{numbers[-1]}"


def split_submission(
    case: Case,
    policy: PayerPolicy,
    *,
    name: str,
    sources: Sequence[Source],
    index: Sequence[IndexEntry],
    total_pages: int,
    created: dt.datetime,
    extra_fields: tuple[tuple[str, str], ...] = (),
    title: str = "Retroactive authorization request",
) -> list[PacketPart]:
    """Write the whole submission as parts within ``policy``'s limits.

    Args:
        case: the case as the packet prints it (withheld values already replaced).
        name: the packet's file name; parts are named by :func:`part_file_name`.
        sources: the front sections, then each exhibit, in page order (the front sections as one unit).
        index: the whole submission's index entries.
        total_pages: the whole submission's pages.
        title: the kind of packet, for each part's PDF title (no PHI).

    Raises:
        LimitExceeded: the parts cannot be made to fit.
    """
    max_bytes = policy.max_file_mb * MB if policy.max_file_mb else None
    budget = FIRST_SIZE_BUDGET
    cover_pages, cover_bytes = 1, 0
    for _ in range(MAX_PLANNING_ROUNDS):
        ranges = plan_ranges(sources, max_pages=policy.max_pages,
                             max_bytes=max_bytes * budget if max_bytes else None,
                             cover_pages=cover_pages, cover_bytes=cover_bytes)
        covers = [_cover(case, policy, number, len(ranges), rng, ranges, index, total_pages, created, extra_fields)
                  for number, rng in enumerate(ranges, start=1)]
        longest = max(pages for _, pages in covers)
        cover_bytes = max(len(pdf) for pdf, _ in covers)
        if longest > cover_pages:
            cover_pages = longest
            continue
        parts = [_assemble_part(case.case_id, name, number, len(ranges), rng, cover, sources, index,
                                total_pages, created, title)
                 for number, (rng, cover) in enumerate(zip(ranges, covers), start=1)]
        too_big = [p for p in parts if (max_bytes and p.size > max_bytes) or
                   (policy.max_pages and p.pages > policy.max_pages)]
        if not too_big:
            return parts
        if all(p.last_page == p.first_page for p in too_big):
            break    # single pages larger than a part may be: no cut makes them fit
        budget *= SIZE_BUDGET_STEP
    raise LimitExceeded(f"the packet could not be cut into parts within {limits_words(policy)}")


def _cover(case, policy, number, count, rng, ranges, index, total_pages, created, extra_fields):
    rows = []
    for entry in index:
        holders = [n for n, (first, last) in enumerate(ranges, start=1)
                   if first <= entry.last_page and entry.first_page <= last]
        rows.append({"title": entry.title, "range": entry.range, "parts": _parts_words(holders)})
    return render_part_cover(case, policy, part=(number, count), pages=rng, total_pages=total_pages, index=rows,
                             limits_words=limits_words(policy), letter_date=created.date(),
                             extra_fields=extra_fields)


def _assemble_part(case_id, name, number, count, rng, cover, sources, index, total_pages, created,
                   title: str) -> PacketPart:
    first, last = rng
    cover_pdf, cover_pages = cover
    pieces = [PartPdf(cover_pdf, fit=False, stamp=f"{case_id} \u00b7 Part {number} of {count} \u00b7 cover sheet")]
    for source in sources:
        lo, hi = max(first, source.first_page), min(last, source.last_page)
        if lo > hi:
            continue
        pdf = source.pdf
        if (lo, hi) != (source.first_page, source.last_page):
            pdf = _pages_of(source.pdf, lo - source.first_page, hi - source.first_page)
        pieces.append(PartPdf(pdf, fit=source.fit, label=source.label))
    bookmarks = [Bookmark(f"Part {number} of {count} \u2014 cover sheet", 1)]
    for entry in index:
        if entry.first_page <= last and first <= entry.last_page:
            start = max(first, entry.first_page)
            shown = entry.title if start == entry.first_page else f"{entry.title} (continued)"
            bookmarks.append(Bookmark(shown, cover_pages + start - first + 1))
    pdf, pages = assemble_packet(pieces, case_id=case_id, bookmarks=bookmarks, created=created, first_number=first,
                                 total=total_pages,
                                 title=f"{title} {case_id}, part {number} of {count}")
    return PacketPart(number=number, count=count, file_name=part_file_name(name, number, count), pdf=pdf,
                      pages=pages, first_page=first, last_page=last, cover_pages=cover_pages)


__all__ = ["PacketPart", "Source", "limits_words", "over_limits", "part_file_name", "plan_ranges",
           "split_submission"]

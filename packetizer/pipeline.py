"""One pipeline behind every door: from a loaded case and its payer policy to a finished packet.

``build_packet`` checks the case, decides what may be disclosed, converts the
included attachments to exhibits (redacting what the payer does not need),
renders the cover note, narrative and service summary, assembles and stamps the
packet, cuts it into parts when it exceeds the payer channel's limits
(:mod:`.parts`), proves that nothing withheld is left in any file it releases,
writes the packet (or its parts) and its disclosure report atomically, and
archives them when an archive is given.

Its first steps are offered on their own, so no door runs them by hand:
``check_case`` (the checks a build starts with) and ``preview_packet`` (what a
build would include, withhold and redact, with nothing written).

Both take an optional ``progress`` callback, called with a stage name and the
pages converted so far (and the packet's total once known), so a door that runs
them as a job can show where a long build is.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import logging
import os
import re
import string
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from . import __version__
from .checks import (OVERRIDABLE_CODES, CheckResult, Finding, blocked_error, channel_limit_findings, finding_lines,
                     run_checks)
from .errors import CaseError, ErrorCode, LimitExceeded, PacketizerError, PolicyBlock, StorageError
from .limits import MAX_ATTACHMENT_CHILDREN
from .model import Attachment, Case, PayerPolicy
from .private import make_dirs
from .renderproc import Renderer, start_renderer
from .workfolders import sweep_once
from .sections import (ExhibitEntry, IndexEntry, RenderedSections, join_front, render_body, render_cover,
                       render_sections)

if TYPE_CHECKING:   # the archive package is imported only by builds that archive
    from .archive import ArchivedVersion, PacketArchive
    # Disclosure, ingest and assembly (PDFium, pypdf, OCR) are imported by the functions that use
    # them: `packetizer check` needs check_case alone and starts twice as fast without them.
    from .disclosure import DisclosurePlan
    from .ingest import ExhibitDocument
    from .parts import PacketPart

log = logging.getLogger(__name__)

GENERATOR = "packetizer"


Section = IndexEntry   # one index entry of the finished packet

#: ``progress(stage, pages_done, pages_total)``; stages, in order: checks, documents, sections, assembly,
#: verify, writing, archive. ``pages_total`` is None until the packet is assembled.
ProgressCallback = Callable[[str, int, "int | None"], None]


def _no_progress(stage: str, pages_done: int, pages_total: int | None) -> None:
    return None


@dataclass(frozen=True)
class Packet:
    """A finished build: where the packet is, what it holds, and what happened on the way."""

    case_id: str
    payer_id: str
    path: Path
    sha256: str
    size: int
    pages: int
    sections: tuple[Section, ...]
    check: CheckResult
    report: dict
    report_path: Path
    report_html_path: Path
    manifest: dict
    warnings: tuple[Finding, ...] = ()
    archived: ArchivedVersion | None = None
    archive_error: str | None = None
    kind: str = "request"
    parts: tuple[PacketPart, ...] = ()
    """The parts, when the packet exceeded the channel's limits (``path`` … ``pages`` then describe part 1)."""
    part_paths: tuple[Path, ...] = ()
    total_pages: int = 0
    """The whole submission's pages (``pages`` when it was not sent in parts)."""

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every packet file to send: the parts, or the one packet."""
        return self.part_paths or (self.path,)


@dataclass(frozen=True)
class PreviewedExhibit:
    """One attachment the packet would include: its exhibit pages, or the error that stops it."""

    letter: str
    attachment: Attachment
    document: ExhibitDocument | None = None
    error: PacketizerError | None = None


@dataclass(frozen=True)
class Preview:
    """What a build of the case would include, withhold and redact; nothing is written."""

    plan: DisclosurePlan
    exhibits: tuple[PreviewedExhibit, ...]


#: The packet kinds one pipeline builds: the retro request, or the appeal of the payer's decision on it.
PACKET_KINDS = ("request", "appeal")
_FILE_PREFIX = {"request": "RETRO-AUTH", "appeal": "APPEAL"}
_PDF_TITLE = {"request": "Retroactive authorization request", "appeal": "Appeal of a retroactive authorization decision"}


def packet_file_name(case: Case, kind: str = "request") -> str:
    """``RETRO-AUTH_<payer_id>_<case_id>_<first date of service>.pdf`` (``APPEAL_...`` for an appeal):
    nothing about the patient."""
    return f"{_FILE_PREFIX[kind]}_{case.payer_id}_{case.case_id}_{case.first_date_of_service.isoformat()}.pdf"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def source_date_epoch(environ: Mapping[str, str]) -> dt.datetime | None:
    """``SOURCE_DATE_EPOCH`` as a UTC time (a fixed build time: rebuilds are byte-identical), or None.

    Raises:
        CaseError: it is set but not a number of seconds.
    """
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return None
    try:
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise CaseError(f"SOURCE_DATE_EPOCH: {epoch[:20]!r} is not a number of seconds") from None


def clock_from_environment(environ: Mapping[str, str]) -> Callable[[], dt.datetime]:
    """The build clock a door configures: :func:`source_date_epoch` when set, else now in UTC."""
    fixed = source_date_epoch(environ)
    return _now if fixed is None else (lambda: fixed)


def exhibit_letter(number: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (spreadsheet-style)."""
    letters = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = string.ascii_uppercase[rest] + letters
    return letters


def check_case(case: Case, policy: PayerPolicy, *, today: dt.date, kind: str = "request") -> CheckResult:
    """The checks a build starts with (triage, payer rules, deadline, field validation), and nothing else.

    Attachments are sized, not read: which scanned pages OCR cannot read reliably
    is known only once a build (or :func:`preview_packet`) has read them.

    Args:
        case: the loaded case.
        policy: its payer's policy.
        today: the date deadlines are judged against.
        kind: ``request`` or ``appeal`` (the appeal's window and rules replace the request's).
    """
    return run_checks(case, policy, today=today, kind=kind)


def preview_packet(case: Case, policy: PayerPolicy, *, progress: ProgressCallback | None = None,
                   kind: str = "request") -> Preview:
    """Decide what may be disclosed and convert each included attachment as :func:`build_packet` would.

    Attachments are converted with the redactor (PDFs and images up to
    ``MAX_ATTACHMENT_CHILDREN`` side by side); one that cannot be converted keeps
    its error and does not stop the others.
    ``progress`` hears of each converted attachment (see :data:`ProgressCallback`).

    Raises:
        PacketizerError: the disclosure plan cannot be made.
    """
    from .disclosure import plan_disclosure

    progress = progress or _no_progress
    progress("checks", 0, None)
    plan = plan_disclosure(case, policy, kind=kind)
    exhibits = []
    outcomes = _ingest_all(plan, keep_errors=True, progress=progress)
    for number, (att, outcome) in enumerate(zip(plan.included_attachments, outcomes)):
        if isinstance(outcome, PacketizerError):
            exhibits.append(PreviewedExhibit(exhibit_letter(number), att, error=outcome))
        else:
            exhibits.append(PreviewedExhibit(exhibit_letter(number), att, document=outcome))
    return Preview(plan, tuple(exhibits))


def build_packet(
    case: Case,
    policy: PayerPolicy,
    *,
    out_dir: Path,
    today: dt.date,
    archive: PacketArchive | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    built_by: str = "cli",
    override_reason: str | None = None,
    progress: ProgressCallback | None = None,
    kind: str = "request",
    renderer: Renderer | None = None,
) -> Packet:
    """Build, write and (optionally) archive the packet for ``case``.

    Args:
        case: the loaded case.
        policy: its payer's policy.
        out_dir: folder for the packet and its disclosure report (created if missing).
        today: the date the checks judge deadlines against.
        archive: archive here when given (a failure to archive keeps the packet in its spool).
        clock: the build time (UTC); default now (doors pass :func:`clock_from_environment`).
        built_by: who built it, recorded in the manifest (a user name or ``cli``).
        override_reason: go ahead despite overridable blocking findings, recording why.
        progress: told each stage and the pages converted so far (see :data:`ProgressCallback`).
        kind: ``request`` (the retro request) or ``appeal`` (SPEC section 10: an appeal letter in
            front of the request's narrative, summary and exhibits, the denial letter first among them).
        renderer: lays out the notes and front sections; default :func:`~.renderproc.start_renderer`'s,
            started and closed here (a door that starts one sooner, before it loads the case, keeps it).

    Returns:
        The :class:`Packet`.

    Raises:
        PolicyBlock: the checks block the case (and no valid override was given).
        PacketizerError: any other bad input or failure; nothing is left in ``out_dir``.
    """
    if kind not in PACKET_KINDS:
        raise CaseError(f"unknown packet kind {kind!r} (use request or appeal)")
    # First of all: in a cold process the render process imports WeasyPrint while the build starts.
    own = renderer is None
    renderer = start_renderer() if own else renderer
    # The PHI a killed build of an earlier process left in the temporary folder goes (once a process).
    sweep_once()
    try:
        return _build_packet(case, policy, out_dir=out_dir, today=today, archive=archive, clock=clock,
                             built_by=built_by, override_reason=override_reason, progress=progress, kind=kind,
                             renderer=renderer)
    finally:
        if own:
            renderer.close()


def _build_packet(case: Case, policy: PayerPolicy, *, out_dir: Path, today: dt.date, archive, clock, built_by: str,
                  override_reason: str | None, progress: ProgressCallback | None, kind: str,
                  renderer: Renderer) -> Packet:
    """:func:`build_packet`, its layouts done by ``renderer``."""
    from .disclosure import plan_disclosure

    created = (clock or _now)().astimezone(dt.timezone.utc).replace(microsecond=0)
    progress = progress or _no_progress
    progress("checks", 0, None)
    result = check_case(case, policy, today=today, kind=kind)
    override = _override(result, override_reason, built_by)
    log.info("building %s for case %s, payer %s", kind, case.case_id, policy.id)

    plan = plan_disclosure(case, policy, kind=kind)

    def front(work, pages: list[int], *, aside: bool = False, **more) -> int:
        """``work`` (a function of :mod:`.sections`) for exhibits of these page counts, handed to the renderer (a
        ticket); ``aside``: laid out beside the notes."""
        entries = [ExhibitEntry(exhibit_letter(number), att.display_title, att.kind, att.date, count)
                   for number, (att, count) in enumerate(zip(plan.included_attachments, pages))]
        # The sections print the case's free text with withheld values staff typed into it replaced.
        return (renderer.submit_aside if aside else renderer.submit)(
            work, plan.printed_case, policy, entries, letter_date=created.date(), deadline=result.deadline,
            extra_fields=tuple(plan.extra_fields), kind=kind, **more,
        )

    def laid_out(pages: list[int], *, aside: bool = False) -> tuple[int, ...]:
        """The front sections for exhibits of these page counts, handed to the renderer (tickets). ``aside``: the
        narrative and summary beside the notes, and the cover, its index from their guessed pages, after the
        notes (on the other core, while they are still laid out)."""
        if not aside:
            return (front(render_sections, pages),)
        return front(render_body, pages, aside=True), front(render_cover, pages)

    def sections_of(tickets: tuple[int, ...], pages: list[int]) -> RenderedSections:
        """The sections the tickets of :func:`laid_out` lay out, joined; the cover again when the pages it
        guessed for the narrative and summary were wrong."""
        if len(tickets) == 1:
            return renderer.result(tickets[0])
        try:   # the cover first: a renderer that lays it out here (a web job's) does so while the body is laid out
            cover = renderer.result(tickets[1])   # beside it
        except BaseException:
            discard(tickets[:1])
            raise
        body = renderer.result(tickets[0])
        joined = join_front(body, cover)
        if joined is None and cover.pages == body.cover_pages:   # from the body's own pages this time
            joined = join_front(body, renderer.result(front(render_cover, pages, body=body)))
        # A cover longer than the body assumed moves everything after it: both are laid out again.
        return joined if joined is not None else renderer.result(laid_out(pages)[0])

    def discard(tickets) -> None:
        for ticket in tickets:
            renderer.discard(ticket)

    ingest = _Ingest(plan, progress=progress, renderer=renderer)
    early = None
    try:
        ingest.start()
        # The sections are laid out as soon as every exhibit's pages are known (a PDF's child tells them once it
        # has opened the file), while the children go on checking and redacting the pages. A renderer that lays
        # out beside the notes starts them from the pages guessed for each note, without waiting for the notes.
        counted = ingest.page_counts(guess=True) if renderer.runs_aside else None
        if counted is not None:
            early = laid_out(counted, aside=True)
        else:
            counted = ingest.page_counts()
            early = laid_out(counted) if counted is not None else None
        # Imported while the notes are with the children and the renderer (this process waits for them: a
        # cold CLI imports qpdf's 40 ms here, not after them); pypdf and PDFium are loaded already.
        from .assemble import Bookmark, PartPdf, assemble_packet
        from .disclosure import disclosure_report, prepare_report_html, render_report_html, verify_no_leak

        documents = ingest.finish()
    except BaseException:
        if early is not None:
            discard(early)
        raise
    finally:
        ingest.stop()
    exhibits = [(exhibit_letter(number), att, doc)
                for number, (att, doc) in enumerate(zip(plan.included_attachments, documents))]
    converted = sum(doc.pages for _, _, doc in exhibits)
    progress("sections", converted, None)
    pages_now = [doc.pages for _, _, doc in exhibits]
    if early is not None and pages_now != counted:   # a note's guess was wrong (or a child miscounted): again
        discard(early)
        early = None
    prepare_report_html()   # while the sections are laid out elsewhere, not after the proof
    sections = sections_of(early if early is not None else laid_out(pages_now, aside=renderer.runs_aside), pages_now)
    parts = [PartPdf(pdf, fit=False) for pdf, _ in sections.documents]
    parts += [PartPdf(doc.pdf, fit=att.path.suffix.lower() == ".pdf", label=f"Exhibit {letter}")
              for letter, att, doc in exhibits]
    bookmarks = [Bookmark(entry.title, entry.first_page) for entry in sections.index]
    progress("assembly", converted, None)
    pdf, pages = assemble_packet(parts, case_id=case.case_id, bookmarks=bookmarks, created=created,
                                 title=f"{_PDF_TITLE[kind]} {case.case_id}")
    name = packet_file_name(case, kind)
    split = _split_if_over(case, policy, plan, name, sections, exhibits, pdf, pages, created,
                           title=_PDF_TITLE[kind])
    progress("verify", pages, pages)
    for proved in ([part.pdf for part in split] or [pdf]):   # the proof runs on every file released
        verify_no_leak(proved, plan, sections=None if split else sections.index,
                       pictures_read={digest for _, _, doc in exhibits for digest in doc.pictures_read},
                       streams_searched={digest for _, _, doc in exhibits for digest in doc.streams_searched})

    # A packet sent in parts fits the channel: each part is within its limits.
    warnings = list(result.warnings) + ([] if split else channel_limit_findings(policy, pages, len(pdf)))
    created_text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = disclosure_report(
        plan,
        exhibits=[(letter, doc) for letter, _, doc in exhibits],
        case_id=case.case_id,
        payer_id=policy.id,
        created=created_text,
        override=override,
        warnings=[w.to_dict() for w in warnings],
    )
    if split:
        report["parts"] = [part.to_dict() for part in split]
    report_html = render_report_html(report)
    # Pages nobody could check for identifiers (scans, pictures) and payer-requested fields the
    # case lacks come from the disclosure step; the build output must show them too.
    known = {(w.code, w.message) for w in warnings}
    warnings += [Finding(w["code"], w["message"], w.get("field")) for w in report["warnings"]
                 if (w["code"], w["message"]) not in known]
    total_pages = pages
    if split:   # the packet file the build names (and archives) is part 1; the manifest lists every part
        name, pdf, pages = split[0].file_name, split[0].pdf, split[0].pages
    sha = hashlib.sha256(pdf).hexdigest()
    report_json = (json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    manifest = {
        "case_id": case.case_id,
        "payer_id": policy.id,
        "kind": kind,
        "created": created_text,
        "generator": {"name": GENERATOR, "version": __version__},
        "packet": {"file_name": name, "sha256": sha, "size": len(pdf), "pages": pages},
        "inputs": _inputs(case, policy, plan, exhibits),
        "disclosure": report,
        "built_by": built_by,
        "override": override,
    }
    if split:
        manifest["parts"] = [part.to_dict() for part in split]

    stem = packet_file_name(case, kind).removesuffix(".pdf")
    progress("writing", pages, pages)
    paths = _write_outputs(Path(out_dir), {
        f"{stem}.disclosure.json": report_json,
        f"{stem}.disclosure.html": report_html.encode(),
        **{part.file_name: part.pdf for part in split[1:]},
        name: pdf,   # last: a packet on disk means its report is there too
    })
    _remove_other_forms(Path(out_dir), stem, keep=set(paths))
    archived, archive_error = None, None
    if archive is not None:
        progress("archive", pages, pages)
        archived, archive_error = _archive(archive, pdf, manifest, report_json, report_html.encode(),
                                           {part.file_name: part.pdf for part in split[1:]})
    log.info("built case %s: %d pages, sha256 %s", case.case_id, pages, sha[:12])
    return Packet(
        case_id=case.case_id, payer_id=policy.id, path=paths[name], sha256=sha, size=len(pdf), pages=pages,
        sections=sections.index, check=result, report=report,
        report_path=paths[f"{stem}.disclosure.json"], report_html_path=paths[f"{stem}.disclosure.html"],
        manifest=manifest, warnings=tuple(warnings), archived=archived, archive_error=archive_error, kind=kind,
        parts=tuple(split), part_paths=tuple(paths[part.file_name] for part in split), total_pages=total_pages,
    )


def _split_if_over(case, policy, plan, name, sections, exhibits, pdf: bytes, pages: int, created, *,
                   title: str) -> list:
    """The packet as parts within the payer channel's limits, or [] when the whole packet fits them."""
    from .parts import Source, over_limits, split_submission

    if not over_limits(policy, pages, len(pdf)):
        return []
    sources, first = [], 1
    for front_pdf, front_pages in sections.documents:
        sources.append(Source(front_pdf, first, front_pages, fit=False))
        first += front_pages
    for letter, att, doc in exhibits:
        sources.append(Source(doc.pdf, first, doc.pages, fit=att.path.suffix.lower() == ".pdf",
                              label=f"Exhibit {letter}"))
        first += doc.pages
    try:
        return split_submission(plan.printed_case, policy, name=name, sources=sources, index=list(sections.index),
                                total_pages=pages, created=created, extra_fields=tuple(plan.extra_fields))
    except LimitExceeded:
        # Limits so tight that a part's cover sheet (or one page) alone exceeds them: the packet is
        # written whole, with the warnings that it exceeds the limits, as before parts existed.
        log.warning("case %s: the packet cannot be cut into parts within the payer's limits", case.case_id)
        return []


def _remove_other_forms(out_dir: Path, stem: str, *, keep: set[str]) -> None:
    """Remove an earlier build's packet of this case in the other form (whole, or in other parts) from ``out_dir``,
    and the exports made from an earlier build (fax TIFFs, PAS Bundle): they no longer match the packet.

    A folder holding both ``<name>.pdf`` and ``<name>_part1of3.pdf`` would leave a clerk to guess which to send.
    """
    earlier = re.compile(rf"{re.escape(stem)}(?:(?:_part\d+of\d+)?\.(?:pdf|tif)|\.pas\.json)")
    for path in out_dir.glob(f"{glob.escape(stem)}*"):
        if path.name not in keep and earlier.fullmatch(path.name):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("case packet %s left in place (%s)", path.name, exc.strerror)


def _ingest_all(plan: DisclosurePlan, *, keep_errors: bool = False, progress: ProgressCallback = _no_progress,
                renderer: Renderer | None = None) -> list:
    """Every included attachment as exhibit pages, in order (see :class:`_Ingest`)."""
    ingest = _Ingest(plan, keep_errors=keep_errors, progress=progress, renderer=renderer or Renderer())
    try:
        ingest.start()
        return ingest.finish()
    finally:
        ingest.stop()


class _Ingest:
    """The included attachments of a build on their way to exhibits.

    The notes (Word, text, Markdown) are converted to HTML here and their
    layouts handed to the renderer, which in a cold process lays them out on
    the other core (:mod:`packetizer.renderproc`). The PDFs and images are
    sanitised, checked and redacted in sandboxed children, at most
    ``MAX_ATTACHMENT_CHILDREN`` at a time, which work while this process lays
    out notes and front sections: a warm process (a batch worker, the web's
    job runner) starts them before it lays out the notes. No thread is used:
    ingest forks, and a process forked while another of its threads holds a
    lock (a module being imported by WeasyPrint or Pillow, say) can hang on
    that lock until its time limit.

    :meth:`finish` raises the first failure in the attachments' order (no
    attachment after a known failure is started, and children working on
    later ones are stopped); with ``keep_errors`` each attachment's
    :class:`PacketizerError` takes its place in the list instead. ``progress``
    is told the pages converted so far as each attachment is done.
    """

    def __init__(self, plan: DisclosurePlan, *, progress: ProgressCallback = _no_progress,
                 renderer: Renderer, keep_errors: bool = False) -> None:
        from .ingest import NOTE_SUFFIXES

        self._plan, self._progress, self._renderer, self._keep_errors = plan, progress, renderer, keep_errors
        attachments = plan.included_attachments
        self.outcomes: list = [None] * len(attachments)
        self._failed = len(attachments)   # the earliest attachment known to fail
        self._notes = [i for i, att in enumerate(attachments) if att.path.suffix.lower() in NOTE_SUFFIXES]
        # The smallest file first: a second child starts only beside children that have told they read no page
        # by OCR, which a short file tells soon, so a long one starts soon after it.
        self._queue = sorted((i for i in range(len(attachments)) if i not in self._notes),
                             key=lambda i: _file_size(attachments[i].path))

    def start(self) -> None:
        """Hand the notes to the renderer and start the first children."""
        self._progress("documents", 0, None)
        if self._renderer.lays_out_here:   # the children first: they work while this process lays the notes out
            self._fill()
            self._start_notes()
        else:   # the render process first: it lays the notes out while this process starts the children
            self._start_notes()
            self._fill()

    def page_counts(self, *, guess: bool = False) -> list[int] | None:
        """Each exhibit's pages, as soon as they are all known (the notes laid out, the PDFs opened);
        None once an attachment has failed.

        ``guess``: a note not laid out yet counts the pages guessed from its HTML (None when a note has no
        guess), and this returns without waiting for the notes.
        """
        from .ingest import PendingExhibit

        if not guess:
            self._finish_notes()
        elif any(isinstance(o, PendingExhibit) and o.pages_guess is None for o in self.outcomes):
            return None
        while self._failed == len(self.outcomes):
            counts = [self._pages(index, guess=guess) for index in range(len(self.outcomes))]
            if None not in counts:
                return counts
            if not self._running:
                return None
            self._wait()
        return None

    def finish(self) -> list:
        """Every exhibit (or error, with ``keep_errors``), in order; raises the first failure otherwise."""
        self._finish_notes()
        while True:
            self._stop_after_failure()
            self._fill()
            if not self._running:
                break
            self._wait()
        if self._stopping():
            raise self.outcomes[self._failed]
        return self.outcomes

    def stop(self) -> None:
        """Stop the children still at work (after a failure, or when the build is interrupted): every one is
        killed first, then each is reaped and its folder removed."""
        running = self._running
        for index in running:
            self.outcomes[index] = None   # not converted
        for pending in running.values():
            pending.redaction.child.kill()
        interrupted = None
        for pending in running.values():
            try:
                pending.redaction.stop()
            except BaseException as exc:  # noqa: BLE001 - the others are still reaped; then it goes on
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted

    # ------------------------------------------------------------------

    @property
    def _running(self) -> dict[int, Any]:
        """The attachments whose child is at work (or done, its answer not yet taken in): their PendingPdf."""
        from .ingest import PendingPdf

        return {index: o for index, o in enumerate(self.outcomes) if isinstance(o, PendingPdf)}

    def _stopping(self) -> bool:
        return self._failed < len(self.outcomes) and not self._keep_errors

    def _done(self, index: int, step: Callable[[], Any]) -> None:
        from .ingest import ExhibitDocument

        if index > self._failed and not self._keep_errors:
            return
        try:
            self.outcomes[index] = step()
        except PacketizerError as exc:
            self.outcomes[index] = exc
            self._failed = min(self._failed, index)
        if isinstance(self.outcomes[index], ExhibitDocument):
            self._progress("documents", sum(o.pages for o in self.outcomes if isinstance(o, ExhibitDocument)), None)

    def _start(self, index: int) -> None:
        from .ingest import start_attachment

        self._done(index, lambda: start_attachment(self._plan.included_attachments[index],
                                                   redactor=self._plan.redactor, renderer=self._renderer))

    def _start_notes(self) -> None:
        for number, index in enumerate(self._notes):
            if self._renderer.lays_out_here:
                # A note laid out here takes a while: a child that has told meanwhile it reads no page by OCR
                # gets the next file beside it now, not after the notes. Before the first note, a file waiting
                # for its child waits a moment for that answer (a short file's child gives it in a few
                # hundredths of a second), rather than for the notes' layouts.
                self._poll(wait=_FIRST_ANSWER_WAIT if number == 0 else 0.0)
            self._start(index)

    def _poll(self, *, wait: float = 0.0) -> None:
        """Take in what the children have sent and start the next ones if they may; while a file waits for a
        child and a child still at work has not told whether it reads pages by OCR, wait up to ``wait`` seconds
        for that answer (a child that ended without telling, a failure, is collected later and ends the wait)."""
        deadline = time.monotonic() + wait
        while True:
            for pending in self._running.values():
                pending.redaction.child.pump(0)
            self._fill()
            untold = [p for p in self._running.values()
                      if p.redaction.ocr_pages is None and not p.redaction.child.finished]
            left = deadline - time.monotonic()
            if not self._queue or not untold or left <= 0:
                return
            untold[0].redaction.child.pump(left)

    def _finish_notes(self) -> None:
        from .ingest import PendingExhibit, finish_attachment

        for index in self._notes:
            if isinstance(self.outcomes[index], PendingExhibit):
                if self.outcomes[index].pictures:
                    # Its pages are read by OCR in a sandboxed child of their own, which keeps both cores.
                    while self._running:
                        self._wait(fill=False)
                self._done(index, lambda: finish_attachment(self.outcomes[index]))

    def _fill(self) -> None:
        """Start children while fewer than MAX_ATTACHMENT_CHILDREN are at work, and each of those at work has
        told it reads no page by OCR; after a failure, only for the attachments before it (one of them may fail
        too, and the first failure in order is the one raised).

        A child that reads pages by OCR runs two Tesseracts and has wall-clock limits for each page
        (``MAX_OCR_PAGE_SECONDS``): it keeps both cores to itself, as when attachments were taken one at a time.
        """
        while True:
            # After a failure, only the attachments before it.
            wanted = [i for i in self._queue if not (self._stopping() and i > self._failed)]
            running = self._running.values()
            if not wanted or len(running) >= MAX_ATTACHMENT_CHILDREN or not all(p.light for p in running):
                return
            self._queue.remove(wanted[0])
            self._start(wanted[0])

    def _wait(self, *, fill: bool = True) -> None:
        """Take in what the children send; collect the finished ones and (``fill``) start the next."""
        from .ingest import finish_attachment
        from .sandbox import wait_any

        wait_any([pending.redaction.child for pending in self._running.values()], also=self._renderer.answers_waiting())
        self._renderer.take_answers()   # the notes' layouts that have come back, so the render process goes on
        for index, pending in sorted(self._running.items()):
            if pending.redaction.child.finished:
                if self._stopping() and index > self._failed:
                    continue   # not needed: stopped below, which removes its folder
                self._done(index, lambda: finish_attachment(pending))
        self._stop_after_failure()
        if fill:
            self._fill()

    def _stop_after_failure(self) -> None:
        """What comes after the first failure is not needed: its children are stopped (their folders, which
        hold pictures of pages, go with them)."""
        if self._stopping():
            for index, pending in sorted(self._running.items()):
                if index > self._failed:
                    pending.redaction.stop()
                    self.outcomes[index] = None   # not converted

    def _pages(self, index: int, *, guess: bool = False) -> int | None:
        from .ingest import ExhibitDocument, PendingExhibit, PendingPdf

        outcome = self.outcomes[index]
        if isinstance(outcome, (ExhibitDocument, PendingPdf)):
            return outcome.pages
        if guess and isinstance(outcome, PendingExhibit):
            return outcome.pages_guess
        return None


#: How long a warm build waits, before it lays out its first note, for a child at work to tell whether it reads
#: pages by OCR, when another file waits to start beside it (see :meth:`_Ingest._start_notes`).
_FIRST_ANSWER_WAIT = 0.1


def _file_size(path: Path) -> int:
    """The file's size in bytes (0 when it cannot be read: its error comes when it is started)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _override(result: CheckResult, reason: str | None, built_by: str) -> dict | None:
    """The recorded override, or raise the block when the case may not go ahead."""
    if result.ready:
        return None
    reason = " ".join((reason or "").split())
    if not reason:
        raise blocked_error(result)
    fixed_only = [f for f in result.blocking if f.code not in OVERRIDABLE_CODES]
    if fixed_only:
        raise PolicyBlock("an override cannot clear these findings; fix the case file: " + finding_lines(fixed_only),
                          findings=fixed_only)
    return {"reason": reason, "by": built_by, "findings": [f.code for f in result.blocking]}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(case: Case, policy: PayerPolicy, plan, exhibits) -> list[dict]:
    filtered = _canonical(_included_values(case.raw, plan.included_fields))
    out = [{"name": "case", "role": "case_fields", "sha256": _sha(filtered), "size": len(filtered)}]
    if policy.path is not None:
        body = Path(policy.path).read_bytes()
        out.append({"name": f"payer-policy-{policy.id}", "role": "payer_policy", "sha256": _sha(body), "size": len(body)})
    for letter, att, doc in exhibits:
        out.append({
            "name": f"exhibit-{letter}", "role": "exhibit", "sha256": _sha(doc.pdf), "size": len(doc.pdf),
            "kind": att.kind, "date": att.date.isoformat(),
            "source_sha256": doc.source_sha256, "source_size": doc.source_size,
        })
    return out


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _included_values(raw: Any, paths) -> dict:
    """The values of the included field paths (``member.first_name``, ``services``) from the raw case."""
    out: dict = {}
    for path in paths:
        node: Any = raw
        for part in str(path).split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            out[str(path)] = node
    return out


def _write_outputs(out_dir: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write every file under a temporary name, then rename them all; on failure remove the temporaries.

    Its errors (code ``OUT_DIR``) name the folder as the command line does (``--out DIR``); a door
    without that option tells their ``detail`` in its own words.
    """
    try:
        make_dirs(out_dir)
    except OSError as exc:
        raise PacketizerError(f"cannot create the folder ({exc.strerror})", code=ErrorCode.OUT_DIR,
                              subject=str(out_dir), noun="--out") from None
    temps: dict[str, str] = {}
    try:
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=".pktz-", suffix=".part", dir=out_dir)
            temps[name] = tmp
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            # mkstemp made it 0600, and so it stays: a packet holds PHI (packetizer.private).
        final = {}
        for name, tmp in temps.items():
            os.replace(tmp, out_dir / name)
            final[name] = out_dir / name
        return final
    except OSError as exc:
        for tmp in temps.values():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise PacketizerError(f"cannot write the packet ({exc.strerror})", code=ErrorCode.OUT_DIR,
                              subject=str(out_dir), noun="--out") from None


def _archive(archive: PacketArchive, pdf: bytes, manifest: dict, report_json: bytes, report_html: bytes,
             more_parts: dict[str, bytes] | None = None):
    """Archive and verify the packet (and its further parts), or spool it for ``packetizer archive retry``."""
    extra = {"disclosure-report.json": report_json, "disclosure-report.html": report_html, **(more_parts or {})}
    try:
        outcome = archive.keep(pdf, manifest, extra)
    except StorageError as exc:  # bad manifest (a bug), or archive and spool both failed
        log.warning("archive of case %s failed: %s", manifest["case_id"], exc.code)
        return None, exc.message
    return outcome.archived, outcome.pending_reason


def input_fingerprint(case: Case, policy: PayerPolicy) -> str:
    """A hash of everything a build reads: unchanged inputs give the same value (batch reruns skip them)."""
    digest = hashlib.sha256()
    digest.update(f"{GENERATOR} {__version__}\n".encode())
    digest.update(_canonical(case.raw))
    for att in case.attachments:
        digest.update(b"\0attachment\0" + att.file.encode())
        try:
            digest.update(hashlib.sha256(att.path.read_bytes()).digest())
        except OSError:
            digest.update(b"missing")
    if policy.path is not None:
        try:
            digest.update(b"\0policy\0" + Path(policy.path).read_bytes())
        except OSError:
            digest.update(b"\0policy-missing\0")
    else:
        digest.update(_canonical(policy.raw))
    return digest.hexdigest()


__all__ = ["PACKET_KINDS", "Packet", "Preview", "PreviewedExhibit", "ProgressCallback", "Section", "build_packet",
           "check_case", "clock_from_environment",
           "exhibit_letter", "input_fingerprint", "packet_file_name", "preview_packet", "source_date_epoch"]

"""One build on both cores: sandboxed children that tell the build what it needs before they finish, PDF
attachments converted side by side, and the front sections laid out while the PDFs are still being checked
(packetizer.sandbox.start_sandboxed, packetizer.pipeline._Ingest)."""

from __future__ import annotations

import datetime as dt
import gc
import os
import tempfile
import time
from pathlib import Path

import pytest

from packetizer import pipeline
from packetizer.caseio import load_case
from packetizer.errors import IngestError
from packetizer.ingest import PendingPdf
from packetizer.limits import MAX_ATTACHMENT_CHILDREN
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.renderproc import Renderer
from packetizer.sandbox import start_sandboxed, tell_parent, wait_any
from tests.support.channel_cases import case_with, typed_pdf
from tests.support.hostile_pdfs import FAX_DPI, LETTER, fax_pdf_pages, scan, to_fax

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lake-street"
TODAY = dt.date(2026, 10, 6)
FIXED = dt.datetime(2026, 10, 6, 12, 0, tzinfo=dt.timezone.utc)


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (zombies included: a child not reaped is still one)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def faxed_note(pages: int) -> bytes:
    """A scanned fax of typed note pages without identifiers: every page is read by OCR (seconds a page)."""
    lines = ["JUNIPER PHYSICAL THERAPY  Progress note", "Therapeutic exercise: nerve glides and core work.",
             "Plan: continue skilled therapy twice a week."]
    return fax_pdf_pages([to_fax(scan([f"Page {n + 1}", *lines * 4], LETTER, dpi=FAX_DPI, font_pt=11, seed=n))
                          for n in range(pages)])


# --------------------------------------------------------------------------- the sandbox


def test_a_child_tells_its_parent_before_it_answers():
    def work(data):
        tell_parent({"pages": 3})
        time.sleep(30)
        return {"status": "ok"}, data

    child = start_sandboxed(work, b"", timeout=30, memory=1 << 30)
    try:
        deadline = time.monotonic() + 10
        while not child.told and time.monotonic() < deadline:
            child.pump(0.1)
        assert child.told == [{"pages": 3}] and not child.finished
    finally:
        child.stop()
    assert child.finished and child.result()[0] == "stopped"
    assert child.pid not in children_of(os.getpid())   # killed and reaped


def test_a_child_leaves_what_it_inherited_out_of_its_collections_and_still_collects_what_it_makes():
    """A forked child's collector does not walk the parent's heap (which would copy its pages for nothing),
    yet a cycle the child makes is still collected; the parent's collector is untouched."""
    import json

    from packetizer.sandbox import in_two, run_sandboxed

    class Cycle:
        pass

    def counts() -> dict:
        a, b = Cycle(), Cycle()
        a.other, b.other = b, a
        del a, b
        return {"frozen": gc.get_freeze_count(), "collected": gc.collect(), "tracked": len(gc.get_objects())}

    def work(data):
        return {"status": "ok"}, json.dumps(counts()).encode()

    frozen_here, tracked_here = gc.get_freeze_count(), len(gc.get_objects())
    status, _, payload = run_sandboxed(work, b"", timeout=30, memory=1 << 30)
    child = json.loads(payload)
    assert status == "ok"
    assert child["frozen"] >= tracked_here // 2 and child["collected"] >= 2
    assert child["tracked"] < tracked_here // 2   # what a full collection in the child walks
    # The forked half of in_two too; the half done here is left as it was.
    lead, forked = in_two(20, lambda indexes: counts()["frozen"], min_count=16)
    assert lead == frozen_here and forked >= tracked_here // 2
    assert gc.get_freeze_count() == frozen_here


def test_a_child_nobody_waits_for_any_more_is_killed_and_reaped():
    child = start_sandboxed(lambda data: time.sleep(30), b"", timeout=30, memory=1 << 30)
    pid = child.pid
    del child
    gc.collect()
    assert pid not in children_of(os.getpid())


def test_a_tell_split_over_many_reads_arrives_whole():
    """A message (and stage marks) the pipe delivers a byte at a time are read as sent."""
    def work(data):
        from packetizer import sandbox

        frame = b"\xff" + b"\xfe" + sandbox._HEADER.pack(len(b'{"pages": 12}')) + b'{"pages": 12}' + b"\xff"
        for byte in frame:
            sandbox.write_all(sandbox._stage_fd, bytes([byte]))
            time.sleep(0.01)
        return {"status": "ok"}, b"done"

    child = start_sandboxed(work, b"", timeout=30, memory=1 << 30)
    status, meta, payload = child.result()
    assert (status, meta["stages_done"], payload, child.told) == ("ok", 2, b"done", [{"pages": 12}])


def test_a_child_that_never_stops_telling_still_runs_out_of_time():
    def work(data):
        while True:
            tell_parent({"pages": 1})
            time.sleep(0.01)

    child = start_sandboxed(work, b"", timeout=0.5, memory=1 << 30)
    started = time.monotonic()
    assert child.result()[0] == "timeout" and time.monotonic() - started < 10


def test_an_answer_waiting_in_the_pipe_is_not_a_timeout():
    """A child that answered in time while its parent was busy elsewhere (laying out a note) keeps its answer,
    even one larger than the pipe holds."""
    payload = os.urandom(3 << 20)
    child = start_sandboxed(lambda data: ({"status": "ok"}, data), payload, timeout=0.5, memory=1 << 30)
    time.sleep(1.0)
    status, meta, answer = child.result()
    assert status == "ok" and answer == payload


def test_a_silent_child_still_runs_out_of_time():
    child = start_sandboxed(lambda data: time.sleep(30), b"", timeout=0.3, memory=1 << 30)
    started = time.monotonic()
    assert child.result()[0] == "timeout" and time.monotonic() - started < 5


def test_one_child_is_heard_while_another_is_still_at_work():
    slow = start_sandboxed(lambda data: time.sleep(30), b"", timeout=30, memory=1 << 30)
    quick = start_sandboxed(lambda data: (tell_parent({"pages": 5}), time.sleep(30)), b"", timeout=30, memory=1 << 30)
    try:
        deadline = time.monotonic() + 10
        while not quick.told and time.monotonic() < deadline:
            wait_any([slow, quick])
        assert quick.told == [{"pages": 5}] and not slow.finished
    finally:
        slow.stop()
        quick.stop()


def test_children_waited_for_together_all_answer_whole():
    payloads = [os.urandom(2 << 20), os.urandom(5), os.urandom(1 << 20)]
    children = [start_sandboxed(lambda data: ({"status": "ok", "n": len(data)}, data), data, timeout=30,
                                memory=1 << 30) for data in payloads]
    deadline = time.monotonic() + 30
    while not all(child.finished for child in children) and time.monotonic() < deadline:
        wait_any(children)
    assert [child.result()[2] for child in children] == payloads
    assert [child.result()[1]["n"] for child in children] == [len(p) for p in payloads]


# --------------------------------------------------------------------------- one build


@pytest.fixture(scope="module")
def fax_case(tmp_path_factory):
    """The example case (a Word note, a PDF note, a text note) plus a two-page faxed note read by OCR."""
    return case_with(tmp_path_factory.mktemp("fax"), [("faxed-progress-note.pdf", faxed_note(2))])


def _build(case_path: Path, out: Path):
    case = load_case(case_path)
    return build_packet(case, load_payer(case.payer_id), out_dir=out, today=TODAY, clock=lambda: FIXED,
                        renderer=Renderer())


def test_the_front_sections_are_laid_out_while_a_pdf_is_still_being_read(fax_case, tmp_path, monkeypatch):
    events: list[str] = []
    render_sections, finish_attachment = pipeline.render_sections, __import__("packetizer.ingest").ingest.finish_attachment

    def sections(*args, **kwargs):
        events.append("sections")
        return render_sections(*args, **kwargs)

    def finished(started):
        done = finish_attachment(started)
        events.append(done.attachment.file)
        return done

    monkeypatch.setattr(pipeline, "render_sections", sections)
    monkeypatch.setattr("packetizer.ingest.finish_attachment", finished)
    packet = _build(fax_case, tmp_path / "out")
    assert events.index("sections") < events.index("notes/faxed-progress-note.pdf")
    assert events.count("sections") == 1
    fax = next(s for s in packet.sections if "Faxed progress note" in s.title)
    assert fax.last_page - fax.first_page + 1 == 2 and fax.last_page == packet.pages


def test_a_wrong_early_page_count_never_reaches_the_index(fax_case, tmp_path, monkeypatch):
    right = _build(fax_case, tmp_path / "right")
    # The children's early counts, one page too many: the sections are laid out again with the true ones.
    monkeypatch.setattr(PendingPdf, "pages", property(lambda self: (self.redaction.pages or 0) + 1
                                                      if self.redaction.pages else None))
    wrong = _build(fax_case, tmp_path / "wrong")
    assert [(s.title, s.first_page, s.last_page) for s in wrong.sections] == \
        [(s.title, s.first_page, s.last_page) for s in right.sections]
    assert wrong.sha256 == right.sha256


def test_pdfs_are_converted_side_by_side_and_no_more_at_once(tmp_path, monkeypatch):
    from packetizer.disclosure import pdfredact

    # Typed PDFs: read from their text layers, no page by OCR, so a second child may work beside one.
    typed = Path(EXAMPLE / "notes" / "2026-09-18-progress-note.pdf").read_bytes()
    case_path = case_with(tmp_path / "many", [(f"typed-note-{n}.pdf", typed) for n in range(3)])
    at_work: list[int] = []
    started = pdfredact.start_redact_pdf
    live: list = []

    def counted(*args, **kwargs):
        pending = started(*args, **kwargs)
        live.append(pending.child)
        at_work.append(sum(1 for child in live if not child.finished))
        return pending

    monkeypatch.setattr(pdfredact, "start_redact_pdf", counted)
    packet = _build(case_path, tmp_path / "out")
    assert len(live) == 4   # the example's PDF note and the three copies
    assert max(at_work) == MAX_ATTACHMENT_CHILDREN == 2
    assert [s.title for s in packet.sections if s.kind == "exhibit"][-3:] == [
        f"Exhibit {letter} \u2014 Typed note {n}, September 18, 2026" for letter, n in zip("DEF", range(3))]


def test_a_pdf_read_by_ocr_keeps_both_cores_to_itself(tmp_path, monkeypatch):
    """Its Tesseracts have wall-clock limits for each page: no other attachment's child starts beside it."""
    from packetizer.disclosure import pdfredact

    case_path = case_with(tmp_path / "many", [(f"faxed-note-{n}.pdf", faxed_note(1)) for n in range(2)])
    started = pdfredact.start_redact_pdf
    live: list = []
    beside_a_fax: list[bool] = []

    def counted(data, redactor, *, name, **kwargs):
        beside_a_fax.append(any(not child.finished for fax, child in live if "faxed" in fax))
        pending = started(data, redactor, name=name, **kwargs)
        live.append((name, pending.child))
        return pending

    monkeypatch.setattr(pdfredact, "start_redact_pdf", counted)
    _build(case_path, tmp_path / "out")
    assert len(live) == 3 and beside_a_fax == [False, False, False]



def _record_starts_and_layouts(tmp_path, monkeypatch) -> tuple[list[str], object, object]:
    """Build a case whose long PDF comes before a short one, with a renderer whose first note lasts until the short
    PDF's child has ended; the files started and the notes laid out, in order."""
    from packetizer.disclosure import pdfredact

    typed = Path(EXAMPLE / "notes" / "2026-09-18-progress-note.pdf").read_bytes()
    long_pdf = typed_pdf(30, "Long")
    assert len(long_pdf) > len(typed)
    # The long PDF comes first in the case's order.
    case_path = case_with(tmp_path / "case", [("a-long-log.pdf", long_pdf)])
    events: list[str] = []
    children: list = []
    started = pdfredact.start_redact_pdf

    def starting(data, redactor, *, name, **kwargs):
        events.append(name)
        pending = started(data, redactor, name=name, **kwargs)
        children.append(pending.child)
        return pending

    class Recording(Renderer):
        def submit(self, work, *args, **kwargs):
            if work.__name__ != "render_sections":
                events.append("a note laid out")
                if len(events) == 2:   # the first note takes as long as the short PDF's child takes to end
                    while not children[0].pump(None):
                        pass
            return super().submit(work, *args, **kwargs)

    monkeypatch.setattr(pdfredact, "start_redact_pdf", starting)
    case = load_case(case_path)
    packet = build_packet(case, load_payer(case.payer_id), out_dir=tmp_path / "out", today=TODAY,
                          clock=lambda: FIXED, renderer=Recording())
    return events, case, packet


def test_the_smallest_pdf_starts_first_and_a_long_one_beside_it_while_the_notes_are_laid_out(tmp_path, monkeypatch):
    """A second child starts only beside one that has told it reads no page by OCR, which a short file tells soon:
    so the short PDF goes first, and the long one starts as soon as the short one has told, between two notes,
    rather than after every note is laid out."""
    monkeypatch.setattr(pipeline, "_FIRST_ANSWER_WAIT", 0.0)   # no wait before the first note
    events, case, packet = _record_starts_and_layouts(tmp_path, monkeypatch)
    assert events == ["notes/2026-09-18-progress-note.pdf", "a note laid out", "notes/a-long-log.pdf",
                      "a note laid out"]
    _assert_exhibits_in_the_cases_order(case, packet)


def test_before_its_first_note_a_build_waits_for_the_short_pdfs_answer_and_starts_the_long_one_then(
        tmp_path, monkeypatch):
    """The short PDF's child tells in a few hundredths of a second whether it reads pages by OCR: the build waits
    for that answer before it lays out its first note, so the long PDF starts at once, not after a note's layout.
    The wait ends on the answer, not at its limit (set here far above any answer's time)."""
    monkeypatch.setattr(pipeline, "_FIRST_ANSWER_WAIT", 60.0)
    started = time.monotonic()
    events, case, packet = _record_starts_and_layouts(tmp_path, monkeypatch)
    assert time.monotonic() - started < 60.0
    assert events == ["notes/2026-09-18-progress-note.pdf", "notes/a-long-log.pdf", "a note laid out",
                      "a note laid out"]
    _assert_exhibits_in_the_cases_order(case, packet)


def test_a_build_does_not_wait_beside_a_pdf_read_by_ocr(tmp_path, monkeypatch):
    """A child that reads pages by OCR keeps both cores: its answer ends the wait and the next PDF waits for it."""
    monkeypatch.setattr(pipeline, "_FIRST_ANSWER_WAIT", 60.0)
    case_path = case_with(tmp_path / "case", [("a-fax.pdf", faxed_note(1)),
                                              ("b-long-log.pdf", typed_pdf(30, "Long"))])
    from packetizer.disclosure import pdfredact

    events: list[str] = []
    started = pdfredact.start_redact_pdf

    def starting(data, redactor, *, name, **kwargs):
        events.append(name)
        return started(data, redactor, name=name, **kwargs)

    class Recording(Renderer):
        def submit(self, work, *args, **kwargs):
            if work.__name__ != "render_sections":
                events.append("a note laid out")
            return super().submit(work, *args, **kwargs)

    monkeypatch.setattr(pdfredact, "start_redact_pdf", starting)
    case = load_case(case_path)
    before = time.monotonic()
    build_packet(case, load_payer(case.payer_id), out_dir=tmp_path / "out", today=TODAY, clock=lambda: FIXED,
                 renderer=Recording())
    assert time.monotonic() - before < 60.0
    # The long log is not started beside the fax: the first note is laid out first.
    assert events.index("a note laid out") < events.index("notes/b-long-log.pdf")


def _assert_exhibits_in_the_cases_order(case, packet) -> None:
    # The exhibits keep the case's order.
    titles = [s.title.split(" \u2014 ")[1] for s in packet.sections if s.kind == "exhibit"]
    assert [t.split(",")[0] for t in titles] == [a.display_title for a in case.attachments]
    assert titles[-1] == "A long log, September 18, 2026"


BROKEN = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def collected(monkeypatch):
    """The attachments whose sandboxed child a build started and whose result it took in (not stopped)."""
    from packetizer.disclosure import pdfredact

    names: dict[str, list[str]] = {"started": [], "collected": [], "stopped at work": []}
    start, result, stop = pdfredact.start_redact_pdf, pdfredact.PendingRedaction.result, pdfredact.PendingRedaction.stop

    def starting(data, redactor, *, name, **kwargs):
        names["started"].append(name)
        return start(data, redactor, name=name, **kwargs)

    def recording(self):
        names["collected"].append(self._name)
        return result(self)

    def stopping(self):
        if not self.child.finished:
            names["stopped at work"].append(self._name)
        return stop(self)

    monkeypatch.setattr(pdfredact, "start_redact_pdf", starting)
    monkeypatch.setattr(pdfredact.PendingRedaction, "result", recording)
    monkeypatch.setattr(pdfredact.PendingRedaction, "stop", stopping)
    return names


def test_a_failure_stops_the_children_working_on_later_attachments(tmp_path, collected, monkeypatch):
    # Room for every PDF at once, each taken as light: the fax after the broken file is at work when it fails.
    monkeypatch.setattr(pipeline, "MAX_ATTACHMENT_CHILDREN", 3)
    monkeypatch.setattr(PendingPdf, "light", property(lambda self: True))
    before = children_of(os.getpid())
    case_path = case_with(tmp_path / "case", [("aa-broken.pdf", BROKEN), ("faxed-note.pdf", faxed_note(2))])
    with pytest.raises(IngestError) as caught:
        _build(case_path, tmp_path / "out")
    assert caught.value.subject == "notes/aa-broken.pdf"
    assert "notes/faxed-note.pdf" in collected["started"]
    assert collected["stopped at work"] == ["notes/faxed-note.pdf"]   # not read to its end
    assert "notes/faxed-note.pdf" not in collected["collected"]
    assert children_of(os.getpid()) <= before        # and its child is gone
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_earlier_attachment_still_at_work_is_finished_before_a_later_failure_is_raised(tmp_path, collected):
    """The first failure in the attachments' order is the one reported, as in a build that takes them in turn."""
    monkeypatch_light = pytest.MonkeyPatch()
    monkeypatch_light.setattr(PendingPdf, "light", property(lambda self: True))   # the broken one starts beside it
    before = children_of(os.getpid())
    case_path = case_with(tmp_path / "case", [("faxed-note.pdf", faxed_note(2)), ("zz-broken.pdf", BROKEN)])
    try:
        with pytest.raises(IngestError) as caught:
            _build(case_path, tmp_path / "out")
    finally:
        monkeypatch_light.undo()
    assert caught.value.subject == "notes/zz-broken.pdf"
    assert "notes/faxed-note.pdf" in collected["collected"] and collected["stopped at work"] == []
    assert children_of(os.getpid()) <= before


def test_a_failing_note_does_not_hide_an_earlier_failing_pdf(tmp_path):
    """Two attachments fail: the one first in the case's order is reported, though the later note failed first."""
    case_path = case_with(tmp_path / "case", [("bb-broken.pdf", BROKEN), ("zz-broken.txt", b"\x00\x01binary")])
    with pytest.raises(IngestError) as caught:
        _build(case_path, tmp_path / "out")
    assert caught.value.subject == "notes/bb-broken.pdf"


def test_an_interrupted_build_leaves_no_child_and_no_pictures_of_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    before = children_of(os.getpid())
    case_path = case_with(tmp_path / "case", [("faxed-note.pdf", faxed_note(2))])

    def interrupt(stage, done, total):
        if stage == "documents" and done:   # the first exhibit is done; the fax is being read
            raise KeyboardInterrupt

    case = load_case(case_path)
    with pytest.raises(KeyboardInterrupt):
        build_packet(case, load_payer(case.payer_id), out_dir=tmp_path / "out", today=TODAY, clock=lambda: FIXED,
                     renderer=Renderer(), progress=interrupt)
    assert children_of(os.getpid()) <= before
    assert list((tmp_path / "tmp").iterdir()) == []

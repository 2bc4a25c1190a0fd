"""The render process: a cold build lays out its notes and front sections on the other core, and the packet is
the same as one built in a single process (packetizer.renderproc)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from packetizer import render
from packetizer.caseio import load_case
from packetizer.errors import CaseError, PacketizerError
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.renderproc import Renderer, RenderProcess, start_renderer

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lake-street"
TODAY = dt.date(2026, 10, 6)
FIXED = dt.datetime(2026, 10, 6, 12, 0, tzinfo=dt.timezone.utc)

# A cold process (no WeasyPrint imported yet) builds the example case with the renderer it is given, and
# prints what it built: whether that was a render process, the packet's SHA-256 and its sections.
COLD_BUILD = """
import datetime as dt, json, os, signal, sys
from pathlib import Path
from packetizer.caseio import load_case
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.renderproc import RenderProcess, start_renderer

import packetizer.pipeline as pipeline
def told_where(name):   # travels by name (the render process is forked after this is defined): runs in
    # whichever process lays out the sections (render_sections), or the body or the cover apart
    work = getattr(pipeline, name)
    def laid_out(*args, **kwargs):
        with open(sys.argv[2] + "-sections", "a") as told:
            told.write(f"{name.removeprefix('render_')}:{os.getpid()} ")
        return work(*args, **kwargs)
    laid_out.__name__ = laid_out.__qualname__ = name
    globals()[name] = laid_out
    setattr(pipeline, name, laid_out)
for name in ("render_sections", "render_body", "render_cover"):
    told_where(name)

beside = sys.argv[3].startswith("beside")
if beside:   # a warm process, as a web job's: WeasyPrint loaded already
    from packetizer import render
    render._weasyprint()
if sys.argv[3] == "wrong-body-guess":   # the narrative and summary guessed at 3 pages each (before the render
    # process is forked): the cover's index is wrong, and the cover is laid out again from the body's pages
    import packetizer.sections as sections
    sections._estimated_section_pages = lambda document: [3, 3]
renderer = start_renderer(beside=beside)
is_process = isinstance(renderer, RenderProcess)
helper = renderer._lane.pid if beside else None
if sys.argv[3] == "beside-helper-dies":
    os.kill(helper, signal.SIGKILL)
if sys.argv[3] == "kill" and is_process:
    os.kill(renderer.pid, signal.SIGKILL)
if sys.argv[3] == "twin-dies" and is_process:   # once the render process has forked its twin, the twin is killed
    import time
    children = f"/proc/{renderer.pid}/task/{renderer.pid}/children"
    while not open(children).read().split():
        time.sleep(0.01)
    os.kill(int(open(children).read().split()[0]), signal.SIGKILL)
if sys.argv[3] == "wrong-guess":   # every note's pages guessed one too many: the sections are laid out again
    import packetizer.ingest as ingest
    ingest.estimated_pages = lambda html: 9
case = load_case(sys.argv[1])
aside = renderer.runs_aside
try:
    packet = build_packet(case, load_payer(case.payer_id), out_dir=Path(sys.argv[2]), today=dt.date(2026, 10, 6),
                          clock=lambda: dt.datetime(2026, 10, 6, 12, 0, tzinfo=dt.timezone.utc), renderer=renderer)
finally:
    renderer.close()
left = None
if is_process or beside:
    try:   # the render process and its twin lead a process group of their own: none of it is left
        os.killpg(renderer.pid, 0) if is_process else os.kill(helper, 0)
        left = True
    except ProcessLookupError:
        left = False
with open(sys.argv[2] + "-sections") as told:
    where = [name + ":" + ("build" if pid == os.getpid() else "helper" if pid == helper else
                           "render" if pid == renderer.pid else "twin")
             for name, pid in (entry.split(":") for entry in told.read().split()) for pid in [int(pid)]]
print(json.dumps({"process": is_process, "aside": aside, "where": where, "sha256": packet.sha256, "pages": packet.pages,
                  "sections": [[s.title, s.first_page, s.last_page] for s in packet.sections], "left": left}))
"""


def cold_build(case_path: Path, out: Path, mode: str = "plain") -> dict:
    done = subprocess.run([sys.executable, "-c", COLD_BUILD, str(case_path), str(out), mode], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_process_build(tmp_path_factory):
    """The example case built in this (warm) process, its layouts done here."""
    case = load_case(EXAMPLE / "case.yaml")
    packet = build_packet(case, load_payer(case.payer_id), out_dir=tmp_path_factory.mktemp("here"), today=TODAY,
                          clock=lambda: FIXED, renderer=Renderer())
    return {"sha256": packet.sha256, "pages": packet.pages,
            "sections": [[s.title, s.first_page, s.last_page] for s in packet.sections]}


def test_a_cold_build_lays_out_in_a_render_process_and_makes_the_same_packet(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out")
    assert built["process"] is True and built["aside"] is True
    # The sections were laid out once, from the notes' guessed pages: the narrative and summary by the twin while
    # the render process laid out the notes, then the cover by the render process, its index from the body's
    # guessed pages, while the twin still laid out the body; the guesses were right.
    assert sorted(built["where"]) == ["body:twin", "cover:render"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False   # the render process and its twin are gone once the build closed them
    packet = next((tmp_path / "out").glob("RETRO-AUTH_*.pdf"))
    assert hashlib.sha256(packet.read_bytes()).hexdigest() == built["sha256"]


def test_sections_laid_out_from_a_wrong_guess_are_laid_out_again(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="wrong-guess")
    # The guessed layouts are dropped once the notes' pages are known, and done again in the same places.
    assert sorted(built["where"]) == ["body:twin", "body:twin", "cover:render", "cover:render"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False


def test_a_cover_laid_out_from_a_wrong_guess_of_the_body_is_laid_out_again_from_the_body(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="wrong-body-guess")
    # The body is laid out twice (its own guess was wrong too), then the cover again, not the body a third time.
    assert sorted(built["where"]) == ["body:twin", "cover:render", "cover:render"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False


def test_a_cover_longer_than_one_page_lays_out_the_sections_again_whole(tmp_path):
    """An index too long for one page moves everything after the cover: the body and the cover laid out apart
    (each assuming a one-page cover) are dropped, and the sections are laid out again whole."""
    folder = tmp_path / "case"
    shutil.copytree(EXAMPLE, folder)
    doc = yaml.safe_load((folder / "case.yaml").read_text())
    for i in range(7):   # titles that take three lines of the index each
        (folder / "notes" / f"visit-{i:02d}.txt").write_text(f"Visit note number {i:02d}\nTreatment continued.\n")
        doc["attachments"].append({"file": f"notes/visit-{i:02d}.txt", "kind": "clinical_note", "date": "2026-09-16",
                                   "title": f"Visit note {i:02d}, " + "therapeutic exercise, manual therapy " * 5})
    (folder / "case.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    case = load_case(folder / "case.yaml")
    here = build_packet(case, load_payer(case.payer_id), out_dir=tmp_path / "here", today=TODAY, clock=lambda: FIXED,
                        renderer=Renderer())
    built = cold_build(folder / "case.yaml", tmp_path / "out")
    assert sorted(built["where"]) == ["body:twin", "cover:render", "sections:render"]
    assert built["sections"][0][1:] == [1, 2]   # the cover took two pages
    assert built["sha256"] == here.sha256 and built["pages"] == here.pages
    assert built["sections"] == [[s.title, s.first_page, s.last_page] for s in here.sections]


def test_the_calls_of_a_twin_that_dies_go_to_the_render_process(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="twin-dies")
    # Not laid out in the build process, which has no WeasyPrint loaded.
    assert sorted(built["where"]) == ["body:render", "cover:render"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False   # the render process reaped the twin it had forked


def test_a_warm_process_that_builds_one_packet_lays_out_its_sections_beside_its_notes(one_process_build, tmp_path):
    """A web job's process (warm, one packet): a helper forked from it lays out the sections while it lays out
    the notes, and the packet is the same."""
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="beside")
    assert built["process"] is False and built["aside"] is True
    assert sorted(built["where"]) == ["body:helper", "cover:build"]   # the cover after the notes, here
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False   # the helper is ended and reaped when the build closes its renderer


def test_a_helper_that_dies_leaves_the_sections_to_the_build(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="beside-helper-dies")
    assert sorted(built["where"]) == ["body:build", "cover:build"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build


def test_a_render_process_that_dies_leaves_its_layouts_to_the_build(one_process_build, tmp_path):
    built = cold_build(EXAMPLE / "case.yaml", tmp_path / "out", mode="kill")
    assert built["process"] is True
    # Its twin, never forked or orphaned, is not waited for either.
    assert sorted(built["where"]) == ["body:build", "cover:build"]
    assert {key: built[key] for key in ("sha256", "pages", "sections")} == one_process_build
    assert built["left"] is False


def test_only_the_first_build_of_a_process_gets_a_render_process():
    """A process that builds again imports WeasyPrint once and stays warm, instead of a new render process
    importing it for every build."""
    told = run_cold(
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "first = start_renderer()\n"
        "first.close()\n"
        "second = start_renderer()\n"
        "print(type(first).__name__, type(second).__name__)\n"
    )
    assert told == "RenderProcess Renderer"


def test_a_warm_process_keeps_its_layouts():
    render._weasyprint()   # this process has rendered: a fork of it would save no import
    renderer = start_renderer()
    try:
        assert type(renderer) is Renderer
    finally:
        renderer.close()


def run_cold(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_build_of_a_case_file_that_is_not_there_fails_without_starting_a_render_process(tmp_path):
    missing = tmp_path / "no-such-case.yaml"
    told = json.loads(run_cold(
        "import contextlib, io, json, sys\n"
        "from packetizer import renderproc\n"
        "from packetizer.cli import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        "    try:\n"
        f"        main(['build', {str(missing)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "print(json.dumps([code, err.getvalue(), renderproc._started]))\n"
    ))
    code, error, started = told
    assert code == 1 and "no-such-case.yaml" in error and "not found" in error
    assert started is False and not (tmp_path / "out").exists()


def test_an_error_raised_in_the_render_process_comes_back_as_it_was_raised(tmp_path):
    missing = tmp_path / "no-such-case.yaml"
    with pytest.raises(CaseError) as here:
        load_case(missing)
    told = run_cold(
        "import json, sys\n"
        "from packetizer.caseio import load_case\n"
        "from packetizer.errors import PacketizerError\n"
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "renderer = start_renderer()\n"
        "assert isinstance(renderer, RenderProcess)\n"
        f"ticket = renderer.submit(load_case, {str(missing)!r})\n"
        "try:\n"
        "    renderer.result(ticket)\n"
        "except PacketizerError as exc:\n"
        "    print(json.dumps([type(exc).__name__, exc.message, exc.code, exc.subject]))\n"
        "finally:\n"
        "    renderer.close()\n"
    )
    assert json.loads(told) == [type(here.value).__name__, here.value.message, here.value.code, here.value.subject]


def test_calls_come_back_in_order_with_large_answers_and_requests():
    """Requests and answers larger than a pipe's buffer both travel, several in flight at once, and a call
    that cannot travel (a lambda) is done in the build process."""
    told = json.loads(run_cold(
        "import json, os\n"
        "from packetizer.render import html_to_pdf\n"
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "renderer = start_renderer()\n"
        "assert isinstance(renderer, RenderProcess)\n"
        "body = lambda n: ''.join(f'<p>Visit {i}: ' + 'therapeutic exercise; ' * 60 + '</p>' for i in range(n * 12))\n"
        "tickets = [renderer.submit(html_to_pdf, body(n)) for n in (3, 1, 5)]\n"
        "here = renderer.submit(lambda: 'done here')\n"
        "big = renderer.submit(os.urandom, 300000)\n"
        "after = renderer.submit(html_to_pdf, body(1))\n"
        "done = [renderer.result(t) for t in reversed(tickets)][::-1]\n"
        "print(json.dumps({'request': len(body(5)), 'pages': [d.pages for d in done],\n"
        "                  'big': len(renderer.result(big)), 'after': renderer.result(after).pages,\n"
        "                  'here': renderer.result(here)}))\n"
        "renderer.close()\n"
    ))
    assert told["request"] > 65536 and told["big"] == 300000   # both larger than a pipe's buffer
    assert told["after"] == told["pages"][1]
    first, second, third = told["pages"]
    assert second < first < third   # each answer is its own request's
    assert told["here"] == "done here"


def test_a_discarded_call_does_not_take_another_calls_answer():
    """A layout nobody wants any more (the sections laid out with an early count that proved wrong) is dropped
    whether its answer comes from the render process or, once that process has died, from this one."""
    told = json.loads(run_cold(
        "import json, os, signal\n"
        "from packetizer.render import html_to_pdf\n"
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "renderer = start_renderer()\n"
        "assert isinstance(renderer, RenderProcess)\n"
        "body = lambda n: ''.join(f'<p>Visit {i}</p>' for i in range(n * 60))\n"
        "dropped = renderer.submit(html_to_pdf, body(3))\n"
        "kept = renderer.submit(html_to_pdf, body(1))\n"
        "renderer.discard(dropped)\n"
        "first = renderer.result(kept).pages\n"
        "dropped = renderer.submit(html_to_pdf, body(3))\n"
        "kept = renderer.submit(html_to_pdf, body(1))\n"
        "os.kill(renderer.pid, signal.SIGKILL)\n"
        "renderer.discard(dropped)\n"
        "second = renderer.result(kept).pages\n"
        "alone = renderer.call(html_to_pdf, body(1)).pages\n"
        "three = renderer.call(html_to_pdf, body(3)).pages\n"
        "print(json.dumps({'first': first, 'second': second, 'alone': alone, 'three': three}))\n"
        "renderer.close()\n"
    ))
    assert told["first"] == told["second"] == told["alone"] < told["three"]


def test_a_command_line_build_leaves_no_render_process_running(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    done = subprocess.run([str(Path(sys.executable).with_name("packetizer")), "build", str(case / "case.yaml"),
                           "--out", str(tmp_path / "out"), "--today", TODAY.isoformat()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    packet = Path(done.stdout.strip().splitlines()[-1])
    assert packet.is_file() and packet.read_bytes().startswith(b"%PDF-")
    # The render process is a fork of the build process (the same command line): none is left.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(case / "case.yaml") not in ps


def test_processes_forked_by_the_build_do_not_hold_the_render_process_pipes():
    """A sandboxed child parsing a hostile PDF cannot write requests to the render process, nor keep its pipe
    open once the build process has gone."""
    told = json.loads(run_cold(
        "import json, os\n"
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "from packetizer.sandbox import run_sandboxed\n"
        "renderer = start_renderer()\n"
        "assert isinstance(renderer, RenderProcess)\n"
        "def pipes():\n"
        "    found = []\n"
        "    for fd in os.listdir('/proc/self/fd'):\n"
        "        try:\n"
        "            target = os.readlink(f'/proc/self/fd/{fd}')\n"
        "        except OSError:   # the listing's own descriptor, closed already\n"
        "            continue\n"
        "        if target.startswith('pipe:'):\n"
        "            found.append(target)\n"
        "    return sorted(found)\n"
        "ends = (renderer._requests, renderer._answers, renderer._lane._requests, renderer._lane._answers)\n"
        "mine = [os.readlink(f'/proc/self/fd/{fd}') for fd in ends]\n"
        "status, meta, _ = run_sandboxed(lambda data: ({'status': 'ok', 'pipes': pipes()}, b''), b'', timeout=30,\n"
        "                                memory=1 << 30)\n"
        "renderer.close()\n"
        "print(json.dumps({'status': status, 'build': mine, 'child': meta['pipes']}))\n"
    ))
    assert told["status"] == "ok"
    renderer_pipes = set(told["build"])   # the build's ends of the render process's and its twin's pipes
    assert len(renderer_pipes) == 4 and all(pipe.startswith("pipe:") for pipe in renderer_pipes)
    assert told["child"] and not renderer_pipes & set(told["child"])   # the child has its own pipes, not those


def test_a_build_with_a_thousand_files_open_still_uses_its_render_process():
    """Descriptor numbers above 1024 (a web worker with many connections) are waited on without select()."""
    told = run_cold(
        "import os\n"
        "held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]\n"
        "from packetizer.render import html_to_pdf\n"
        "from packetizer.renderproc import RenderProcess, start_renderer\n"
        "renderer = start_renderer()\n"
        "assert isinstance(renderer, RenderProcess)\n"
        "done = renderer.result(renderer.submit(html_to_pdf, '<p>Progress note</p>'))\n"
        "import sys\n"
        "renderer.close()\n"
        "print(done.pages, 'weasyprint' in sys.modules)\n"
    )
    assert told == "1 False"   # laid out in the render process: this process never loaded WeasyPrint

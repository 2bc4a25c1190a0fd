"""Temporary folders that hold PHI: what a killed build leaves goes with the next build, and nothing a living
process works in is touched (packetizer.workfolders)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from packetizer import workfolders
from packetizer.limits import ORPHAN_SECONDS
from packetizer.workfolders import WorkFolder, sweep
from tests.support.channel_cases import case_with
from tests.test_build_overlap import EXAMPLE, children_of, faxed_note

PACKETIZER = Path(sys.executable).with_name("packetizer")


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children_of(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("pktz-"))


def test_the_pictures_of_pages_a_killed_build_left_go_with_the_next_build(tmp_path):
    """A build killed outright while its child reads a fax by OCR cannot remove its folder; the next build does."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    fax = case_with(tmp_path / "fax", [("faxed-note.pdf", faxed_note(3))])
    build = subprocess.Popen([str(PACKETIZER), "build", str(fax), "--out", str(tmp_path / "out-1"),
                              "--today", "2026-10-06"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(scratch.glob("pktz-redact-*/**/*.png")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(scratch.glob("pktz-redact-*/**/*.png")), "the fax's pages were never drawn for OCR"
    finally:
        # Killed outright, with every process of the build (its sandboxed children lead groups of their own).
        everyone = descendants(build.pid) | {build.pid}
        for pid in everyone:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        build.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in everyone) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert left(scratch), "the killed build left nothing to sweep"

    done = subprocess.run([str(PACKETIZER), "build", str(EXAMPLE / "case.yaml"), "--out", str(tmp_path / "out-2"),
                           "--today", "2026-10-06"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert left(scratch) == []
    assert "left behind by a build that was killed" in done.stderr
    # Its message names no folder and nothing of the case.
    assert "pktz-" not in done.stderr and "Rivera" not in done.stderr


def _alive(pid: int) -> bool:
    """Running, not a zombie (init here may never reap one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_HOLDER = textwrap.dedent("""
    import os, sys, time
    from packetizer.workfolders import WorkFolder
    folder = WorkFolder("redact")
    print(folder.name, flush=True)
    if os.fork() == 0:           # a child working in the folder, as a sandboxed child does
        sys.stdin.read()          # until the test closes the pipe
        os._exit(0)
    os._exit(0)                   # the maker dies without removing it, as if killed
""")


def test_a_folder_stays_while_any_process_working_in_it_lives(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], env={**os.environ, "TMPDIR": str(scratch)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    name = Path(holder.stdout.readline().strip())
    holder.wait()                 # the maker is gone; its child still works in the folder
    assert name.parent == scratch and name.is_dir()
    (name / "page-1.png").write_bytes(b"pixels")
    assert sweep(str(scratch)) == 0 and name.is_dir()
    holder.stdin.close()          # the child ends
    deadline = time.monotonic() + 10
    while sweep(str(scratch)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not name.exists()


def test_a_folder_of_this_process_stays_until_it_is_cleaned_up(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with WorkFolder("verify") as name:
        (Path(name) / "packet.pdf").write_bytes(b"%PDF")
        assert sweep(str(tmp_path)) == 0
        assert Path(name).is_dir() and oct(Path(name).stat().st_mode & 0o777) == "0o700"
    assert not Path(name).exists()


def test_only_this_users_left_behind_folders_go(tmp_path):
    fresh = tmp_path / "pktz-redact-fresh"      # no lock file (an older version's), made a moment ago
    old = tmp_path / "pktz-redact-old"          # no lock file, older than any work may run
    theirs = tmp_path / "pktz-redact-theirs"    # someone else's
    mine_not = tmp_path / "other-folder"        # not ours by name
    for folder in (fresh, old, theirs, mine_not):
        folder.mkdir()
        (folder / "page.png").write_bytes(b"pixels")
    long_ago = time.time() - ORPHAN_SECONDS - 60
    for folder in (old, theirs, mine_not):
        os.utime(folder, (long_ago, long_ago))
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("kept")
    link = tmp_path / "pktz-redact-link"
    link.symlink_to(target)
    root = os.getuid() == 0
    if root:   # only root can give a folder away; anyone else's sweep sees it as its own
        os.chown(theirs, 65534, 65534)
    assert sweep(str(tmp_path)) == (1 if root else 2)
    assert not old.exists() and theirs.is_dir() == root
    assert fresh.is_dir() and mine_not.is_dir() and (target / "keep.txt").exists() and link.is_symlink()


def test_a_process_sweeps_once(tmp_path, monkeypatch):
    monkeypatch.setattr(workfolders, "_swept", False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    old = tmp_path / "pktz-verify-old"
    old.mkdir()
    long_ago = time.time() - ORPHAN_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    assert workfolders.sweep_once() == 1 and not old.exists()
    old.mkdir()
    os.utime(old, (long_ago, long_ago))
    assert workfolders.sweep_once() == 0 and old.exists()

"""WeasyPrint's C declarations parsed once per machine user, not once per process (packetizer.weasystart).

Each case runs in a fresh process (the parse happens at WeasyPrint's import), with a cache folder of its own.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.usercache import environment_with_cache

# Renders a short PDF in a fresh process and tells how many times cffi's parser parsed declarations (type
# strings excluded) and the PDF's SHA-256.
RENDER = """
import hashlib, json
import cffi.cparser
parses = []
original = cffi.cparser.Parser.parse
def spy(self, csource, *args, **kwargs):
    parses.append(len(csource))
    return original(self, csource, *args, **kwargs)
cffi.cparser.Parser.parse = spy
from packetizer import render
pdf = render.html_to_pdf("<h2>Progress note</h2><p>Seen for <strong>lumbar pain</strong>, <em>improving</em>.</p>").pdf
print(json.dumps({"parses": len(parses), "sha256": hashlib.sha256(pdf).hexdigest()}))
"""


def render_in_fresh_process(cache: Path | None, tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True,
                          env=environment_with_cache(cache), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def kept_files(cache: Path) -> list[Path]:
    return sorted((cache / "packetizer").glob("cffi-*.pickle"))


def test_the_second_process_restores_the_parse_and_writes_the_same_pdf(tmp_path):
    cache = tmp_path / "cache"
    first = render_in_fresh_process(cache, tmp_path)
    assert first["parses"] == 1   # WeasyPrint's declarations, parsed and kept
    [kept] = kept_files(cache)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((cache / "packetizer").stat().st_mode) == 0o700
    second = render_in_fresh_process(cache, tmp_path)
    assert second["parses"] == 0   # restored, not parsed
    assert second["sha256"] == first["sha256"]
    without = render_in_fresh_process(None, tmp_path)   # nowhere to keep it: parsed as WeasyPrint does
    assert without["parses"] == 1 and without["sha256"] == first["sha256"]


def test_a_kept_parse_that_others_could_write_or_that_is_damaged_is_parsed_anew(tmp_path):
    cache = tmp_path / "cache"
    render_in_fresh_process(cache, tmp_path)
    [kept] = kept_files(cache)
    good = kept.read_bytes()

    kept.chmod(0o666)   # anyone may write it: not trusted, parsed anew and kept again, this user's only
    assert render_in_fresh_process(cache, tmp_path)["parses"] == 1
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_bytes() == good

    kept.write_bytes(b"not a pickle")
    assert render_in_fresh_process(cache, tmp_path)["parses"] == 1
    assert kept.read_bytes() == good

    kept.unlink()
    elsewhere = tmp_path / "elsewhere.pickle"
    elsewhere.write_bytes(good)
    kept.symlink_to(elsewhere)   # a link is not followed
    assert render_in_fresh_process(cache, tmp_path)["parses"] == 1
    assert not kept.is_symlink() and kept.read_bytes() == good


def test_declarations_of_another_text_or_version_are_not_taken_for_these(tmp_path):
    cache = tmp_path / "cache"
    render_in_fresh_process(cache, tmp_path)
    [kept] = kept_files(cache)
    (cache / "packetizer" / "cffi-0123456789abcdef0123456789abcdef.pickle").write_bytes(kept.read_bytes())
    kept.unlink()   # only another key's parse is there: this one is parsed
    assert render_in_fresh_process(cache, tmp_path)["parses"] == 1
    assert len(kept_files(cache)) == 2

"""WeasyPrint's C declarations and default style sheets parsed once per machine user, not once per process
(packetizer.weasystart).

Each case runs in a fresh process (both parses happen at WeasyPrint's import), with a cache folder of its own.
"""

from __future__ import annotations

import json
import pickle
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.usercache import environment_with_cache

# Renders a short PDF in a fresh process and tells how many times cffi's parser parsed declarations (type
# strings excluded), how many of WeasyPrint's default style sheets tinycss2 parsed, and the PDF's SHA-256. The
# PDF uses what the default sheets give: headings, emphasis, lists numbered by the sheets' counter styles, a
# table, preformatted text, a quotation.
RENDER = """
import hashlib, json
from importlib.resources import files
import cffi.cparser
import tinycss2
parses = []
original = cffi.cparser.Parser.parse
def spy(self, csource, *args, **kwargs):
    parses.append(len(csource))
    return original(self, csource, *args, **kwargs)
cffi.cparser.Parser.parse = spy
sheets_parsed = []
parse_sheet = tinycss2.parse_stylesheet
def sheet_spy(css, *args, **kwargs):
    sheets_parsed.append(css)
    return parse_sheet(css, *args, **kwargs)
tinycss2.parse_stylesheet = sheet_spy
from packetizer import render
pdf = render.html_to_pdf(
    "<h1>Visit</h1><h2>Progress note</h2><p>Seen for <strong>lumbar pain</strong>, <em>improving</em>.</p>"
    "<ol><li>Nerve glides</li><li>Core work</li></ol><ol style='list-style-type: lower-roman'><li>Gait</li>"
    "<li>Balance</li></ol><ul><li>Plan: twice a week</li></ul><table><tr><th>Code</th><td>97110</td></tr></table>"
    "<pre>  ROM 0-90</pre><blockquote>Tolerated well.</blockquote><p>H<sub>2</sub>O x<sup>2</sup></p>").pdf
defaults = [(files("weasyprint") / "css" / name).read_text("utf-8")
            for name in ("html5_ua.css", "html5_ua_form.css", "html5_ph.css")]
print(json.dumps({"parses": len(parses), "sheets": sum(1 for css in sheets_parsed if css in defaults),
                  "sha256": hashlib.sha256(pdf).hexdigest()}))
"""


def render_in_fresh_process(cache: Path | None, tmp_path: Path) -> dict:
    # With the fault handler on, a crash (one process ended by SIGSEGV at its exit, once, after printing its
    # result; not seen again in 1,500 runs) leaves the Python stacks in the message below.
    env = {**environment_with_cache(cache), "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def kept_files(cache: Path, kind: str = "cffi") -> list[Path]:
    return sorted((cache / "packetizer").glob(f"{kind}-*.pickle"))


def test_the_second_process_restores_both_parses_and_writes_the_same_pdf(tmp_path):
    cache = tmp_path / "cache"
    first = render_in_fresh_process(cache, tmp_path)
    # WeasyPrint's declarations, and its three default style sheets (the user agent's, the forms', the
    # presentational hints'), parsed and kept.
    assert first["parses"] == 1 and first["sheets"] == 3
    for kind in ("cffi", "stylesheets"):
        [kept] = kept_files(cache, kind)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((cache / "packetizer").stat().st_mode) == 0o700
    second = render_in_fresh_process(cache, tmp_path)
    assert second["parses"] == 0 and second["sheets"] == 0   # restored, not parsed
    assert second["sha256"] == first["sha256"]
    without = render_in_fresh_process(None, tmp_path)   # nowhere to keep them: parsed as WeasyPrint does
    assert without["parses"] == 1 and without["sheets"] == 3 and without["sha256"] == first["sha256"]


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


def test_kept_style_sheets_that_others_could_write_or_that_are_damaged_are_parsed_anew(tmp_path):
    cache = tmp_path / "cache"
    first = render_in_fresh_process(cache, tmp_path)
    [kept] = kept_files(cache, "stylesheets")
    good = kept.read_bytes()

    kept.chmod(0o664)   # others may write it: not trusted, parsed anew and kept again, this user's only
    assert render_in_fresh_process(cache, tmp_path)["sheets"] == 3
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_bytes() == good

    for damaged in (b"not a pickle", pickle.dumps({"UA_STYLESHEET": "not a style sheet"})):
        kept.write_bytes(damaged)
        again = render_in_fresh_process(cache, tmp_path)
        assert again["sheets"] == 3 and again["sha256"] == first["sha256"]
        assert kept.read_bytes() == good


def test_style_sheets_kept_for_other_versions_or_css_are_not_taken_for_these(tmp_path):
    cache = tmp_path / "cache"
    first = render_in_fresh_process(cache, tmp_path)
    [kept] = kept_files(cache, "stylesheets")
    other = cache / "packetizer" / "stylesheets-0123456789abcdef0123456789abcdef.pickle"
    other.write_bytes(kept.read_bytes())
    kept.unlink()   # only another key's parse is there: these are parsed
    again = render_in_fresh_process(cache, tmp_path)
    assert again["sheets"] == 3 and again["sha256"] == first["sha256"]
    assert len(kept_files(cache, "stylesheets")) == 2

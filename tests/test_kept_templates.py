"""Templates compiled once per machine user, not once per process (packetizer.render, packetizer.usercache).

Each case runs in a fresh process, with a cache folder and a template folder of its own.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.usercache import environment_with_cache

# Renders note.html from the folder given, and tells how many templates Jinja compiled and what it rendered.
RENDER = """
import json, sys
from packetizer import render
env = render._environment((sys.argv[1],))
compiled = []
original = env.compile
def spy(source, name=None, filename=None, *args, **kwargs):
    compiled.append(name)
    return original(source, name, filename, *args, **kwargs)
env.compile = spy
print(json.dumps({"html": env.get_template("note.html").render(who="<Lena>"), "count": len(compiled)}))
"""


def render_in_fresh_process(folder: Path, cache: Path | None, tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RENDER, str(folder)], capture_output=True, text=True,
                          env=environment_with_cache(cache), cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def kept_files(cache: Path) -> list[Path]:
    return sorted((cache / "packetizer").glob("jinja-*.code"))


def templates(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "note.html").write_text(text)
    (folder / "base.html").write_text("<main>{% block body %}{% endblock %}</main>")
    return folder


def test_a_second_process_reads_the_compiled_templates_and_renders_the_same(tmp_path):
    folder = templates(tmp_path, '{% extends "base.html" %}{% block body %}<p>Seen by {{ who }}</p>{% endblock %}')
    cache = tmp_path / "cache"
    first = render_in_fresh_process(folder, cache, tmp_path)
    assert first["count"] == 2 and first["html"] == "<main><p>Seen by &lt;Lena&gt;</p></main>"   # still escaped
    kept = kept_files(cache)
    assert len(kept) == 2 and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)
    second = render_in_fresh_process(folder, cache, tmp_path)
    assert second == first | {"count": 0}   # read, not compiled
    without = render_in_fresh_process(folder, None, tmp_path)   # nowhere to keep them: compiled every time
    assert without == first


def test_an_edited_template_is_compiled_again(tmp_path):
    folder = templates(tmp_path, '{% extends "base.html" %}{% block body %}<p>Seen by {{ who }}</p>{% endblock %}')
    cache = tmp_path / "cache"
    render_in_fresh_process(folder, cache, tmp_path)
    (folder / "note.html").write_text('{% extends "base.html" %}{% block body %}<p>Signed by {{ who }}</p>{% endblock %}')
    edited = render_in_fresh_process(folder, cache, tmp_path)
    assert edited["count"] == 1 and edited["html"] == "<main><p>Signed by &lt;Lena&gt;</p></main>"
    assert render_in_fresh_process(folder, cache, tmp_path)["count"] == 0   # the edited one is kept in turn


def test_a_kept_template_that_others_could_write_or_that_is_damaged_is_compiled_anew(tmp_path):
    folder = templates(tmp_path, "<p>Seen by {{ who }}</p>")
    cache = tmp_path / "cache"
    render_in_fresh_process(folder, cache, tmp_path)
    [kept] = kept_files(cache)
    good = kept.read_bytes()

    kept.chmod(0o666)   # anyone may write it: not trusted, compiled anew and kept again, this user's only
    assert render_in_fresh_process(folder, cache, tmp_path)["count"] == 1
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_bytes() == good

    kept.write_bytes(b"not compiled code")
    again = render_in_fresh_process(folder, cache, tmp_path)
    assert again["count"] == 1 and again["html"] == "<p>Seen by &lt;Lena&gt;</p>"
    assert kept.read_bytes() == good

    kept.unlink()
    elsewhere = tmp_path / "elsewhere.code"
    elsewhere.write_bytes(good)
    kept.symlink_to(elsewhere)   # a link is not followed
    assert render_in_fresh_process(folder, cache, tmp_path)["count"] == 1

"""This test ensures that under the README's production command (gunicorn, 3 workers, its default 30 s timeout) a
480-page build runs as a job in Chromium: its page shows the build going on, refreshes itself, ends with the packet,
which downloads whole; and a double click on Build gives one build."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from packetizer.registry import Build, Job
from tests.test_ingest_pdf import make_text_pdf

from .webapp_support import Clock, add_account, case_form, make_app, page_token, sign_in, sign_in_page

LONG_PAGES = 480
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def long_case(tmp_path_factory):
    """An instance holding one ready case whose note is a 480-page PDF, and the app that made it (real time)."""
    root = tmp_path_factory.mktemp("gunicorn")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    app = make_app(root, Clock(now))
    add_account(app, "sam", "staff")
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    served = [(now.date() - dt.timedelta(days=days)).isoformat() for days in (6, 4)]
    form = case_form("RA-LONG-0001", **{"services[0].date_of_service": served[0],
                                        "services[1].date_of_service": served[1],
                                        "claim.denial_date": (now.date() - dt.timedelta(days=2)).isoformat()})
    created = client.post("/cases/new", data={**form, "csrf_token": token, "action": "save"})
    assert created.status_code == 302, created.data.decode()[-1500:]
    case_url = created.headers["Location"]
    note = root / "long-note.pdf"
    note.write_bytes(make_text_pdf(LONG_PAGES))
    with open(note, "rb") as handle:
        uploaded = client.post(f"{case_url}/documents", content_type="multipart/form-data",
                               data={"csrf_token": token, "file": (handle, note.name), "kind": "clinical_note",
                                     "date": served[1], "title": ""})
    assert uploaded.status_code == 302
    app.extensions["packetizer"].registry.close()
    return root, case_url, app


@pytest.fixture(scope="module")
def gunicorn(long_case):
    """``gunicorn --workers 3`` on the instance, as the README runs it in production; its base URL."""
    root, _case_url, _app = long_case
    port = _free_port()
    env = {**os.environ, "PACKETIZER_INSTANCE_PATH": str(root / "instance"),
           "PACKETIZER_DATABASE_URL": f"sqlite:///{root / 'registry.db'}",
           "PACKETIZER_ARCHIVE": str(root / "archive"), "PACKETIZER_SECRET_KEY": "test-secret-key"}
    log = open(root / "gunicorn.log", "wb")
    server = subprocess.Popen([str(GUNICORN), "--workers", "3", "--bind", f"127.0.0.1:{port}",
                               "packetizer.web:create_app()"], env=env, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    give_up = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz") as answer:
                if answer.status == 200:
                    break
        except OSError:
            assert server.poll() is None, (root / "gunicorn.log").read_text()[-2000:]
            assert time.monotonic() < give_up, "gunicorn did not start"
            time.sleep(0.2)
    yield base, server.pid
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    log.close()


def _workers(master: int) -> list[int]:
    """The gunicorn workers: the master's child processes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def _rows(app, model):
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def test_a_480_page_build_under_gunicorn_shows_progress_finishes_and_downloads(gunicorn, long_case, page):
    _root, case_url, app = long_case
    gunicorn, master = gunicorn
    sign_in_page(page, gunicorn)
    page.goto(gunicorn + case_url)
    expect(page.locator("#build-button")).to_be_enabled()
    workers = _workers(master)
    before = {pid: _rss_kib(pid) for pid in workers}
    page.dblclick("#build-button")   # a double click: one build
    # The job page answers at once and shows where the build is while it runs.
    expect(page.locator("#job-stage")).to_be_visible()
    expect(page.locator("#job-done", has_text="Packet built")).to_be_visible(timeout=90_000)
    # The payer's fax channel takes at most 100 pages a file: the packet comes in parts, each offered.
    parts = page.locator("ul.build-parts a.download-output")
    assert parts.count() >= 5
    pages = []
    for index in range(parts.count()):
        with page.expect_download() as download_info:
            parts.nth(index).click()
        pages.append(len(pypdf.PdfReader(download_info.value.path()).pages))
    assert max(pages) <= 100 and sum(pages) > LONG_PAGES

    [job] = _rows(app, Job)
    [build] = _rows(app, Build)
    assert (job.state, job.build_id, build.pages) == ("done", build.id, pages[0])
    # It ran in a process of its own, not in a gunicorn worker: the workers keep their memory.
    assert job.pid and job.pid not in workers and _workers(master) == workers
    grown = {pid: _rss_kib(pid) - before[pid] for pid in workers}
    assert max(grown.values()) < 64 * 1024, grown   # KiB; a build held in a worker would keep hundreds of MB

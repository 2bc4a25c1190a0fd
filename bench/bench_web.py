"""Case-page latency under gunicorn and worker memory after a large build (issue 15).

An instance on SQLite holds one ready case whose note is a 200-page PDF, with a packet already built.
The README's production command serves it (gunicorn, 3 workers). Eight signed-in clients then load the
case page at the same time, 25 times each; the latency of every answer is kept. Then a 480-page case is
built through the web (a job in a process of its own) and the gunicorn workers' resident memory is read
before the build and after it.

Targets: case page p95 <= 100 ms at concurrency 8; no page view processes documents (checked by the
job table: views start no job); the workers' memory after the large build within 64 MB of before.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from browser.webapp_support import PASSWORD, Clock, add_account, case_form, make_app, page_token, sign_in  # noqa: E402
from tests.test_ingest_pdf import make_text_pdf  # noqa: E402

CLIENTS = 8
VIEWS_PER_CLIENT = 25
TARGET_P95_MS = 100.0
TARGET_GROWTH_MB = 64
GUNICORN = Path(sys.executable).with_name("gunicorn")
_JOB_STATE = re.compile(r'<section id="job" data-state="(\w+)">')
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def make_case(app, client, case_id: str, pages: int, root: Path) -> str:
    """A ready case whose note has ``pages`` pages; its URL."""
    now = dt.datetime.now(dt.timezone.utc)
    token = page_token(client, "/cases/new")
    served = [(now.date() - dt.timedelta(days=days)).isoformat() for days in (6, 4)]
    form = case_form(case_id, **{"services[0].date_of_service": served[0], "services[1].date_of_service": served[1],
                                 "claim.denial_date": (now.date() - dt.timedelta(days=2)).isoformat()})
    created = client.post("/cases/new", data={**form, "csrf_token": token, "action": "save"})
    assert created.status_code == 302, created.status_code
    url = created.headers["Location"]
    note = root / f"{case_id}.pdf"
    note.write_bytes(make_text_pdf(pages))
    with open(note, "rb") as handle:
        uploaded = client.post(f"{url}/documents", content_type="multipart/form-data",
                               data={"csrf_token": token, "file": (handle, note.name), "kind": "clinical_note",
                                     "date": served[1], "title": ""})
    assert uploaded.status_code == 302, uploaded.status_code
    return url


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signed_in(base: str) -> requests.Session:
    session = requests.Session()
    token = next(g for g in _CSRF.search(session.get(f"{base}/login").text).groups() if g)
    answer = session.post(f"{base}/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False)
    assert answer.status_code == 302, answer.status_code
    return session


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _workers(master: int) -> list[int]:
    return sorted(int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split())


def _build(session: requests.Session, base: str, case_url: str) -> float:
    """Build through the web and follow the job page to its end; wall seconds."""
    start = time.perf_counter()
    token = next(g for g in _CSRF.search(session.get(base + case_url).text).groups() if g)
    answer = session.post(f"{base}{case_url}/build", data={"csrf_token": token}, allow_redirects=False)
    job = answer.headers["Location"]
    while True:
        state = _JOB_STATE.search(session.get(base + job if job.startswith("/") else job).text)[1]
        if state == "done":
            break
        if state == "failed":
            raise SystemExit("the build failed")
        time.sleep(0.5)
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        app = make_app(root, Clock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0)))
        add_account(app, "sam", "staff")
        client = app.test_client()
        assert sign_in(client, "sam").status_code == 302
        chart = make_case(app, client, "RA-BENCH-0200", 200, root)
        large = make_case(app, client, "RA-BENCH-0480", 480, root)
        app.extensions["packetizer"].registry.close()

        port = _port()
        env = {**os.environ, "PACKETIZER_INSTANCE_PATH": str(root / "instance"),
               "PACKETIZER_DATABASE_URL": f"sqlite:///{root / 'registry.db'}",
               "PACKETIZER_ARCHIVE": str(root / "archive"), "PACKETIZER_SECRET_KEY": "bench-secret-key"}
        server = subprocess.Popen([str(GUNICORN), "--workers", "3", "--bind", f"127.0.0.1:{port}",
                                   "packetizer.web:create_app()"], env=env, cwd=root,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            give_up = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    if time.monotonic() > give_up:
                        raise SystemExit("gunicorn did not start")
                    time.sleep(0.2)
            first = _signed_in(base)
            _build(first, base, chart)                       # the chart case has a packet, as in an office
            sessions = [_signed_in(base) for _ in range(CLIENTS)]
            for session in sessions:
                session.get(base + chart)                    # each worker has imported what a case page needs
            latencies: list[float] = []
            lock = threading.Lock()

            def views(session: requests.Session) -> None:
                for _ in range(VIEWS_PER_CLIENT):
                    start = time.perf_counter()
                    answer = session.get(base + chart)
                    took = (time.perf_counter() - start) * 1000
                    assert answer.status_code == 200, answer.status_code
                    with lock:
                        latencies.append(took)

            threads = [threading.Thread(target=views, args=(s,)) for s in sessions]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with sqlite3.connect(root / "registry.db") as db:
                jobs_after_views = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
            workers = _workers(server.pid)
            before = {pid: _rss_mb(pid) for pid in workers}
            build_seconds = _build(first, base, large)
            grown = max(_rss_mb(pid) - before[pid] for pid in workers if Path(f"/proc/{pid}").exists())
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"case page (200-page case with a packet), {CLIENTS} clients x {VIEWS_PER_CLIENT} views under gunicorn "
          f"(3 workers, SQLite): median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
          f"max {latencies[-1]:.0f} ms   <= {TARGET_P95_MS:.0f} ms p95: {'met' if p95 <= TARGET_P95_MS else 'MISSED'}")
    print(f"page views that processed documents (jobs started by {CLIENTS * VIEWS_PER_CLIENT} views): "
          f"{jobs_after_views - 1}   == 0: {'met' if jobs_after_views == 1 else 'MISSED'}")
    print(f"480-page build through the web: {build_seconds:.1f} s; gunicorn workers' memory after it: "
          f"+{grown:.0f} MB at most   <= {TARGET_GROWTH_MB} MB: {'met' if grown <= TARGET_GROWTH_MB else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

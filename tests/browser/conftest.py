"""Browser tests: the web app served on loopback by a real server thread, driven in Debian's Chromium.

A failing test leaves a screenshot in ``tests/artifacts/`` (or $PACKETIZER_TEST_ARTIFACTS).
Set PACKETIZER_SCREENSHOTS=DIR to keep the README screenshots of the case and outcomes pages.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .webapp_support import REPO, Clock, add_account, make_app, seed_history

CHROMIUM = os.environ.get("PACKETIZER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("PACKETIZER_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))


class RecordingHandler(logging.Handler):
    """Keeps every formatted log line, to prove no PHI reaches the logs."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is still kept as text
            self.lines.append(f"{record.name}: {record.msg!r} {record.args!r}")


@pytest.fixture(scope="module")
def app_log():
    """Everything logged at DEBUG and above while the module's tests run (server thread included)."""
    handler = RecordingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # fontTools narrates every glyph at DEBUG; its output is font data, and it slows builds tenfold.
    quiet = logging.getLogger("fontTools")
    quiet_level = quiet.level
    quiet.setLevel(logging.WARNING)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
    quiet.setLevel(quiet_level)


@pytest.fixture(scope="module")
def live(tmp_path_factory, app_log):
    """(base URL, app, clock) of a server on 127.0.0.1 with staff, auditor and admin accounts."""
    root = tmp_path_factory.mktemp("live")
    clock = Clock()
    app = make_app(root, clock)
    for name, role in (("sam", "staff"), ("alex", "auditor"), ("ada", "admin")):
        add_account(app, name, role)
    seed_history(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app, clock
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["packetizer"].registry.close()


@pytest.fixture(scope="session")
def browser():
    """One Chromium for a test process's browser tests (each test has a context of its own): a launch costs
    about 1 s of CPU, which every module paid once when it had one of its own."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("PACKETIZER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    """A fresh browser context and page; a screenshot is saved if the test fails."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{request.node.name}.png"
        try:
            tab.screenshot(path=str(target), full_page=True)
            print(f"screenshot of the failure: {target}")
        except Exception as exc:  # noqa: BLE001 - the test already failed; say why there is no picture
            print(f"could not save a screenshot: {exc}")
    context.close()

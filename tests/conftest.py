"""Fixtures shared by the test modules, found by pytest here (as in Flask's flaskr tutorial): no test module
imports a fixture by name.

- The web app: ``clock``, ``app``, ``client``, and clients signed in as ``staff``, ``auditor`` and ``admin``
  (helpers in ``tests/browser/webapp_support.py``). A module may override ``clock``; ``app`` then runs on it.
- ``runner``: a Click test runner for the command-line tools.
- Registry databases: ``db_url`` (a SQLite file, then a fresh PostgreSQL schema) and ``registry`` on it
  (helpers in ``tests/browser/registry_support.py``).
- S3 servers on loopback: ``rclone_server`` and ``moto_server`` (one per test module), a fresh bucket on
  each (``rclone_target``, ``moto_target``, ``moto_plain_target``), and a ``private_rclone`` a test may stop
  and start (helpers in ``tests/support/s3_servers.py``).

Under ``make test`` (PACKETIZER_REQUIRE_POSTGRES=1 and PACKETIZER_REQUIRE_BROWSER=1) a skipped test is
reported as a failure: a missing service or tool must not pass unseen.
"""

from __future__ import annotations

import os
import secrets

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from browser.registry_support import POSTGRES_URL, postgres_admin
from browser.webapp_support import Clock, add_account, make_app, sign_in
from packetizer.registry import open_registry
from tests.support.s3_servers import MotoServer, RcloneServer, S3Target, new_bucket, set_aws_env

# -- make test: no silent skips ------------------------------------------------------------------------------------

MAKE_TEST = (os.environ.get("PACKETIZER_REQUIRE_POSTGRES") == "1"
             and os.environ.get("PACKETIZER_REQUIRE_BROWSER") == "1")


def _skip_fails(report) -> None:
    if MAKE_TEST and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, which runs every test: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test skipped by pytest.skip or a skip mark fails under make test (an expected failure stays one)."""
    outcome = yield
    _skip_fails(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """So does a module skipped whole (pytest.importorskip, pytest.skip(allow_module_level=True))."""
    outcome = yield
    _skip_fails(outcome.get_result())


# -- the web app ---------------------------------------------------------------------------------------------------

@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path, clock):
    application = make_app(tmp_path, clock)
    add_account(application, "sam", "staff")
    add_account(application, "alex", "auditor")
    add_account(application, "ada", "admin")
    yield application
    application.extensions["packetizer"].registry.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def staff(client):
    """A test client signed in as the staff user ``sam``."""
    assert sign_in(client, "sam").status_code == 302
    return client


@pytest.fixture
def auditor(app):
    c = app.test_client()
    assert sign_in(c, "alex").status_code == 302
    return c


@pytest.fixture
def admin(app):
    c = app.test_client()
    assert sign_in(c, "ada").status_code == 302
    return c


# -- the command line ----------------------------------------------------------------------------------------------

@pytest.fixture
def web_env(tmp_path, monkeypatch) -> dict[str, str]:
    """The web configuration as an operator sets it: instance folder, database and archive in the environment."""
    values = {
        "PACKETIZER_INSTANCE_PATH": str(tmp_path / "instance"),
        "PACKETIZER_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "PACKETIZER_ARCHIVE": str(tmp_path / "archive"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# -- registry databases --------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL for an empty registry: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    admin = postgres_admin()
    schema = f"pktz_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def registry(db_url):
    reg = open_registry(db_url)
    yield reg
    reg.close()


# -- S3 servers on loopback ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rclone_server(tmp_path_factory) -> RcloneServer:
    """One ``rclone serve s3`` per test module; tests make their own buckets."""
    base = tmp_path_factory.mktemp("rclone")
    server = RcloneServer(base / "data", base / "work")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_rclone(tmp_path, monkeypatch):
    """A private rclone server the test may stop and start; the environment points at it."""
    server = RcloneServer(tmp_path / "s3data", tmp_path / "s3work")
    server.start()
    set_aws_env(monkeypatch, server.endpoint)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_server() -> MotoServer:
    """One moto S3 server per test module; tests make their own buckets."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rclone_target(rclone_server, monkeypatch) -> S3Target:
    """A fresh bucket on the rclone server, with the environment pointing at it."""
    set_aws_env(monkeypatch, rclone_server.endpoint)
    return S3Target(rclone_server.endpoint, new_bucket(rclone_server.endpoint), "archive/")


@pytest.fixture
def moto_target(moto_server, monkeypatch) -> S3Target:
    """A fresh versioned bucket with Object Lock on the moto server, with the environment pointing at it."""
    set_aws_env(monkeypatch, moto_server.endpoint)
    return S3Target(moto_server.endpoint, new_bucket(moto_server.endpoint, object_lock=True), "archive/")


@pytest.fixture
def moto_plain_target(moto_server, monkeypatch) -> S3Target:
    """A fresh bucket without Object Lock on the moto server."""
    set_aws_env(monkeypatch, moto_server.endpoint)
    return S3Target(moto_server.endpoint, new_bucket(moto_server.endpoint), "archive/")

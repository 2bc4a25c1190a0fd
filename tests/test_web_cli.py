"""This test ensures that ``packetizer serve``, ``users`` and ``audit verify`` work on the same configuration as the app."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from packetizer.cli.web import audit, serve, users

PASSWORD = "a long enough password"


def test_users_add_reads_the_password_from_stdin(web_env):
    runner = CliRunner()
    result = runner.invoke(users, ["add", "sam", "--role", "staff"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "added sam (staff)" in result.output and PASSWORD not in result.output
    listed = runner.invoke(users, ["list"])
    assert listed.exit_code == 0 and "sam  staff  active" in listed.output
    again = runner.invoke(users, ["add", "sam", "--role", "admin"], input=PASSWORD + "\n")
    assert again.exit_code == 1 and "error: username: sam already exists" in again.output
    short = runner.invoke(users, ["add", "kim", "--role", "staff"], input="short\n")
    assert short.exit_code == 1 and "MIN_PASSWORD_CHARS" in short.output
    bad_role = runner.invoke(users, ["add", "kim", "--role", "root"], input=PASSWORD + "\n")
    assert bad_role.exit_code == 2
    changed = runner.invoke(users, ["set-password", "sam"], input="another long password\n")
    assert changed.exit_code == 0
    assert runner.invoke(users, ["set-password", "nobody"], input=PASSWORD + "\n").exit_code == 1


def test_audit_verify_checks_the_chain(web_env):
    runner = CliRunner()
    for name in ("sam", "alex"):
        runner.invoke(users, ["add", name, "--role", "staff"], input=PASSWORD + "\n")
    result = runner.invoke(audit, ["verify"])
    assert result.exit_code == 0 and "intact: 2 rows" in result.output
    engine = create_engine(web_env["PACKETIZER_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    engine.dispose()
    result = runner.invoke(audit, ["verify"])
    assert result.exit_code == 1
    assert "row 2: prev_hash does not match" in result.output and "error: the audit log is not intact" in result.output


def test_bad_configuration_is_an_error_not_a_traceback(web_env, monkeypatch):
    monkeypatch.setenv("PACKETIZER_IDLE_MINUTES", "-3")
    result = CliRunner().invoke(users, ["list"])
    assert result.exit_code == 1 and "error: PACKETIZER_IDLE_MINUTES: must be greater than 0" in result.output
    monkeypatch.setenv("PACKETIZER_IDLE_MINUTES", "15")
    monkeypatch.setenv("PACKETIZER_DATABASE_URL", "nonsense://")
    result = CliRunner().invoke(users, ["list"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_starts_the_app_and_answers_healthz(web_env):
    port = _free_port()
    code = "import sys; from packetizer.cli.web import serve; sys.exit(serve())"
    process = subprocess.Popen([sys.executable, "-c", code, "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.2)
        assert body == {"status": "ok", "database": True, "archive": True}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert b'name="csrf_token"' in response.read()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"Packetizer web on http://127.0.0.1:{port}/" in output
    assert "packetizer users add NAME --role admin" in output  # no accounts yet: says how to make one


def test_serve_first_admin_prints_a_password_that_signs_in(web_env):
    port = _free_port()
    code = "import sys; from packetizer.cli.web import serve; sys.exit(serve())"
    process = subprocess.Popen([sys.executable, "-c", code, "--port", str(port), "--first-admin", "admin"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        password = None
        for line in process.stdout:  # the banner comes before the server starts
            match = re.search(r"created the admin account 'admin' with the password (\S+)", line)
            if match:
                password = match[1]
            if "Sign in with" in line or "(shown once" in line:
                break
        assert password
        _wait_for(port, process)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(f"http://127.0.0.1:{port}/login", timeout=5).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        form = urllib.parse.urlencode({"username": "admin", "password": password, "csrf_token": token}).encode()
        landed = opener.open(f"http://127.0.0.1:{port}/login", data=form, timeout=10)
        assert landed.url.endswith("/cases/") and b"Sign out" in landed.read()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    # Exactly one account was made, in the database the other commands use.
    result = CliRunner().invoke(users, ["list"])
    assert result.output.strip() == "admin  admin  active"


def _wait_for(port: int, process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return
        except OSError:
            assert process.poll() is None, "the server exited"
            time.sleep(0.2)
    raise AssertionError("the server did not answer")


def test_serve_rejects_a_bad_port():
    assert CliRunner().invoke(serve, ["--port", "0"]).exit_code == 2

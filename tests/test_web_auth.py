"""This test ensures that signing in, sessions, cookies, headers and the health check behave as SPEC section 8 says."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from packetizer import limits
from packetizer.registry import AuditEntry, SignInFailure

from browser.webapp_support import PASSWORD, add_account, csrf_token, make_app, page_token, sign_in


def _audit_actions(app) -> list[str]:
    with app.extensions["packetizer"].registry.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_login_page_has_the_contract_fields(client):
    html = client.get("/login").data.decode()
    for name in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert name in html


def test_unauthenticated_requests_are_sent_to_login(client):
    for url in ("/", "/cases/", "/cases/new", "/tracking/queue", "/tracking/outcomes", "/audit/archive",
                "/audit/log", "/admin/users"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url
    assert client.post("/cases/new", data={}).status_code in (302, 400)


def test_healthz_answers_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True, "archive": True}


def test_healthz_says_when_the_archive_is_unusable(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    app = make_app(tmp_path, ARCHIVE=str(blocker / "archive"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": True, "archive": False}


def test_healthz_says_when_the_database_is_unreachable(app):
    app.extensions["packetizer"].registry.engine.dispose()
    registry_file = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    import os

    os.chmod(registry_file, 0o000)
    try:
        if os.access(registry_file, os.R_OK):  # running as root: permissions do not stop us
            return
        response = app.test_client().get("/healthz")
        assert response.status_code == 503 and response.json["database"] is False
    finally:
        os.chmod(registry_file, 0o644)


def test_sign_in_without_csrf_token_is_rejected(client):
    response = client.post("/login", data={"username": "sam", "password": PASSWORD})
    assert response.status_code == 400
    assert b"security token" in response.data


def test_sign_in_redirects_by_role_and_is_audited(app, client):
    response = sign_in(client, "sam")
    assert response.status_code == 302 and response.headers["Location"] == "/cases/"
    auditor_client = app.test_client()
    assert sign_in(auditor_client, "alex").headers["Location"] == "/audit/archive"
    assert _audit_actions(app)[-2:] == ["auth.sign_in", "auth.sign_in"]


def test_next_parameter_only_leads_to_local_pages(client):
    token = csrf_token(client.get("/login").data)
    for target, expected in (("/tracking/queue", "/tracking/queue"), ("//evil.example/x", "/cases/"),
                             ("https://evil.example/", "/cases/"), ("/\\evil.example", "/cases/")):
        client.post("/logout", data={"csrf_token": token})
        token = csrf_token(client.get("/login").data)
        response = client.post(f"/login?next={target}", data={"username": "sam", "password": PASSWORD,
                                                               "csrf_token": token})
        assert response.headers["Location"] == expected, target


def test_failed_sign_ins_slow_down_and_are_recorded(app, client, clock):
    free = limits.SIGN_IN_FREE_FAILURES_PER_USER_CLIENT
    for _ in range(free):
        response = sign_in(client, "sam", "wrong password")
        assert response.status_code == 401
        assert b"Unknown username or wrong password" in response.data
    paused = sign_in(client, "sam")  # even the right password is not checked now, from this address
    assert paused.status_code == 429
    assert b"Too many failed sign-ins" in paused.data
    with app.extensions["packetizer"].registry.session() as session:
        failures = session.scalars(select(SignInFailure)).all()
    assert len(failures) == free
    assert {(f.username, f.client) for f in failures} == {("sam", "127.0.0.1")}
    # The right user from another address signs in at once; so does a colleague behind the same address.
    elsewhere = app.test_client()
    assert sign_in(elsewhere, "sam", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 302
    assert sign_in(app.test_client(), "alex").status_code == 302
    clock.advance(seconds=limits.SIGN_IN_BACKOFF_BASE_SECONDS)
    assert sign_in(client, "sam").status_code == 302
    actions = _audit_actions(app)
    assert actions.count("auth.sign_in_failed") == free and "auth.sign_in_paused" in actions
    assert actions.count("auth.sign_in_locked") == 1
    locked = json.loads(_audit_detail(app, "auth.sign_in_locked"))
    assert locked == {"wait": limits.SIGN_IN_BACKOFF_BASE_SECONDS, "scope": "user_client"}


def test_unknown_users_get_the_same_answer(client):
    response = sign_in(client, "nobody-here", "whatever password")
    assert response.status_code == 401
    assert b"Unknown username or wrong password" in response.data


def test_session_cookie_flags(app):
    plain = app.test_client()
    cookie = sign_in(plain, "sam").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = app.test_client()
    token = csrf_token(secure.get("/login", base_url="https://localhost").data)
    response = secure.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"username": "sam", "password": PASSWORD, "csrf_token": token})
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_security_headers_on_every_page(staff):
    for url in ("/login", "/cases/", "/healthz"):
        headers = staff.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    assert staff.get("/cases/").headers["Cache-Control"] == "no-store"


def test_pages_carry_no_inline_script_or_style(staff):
    for url in ("/cases/", "/cases/new", "/tracking/queue", "/tracking/outcomes"):
        html = staff.get(url).data.decode()
        assert "<script" not in html and "style=" not in html and "<style" not in html, url


def test_idle_sessions_are_signed_out(app, staff, clock):
    assert staff.get("/cases/").status_code == 200
    clock.advance(minutes=14)
    assert staff.get("/cases/").status_code == 200  # activity restarts the idle clock
    clock.advance(minutes=app.config["IDLE_MINUTES"], seconds=1)
    response = staff.get("/cases/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    page = staff.get(response.headers["Location"]).data.decode()
    assert "signed out after 15 minutes without activity" in page
    assert staff.get("/cases/").status_code == 302
    assert "auth.idle_sign_out" in _audit_actions(app)


def test_idle_minutes_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PACKETIZER_IDLE_MINUTES", "5")
    assert make_app(tmp_path).config["IDLE_MINUTES"] == 5
    monkeypatch.setenv("PACKETIZER_IDLE_MINUTES", "soon")
    from packetizer.errors import ConfigError

    try:
        make_app(tmp_path)
    except ConfigError as exc:
        assert "PACKETIZER_IDLE_MINUTES" in exc.message
    else:
        raise AssertionError("a malformed PACKETIZER_IDLE_MINUTES was accepted")


def test_configuration_order_instance_file_then_environment_then_test_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("IDLE_MINUTES = 7\nARCHIVE = '/from/instance/file'\n")
    from packetizer.web import create_app

    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    assert app.config["IDLE_MINUTES"] == 7 and app.config["ARCHIVE"] == "/from/instance/file"
    monkeypatch.setenv("PACKETIZER_ARCHIVE", "/from/environment")
    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    assert app.config["ARCHIVE"] == "/from/environment" and app.config["IDLE_MINUTES"] == 7
    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                      "ARCHIVE": "/from/test"})
    assert app.config["ARCHIVE"] == "/from/test"
    # With no secret configured, one is generated into the instance folder and reused.
    assert (instance / "secret_key").read_text().strip() == app.config["SECRET_KEY"]
    assert oct((instance / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_sign_out_needs_a_post_with_token(staff):
    assert staff.get("/logout").status_code == 405
    assert staff.post("/logout", data={}).status_code == 400
    token = page_token(staff, "/cases/")
    assert staff.post("/logout", data={"csrf_token": token}).status_code == 302
    assert staff.get("/cases/").status_code == 302


def test_changing_a_password_ends_other_sessions(app, staff, admin):
    with app.extensions["packetizer"].registry.session() as session:
        from packetizer.registry import User

        sam = session.scalar(select(User).where(User.username == "sam"))
    token = page_token(admin, "/admin/users")
    response = admin.post(f"/admin/users/{sam.id}", data={"csrf_token": token, "role": "staff", "active": "y",
                                                        "password": "a brand new long password"})
    assert response.status_code == 302
    assert staff.get("/cases/").status_code == 302  # the old session no longer loads
    again = app.test_client()
    assert sign_in(again, "sam", "a brand new long password").status_code == 302
    assert json.loads(_audit_detail(app, "user.change")) == {"password": "reset", "sessions_ended": True}


def _audit_detail(app, action: str) -> str:
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalar(select(AuditEntry.detail).where(AuditEntry.action == action))


def _copy_of(app, client):
    """Another client holding a copy of ``client``'s session cookie, as someone who copied it would."""
    copy = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    copy.set_cookie(name, client.get_cookie(name).value)
    return copy


def test_sign_out_ends_a_copied_session_cookie(app, staff):
    copied = _copy_of(app, staff)
    assert copied.get("/cases/").status_code == 200  # the copy works while the session lasts
    assert staff.post("/logout", data={"csrf_token": page_token(staff, "/cases/")}).status_code == 302
    response = copied.get("/cases/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "auth.sign_out" in _audit_actions(app)
    assert sign_in(app.test_client(), "sam").status_code == 302  # signing in again starts a new session


def test_disabling_an_account_ends_its_sessions(app, staff, admin):
    with app.extensions["packetizer"].registry.session() as session:
        from packetizer.registry import User

        sam = session.scalar(select(User).where(User.username == "sam"))
    token = page_token(admin, "/admin/users")
    assert admin.post(f"/admin/users/{sam.id}", data={"csrf_token": token, "role": "staff"}).status_code == 302
    assert staff.get("/cases/").status_code == 302
    assert json.loads(_audit_detail(app, "user.change")) == {"active": False, "sessions_ended": True}
    # Enabling the account again does not bring the old session back.
    assert admin.post(f"/admin/users/{sam.id}", data={"csrf_token": token, "role": "staff", "active": "y"}
                      ).status_code == 302
    assert staff.get("/cases/").status_code == 302


def test_an_admin_changing_their_own_password_stays_signed_in_here_only(app, admin):
    other = _copy_of(app, admin)
    with app.extensions["packetizer"].registry.session() as session:
        from packetizer.registry import User

        ada = session.scalar(select(User).where(User.username == "ada"))
    token = page_token(admin, "/admin/users")
    elsewhere = app.test_client()
    assert sign_in(elsewhere, "ada").status_code == 302
    assert admin.post(f"/admin/users/{ada.id}", data={"csrf_token": token, "role": "admin", "active": "y",
                                                      "password": "a brand new long password"}).status_code == 302
    assert admin.get("/admin/users").status_code == 200
    assert elsewhere.get("/admin/users").status_code == 302
    assert other.get("/admin/users").status_code == 302


def test_a_session_ends_at_its_absolute_lifetime_however_active(tmp_path, clock):
    app = make_app(tmp_path, clock, SESSION_MAX_HOURS=1)
    add_account(app, "sam", "staff")
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    for _ in range(4):  # active every 14 minutes: the idle timeout never fires
        clock.advance(minutes=14)
        assert staff.get("/cases/").status_code == 200
    clock.advance(minutes=5)  # 61 minutes after sign-in
    response = staff.get("/cases/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "ended 1 hours after you signed in" in staff.get(response.headers["Location"]).data.decode()
    assert staff.get("/cases/").status_code == 302
    assert "auth.session_expired" in _audit_actions(app)
    assert sign_in(staff, "sam").status_code == 302 and staff.get("/cases/").status_code == 200
    app.extensions["packetizer"].registry.close()


def test_the_absolute_lifetime_is_a_setting_bounded_by_its_limit(tmp_path, monkeypatch):
    assert make_app(tmp_path).config["SESSION_MAX_HOURS"] == limits.MAX_SESSION_HOURS
    monkeypatch.setenv("PACKETIZER_SESSION_MAX_HOURS", "8")
    app = make_app(tmp_path)
    assert app.config["SESSION_MAX_HOURS"] == 8
    # The browser keeps the cookie longer than the session lasts, so a form posted late still names its user.
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 2 * 8 * 3600
    from packetizer.errors import ConfigError

    monkeypatch.setenv("PACKETIZER_SESSION_MAX_HOURS", str(limits.MAX_SESSION_HOURS + 1))
    with pytest.raises(ConfigError, match="MAX_SESSION_HOURS"):
        make_app(tmp_path)
    monkeypatch.setenv("PACKETIZER_SESSION_MAX_HOURS", "0")
    with pytest.raises(ConfigError, match="PACKETIZER_SESSION_MAX_HOURS"):
        make_app(tmp_path)

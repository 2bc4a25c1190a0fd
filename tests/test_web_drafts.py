"""This test ensures that a case form posted after its session ended is kept, and given back only to its user."""

from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import select

from packetizer.registry import AuditEntry, CaseRecord

from browser.webapp_support import MEMBER_ID, MEMBER_NAME, MEMBER_SSN, case_form, page_token, sign_in


def _drafts(app):
    return app.extensions["packetizer"].instance / "drafts"


def _audit(app, action):
    with app.extensions["packetizer"].registry.session() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


@pytest.fixture
def permissive_umask():
    old = os.umask(0o000)
    yield
    os.umask(old)


def test_an_idle_case_form_is_kept_and_shown_again_after_sign_in(app, staff, clock, permissive_umask):
    token = page_token(staff, "/cases/new")
    clock.advance(minutes=app.config["IDLE_MINUTES"], seconds=1)  # typing for longer than the idle timeout
    response = staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/cases/new"
    login_page = staff.get(response.headers["Location"]).data.decode()
    assert "What you typed is kept" in login_page
    # What was typed holds PHI: only the server's user may read it, whatever the umask.
    (kept,) = _drafts(app).iterdir()
    assert oct(_drafts(app).stat().st_mode & 0o777) == "0o700"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    (entry,) = _audit(app, "auth.idle_sign_out")
    assert json.loads(entry.detail) == {"draft_kept": True}
    for secret in (*MEMBER_NAME, MEMBER_ID, MEMBER_SSN):
        assert secret not in entry.detail

    back = sign_in(staff, "sam", query_string={"next": "/cases/new"})
    assert back.headers["Location"] == "/cases/new"
    html = staff.get("/cases/new").data.decode()
    assert "the form shows what you had typed" in html
    assert f'value="{MEMBER_ID}"' in html and f'value="{MEMBER_NAME[1]}"' in html
    assert 'value="97110"' in html and 'value="M54.16, M62.81"' in html  # the second service line too
    assert "ticket INC-5521" in html
    assert list(_drafts(app).iterdir()) == []  # given back once
    # The restored page saves like any other.
    saved = staff.post("/cases/new", data={**case_form(), "csrf_token": csrf(html), "action": "save"})
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/cases/")
    assert "the form shows" not in staff.get("/cases/new").data.decode()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


def test_an_edit_posted_after_the_absolute_lifetime_is_kept_on_top_of_the_stored_case(app, staff, clock):
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    pk = int(created.headers["Location"].rsplit("/", 1)[-1])
    for _ in range(app.config["SESSION_MAX_HOURS"] * 5):  # active all day, every 12 minutes
        clock.advance(minutes=12)
        staff.get("/cases/")
    clock.advance(minutes=1)
    edited = case_form(**{"services[1].units": "4", "medical_necessity": "Typed at the end of a long day."})
    response = staff.post(f"/cases/{pk}/edit", data={**edited, "csrf_token": token, "action": "save"})
    assert response.headers["Location"] == f"/login?next=/cases/{pk}/edit"
    assert json.loads(_audit(app, "auth.session_expired")[0].detail) == {"draft_kept": True}
    sign_in(staff, "sam")
    html = staff.get(f"/cases/{pk}/edit").data.decode()
    assert "Typed at the end of a long day." in html
    assert re.search(r'name="services\[1\]\.units"[^>]*value="4"|value="4"[^>]*name="services\[1\]\.units"', html)
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(CaseRecord, pk).updated_at < clock.now  # nothing was saved behind the user's back


def test_a_draft_is_given_back_only_to_its_own_user(app, staff, clock):
    token = page_token(staff, "/cases/new")
    clock.advance(minutes=app.config["IDLE_MINUTES"], seconds=1)
    staff.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    colleague = app.test_client()
    assert sign_in(colleague, "ada").status_code == 302  # another account on a shared computer
    html = colleague.get("/cases/new").data.decode()
    assert MEMBER_ID not in html and "the form shows" not in html
    assert len(list(_drafts(app).iterdir())) == 1
    # A draft not claimed within the session lifetime is dropped.
    clock.advance(hours=app.config["SESSION_MAX_HOURS"], minutes=1)
    sign_in(staff, "sam")
    assert MEMBER_ID not in staff.get("/cases/new").data.decode()
    assert list(_drafts(app).iterdir()) == []


def test_a_signed_out_cookie_keeps_nothing(app, staff):
    token = page_token(staff, "/cases/new")
    name = app.config["SESSION_COOKIE_NAME"]
    copied = app.test_client()
    copied.set_cookie(name, staff.get_cookie(name).value)  # with the form's token in it
    staff.post("/logout", data={"csrf_token": token})
    response = copied.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not _drafts(app).exists() or list(_drafts(app).iterdir()) == []
    with app.extensions["packetizer"].registry.session() as session:
        assert session.scalars(select(CaseRecord)).all() == []


def test_a_draft_write_that_fails_leaves_no_copy_and_a_killed_one_is_swept(tmp_path):
    """This test ensures typed inputs never stay in a half-written file: a draft that cannot be written
    removes its temporary file, and a temporary file left by a killed process is removed by the sweep."""
    import datetime as dt

    from werkzeug.datastructures import MultiDict

    from packetizer.web.drafts import DRAFTS, keep_draft, remove_expired_drafts

    now = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    unserialisable = MultiDict([("member.first_name", object())])
    with pytest.raises(TypeError):
        keep_draft(tmp_path, 7, "/cases/new", unserialisable, now=now)
    folder = tmp_path / DRAFTS
    assert list(folder.iterdir()) == []
    (folder / ".9.json.tmp").write_text('{"fields": [["member.first_name", "Ma')
    remove_expired_drafts(tmp_path, now=now, max_age=dt.timedelta(hours=12))
    assert list(folder.iterdir()) == []

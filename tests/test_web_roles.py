"""This test ensures that each role reaches only its own pages: staff no audit log, auditors read-only, admins users."""

from __future__ import annotations

from sqlalchemy import select

from packetizer.registry import AuditEntry, User

from browser.webapp_support import case_form, page_token, sign_in

STAFF_PAGES = ["/cases/", "/cases/new", "/cases/import", "/tracking/queue", "/tracking/outcomes"]
AUDIT_PAGES = ["/audit/archive", "/audit/log"]
ADMIN_PAGES = ["/admin/users", "/admin/payers"]


def test_staff_cannot_open_the_audit_log_or_admin_pages(staff):
    for url in STAFF_PAGES:
        assert staff.get(url).status_code == 200, url
    for url in AUDIT_PAGES + ADMIN_PAGES:
        assert staff.get(url).status_code == 403, url
    token = page_token(staff, "/cases/")
    assert staff.post("/audit/log/verify", data={"csrf_token": token}).status_code == 403
    assert staff.post("/admin/users", data={"csrf_token": token, "username": "x", "role": "admin",
                                            "password": "long enough password", "confirm": "long enough password"}
                      ).status_code == 403


def test_auditors_cannot_create_or_change_anything(app, auditor):
    for url in AUDIT_PAGES:
        assert auditor.get(url).status_code == 200, url
    for url in STAFF_PAGES + ADMIN_PAGES:
        assert auditor.get(url).status_code == 403, url
    token = page_token(auditor, "/audit/archive")
    forbidden_posts = [
        ("/cases/new", {**case_form(), "action": "save"}),
        ("/cases/import", {}),
        ("/cases/1/build", {}),
        ("/cases/1/documents", {}),
        ("/tracking/cases/1/submissions", {}),
        ("/tracking/submissions/1/determination", {}),
        ("/admin/users", {"username": "x", "role": "admin", "password": "p" * 20, "confirm": "p" * 20}),
    ]
    for url, data in forbidden_posts:
        assert auditor.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    with app.extensions["packetizer"].registry.session() as session:
        assert session.scalar(select(User).where(User.username == "x")) is None


def test_the_403_page_is_plain_and_safe(auditor):
    response = auditor.get("/cases/new")
    assert response.status_code == 403
    assert b"Forbidden" in response.data and b"Traceback" not in response.data


def test_admins_manage_users_and_every_change_is_audited(app, admin):
    token = page_token(admin, "/admin/users")
    response = admin.post("/admin/users", data={"csrf_token": token, "username": "kim", "role": "auditor",
                                               "password": "a long enough password",
                                               "confirm": "a long enough password"})
    assert response.status_code == 302
    short = admin.post("/admin/users", data={"csrf_token": token, "username": "lee", "role": "staff",
                                            "password": "short", "confirm": "short"})
    assert short.status_code == 422 and b"at least 12 characters" in short.data
    taken = admin.post("/admin/users", data={"csrf_token": token, "username": "kim", "role": "staff",
                                            "password": "a long enough password",
                                            "confirm": "a long enough password"})
    assert taken.status_code == 422 and b"already exists" in taken.data
    with app.extensions["packetizer"].registry.session() as session:
        kim = session.scalar(select(User).where(User.username == "kim"))
        assert kim.role == "auditor" and kim.password_hash.startswith("$argon2id$")
    assert sign_in(app.test_client(), "kim", "a long enough password").status_code == 302
    response = admin.post(f"/admin/users/{kim.id}", data={"csrf_token": token, "role": "auditor"})  # active unticked
    assert response.status_code == 302
    assert sign_in(app.test_client(), "kim", "a long enough password").status_code == 401
    with app.extensions["packetizer"].registry.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == "kim")).all()
    assert actions.count("user.add") == 1 and actions.count("user.change") == 1


def test_admins_cannot_lock_themselves_out(app, admin):
    with app.extensions["packetizer"].registry.session() as session:
        ada = session.scalar(select(User).where(User.username == "ada"))
    token = page_token(admin, "/admin/users")
    admin.post(f"/admin/users/{ada.id}", data={"csrf_token": token, "role": "staff", "active": "y"})
    with app.extensions["packetizer"].registry.session() as session:
        assert session.get(User, ada.id).role == "admin"


def test_payer_page_lists_the_policies_in_force(admin):
    html = admin.get("/admin/payers").data.decode()
    assert "demo-commercial" in html and "Demo Commercial Health Plan" in html

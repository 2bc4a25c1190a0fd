"""This test ensures that staff and auditors find things (issue 16): the case list is searched by case id, claim
number, member name and member id and filtered by payer, status and deadline, on SQLite and PostgreSQL, with decided
cases hidden unless asked for; the archive matches part of a case id; the audit log filters by user, action, case and
date and keeps its filters across pages; case.update names the fields that changed (never their values); and a
case page reached right after the user's own action on the case adds no case.view row."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import secrets
import shutil
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import inspect, select, text, update

from packetizer.archive import LocalStorage, PacketArchive
from packetizer.casebook.caselist import search_fold
from packetizer.caseio import load_case
from packetizer.pipeline import build_packet
from packetizer.policy import load_payer
from packetizer.registry import AuditEntry, CaseRecord, current_revision, open_registry
from packetizer.web import audit as audit_views

from browser.registry_support import NOW, insert_case_row, migrate
from browser.webapp_support import (EXAMPLE, MEMBER_ID, MEMBER_NAME, START, add_account, case_form, make_app,
                                    page_token, sign_in)


def _create(client, token, case_id, **changes) -> int:
    response = client.post("/cases/new", data={**case_form(case_id, **changes), "csrf_token": token, "action": "save"})
    assert response.status_code == 302, response.data.decode()[-2000:]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _search(client, query: str = "") -> str:
    """The case list page for ``query`` (as a query string), posted as its search form posts it."""
    if not query:
        return client.get("/cases/").data.decode()
    token = page_token(client, "/cases/")
    response = client.post("/cases/", data={**dict(parse_qsl(query)), "csrf_token": token})
    assert response.status_code == 200
    return response.data.decode()


def _listed(client, query: str = "") -> list[str]:
    """The case ids the case list shows for ``query``, in the order shown."""
    return re.findall(r'<td><a href="/cases/\d+">([^<]+)</a></td>', _search(client, query))


def _audit(app, action=None) -> list[AuditEntry]:
    with app.extensions["packetizer"].registry.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            query = query.where(AuditEntry.action == action)
        return session.scalars(query).all()


def _sent_case(app, case_id: str, status: str, deadline: dt.date, first: str, last: str) -> None:
    """A case already sent to the payer (and maybe decided), as the tracking pages leave its row."""
    services = app.extensions["packetizer"]
    now = services.now()
    with services.registry.session() as session:
        session.add(CaseRecord(case_id=case_id, payer_id="demo-commercial", folder=secrets.token_hex(8),
                               first_date_of_service=deadline - dt.timedelta(days=30), deadline=deadline, ready=True,
                               late_reason_category="emergency", service_codes="97110", status=status,
                               member_first_name=first, member_last_name=last, member_id=f"M-{case_id}",
                               claim_number=f"CLM-{case_id}", search_text=search_fold(f"{first} {last} M-{case_id} "
                                                                                      f"CLM-{case_id}"),
                               created_at=now, created_by="sam", updated_at=now, updated_by="sam"))
        session.commit()


@pytest.fixture
def found(tmp_path, clock, db_url):
    """An app on SQLite or PostgreSQL with four open cases and two sent ones, and staff signed in."""
    app = make_app(tmp_path, clock, DATABASE_URL=db_url)
    add_account(app, "sam", "staff")
    client = app.test_client()
    assert sign_in(client, "sam").status_code == 302
    token = page_token(client, "/cases/new")
    _create(client, token, "RA-FIND-0001")  # Ana Ortiz, claim 2026091400123, due 2026-10-14
    _create(client, token, "RA-FIND-0002", **{"member.first_name": "Bea", "member.last_name": "Van_Dam",
                                              "member.member_id": "PH-777", "claim.claim_number": "CLM-55-A",
                                              "payer_id": "priority-health"})
    _create(client, token, "RA-FIND-0003", **{"member.first_name": "Anders", "member.last_name": "Lund",
                                              "member.member_id": "DC-1", "claim.claim_number": "X9",
                                              "services[0].date_of_service": "2026-08-01",
                                              "services[1].date_of_service": "2026-08-02"})  # due 2026-08-31
    _create(client, token, "RB-OTHER-9", **{"member.first_name": "Cy", "member.last_name": "Ortizano",
                                            "member.member_id": "ZZ-5", "claim.claim_number": "100%",
                                            "payer_id": "demo-medicaid-noretro"})  # no deadline
    _sent_case(app, "RA-SENT-0001", "submitted", dt.date(2026, 8, 9), "Dee", "Sent")      # 47 days past due
    _sent_case(app, "RA-DONE-0001", "approved", dt.date(2026, 7, 1), "Eve", "Ortiz")
    yield app, client
    app.extensions["packetizer"].registry.close()


def test_case_list_is_searched_by_id_claim_member_name_and_member_id(found):
    app, staff = found
    assert set(_listed(staff, "q=ortiz")) == {"RA-FIND-0001", "RB-OTHER-9"}    # part of a last name, any case
    assert _listed(staff, "q=ANA+ortiz") == ["RA-FIND-0001"]                   # every word must match
    assert _listed(staff, "q=ana") == ["RA-FIND-0001"]                         # first names too ("Anders" no: "ana")
    assert _listed(staff, "q=find-0002") == ["RA-FIND-0002"]                   # part of a case id
    assert _listed(staff, "q=91400123") == ["RA-FIND-0001"]                    # part of a claim number
    assert _listed(staff, "q=clm-55-a") == ["RA-FIND-0002"]
    assert _listed(staff, f"q={MEMBER_ID.lower()}") == ["RA-FIND-0001"]        # member id
    # % and _ are searched as typed, not as wildcards.
    assert _listed(staff, "q=100%25") == ["RB-OTHER-9"]
    assert _listed(staff, "q=van_dam") == ["RA-FIND-0002"]
    assert _listed(staff, "q=va__dam") == []                                   # as a wildcard it would match
    page = _search(staff, "q=zzzz")
    assert 'id="no-match"' in page and 'id="case-list"' not in page
    # The list shows the member's name and the claim number.
    page = _search(staff, "q=RA-FIND-0001")
    assert f"<td>{MEMBER_NAME[0]} {MEMBER_NAME[1]}</td>" in page and "<td>2026091400123</td>" in page


def test_case_list_search_ignores_case_and_accents_on_every_database(found):
    """SQLite's lower() knows ASCII only: names are searched in a folded copy, so "álvarez", "ALVAREZ" and
    "Álvarez" all find Ángela Álvarez."""
    app, staff = found
    _create(staff, page_token(staff, "/cases/new"), "RA-FIND-0005",
            **{"member.first_name": "Ángela", "member.last_name": "ÁLVAREZ", "member.member_id": "ÑU-12"})
    for typed in ("álvarez", "ALVAREZ", "Álvarez", "angela+alv", "ñu-12"):
        assert _listed(staff, f"q={typed}") == ["RA-FIND-0005"], typed


def test_case_list_filters_by_payer_status_and_deadline_and_hides_closed_cases(found):
    app, staff = found
    # Still to submit, by deadline (the overdue one on top); then sent; the decided case hidden.
    assert _listed(staff) == ["RA-FIND-0003", "RA-FIND-0001", "RA-FIND-0002", "RB-OTHER-9", "RA-SENT-0001"]
    html = _search(staff)
    sent_row = re.search(r'<tr class="([^"]*)">\s*<td><a href="/cases/\d+">RA-SENT-0001<', html)
    assert sent_row[1] == ""            # not marked overdue although its deadline passed
    assert "RA-DONE-0001" not in html and "decided cases are hidden" in html
    assert _listed(staff, "closed=y")[-1] == "RA-DONE-0001"
    assert _listed(staff, "status=approved") == ["RA-DONE-0001"]
    assert _listed(staff, "q=ortiz&closed=y") == ["RA-FIND-0001", "RB-OTHER-9", "RA-DONE-0001"]
    assert _listed(staff, "payer=priority-health") == ["RA-FIND-0002"]
    assert _listed(staff, "status=submitted") == ["RA-SENT-0001"]
    blocked = _listed(staff, "status=blocked")
    assert set(blocked) == {"RA-FIND-0001", "RA-FIND-0002", "RA-FIND-0003", "RB-OTHER-9"}
    assert _listed(staff, "deadline=overdue") == ["RA-FIND-0003"]    # the sent case is not "overdue"
    assert _listed(staff, "deadline=7") == []
    assert _listed(staff, "deadline=30") == ["RA-FIND-0001"]
    assert _listed(staff, "deadline=none") == ["RB-OTHER-9"]
    assert _listed(staff, "q=ortiz&payer=demo-commercial&deadline=30") == ["RA-FIND-0001"]
    assert _listed(staff, "q=ortiz&payer=priority-health") == []
    assert _listed(staff, "payer=nobody") == _listed(staff)          # an unknown choice narrows nothing
    # A search is audited by the filters used, never by the words searched for.
    searches = _audit(app, "case.search")
    assert searches and all("ortiz" not in (e.detail + e.object_id).lower() for e in searches)
    assert any(json.loads(e.detail).get("searched_words") is True for e in searches)
    assert {"deadline": "overdue", "results": 1} in [json.loads(e.detail) for e in searches]
    staff.get("/cases/")
    assert len(_audit(app, "case.search")) == len(searches)          # the plain list is not a search


def test_search_words_never_go_into_a_url(found):
    app, staff = found
    html = staff.get("/cases/").data.decode()
    assert re.search(r'<form method="post" action="/cases/"[^>]*id="case-search"', html)
    # Words in a query string are not searched (a link or bookmark cannot carry them), the filters are.
    assert len(_listed(staff, "")) == 5 and _listed_get(staff, "q=ortiz") == _listed(staff, "")
    assert _listed_get(staff, "closed=y&status=approved") == ["RA-DONE-0001"]
    # The search needs the form's token, like every post.
    assert staff.post("/cases/", data={"q": "ortiz"}).status_code == 400


def _listed_get(client, query: str) -> list[str]:
    return re.findall(r'<td><a href="/cases/\d+">([^<]+)</a></td>', client.get(f"/cases/?{query}").data.decode())


def test_an_imported_case_is_found_by_its_member_and_claim(app, staff):
    token = page_token(staff, "/cases/import")
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO((EXAMPLE / "case.yaml").read_bytes()),
                                                              "case.yaml")})
    assert response.status_code == 302
    assert _listed(staff, "q=ortiz") == _listed(staff, f"q={MEMBER_ID}") == ["RA-2026-0001"]


def test_older_cases_get_their_search_fields_when_the_app_starts(tmp_path, clock, monkeypatch):
    """Rows are filled a batch at a time, each batch committed, past a row whose case file is damaged."""
    from packetizer.casebook import cases as casebook_cases

    app = make_app(tmp_path, clock)
    add_account(app, "sam", "staff")
    client = app.test_client()
    sign_in(client, "sam")
    token = page_token(client, "/cases/new")
    for case_id in ("RA-OLD-0001", "RA-OLD-0002", "RA-OLD-0003"):
        _create(client, token, case_id)
    with app.extensions["packetizer"].registry.session() as session:  # as migration 0005 leaves older rows
        session.execute(update(CaseRecord).values(member_first_name=None, member_last_name=None, member_id=None,
                                                  claim_number=None, search_text=None))
        session.commit()
        damaged = session.scalar(select(CaseRecord).where(CaseRecord.case_id == "RA-OLD-0002")).folder
    (app.extensions["packetizer"].cases_dir / damaged / "case.json").write_text("{ damaged")
    assert _listed(client, "q=ortiz") == []
    app.extensions["packetizer"].registry.close()
    monkeypatch.setattr(casebook_cases, "SEARCH_FILL_BATCH", 1)
    restarted = make_app(tmp_path, clock)
    client = restarted.test_client()
    sign_in(client, "sam")
    assert sorted(_listed(client, "q=ortiz")) == ["RA-OLD-0001", "RA-OLD-0003"]
    with restarted.extensions["packetizer"].registry.session() as session:
        row = session.scalar(select(CaseRecord).where(CaseRecord.case_id == "RA-OLD-0001"))
        assert (row.member_first_name, row.member_last_name, row.member_id, row.claim_number) == (
            *MEMBER_NAME, MEMBER_ID, "2026091400123")
    restarted.extensions["packetizer"].registry.close()


def test_0005_adds_the_search_columns_and_takes_them_away(db_url):
    reg = open_registry(db_url, migrate=False)
    migrate(reg.engine, "0004")
    with reg.engine.begin() as conn:
        insert_case_row(conn, "RA-M-1", "f1")
        # A build points at the case: SQLite must not have to drop and rebuild the cases table either way.
        conn.execute(text(
            "INSERT INTO builds (id, case_pk, created_at, built_by, folder, file_name, report_name, report_html_name, "
            "sha256, size, pages) VALUES (1, 1, :now, 'sam', 'b1', 'p.pdf', 'r.json', 'r.html', :sha, 10, 1)"),
            {"now": NOW, "sha": "0" * 64})
    migrate(reg.engine, "0005")
    assert current_revision(reg.engine) == "0005"
    columns = {c["name"] for c in inspect(reg.engine).get_columns("cases")}
    assert {"member_first_name", "member_last_name", "member_id", "claim_number"} <= columns
    assert "ix_audit_log_actor_seq" in {i["name"] for i in inspect(reg.engine).get_indexes("audit_log")}
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT case_id, member_last_name FROM cases")).all() == [("RA-M-1", None)]
    migrate(reg.engine, "0004", down=True)
    columns = {c["name"] for c in inspect(reg.engine).get_columns("cases")}
    assert "member_last_name" not in columns
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT case_id FROM cases")).scalars().all() == ["RA-M-1"]
        assert conn.execute(text("SELECT case_pk FROM builds")).scalars().all() == [1]
    reg.close()


# -- the auditor's archive search --------------------------------------------------------------------------------

BUILT = dt.datetime(2026, 10, 10, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def example_archive(tmp_path_factory):
    """The example case (RA-2026-0001, demo-commercial) built once into an archive folder."""
    root = tmp_path_factory.mktemp("find-archive")
    case = load_case(EXAMPLE / "case.yaml")
    packet = build_packet(case, load_payer(case.payer_id), out_dir=root / "out", today=BUILT.date(),
                          archive=PacketArchive(LocalStorage(root / "archive"), root / "spool"), clock=lambda: BUILT,
                          built_by="cli:test")
    return root / "archive", packet


def test_archive_search_matches_part_of_a_case_id_with_payer_and_dates(app, auditor, example_archive):
    folder, packet = example_archive
    shutil.copytree(folder, app.extensions["packetizer"].storage().root)
    sha = packet.sha256[:16]

    def found(query: str) -> bool:
        response = auditor.get(f"/audit/archive?{query}")
        assert response.status_code == 200
        return sha in response.data.decode()

    assert found("case_id=RA-2026") and found("case_id=ra-2026-0001") and found("case_id=0001")
    assert not found("case_id=RA-2025")
    assert found("case_id=ra-2026&payer_id=demo-commercial")
    assert not found("case_id=ra-2026&payer_id=priority-health")
    assert found("case_id=2026&payer_id=demo-commercial&date_from=2026-10-10&date_to=2026-10-10")
    assert not found("case_id=2026&date_from=2026-10-11")
    assert not found("case_id=2026&payer_id=demo-commercial&date_to=2026-10-09")
    assert found("date_from=2026-10-01&date_to=2026-10-31")
    reversed_dates = auditor.get("/audit/archive?date_from=2026-10-11&date_to=2026-10-10").data.decode()
    assert "the end date is before the start date" in reversed_dates and sha not in reversed_dates
    odd = auditor.get("/audit/archive?case_id=RA%25").data.decode()
    assert "use only letters, digits" in odd and sha not in odd
    searches = _audit(app, "archive.search")
    assert [e.object_id for e in searches][:2] == ["RA-2026", "ra-2026-0001"]


# -- the audit log -------------------------------------------------------------------------------------------------

def _log_rows(client, query: str) -> list[tuple[str, str, str]]:
    """(who, action, object) of each row the audit log page shows for ``query``."""
    html = client.get(f"/audit/log?{query}").data.decode()
    return re.findall(r"<tr><td>\d+</td><td>[^<]+</td><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td>\s*"
                      r"<td>([^<]+)</td>", html)


@pytest.fixture
def on_both(tmp_path, clock, db_url):
    """(app, staff, auditor, admin) on SQLite or PostgreSQL."""
    app = make_app(tmp_path, clock, DATABASE_URL=db_url)
    clients = []
    for name, role in (("sam", "staff"), ("alex", "auditor"), ("ada", "admin")):
        add_account(app, name, role)
        client = app.test_client()
        assert sign_in(client, name).status_code == 302
        clients.append(client)
    yield app, *clients
    app.extensions["packetizer"].registry.close()


def test_audit_log_filters_by_user_action_case_and_date_and_pages_keep_them(on_both, clock, monkeypatch):
    app, staff, auditor, _admin = on_both
    token = page_token(staff, "/cases/new")
    _create(staff, token, "RA-LOG-0001")
    clock.advance(days=1)  # the next day: both sign in again
    assert sign_in(staff, "sam").status_code == 302 and sign_in(auditor, "alex").status_code == 302
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token, "RA-LOG-0002")
    clock.advance(minutes=3)
    staff.get(f"/cases/{pk}")
    assert {who for who, _, _ in _log_rows(auditor, "actor=sam")} == {"sam"}
    assert {who for who, _, _ in _log_rows(auditor, "actor=alex")} == {"alex"}
    assert [obj for _, _, obj in _log_rows(auditor, "action=case.create")] == ["case RA-LOG-0002", "case RA-LOG-0001"]
    assert _log_rows(auditor, "case_id=log-0002") == [("sam", "case.view", "case RA-LOG-0002"),
                                                      ("sam", "case.create", "case RA-LOG-0002")]
    day_one = START.date().isoformat()
    assert [a for _, a, o in _log_rows(auditor, f"actor=sam&date_from={day_one}&date_to={day_one}")
            if a.startswith("case.")] == ["case.create"]
    assert _log_rows(auditor, f"action=case.create&date_from={(START + dt.timedelta(days=1)).date()}") == [
        ("sam", "case.create", "case RA-LOG-0002")]
    assert _log_rows(auditor, "case_id=RA-NONE") == []
    assert 'id="log-empty"' in auditor.get("/audit/log?case_id=RA-NONE").data.decode()
    bad = auditor.get("/audit/log?date_from=2026-10-02&date_to=2026-10-01").data.decode()
    assert "the end date is before the start date" in bad

    # Paging keeps the filters: two rows a page.
    monkeypatch.setattr(audit_views, "AUDIT_PAGE_SIZE", 2)
    clock.advance(minutes=3)
    staff.get(f"/cases/{pk}")
    clock.advance(minutes=3)
    staff.get(f"/cases/{pk}")
    first = auditor.get("/audit/log?case_id=LOG-0002").data.decode()
    older = re.search(r'<a href="([^"]+)" id="page-older">', first)[1].replace("&amp;", "&")
    assert "case_id=LOG-0002" in older and "page=2" in older
    second = _log_rows(auditor, older.split("?", 1)[1])
    assert second and all(obj == "case RA-LOG-0002" for _, _, obj in second)
    page2 = auditor.get(older).data.decode()
    newer = re.search(r'<a href="([^"]+)" id="page-newer">', page2)[1].replace("&amp;", "&")
    assert "case_id=LOG-0002" in newer and "page=1" in newer

    # The chain check still works from the filtered page.
    verified = auditor.post("/audit/log/verify", data={"csrf_token": page_token(auditor, "/audit/log")})
    assert verified.status_code == 200 and "Intact:" in verified.data.decode()


# -- case.update and case.view -------------------------------------------------------------------------------------

def _edit_values(client, pk: int) -> dict:
    form = client.get(f"/cases/{pk}/edit").data.decode()
    values = dict(re.findall(r'<input type="(?:text|date)" name="([^"]+)" value="([^"]*)"', form))
    values.update({name: body for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', form)})
    values.update(dict(re.findall(r'<select name="([^"]+)">.*?<option value="([^"]*)" selected', form, re.S)))
    return {name: html.unescape(value) for name, value in values.items()}


def test_case_update_records_the_names_of_the_changed_fields_never_their_values(app, staff):
    token = page_token(staff, "/cases/new")
    pk = _create(staff, token, "RA-EDIT-0001")
    values = _edit_values(staff, pk)
    response = staff.post(f"/cases/{pk}/edit", data={**values, "csrf_token": token, "action": "save"})
    assert response.status_code == 302
    unchanged = json.loads(_audit(app, "case.update")[-1].detail)
    assert unchanged["changed"] == [] and unchanged["fields_changed"] == 0

    values.update({"member.last_name": "Ortiz-Vega", "services[1].code": "97140", "contact.phone": "612-555-0199"})
    response = staff.post(f"/cases/{pk}/edit", data={**values, "csrf_token": token, "action": "save"})
    assert response.status_code == 302
    row = _audit(app, "case.update")[-1]
    detail = json.loads(row.detail)
    assert detail["changed"] == ["contact.phone", "member.last_name", "services[1].code"]
    assert detail["fields_changed"] == 3
    assert "Ortiz-Vega" not in row.detail and "97140" not in row.detail and "0199" not in row.detail


def test_case_view_is_not_recorded_on_the_redirect_after_the_users_own_action(on_both, clock):
    app, staff, _auditor, admin = on_both
    token = page_token(staff, "/cases/new")
    created = staff.post("/cases/new", data={**case_form("RA-VIEW-0001"), "csrf_token": token, "action": "save"})
    staff.get(created.headers["Location"])            # the redirect after saving
    assert _audit(app, "case.view") == []
    pk = int(created.headers["Location"].rsplit("/", 1)[-1])
    staff.get(f"/cases/{pk}")                          # a reload straight after
    assert _audit(app, "case.view") == []
    clock.advance(minutes=2)
    staff.get(f"/cases/{pk}")                          # coming back later is a view
    admin.get(f"/cases/{pk}")                          # and so is another user's
    assert [(e.actor, e.object_id) for e in _audit(app, "case.view")] == [("sam", "RA-VIEW-0001"),
                                                                          ("ada", "RA-VIEW-0001")]
    clock.advance(minutes=2)
    _search(staff, "q=view")                           # a search of another kind in between...
    values = _edit_values(staff, pk)
    saved = staff.post(f"/cases/{pk}/edit", data={**values, "csrf_token": token, "action": "save"})
    staff.get(saved.headers["Location"])               # ...then a save: its redirect adds no view
    assert len(_audit(app, "case.view")) == 2
    clock.advance(minutes=2)
    other = _create(staff, token, "RA-VIEW-0002")
    staff.get(f"/cases/{pk}")                          # straight after acting on another case: a view of this one
    assert [e.object_id for e in _audit(app, "case.view")][-1] == "RA-VIEW-0001" and other != pk
    assert len(_audit(app, "case.view")) == 3


def test_saving_an_imported_case_unchanged_names_no_field(app, staff):
    token = page_token(staff, "/cases/import")
    response = staff.post("/cases/import", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (io.BytesIO((EXAMPLE / "case.yaml").read_bytes()),
                                                              "case.yaml")})
    pk = int(response.headers["Location"].rsplit("/", 1)[-1])
    values = _edit_values(staff, pk)  # the YAML's long texts end with a line break the form does not keep
    assert staff.post(f"/cases/{pk}/edit", data={**values, "csrf_token": token, "action": "save"}).status_code == 302
    assert json.loads(_audit(app, "case.update")[-1].detail)["changed"] == []


def test_a_key_the_case_format_does_not_name_is_never_written_into_the_audit_log():
    """An imported case may carry any key, even one spelling a patient's name: its change is named by the
    field holding it; keys of the case file format (and the member's usual identifiers) are named."""
    from packetizer.casebook.cases import changed_fields

    before = {"member": {"last_name": "Ortiz", "ssn": "512-44-9021", "Ana Ortiz chart": "A1"},
              "services": [{"code": "97110", "note for Ana Ortiz": "x"}], "Ortiz family": 1}
    after = {"member": {"last_name": "Ortis", "ssn": "512-44-9022"},
             "services": [{"code": "97110"}]}
    changed = changed_fields(before, after)
    assert changed == ["(top level)", "member", "member.last_name", "member.ssn", "services[0]"]
    assert not any("Ortiz" in name or "Ana" in name for name in changed)


def test_the_audit_log_case_filter_does_not_match_an_ids_digits_inside_a_hash(registry):
    """A row about another case whose hash happens to hold the typed digits is not listed; a case id
    corrected since is found by its old id too."""
    from packetizer.casebook.audit import Actor, AuditFilter, audit_log_query, write_audit

    now = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.timezone.utc)
    with registry.session() as session:
        sam = Actor("sam", "staff")
        write_audit(session, sam, "archive.view", "archive_version", "demo-commercial/RA-2026-0002", now=now,
                    detail={"case_id": "RA-2026-0002", "sha256": "ab0001cd" * 8})
        write_audit(session, sam, "packet.download", "build", "7", now=now, detail={"case_id": "RA-2026-0001"})
        write_audit(session, sam, "case.correct_id", "case", "RA-2026-0003", now=now,
                    detail={"old_case_id": "RA-2026-O003", "new_case_id": "RA-2026-0003"})
        session.commit()

        def actions(case_id: str) -> list[str]:
            rows = session.scalars(audit_log_query(AuditFilter(case_id=case_id)).order_by(AuditEntry.seq)).all()
            return [row.action for row in rows]

        assert actions("0001") == []                       # part of an id: only objects named by it
        assert actions("RA-2026-0001") == ["packet.download"]
        assert actions("ra-2026-0002") == ["archive.view"]
        assert actions("RA-2026-O003") == ["case.correct_id"]

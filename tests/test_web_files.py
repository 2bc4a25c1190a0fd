"""This test ensures that every file the web app writes that may hold PHI is the server user's only, whatever the
umask; that a batch's packet is stored once under the instance; and that unarchived builds expire."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from packetizer import limits
from packetizer.archive import list_pending
from packetizer.registry import AuditEntry, Build
from packetizer.web.batches import EXTENSION_KEY as BATCHES

from browser.webapp_support import (Clock, add_account, case_form, example_pdf, follow_job, make_app, page_token,
                                    sign_in)
from test_web_batches import FIXTURES, TODAY, batch_id_of, notes_zip, upload, wait_until_done

ARCHIVED_FILE_MODE = 0o400  # read-only for the owner: the archive is write-once


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """Every folder (ending in /) and file under ``root``, root included, with its permission bits."""
    out = {"./": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        name = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
        out[name] = stat.S_IMODE(path.lstat().st_mode)
    return out


def _wrong(modes: dict[str, int], file_mode: int) -> dict[str, str]:
    return {name: oct(mode) for name, mode in modes.items()
            if mode != (0o700 if name.endswith("/") else file_mode)}


def _build_example(client, tmp_path) -> str:
    """Create the example case through the case form, upload its note and build it; the case page's path."""
    token = page_token(client, "/cases/new")
    created = client.post("/cases/new", data={**case_form(), "csrf_token": token, "action": "save"})
    case_url = created.headers["Location"]
    pdf = example_pdf(tmp_path)
    with open(pdf, "rb") as handle:
        assert client.post(f"{case_url}/documents", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (handle, pdf.name), "kind": "clinical_note",
                                 "date": "2026-09-18", "title": ""}).status_code == 302
    assert 'id="job-done"' in follow_job(client, client.post(f"{case_url}/build",
                                                             data={"csrf_token": token})).data.decode()
    return case_url


def test_every_file_holding_phi_is_private_whatever_the_umask(tmp_path, umask):
    clock = Clock(TODAY)
    # Everything in its default place: database and secret key in the instance folder, archive beside it.
    app = make_app(tmp_path, clock, DATABASE_URL=None, SECRET_KEY=None, ARCHIVE=str(tmp_path / "archive"))
    try:
        add_account(app, "sam", "staff")
        staff = app.test_client()
        assert sign_in(staff, "sam").status_code == 302
        _build_example(staff, tmp_path)
        batch = batch_id_of(upload(staff, (FIXTURES / "cases.csv").read_bytes(), "cases.csv", notes_zip()))
        assert wait_until_done(app, batch).built == 2
        # A case form kept when its session idled out.
        token = page_token(staff, "/cases/new")
        clock.advance(minutes=app.config["IDLE_MINUTES"], seconds=1)
        staff.post("/cases/new", data={**case_form("RA-WEB-0002"), "csrf_token": token, "action": "save"})

        instance = _modes(Path(app.instance_path))
        for expected in ("packetizer.db", "secret_key", "drafts/", "batches/", "builds/", "cases/"):
            assert expected in instance, expected
        assert any(name.endswith("/uploads/") for name in instance)
        assert sum(name.endswith(".pdf") and name.startswith("builds/") for name in instance) == 3
        assert any(name.startswith(f"batches/{batch}/out/") and name.endswith(".pdf") for name in instance)
        assert any(name.startswith(f"batches/{batch}/") and name.endswith(".json") for name in instance)
        assert _wrong(instance, 0o600) == {}

        archive = _modes(tmp_path / "archive")
        assert sum(name.endswith("packet.pdf") for name in archive) == 3
        assert _wrong(archive, ARCHIVED_FILE_MODE) == {}
    finally:
        app.extensions["packetizer"].registry.close()


def test_a_batch_packet_added_to_a_case_is_stored_once_under_the_instance(tmp_path):
    app = make_app(tmp_path, Clock(TODAY))
    try:
        add_account(app, "sam", "staff")
        staff = app.test_client()
        assert sign_in(staff, "sam").status_code == 302
        batch = batch_id_of(upload(staff, (FIXTURES / "cases.csv").read_bytes(), "cases.csv", notes_zip()))
        assert wait_until_done(app, batch).built == 2
        instance = Path(app.instance_path)
        with app.extensions["packetizer"].registry.session() as session:
            builds = session.scalars(select(Build)).all()
        assert len(builds) == 2
        for build in builds:
            in_build = instance / "builds" / build.folder / build.file_name
            in_batch = instance / "batches" / batch / "out" / build.file_name
            # One file with two names: the bytes are on disk once.
            assert os.path.samefile(in_build, in_batch) and in_build.stat().st_nlink == 2
        # The batch expiring leaves the case's build whole.
        assert app.extensions[BATCHES].remove(batch)
        for build in builds:
            path = instance / "builds" / build.folder / build.file_name
            assert path.read_bytes().startswith(b"%PDF-") and path.stat().st_nlink == 1
    finally:
        app.extensions["packetizer"].registry.close()


def test_unarchived_builds_expire_after_their_retention_period_and_the_spool_is_private(tmp_path, umask):
    clock = Clock(TODAY)
    config = {"DATABASE_URL": None, "SECRET_KEY": "test-secret-key", "ARCHIVE": str(tmp_path / "archive")}
    app = make_app(tmp_path, clock, **config)
    add_account(app, "sam", "staff")
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    archived_case = _build_example(staff, tmp_path)
    app.extensions["packetizer"].registry.close()

    # The same instance, restarted with an archive it cannot write: the next build waits in the spool.
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive folder should be")
    app = make_app(tmp_path, clock, **{**config, "ARCHIVE": str(blocked)})
    staff = app.test_client()
    assert sign_in(staff, "sam").status_code == 302
    token = page_token(staff, archived_case)
    follow_job(staff, staff.post(f"{archived_case}/build", data={"csrf_token": token}))
    spool = Path(app.instance_path) / "pending"
    [entry] = list_pending(spool)
    assert entry.case_id == "RA-WEB-0001"
    assert _wrong(_modes(spool), 0o600) == {}
    with app.extensions["packetizer"].registry.session() as session:
        archived, unarchived = session.scalars(select(Build).order_by(Build.id)).all()
    assert archived.archive_prefix and unarchived.archive_prefix is None
    builds = Path(app.instance_path) / "builds"
    app.extensions["packetizer"].registry.close()

    # Restarting within the retention period removes nothing.
    clock.advance(days=limits.UNARCHIVED_BUILD_KEEP_DAYS - 1)
    make_app(tmp_path, clock, **config).extensions["packetizer"].registry.close()
    assert (builds / unarchived.folder / unarchived.file_name).is_file()

    # Past it, the next start removes the unarchived build's files (the row stays); the archived build keeps its own.
    clock.advance(days=1, seconds=1)
    app = make_app(tmp_path, clock, **config)
    try:
        assert not (builds / unarchived.folder).exists()
        assert (builds / archived.folder / archived.file_name).is_file()
        assert list_pending(spool)  # the spool still holds the packet for the archive
        with app.extensions["packetizer"].registry.session() as session:
            assert session.get(Build, unarchived.id) is not None
            expired = session.scalars(select(AuditEntry).where(AuditEntry.action == "build.expire")).all()
        assert [(e.object_id, e.actor, json.loads(e.detail)["keep_days"]) for e in expired] == [
            (str(unarchived.id), "system", limits.UNARCHIVED_BUILD_KEEP_DAYS)]
        staff = app.test_client()
        assert sign_in(staff, "sam").status_code == 302
        pk = archived_case.rsplit("/", 1)[-1]
        assert staff.get(f"/cases/{pk}/builds/{unarchived.id}/packet").status_code == 404
        assert staff.get(f"/cases/{pk}/builds/{archived.id}/packet").status_code == 200
    finally:
        app.extensions["packetizer"].registry.close()
    # A second start finds nothing more to do.
    again = make_app(tmp_path, clock, **config)
    with again.extensions["packetizer"].registry.session() as session:
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "build.expire")).all()) == 1
    again.extensions["packetizer"].registry.close()

"""This test ensures that the registry migrates, stores and guards its rows the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from packetizer import limits
from packetizer.errors import AccountError, RegistryError
from packetizer.registry import (
    AuditEntry,
    CaseRecord,
    SignInFailure,
    add_user,
    append_audit,
    current_revision,
    head_revision,
    open_registry,
    sign_in,
    verify_audit_chain,
)
from packetizer.registry.users import sign_in_wait

from browser.registry_support import CHEAP_HASHER, NOW


def test_migrations_create_every_table_and_are_idempotent(db_url):
    reg = open_registry(db_url)
    tables = set(inspect(reg.engine).get_table_names())
    assert {"users", "sign_in_failures", "cases", "builds", "submissions", "info_requests", "audit_log",
            "audit_head", "alembic_version"} <= tables
    assert current_revision(reg.engine) == head_revision()
    reg.close()
    again = open_registry(db_url)  # a second start migrates nothing and keeps the data
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_processes_starting_together_migrate_once(db_url):
    """gunicorn workers each open the registry at start; none may fail on a half-made schema."""
    errors, opened = [], []

    def start() -> None:
        try:
            opened.append(open_registry(db_url))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(opened) == 4
    for reg in opened:
        assert current_revision(reg.engine) == head_revision()
        reg.close()


def test_open_registry_reports_a_bad_url_without_the_password():
    with pytest.raises(RegistryError) as info:
        open_registry("postgresql+psycopg://user:s3cret@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "s3cret" not in info.value.message
    with pytest.raises(RegistryError):
        open_registry("not a url")


def test_audit_chain_links_rows_and_verifies(registry):
    with registry.session() as session:
        for n in range(5):
            append_audit(session, actor="sam", role="staff", action="case.view", object_type="case",
                         object_id=f"RA-{n}", client="127.0.0.1", detail={"n": n}, now=NOW)
    with registry.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
        assert verify_audit_chain(session) == (5, [])


def test_database_refuses_update_and_delete_of_audit_rows(registry):
    with registry.session() as session:
        append_audit(session, actor="sam", role="staff", action="x", object_type="case", object_id="1", now=NOW)
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with registry.engine.begin() as conn:
                conn.execute(text(statement))
    with registry.session() as session:
        assert session.scalar(select(AuditEntry.actor)) == "sam"


def _drop_guards(registry) -> None:
    """What an attacker with database rights would do first."""
    with registry.engine.begin() as conn:
        if registry.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update ON audit_log"))


def test_verify_finds_an_altered_a_removed_and_a_truncated_row(registry):
    with registry.session() as session:
        for n in range(6):
            append_audit(session, actor="sam", role="staff", action="packet.download", object_type="build",
                         object_id=str(n), now=NOW)
    _drop_guards(registry)
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    with registry.session() as session:
        count, problems = verify_audit_chain(session)
    text_problems = [str(p) for p in problems]
    assert count == 4
    assert any(p.startswith("row 2: hash does not match") for p in text_problems)
    assert any(p.startswith("row 5: sequence jumps") for p in text_problems)
    assert any(p.startswith("head: head names row 6") for p in text_problems)


def test_the_chain_cannot_fork(registry):
    """Two rows claiming the same predecessor are refused by the database itself."""
    with registry.session() as session:
        first = append_audit(session, actor="a", role="staff", action="x", object_type="case", object_id="1", now=NOW)
    with pytest.raises(IntegrityError):
        with registry.session() as session:
            session.add(AuditEntry(seq=99, at="2026-11-23T12:00:00Z", actor="b", role="staff", action="x",
                                   object_type="case", object_id="2", client="-", detail="{}",
                                   prev_hash=first.prev_hash, hash="f" * 64))


def test_concurrent_appenders_keep_one_linear_chain(registry):
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(8):
                with registry.session() as session:
                    append_audit(session, actor=f"w{n}", role="staff", action="case.view", object_type="case",
                                 object_id=f"{n}-{i}", now=NOW)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with registry.session() as session:
        assert verify_audit_chain(session) == (32, [])


def test_users_sign_in_and_back_off_per_username_and_address(registry):
    with registry.session() as session:
        add_user(session, "sam", "staff", "correct horse battery", created_by="test", now=NOW)
    with registry.session() as session:
        with pytest.raises(AccountError, match="already exists"):
            add_user(session, "sam", "auditor", "another long password", created_by="test", now=NOW)
    with registry.session() as session:
        with pytest.raises(AccountError, match="MIN_PASSWORD_CHARS"):
            add_user(session, "kim", "staff", "short", created_by="test", now=NOW)
        with pytest.raises(AccountError, match="role"):
            add_user(session, "kim", "superuser", "long enough password", created_by="test", now=NOW)
    with registry.session() as session:
        user = sign_in(session, "sam", "correct horse battery", "10.0.0.1", now=NOW).user
        assert user is not None and user.password_hash.startswith("$argon2id$")
        # Later checks run on cheap parameters; a hasher with other parameters rehashes on sign-in.
        assert sign_in(session, "sam", "correct horse battery", "10.0.0.1", now=NOW, hasher=CHEAP_HASHER).ok
        assert not CHEAP_HASHER.check_needs_rehash(user.password_hash)
    free = limits.SIGN_IN_FREE_FAILURES_PER_USER_CLIENT
    with registry.session() as session:
        results = [sign_in(session, "sam", "wrong", "10.0.0.66", now=NOW, hasher=CHEAP_HASHER) for _ in range(free)]
    assert not any(r.ok for r in results)
    # Only the failure that starts the wait says so, naming what waits.
    assert [r.locked_seconds for r in results] == [0] * (free - 1) + [limits.SIGN_IN_BACKOFF_BASE_SECONDS]
    assert results[-1].locked == "user_client" and results[0].locked is None
    with registry.session() as session:
        assert session.scalar(select(SignInFailure.id).limit(1)) is not None  # recorded in the database
        paused = sign_in(session, "sam", "correct horse battery", "10.0.0.66", now=NOW, hasher=CHEAP_HASHER)
        assert not paused.ok and paused.wait_seconds == limits.SIGN_IN_BACKOFF_BASE_SECONDS
        # The right person from another address is not slowed by someone else's guesses.
        assert sign_in(session, "sam", "correct horse battery", "10.0.0.1", now=NOW, hasher=CHEAP_HASHER).ok
        # Nor is a colleague behind the attacker's address.
        assert sign_in_wait(session, "kim", "10.0.0.66", now=NOW) == 0
        # Each further failure of the pair doubles its wait.
        later = NOW + dt.timedelta(seconds=paused.wait_seconds)
        assert not sign_in(session, "sam", "wrong", "10.0.0.66", now=later, hasher=CHEAP_HASHER).ok
        assert sign_in_wait(session, "sam", "10.0.0.66", now=later) == 2 * limits.SIGN_IN_BACKOFF_BASE_SECONDS
        later += dt.timedelta(seconds=2 * limits.SIGN_IN_BACKOFF_BASE_SECONDS)
        # A success from another address leaves the guessing address's failures in place.
        assert sign_in(session, "sam", "correct horse battery", "10.0.0.1", now=later, hasher=CHEAP_HASHER).ok
        assert sign_in_wait(session, "sam", "10.0.0.66", now=later - dt.timedelta(seconds=1)) == 1
        # A success from the pair's own address forgives the pair.
        assert sign_in(session, "sam", "correct horse battery", "10.0.0.66", now=later, hasher=CHEAP_HASHER).ok
        assert sign_in_wait(session, "sam", "10.0.0.66", now=later) == 0


def test_an_office_behind_one_address_is_not_slowed_by_a_few_mistakes(registry):
    """Every colleague behind the office's NAT address mistypes a few times: nobody waits.

    Over a hundred failures from one address, but each username counts once towards the address's limit.
    """
    colleagues = limits.SIGN_IN_FREE_USERNAMES_PER_CLIENT - 1
    with registry.session() as session:
        for n in range(colleagues):
            for _ in range(limits.SIGN_IN_FREE_FAILURES_PER_USER_CLIENT - 1):
                sign_in(session, f"colleague{n}", "wrong", "192.0.2.1", now=NOW, hasher=CHEAP_HASHER)
    with registry.session() as session:
        for n in range(colleagues):
            assert sign_in_wait(session, f"colleague{n}", "192.0.2.1", now=NOW) == 0
        assert sign_in_wait(session, "someone-else", "192.0.2.1", now=NOW) == 0


def test_an_address_spraying_many_usernames_waits_as_a_whole(registry):
    with registry.session() as session:
        results = [sign_in(session, f"guess{n}", "wrong", "192.0.2.9", now=NOW, hasher=CHEAP_HASHER)
                   for n in range(limits.SIGN_IN_FREE_USERNAMES_PER_CLIENT)]
    assert results[-1].locked == "client" and results[-1].locked_seconds == limits.SIGN_IN_BACKOFF_BASE_SECONDS
    assert all(r.locked is None for r in results[:-1])
    with registry.session() as session:
        assert sign_in_wait(session, "someone-else", "192.0.2.9", now=NOW) == limits.SIGN_IN_BACKOFF_BASE_SECONDS
        assert sign_in_wait(session, "someone-else", "192.0.2.10", now=NOW) == 0
        window_later = NOW + dt.timedelta(seconds=limits.SIGN_IN_FAILURE_WINDOW_SECONDS + 1)
        assert sign_in_wait(session, "someone-else", "192.0.2.9", now=window_later) == 0


def test_case_rows_round_trip_dates_and_times(registry):
    with registry.session() as session:
        session.add(CaseRecord(case_id="RA-1", payer_id="demo-commercial", folder="0123456789abcdef",
                               first_date_of_service=dt.date(2026, 9, 14), deadline=dt.date(2026, 10, 14),
                               ready=True, late_reason_category="emergency", service_codes="97110",
                               status="ready", created_at=NOW, created_by="sam", updated_at=NOW, updated_by="sam"))
    with registry.session() as session:
        row = session.scalar(select(CaseRecord))
        assert row.deadline == dt.date(2026, 10, 14)
        assert row.created_at == NOW and row.created_at.tzinfo is not None


def test_migration_0002_gives_existing_users_a_session_version_and_takes_it_back(db_url):
    from alembic import command

    from packetizer.registry.database import _alembic_config

    reg = open_registry(db_url, migrate=False)

    def migrate(target: str, *, down: bool = False) -> None:
        config = _alembic_config()
        with reg.engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, target)

    migrate("0001")
    with reg.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, role, password_hash, active, created_at, created_by, "
                          "password_changed_at) VALUES ('sam', 'staff', 'x', true, :now, 'test', :now)"), {"now": NOW})
    migrate("0002")
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT username, session_version FROM users")).all() == [("sam", 0)]
    migrate("0001", down=True)
    assert "session_version" not in {c["name"] for c in inspect(reg.engine).get_columns("users")}
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM users")).all() == [("sam",)]
    reg.close()

"""Registry databases for tests: a SQLite file, or a fresh PostgreSQL schema dropped afterwards.

PostgreSQL is the machine's server (127.0.0.1:5432, trust auth, database ``test``).
Without a reachable server those cases are skipped, unless
PACKETIZER_REQUIRE_POSTGRES=1 (CI, ``make test``) makes that a failure. The ``db_url`` and
``registry`` fixtures are in ``tests/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from alembic import command
from argon2 import PasswordHasher, profiles
from sqlalchemy import create_engine, text

from packetizer.registry.database import _alembic_config

POSTGRES_URL = os.environ.get("PACKETIZER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
#: The real argon2id code with the cheapest parameters, for tests that sign in many times.
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


def migrate(engine, target: str, *, down: bool = False) -> None:
    """Upgrade (or with ``down``, downgrade) the registry at ``engine`` to the migration ``target``."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)


def insert_case_row(conn, case_id: str, folder: str) -> None:
    """Case row 1 as the first migrations' ``cases`` table holds it (raw SQL: the models are the newest)."""
    conn.execute(text(
        "INSERT INTO cases (id, case_id, payer_id, folder, first_date_of_service, ready, late_reason_category, "
        "service_codes, status, created_at, created_by, updated_at, updated_by) VALUES "
        "(1, :case_id, 'demo-commercial', :folder, '2026-09-01', true, 'emergency', '97110', 'approved', "
        ":now, 'sam', :now, 'sam')"), {"case_id": case_id, "folder": folder, "now": NOW})


def postgres_admin():
    """An AUTOCOMMIT engine on the test server (skips the test, or fails it if PostgreSQL is required)."""
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return engine
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        if os.environ.get("PACKETIZER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}: {type(exc).__name__}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")

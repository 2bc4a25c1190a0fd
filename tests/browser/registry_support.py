"""Registry databases for tests: a SQLite file, or a fresh PostgreSQL schema dropped afterwards.

PostgreSQL is the machine's server (127.0.0.1:5432, trust auth, database ``test``).
Without a reachable server those cases are skipped, unless
PACKETIZER_REQUIRE_POSTGRES=1 (CI) makes that a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import create_engine, text

from packetizer.registry import open_registry

POSTGRES_URL = os.environ.get("PACKETIZER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
#: The real argon2id code with the cheapest parameters, for tests that sign in many times.
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


def _postgres_admin():
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return engine
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        if os.environ.get("PACKETIZER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}: {type(exc).__name__}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL for an empty registry: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    admin = _postgres_admin()
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

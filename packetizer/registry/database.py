"""Open the registry database and bring its schema up to date with Alembic."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import RegistryError
from ..private import create_file, make_dirs

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Registry:
    """An open registry: the engine and a session factory bound to it."""

    engine: Engine
    sessions: sessionmaker

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def reachable(self) -> bool:
        """Whether a trivial query succeeds."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers run while one request writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Any constant shared by every process of this application: the advisory lock that serialises migrations.
_MIGRATION_LOCK_KEY = 0x7061636B  # "pack"


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on ``<database>.migrate.lock`` (SQLite has no advisory locks)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    import fcntl  # POSIX only, like the deployment targets

    with os.fdopen(create_file(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT), "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (no-op when the schema is current).

    Several processes may start at once (gunicorn workers each call
    ``create_app``); a lock makes the first migrate and the others find the
    schema current.
    """
    config = _alembic_config()
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine), engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Held until this transaction ends; PostgreSQL's DDL is transactional, so waiters see the result.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


#: The escape character of :func:`contains_pattern` (pass it as ``escape=`` to ``like``/``ilike``).
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally (any backend)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest migration shipped with this version."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def describe_url(url: str) -> str:
    """The URL without its password, safe for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database URL)"


def open_registry(url: str, *, migrate: bool = True) -> Registry:
    """Connect to ``url`` (SQLite or PostgreSQL) and, by default, migrate it to the newest schema.

    Raises:
        RegistryError: the URL is invalid or the database cannot be reached or migrated.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryError("database URL is not valid (expected e.g. sqlite:///path or postgresql+psycopg://...)") from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # The database holds password hashes and the audit log: 0600 in a 0700 folder, whatever the umask.
        # SQLite gives its -wal and -shm files the database file's mode.
        try:
            make_dirs(Path(parsed.database).parent)
            os.close(create_file(parsed.database, os.O_RDWR | os.O_CREAT))
        except OSError as exc:
            raise RegistryError(f"database {describe_url(url)} could not be opened: "
                                f"{exc.strerror or type(exc).__name__}") from None
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise RegistryError(f"database {describe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        if engine.dialect.name == "sqlite" and parsed.database and parsed.database != ":memory:":
            # Persistent: set once per file, under the migrations' lock. Two processes switching a new file to
            # WAL at the same moment made one fail at once with "database is locked" (the busy timeout does not
            # cover the switch); the second now finds the file in WAL already.
            with _sqlite_file_lock(engine), engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        if migrate:
            upgrade(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        log.error("registry %s could not be migrated: %s", describe_url(url), type(exc).__name__)
        raise RegistryError(f"database {describe_url(url)} could not be opened: {type(exc).__name__}") from None
    return Registry(engine, sessionmaker(engine, expire_on_commit=False))

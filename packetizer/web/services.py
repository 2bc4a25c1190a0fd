"""What the views need from the outside world, built once per app and reached through ``current_app``.

Views call :func:`services` and :func:`db`; nothing here is module-level state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from argon2 import PasswordHasher
from flask import current_app, g
from sqlalchemy.orm import Session

from ..archive import PacketArchive, Storage, open_storage
from ..policy import PayerRegistry, load_registry
from ..registry import Registry
from ..registry.users import DEFAULT_HASHER

EXTENSION_KEY = "packetizer"


@dataclass(frozen=True)
class WebServices:
    """The registry, archive (and its spool), payer folder, clock and instance folder of one app."""

    registry: Registry
    archive_location: str
    spool: Path
    payers_dir: str | None
    clock: Callable[[], dt.datetime]
    instance: Path
    hasher: PasswordHasher = DEFAULT_HASHER

    def storage(self) -> Storage:
        return open_storage(self.archive_location)

    def archive(self) -> PacketArchive:
        """Where builds archive: a packet the archive cannot take at once waits in the app's spool."""
        return PacketArchive(self.storage(), self.spool)

    def payers(self) -> PayerRegistry:
        # Read on each use: an admin may edit a policy file without restarting the server.
        return load_registry(self.payers_dir)

    def now(self) -> dt.datetime:
        return self.clock().astimezone(dt.timezone.utc)

    def today(self) -> dt.date:
        """The date deadlines are judged against: the clock's date in the server's time zone."""
        return self.clock().astimezone().date()

    @property
    def cases_dir(self) -> Path:
        return self.instance / "cases"

    @property
    def builds_dir(self) -> Path:
        return self.instance / "builds"

    @property
    def previews_dir(self) -> Path:
        """The stored results of preview jobs (they name the case's documents: private, like the case folders)."""
        return self.instance / "previews"


def services() -> WebServices:
    return current_app.extensions[EXTENSION_KEY]


def db() -> Session:
    """The request's registry session (opened on first use, closed at teardown)."""
    if "db" not in g:
        g.db = services().registry.sessions()
    return g.db


def close_db(exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()

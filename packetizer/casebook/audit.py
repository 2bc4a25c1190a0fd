"""The one way anything writes the audit log: who (an :class:`Actor`) did what to which object.

Every door writes through :func:`write_audit`: a web request as the signed-in
user from the client's address, a batch thread as the system or as the staff
member who started the batch, a command as ``cli`` or ``serve``. The rows and
their hash chain are :mod:`packetizer.registry.audit`'s; this module only
decides who is named in them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..registry import AuditEntry, User, append_audit


@dataclass(frozen=True)
class Actor:
    """Who is named in an audit row: a username (or ``system``, ``cli``, ``serve``), its role, the client."""

    name: str
    role: str
    client: str = "-"

    @classmethod
    def command(cls, name: str = "cli") -> "Actor":
        """A ``packetizer`` command run by the operator, who holds the server's keys: an admin."""
        return cls(name, "admin", "cli")

    @classmethod
    def user(cls, session: Session, username: str) -> "Actor":
        """A user acting outside a request (a batch they started); their role as the registry has it."""
        role = session.scalar(select(User.role).where(User.username == username)) or "staff"
        return cls(username, role)


#: The application itself (a batch ending, a batch folder expiring).
SYSTEM = Actor("system", "system")


def write_audit(session: Session, actor: Actor, action: str, object_type: str, object_id: str | int, *,
                now: dt.datetime, detail: Mapping[str, Any] | None = None) -> AuditEntry:
    """Append one row in ``session``'s transaction; the caller commits it with the change it records.

    Args:
        session: The open registry session.
        actor: Who did it.
        action: What, e.g. ``packet.download``.
        object_type, object_id: What it was done to (ids only, never PHI).
        now: The time (aware).
        detail: Small JSON-able facts: ids, counts and codes only, never PHI.
    """
    return append_audit(session, actor=actor.name, role=actor.role, action=action, object_type=object_type,
                        object_id=str(object_id), client=actor.client, detail=detail, now=now)

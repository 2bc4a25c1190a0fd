"""The one way anything writes the audit log: who (an :class:`Actor`) did what to which object.

Every door writes through :func:`write_audit`: a web request as the signed-in
user from the client's address, a batch thread as the system or as the staff
member who started the batch, a command as ``cli`` or ``serve``. The rows and
their hash chain are :mod:`packetizer.registry.audit`'s; this module only
decides who is named in them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from ..registry import LIKE_ESCAPE, AuditEntry, User, append_audit, contains_pattern


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


def just_acted_on_case(session: Session, actor_name: str, case_id: str, case_pk: int, *, now: dt.datetime,
                       within_seconds: float) -> bool:
    """Whether ``actor_name``'s newest audit row is about this case and less than ``within_seconds`` old.

    A row is about the case when its object is the case, or its detail names the case (``case_id`` or
    ``case_pk``): a save, an upload, a build or a tracking record of it, or a view of it.
    """
    row = session.scalar(select(AuditEntry).where(AuditEntry.actor == actor_name)
                         .order_by(AuditEntry.seq.desc()).limit(1))
    if row is None:
        return False
    try:
        at = dt.datetime.fromisoformat(row.at.replace("Z", "+00:00"))
        detail = json.loads(row.detail)
    except ValueError:
        return False
    if not 0 <= (now - at).total_seconds() < within_seconds:
        return False
    if row.object_type == "case" and row.object_id == case_id:
        return True
    return isinstance(detail, dict) and (detail.get("case_id") == case_id or detail.get("case_pk") == case_pk)


#: Objects whose id is (or holds) a case id.
_CASE_OBJECTS = ("case", "archive", "archive_version")


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is narrowed to; empty fields narrow nothing.

    ``case_id`` may be part of an id, in any case: it matches a row whose object is that case
    (or an archived version or search of it) or whose detail names it.
    """

    actor: str = ""
    action: str = ""
    case_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.actor or self.action or self.case_id or self.date_from or self.date_to)

    def as_args(self) -> dict:
        """The filters as query arguments, for page links that keep them."""
        args = {"actor": self.actor, "action": self.action, "case_id": self.case_id,
                "date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else ""}
        return {key: value for key, value in args.items() if value}


def audit_log_query(wanted: AuditFilter) -> Select:
    """The audit rows ``wanted`` asks for (unordered: the caller orders and pages)."""
    query = select(AuditEntry)
    if wanted.actor:
        query = query.where(AuditEntry.actor == wanted.actor)
    if wanted.action:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.case_id:
        pattern = contains_pattern(wanted.case_id)
        # The detail is canonical JSON: a LIKE cannot keep a part of an id inside one value (it would match
        # the id's digits in a later hash), so the detail must name the whole id (also as a corrected old id).
        whole = contains_pattern(wanted.case_id)[1:-1]   # escaped, without the surrounding %
        query = query.where(or_(
            and_(AuditEntry.object_type.in_(_CASE_OBJECTS), AuditEntry.object_id.ilike(pattern, escape=LIKE_ESCAPE)),
            AuditEntry.detail.ilike(f'%"case_id":"{whole}"%', escape=LIKE_ESCAPE),
            AuditEntry.detail.ilike(f'%"old_case_id":"{whole}"%', escape=LIKE_ESCAPE),
        ))
    # ``at`` is ISO 8601 UTC text ("2026-09-25T15:00:00.000000Z"): text order is time order.
    if wanted.date_from:
        query = query.where(AuditEntry.at >= wanted.date_from.isoformat())
    if wanted.date_to:
        query = query.where(AuditEntry.at < (wanted.date_to + dt.timedelta(days=1)).isoformat())
    return query


def log_actions(session: Session) -> list[str]:
    """Every action the audit log holds, for the action filter."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))

"""The append-only, hash-chained audit log.

Each row's ``hash`` is the SHA-256 of its canonical JSON (every column but
``hash``), and ``prev_hash`` is the previous row's ``hash``, so changing,
removing or reordering a row breaks the chain. The single ``audit_head`` row
names the newest entry: appenders update it first, which serialises them on
SQLite and PostgreSQL alike, and verification uses it to notice rows cut from
the end. The database refuses UPDATE and DELETE on ``audit_log`` (triggers in
the first migration); nothing in the code issues them.

Rows name people by username and objects by id; callers must never pass PHI
(names, member ids, dates of birth, note text) in ``object_id`` or ``detail``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


@dataclass(frozen=True)
class ChainProblem:
    """One place where the audit chain does not hold; ``seq`` is the row (None for the head)."""

    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.seq}" if self.seq is not None else "head"
        return f"{where}: {self.message}"


def _canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _fields(entry: AuditEntry) -> dict:
    return {
        "seq": entry.seq, "at": entry.at, "actor": entry.actor, "role": entry.role, "action": entry.action,
        "object_type": entry.object_type, "object_id": entry.object_id, "client": entry.client,
        "detail": entry.detail, "prev_hash": entry.prev_hash,
    }


def entry_hash(entry: AuditEntry) -> str:
    """The hash a row must carry, recomputed from its other columns."""
    return hashlib.sha256(_canonical(_fields(entry))).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    client: str = "-",
    detail: Mapping[str, Any] | None = None,
    now: dt.datetime,
) -> AuditEntry:
    """Append one row in ``session``'s transaction (committed with the change it records).

    Args:
        session: The open session; the caller commits.
        actor, role: Who did it (username and role, or ``cli``/``system``).
        action: What, e.g. ``packet.download``.
        object_type, object_id: What it was done to (ids only, never PHI).
        client: The client address.
        detail: Small JSON-able facts without PHI (sha prefixes, counts, filters).
        now: The time (aware).
    """
    # Taking the head row first holds a write lock until commit: concurrent appenders queue here.
    session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == _HEAD_ID)).one()
    entry = AuditEntry(
        seq=head.seq,
        at=now.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        actor=actor[:64], role=role[:16], action=action[:64], object_type=object_type[:32],
        object_id=str(object_id)[:200], client=(client or "-")[:64],
        detail=_canonical(dict(detail or {})).decode("utf-8"),
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(hash=entry.hash))
    return entry


def verify_audit_chain(session: Session, *, batch: int = 1000) -> tuple[int, list[ChainProblem]]:
    """Walk the whole log and check every hash and link.

    Returns:
        (number of rows checked, problems found; empty when the chain is intact).
    """
    problems: list[ChainProblem] = []
    expected_prev, expected_seq, count, last_seq = GENESIS_HASH, 1, 0, 0
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    for entry in session.scalars(query):
        count += 1
        if entry.seq != expected_seq:
            problems.append(ChainProblem(entry.seq, f"sequence jumps from {expected_seq - 1} to {entry.seq} (rows missing)"))
        if entry.prev_hash != expected_prev:
            problems.append(ChainProblem(entry.seq, "prev_hash does not match the previous row's hash"))
        if entry_hash(entry) != entry.hash:
            problems.append(ChainProblem(entry.seq, "hash does not match the row's content (row altered)"))
        expected_prev, expected_seq, last_seq = entry.hash, entry.seq + 1, entry.seq
        session.expunge(entry)
    head = session.get(AuditHead, _HEAD_ID)
    if head is None:
        problems.append(ChainProblem(None, "the audit_head row is missing"))
    else:
        if head.seq != last_seq:
            problems.append(ChainProblem(None, f"head names row {head.seq} but the last row is {last_seq} (rows cut from the end)"))
        elif head.hash != expected_prev:
            problems.append(ChainProblem(None, "head hash does not match the last row"))
    return count, problems

"""Builds: the one place a packet built for a case is recorded in the registry.

A packet built from the case page and one built by a batch and added to the
case list are recorded alike by :func:`record_build`: the build row, the case's
status, and a ``packet.build`` audit row. The files of a build the archive
never took are kept for ``UNARCHIVED_BUILD_KEEP_DAYS`` (:func:`expire_unarchived_builds`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import limits
from ..model import Case, PayerPolicy
from ..pipeline import Packet, input_fingerprint
from ..registry import Build, CaseRecord
from .audit import SYSTEM, Actor, write_audit
from .tracking import update_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltFiles:
    """What one build left in its build folder (see :func:`~.folders.new_build_folder`), as the registry records it."""

    folder: str
    file_name: str
    report_name: str
    report_html_name: str
    sha256: str
    size: int
    pages: int
    archive_prefix: str | None = None
    archive_error: str | None = None

    @classmethod
    def of_packet(cls, folder: str, packet: Packet) -> "BuiltFiles":
        """The files :func:`packetizer.pipeline.build_packet` wrote into the build folder ``folder``."""
        return cls(folder=folder, file_name=packet.path.name, report_name=packet.report_path.name,
                   report_html_name=packet.report_html_path.name, sha256=packet.sha256, size=packet.size,
                   pages=packet.pages, archive_prefix=packet.archived.prefix if packet.archived else None,
                   archive_error=packet.archive_error)


def record_build(session: Session, record: CaseRecord, files: BuiltFiles, *, case: Case, policy: PayerPolicy,
                 built_by: str, actor: Actor, now: dt.datetime, override_reason: str | None = None,
                 **detail: Any) -> Build:
    """Add the build row of a packet built from ``case``, move the case's status on, audit ``packet.build``.

    The caller commits. ``detail`` joins the audit row (ids, counts and codes only).
    """
    row = Build(
        case_pk=record.id, created_at=now, built_by=built_by, folder=files.folder, file_name=files.file_name,
        report_name=files.report_name, report_html_name=files.report_html_name, sha256=files.sha256,
        size=files.size, pages=files.pages, input_fingerprint=input_fingerprint(case, policy),
        override_reason=override_reason, archive_prefix=files.archive_prefix, archive_error=files.archive_error,
    )
    session.add(row)
    record.builds.append(row)
    update_status(record)
    session.flush()
    write_audit(session, actor, "packet.build", "build", row.id, now=now, detail={
        "case_id": record.case_id, "sha256": files.sha256[:16], "pages": files.pages,
        "archived": bool(files.archive_prefix), **detail})
    return row


def expire_unarchived_builds(session: Session, builds_dir: Path, *, now: dt.datetime,
                             keep_days: int = limits.UNARCHIVED_BUILD_KEEP_DAYS) -> list[int]:
    """Remove the files of builds the archive never took, ``keep_days`` after they were built; their ids.

    The build row stays (the case's history and the audit log name it) and each
    removal is audited as ``build.expire``; the caller commits. A packet that
    waits in the spool for the archive is not touched there. Several server
    processes may run this at once: a folder is renamed away before it is
    removed, so exactly one of them removes and audits it.
    """
    cutoff = now - dt.timedelta(days=keep_days)
    rows = session.scalars(select(Build).where(Build.archive_prefix.is_(None), Build.created_at < cutoff)
                           .order_by(Build.id)).all()
    root = Path(builds_dir).resolve()
    expired = []
    for row in rows:
        folder = root.joinpath(*row.folder.split("/")).resolve()
        if folder.parent == root or root not in folder.parents or not folder.is_dir():
            continue  # not a build folder of this instance (or already removed)
        doomed = folder.with_name(f".expired-{folder.name}-{secrets.token_hex(4)}")
        try:
            os.rename(folder, doomed)
        except OSError:  # another process took it first
            continue
        shutil.rmtree(doomed, ignore_errors=True)
        write_audit(session, SYSTEM, "build.expire", "build", row.id, now=now,
                    detail={"case_pk": row.case_pk, "keep_days": keep_days})
        log.info("files of unarchived build %d removed after %d days", row.id, keep_days)
        expired.append(row.id)
    return expired

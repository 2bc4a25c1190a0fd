"""Mistakes undone: a case deleted before anything was sent, a case id corrected before anything was built.

A case may be deleted while no submission was ever recorded for it (a recorded
one, even corrected, is part of what was sent to a payer) and no build or
preview of it runs. Its row, builds and jobs leave the registry, and its folder
(case file and uploads), its build folders and its stored previews leave the
instance. Packets already in the archive stay there: the archive is write-once
and auditors find them by case id; a packet waiting in the spool still goes to
the archive. The audit log keeps every row that names the case, and
``case.delete`` says what went.

A case id may be corrected while the case has no build and no job runs: the id
is printed on the packet and names its archive key, so once a packet exists
the id is what the payer may have. The id lives in the case file and in the
case's row; nothing else (folders, uploads, drafts, previews) is named by it.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..model import Case, PayerPolicy
from ..registry import Build, CaseRecord, Job, Submission
from ..registry.models import ACTIVE_JOB_STATES
from .audit import Actor, write_audit
from .cases import update_case
from .folders import CaseFolder

log = logging.getLogger(__name__)


def _job_running(session: Session, record: CaseRecord) -> bool:
    return session.scalar(select(Job.id).where(Job.case_pk == record.id, Job.state.in_(ACTIVE_JOB_STATES))
                          .limit(1)) is not None


def _submitted(session: Session, record: CaseRecord) -> bool:
    return session.scalar(select(Submission.id).where(Submission.case_pk == record.id).limit(1)) is not None


def deletion_refusal(session: Session, record: CaseRecord) -> str | None:
    """Why the case cannot be deleted now, in staff words; None when it can."""
    if _submitted(session, record):
        return "A submission to the payer is recorded for this case, so it stays on record and cannot be deleted."
    if _job_running(session, record):
        return "A build or preview of this case is running; wait until it ends, then delete the case."
    return None


def case_id_refusal(session: Session, record: CaseRecord) -> str | None:
    """Why the case id cannot be corrected now, in staff words; None when it can."""
    if record.builds or _submitted(session, record):
        return ("A packet was built with this case id (it is printed on the packet and names it in the archive), "
                "so the id can no longer change. Delete the case and enter it again if the id is wrong.")
    if _job_running(session, record):
        return "A build or preview of this case is running; wait until it ends, then correct the case id."
    return None


@dataclass(frozen=True)
class DeletedFiles:
    """The folders and files of a deleted case, removed once the deletion is committed."""

    paths: tuple[Path, ...]

    def remove(self) -> None:
        for path in self.paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def delete_case(session: Session, record: CaseRecord, *, cases_dir: Path, builds_dir: Path, previews_dir: Path,
                preview_path, actor: Actor, now: dt.datetime) -> DeletedFiles:
    """Delete a never-submitted case's rows and audit ``case.delete``; the caller commits, then removes the files.

    Args:
        preview_path: ``(previews_dir, job_id) -> Path`` of a preview job's stored result.

    Raises:
        ValueError: the case cannot be deleted (:func:`deletion_refusal` says why).
    """
    refusal = deletion_refusal(session, record)
    if refusal is not None:
        raise ValueError(refusal)
    folder = CaseFolder.at(cases_dir, record.folder)
    builds = session.scalars(select(Build).where(Build.case_pk == record.id)).all()
    jobs = session.scalars(select(Job).where(Job.case_pk == record.id)).all()
    root = Path(builds_dir).resolve()
    build_folders = [root.joinpath(*b.folder.split("/")).resolve() for b in builds]
    paths = [folder.root, root / record.folder] + [p for p in build_folders if root in p.parents]
    paths += [preview_path(previews_dir, job.id) for job in jobs if job.kind == "preview"]
    detail = {"case_pk": record.id, "payer_id": record.payer_id, "builds": len(builds),
              "archived_builds": sum(1 for b in builds if b.archive_prefix), "jobs": len(jobs)}
    for job in jobs:
        session.delete(job)
    session.flush()  # jobs name builds
    for build in builds:
        session.delete(build)
    session.flush()
    session.delete(record)
    write_audit(session, actor, "case.delete", "case", record.case_id, now=now, detail=detail)
    log.info("case %s deleted (record %d)", record.case_id, detail["case_pk"])
    return DeletedFiles(tuple(paths))


def correct_case_id(session: Session, record: CaseRecord, folder: CaseFolder, doc: dict, case: Case,
                    policy: PayerPolicy, *, actor: Actor, now: dt.datetime, today: dt.date) -> str:
    """Give the case the id in ``doc`` (validated into ``case``), audited as ``case.correct_id``; the old id.

    The row is flushed before the case file is written, so a case id another case
    took meanwhile fails here (``IntegrityError``) with the file unchanged. The
    caller commits, and writes ``folder``'s previous case file back if that fails.

    Raises:
        ValueError: the case id cannot change any more (:func:`case_id_refusal` says why).
    """
    refusal = case_id_refusal(session, record)
    if refusal is not None:
        raise ValueError(refusal)
    old = record.case_id
    update_case(session, record, case, policy, actor=actor, now=now, today=today, action="case.correct_id",
                old_case_id=old, new_case_id=case.case_id)
    session.flush()
    folder.write(doc)
    log.info("case id %s corrected to %s (record %d)", old, case.case_id, record.id)
    return old

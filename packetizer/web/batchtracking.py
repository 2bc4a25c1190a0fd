"""Cases built by a web batch join the case list, so their packets are tracked until the payer decides.

When a batch uploaded in the web app ends, every case it built becomes a case
of the web application, as if staff had entered it: its case file and notes
are copied into a new case folder, its packet and disclosure reports into the
builds folder, and a case row and a build row are added to the registry (both
in the audit log). Staff then record the submission and the payer's decision
on the case page.

A case id already in the case list is not replaced. When the existing case
has the same content (the same case fields and the same bytes in its notes)
the batch's packet is added to it as a new build; otherwise the packet stays
with the batch only, and the batch page says why.

This runs in the batch thread, outside any request, before the uploaded notes
are removed. Messages and logs name case ids only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..batch.manifest import read_manifest
from ..batch.report import RowResult, replace_file
from ..errors import ErrorCode, PacketizerError
from ..model import Case
from ..pipeline import input_fingerprint
from ..registry import Build, CaseRecord, User, append_audit
from ..registry.tracking import case_status
from .casefiles import CaseFolder, new_folder_name
from .casework import refresh_checks
from .services import WebServices

log = logging.getLogger(__name__)

TRACKING_FILE = "tracking.json"
OTHER_CONTENT = ("already in the case list with other content; this packet was not added to it "
                 "(download it here, or build it from the case page)")
NOT_ADDED = "could not be added to the case list; its packet is kept with this batch"


@dataclass(frozen=True)
class Tracked:
    """Where one built case of a batch went: the case row it joined, or why it did not."""

    case_pk: int | None
    note: str | None = None

    def to_dict(self) -> dict:
        return {"case_pk": self.case_pk, "note": self.note}


def track_built_cases(svc: WebServices, *, batch_id: str, manifest: Path, out_dir: Path,
                      rows: Iterable[RowResult], started_by: str, built_by: str) -> dict[str, Tracked]:
    """Add every case the batch built to the case list; return case id -> :class:`Tracked`.

    Args:
        svc: the app's services (registry, folders, payers, clock).
        batch_id: for the audit log.
        manifest: the batch's staged manifest (its notes are still in place).
        out_dir: where the batch wrote the packets and reports.
        rows: the batch report's rows.
        started_by: the staff member who uploaded the batch (the actor in the audit log).
        built_by: the ``built_by`` the packets carry.
    """
    built = {row.case_id: row for row in rows if row.status == "built" and row.packet and row.case_id}
    if not built:
        return {}
    cases = {entry.case_id: entry.case for entry in read_manifest(manifest).entries if entry.case is not None}
    out: dict[str, Tracked] = {}
    for case_id, row in built.items():
        case = cases.get(case_id)
        if case is None:
            continue
        try:
            out[case_id] = _track(svc, case, row, out_dir, batch_id=batch_id, started_by=started_by,
                                  built_by=built_by)
        except Exception as exc:  # noqa: BLE001 - one case's failure must not cost the others
            log.error("batch %s: case %s not added to the case list: %s", batch_id, case_id, type(exc).__name__)
            out[case_id] = Tracked(None, NOT_ADDED)
    return out


def _track(svc: WebServices, case: Case, row: RowResult, out_dir: Path, *, batch_id: str, started_by: str,
           built_by: str) -> Tracked:
    policy = svc.payers().get(case.payer_id)
    created: CaseFolder | None = None
    build_folder: Path | None = None
    with svc.registry.session() as session:
        try:
            record = session.scalar(select(CaseRecord).where(CaseRecord.case_id == case.case_id))
            if record is not None:
                stored = _stored_case(svc, record)
                if stored is None or _content(stored) != _content(case):
                    return Tracked(record.id, OTHER_CONTENT)
                tracked_case = stored
            else:
                created = CaseFolder.at(svc.cases_dir, new_folder_name())
                tracked_case = _copy_case(case, created)
                record = _new_record(session, svc, tracked_case, policy, created, started_by)
                _audit(session, svc, started_by, "case.create", "case", case.case_id,
                       case_pk=record.id, payer_id=case.payer_id, source="batch", batch_id=batch_id)
            token = secrets.token_hex(8)
            build_folder = svc.builds_dir / record.folder / token
            names = _copy_packet(out_dir, row.packet, build_folder)
            build = Build(
                case_pk=record.id, created_at=svc.now(), built_by=built_by, folder=f"{record.folder}/{token}",
                file_name=names[0], report_name=names[1], report_html_name=names[2], sha256=row.sha256 or "",
                size=(build_folder / names[0]).stat().st_size, pages=row.pages or 0,
                input_fingerprint=input_fingerprint(tracked_case, policy), override_reason=None,
                archive_prefix=row.archived, archive_error=None,
            )
            session.add(build)
            record.builds.append(build)
            record.status = case_status(record)
            session.flush()
            _audit(session, svc, started_by, "packet.build", "build", build.id, case_id=case.case_id,
                   sha256=(row.sha256 or "")[:16], pages=row.pages, archived=bool(row.archived), batch_id=batch_id)
            session.commit()
        except BaseException:
            session.rollback()
            if build_folder is not None:
                shutil.rmtree(build_folder, ignore_errors=True)
            if created is not None:
                shutil.rmtree(created.root, ignore_errors=True)
            raise
    log.info("batch %s: case %s is in the case list (record %d)", batch_id, case.case_id, record.id)
    return Tracked(record.id)


def _stored_case(svc: WebServices, record: CaseRecord) -> Case | None:
    try:
        return CaseFolder.at(svc.cases_dir, record.folder).load()
    except (PacketizerError, OSError, ValueError):
        return None


def _content(case: Case) -> str:
    """A hash of the case fields and the notes' bytes, wherever the notes are stored."""
    doc = json.loads(json.dumps(case.raw, default=str))
    for att in doc.get("attachments") or ():
        if isinstance(att, dict):
            att.pop("file", None)
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for att in case.attachments:
        digest.update(hashlib.sha256(att.path.read_bytes()).digest())
    return digest.hexdigest()


def _copy_case(case: Case, folder: CaseFolder) -> Case:
    """Write the case file and a copy of its notes into ``folder``; the case as it now loads from there."""
    doc = json.loads(json.dumps(case.raw, default=str))
    for index, att in enumerate(case.attachments):
        doc["attachments"][index]["file"] = folder.save_upload(att.path.read_bytes(), Path(att.file).name)
    folder.write(doc)
    return folder.load()


def _new_record(session: Session, svc: WebServices, case: Case, policy, folder: CaseFolder,
                username: str) -> CaseRecord:
    now = svc.now()
    record = CaseRecord(folder=folder.root.name, status="draft", created_at=now, created_by=username,
                        updated_at=now, updated_by=username)
    refresh_checks(record, case, policy, today=svc.today())
    session.add(record)
    session.flush()
    return record


def plain_file_name(name: str) -> bool:
    """Whether a name from a batch report is a plain file name in the batch's ``out/`` (never a path)."""
    return not ("/" in name or "\\" in name or name.startswith("."))


def _copy_packet(out_dir: Path, packet: str, target: Path) -> tuple[str, str, str]:
    """Copy the packet and its two disclosure reports; their file names (packet, JSON report, HTML report)."""
    if not plain_file_name(packet):
        raise PacketizerError("a batch report named a packet outside its folder", code=ErrorCode.BAD_REPORT)
    stem = packet.removesuffix(".pdf")
    names = (packet, f"{stem}.disclosure.json", f"{stem}.disclosure.html")
    target.mkdir(parents=True)
    for name in names:
        shutil.copyfile(out_dir / name, target / name)
    return names


def _audit(session: Session, svc: WebServices, actor: str, action: str, object_type: str, object_id,
           **detail) -> None:
    role = session.scalar(select(User.role).where(User.username == actor)) or "staff"
    append_audit(session, actor=actor, role=role, action=action, object_type=object_type,
                 object_id=str(object_id), detail=detail, now=svc.now())


def write_tracking(folder: Path, tracked: dict[str, Tracked]) -> None:
    """Write the batch's ``tracking.json`` (case id -> where it went), atomically."""
    body = json.dumps({case_id: t.to_dict() for case_id, t in tracked.items()}, indent=2) + "\n"
    replace_file(folder / TRACKING_FILE, body.encode("utf-8"))


def read_tracking(folder: Path) -> dict[str, Tracked]:
    """The batch's ``tracking.json`` (case id -> :class:`Tracked`), empty when there is none."""
    try:
        data = json.loads((folder / TRACKING_FILE).read_text(encoding="utf-8"))
        return {case_id: Tracked(item.get("case_pk"), item.get("note")) for case_id, item in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}

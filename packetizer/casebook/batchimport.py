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
are removed (see :mod:`packetizer.batch.background`). Messages and logs name
case ids only.
"""

from __future__ import annotations

import datetime as dt
import errno
import glob
import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import select

from ..archive.local import NO_HARDLINK_ERRNOS
from ..batch.manifest import read_manifest
from ..batch.report import RowResult, replace_file
from ..errors import ErrorCode, PacketizerError
from ..model import Case
from ..policy import PayerRegistry
from ..private import create_file, make_dir, make_dirs
from ..registry import CaseRecord, Registry
from .audit import Actor
from .builds import BuiltFiles, record_build
from .cases import add_case, case_folder
from .folders import CaseFolder, new_build_folder, new_folder_name

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


@dataclass(frozen=True)
class CaseList:
    """The case list a batch's cases join: the registry, the instance's case and build folders, the payers, the clock.

    Attributes:
        now: The clock (aware UTC datetimes).
        today: The date deadlines are judged against.
    """

    registry: Registry
    cases_dir: Path
    builds_dir: Path
    payers: PayerRegistry
    now: Callable[[], dt.datetime]
    today: dt.date


def track_built_cases(case_list: CaseList, *, batch_id: str, manifest: Path, out_dir: Path,
                      rows: Iterable[RowResult], started_by: str, built_by: str) -> dict[str, Tracked]:
    """Add every case the batch built to the case list; return case id -> :class:`Tracked`.

    Args:
        case_list: the case list to add them to.
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
            out[case_id] = _track(case_list, case, row, out_dir, batch_id=batch_id, started_by=started_by,
                                  built_by=built_by)
        except Exception as exc:  # noqa: BLE001 - one case's failure must not cost the others
            log.error("batch %s: case %s not added to the case list: %s", batch_id, case_id, type(exc).__name__)
            out[case_id] = Tracked(None, NOT_ADDED)
    return out


def _track(case_list: CaseList, case: Case, row: RowResult, out_dir: Path, *, batch_id: str, started_by: str,
           built_by: str) -> Tracked:
    policy = case_list.payers.get(case.payer_id)
    created: CaseFolder | None = None
    build_folder: Path | None = None
    with case_list.registry.session() as session:
        try:
            actor = Actor.user(session, started_by)
            record = session.scalar(select(CaseRecord).where(CaseRecord.case_id == case.case_id))
            if record is not None:
                stored = _stored_case(case_list, record)
                if stored is None or _content(stored) != _content(case):
                    return Tracked(record.id, OTHER_CONTENT)
                tracked_case = stored
            else:
                created = CaseFolder.at(case_list.cases_dir, new_folder_name())
                tracked_case = _copy_case(case, created)
                record = add_case(session, created, tracked_case, policy, actor=actor, now=case_list.now(),
                                  today=case_list.today, source="batch", batch_id=batch_id)
            folder, build_folder = new_build_folder(case_list.builds_dir, record.folder)
            names = _copy_packet(out_dir, row.packet, build_folder)
            files = BuiltFiles(folder=folder, file_name=names[0], report_name=names[1], report_html_name=names[2],
                               sha256=row.sha256 or "", size=(build_folder / names[0]).stat().st_size,
                               pages=row.pages or 0, archive_prefix=row.archived)
            record_build(session, record, files, case=tracked_case, policy=policy, built_by=built_by, actor=actor,
                         now=case_list.now(), batch_id=batch_id)
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


def _stored_case(case_list: CaseList, record: CaseRecord) -> Case | None:
    try:
        return case_folder(case_list.cases_dir, record).load()
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


def plain_file_name(name: str) -> bool:
    """Whether a name from a batch report is a plain file name in the batch's ``out/`` (never a path)."""
    return not ("/" in name or "\\" in name or name.startswith("."))


def _copy_packet(out_dir: Path, packet: str, target: Path) -> tuple[str, str, str]:
    """Give the build folder the packet and its two disclosure reports; their file names (packet, JSON, HTML).

    The files are hard-linked, not copied: the batch folder and the build folder
    then name the same bytes, stored once, and the batch folder's expiry leaves
    the build's files in place. Only where the two cannot share a file (another
    file system) are they copied, as private files.
    """
    if not plain_file_name(packet):
        raise PacketizerError("a batch report named a packet outside its folder", code=ErrorCode.BAD_REPORT)
    # A packet built in parts (SPEC section 11) is reported as part 1: its reports carry the whole packet's
    # name, and every part goes with it.
    stem = re.sub(r"_part\d+of\d+$", "", packet.removesuffix(".pdf"))
    names = (packet, f"{stem}.disclosure.json", f"{stem}.disclosure.html")
    others = sorted(p.name for p in out_dir.glob(f"{glob.escape(stem)}_part*of*.pdf")
                    if p.name != packet and re.fullmatch(rf"{re.escape(stem)}_part\d+of\d+\.pdf", p.name))
    make_dirs(target.parent)
    make_dir(target)
    for name in (*names, *others):
        try:
            os.link(out_dir / name, target / name)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, *NO_HARDLINK_ERRNOS):
                raise
            with open(out_dir / name, "rb") as source, os.fdopen(create_file(target / name), "wb") as copy:
                shutil.copyfileobj(source, copy)
    return names


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

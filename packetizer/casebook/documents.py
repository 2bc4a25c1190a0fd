"""Adding documents to a case: several in one go, all of them or none.

Each file is checked by content (:func:`~.folders.check_upload`), stored under a
random name and converted once to prove it reads; then the case with every new
document is validated as every door validates it. If any file is refused,
nothing is kept and every refusal is told at once, so staff fix the set and send
it again (storing the good ones would leave them to pick out which files are
already in, and a second send would add those twice).

A refusal is audited as ``document.rejected`` with the row, the file's type,
its size and the error code: never its name, which often holds the patient's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from ..errors import PacketizerError, UploadError
from ..ingest import ingest_attachment
from ..model import ATTACHMENT_KIND_WORDS, Attachment, Case
from ..registry import CaseRecord
from .audit import Actor, write_audit
from .folders import SUFFIX_WORDS, CaseFolder, ingest_message

#: A date in a file's name, as practice systems export notes: ``2026-09-14-evaluation.docx``.
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_.](\d{2})[-_.](\d{2})(?!\d)")
#: The validation problem of one attachment (``attachments[3].date``).
_ATTACHMENT_FIELD = re.compile(r"^attachments\[(\d+)\]")

#: Reason codes of refusals that are not a :class:`~packetizer.errors.PacketizerError`.
NO_DATE = "missing_date"
BAD_DATE = "bad_date"
BAD_KIND = "bad_kind"
NO_FILE = "missing_file"


@dataclass(frozen=True)
class NewDocument:
    """One row of the upload form: the file (its bytes and the name it had) and what staff said it is."""

    row: int                 # 1-based, as the form shows its rows
    data: bytes | None       # None: no file chosen in this row
    name: str                # the file's own name, for display only
    kind: str
    date_text: str
    title: str | None = None


@dataclass(frozen=True)
class Added:
    """A document stored and listed in the case file."""

    rel: str
    name: str
    kind: str
    pages: int


@dataclass(frozen=True)
class Rejection:
    """Why one file was refused: ``message`` is told to staff, the rest is what the audit log may hold."""

    row: int
    name: str
    message: str
    code: str
    suffix: str
    size: int
    field: str | None = None    # the case file's path of the value refused, when the case check refused it


def date_from_name(name: str) -> dt.date | None:
    """The date written in a file's name (``2026-09-14-evaluation.docx``), if there is a valid one."""
    match = _DATE_IN_NAME.search(name or "")
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_date(text: str) -> dt.date | None:
    """A date as a date input sends it (2026-09-14) or as staff type it (09/14/2026); None if it is neither."""
    text = (text or "").strip()
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _suffix(name: str) -> str:
    """The file's type for the audit log: a supported ending, else "other" (any other ending is part of a
    name a person chose, and may spell a patient's name)."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix in SUFFIX_WORDS else "other"


def _refuse(doc: NewDocument, message: str, code: str, field: str | None = None) -> Rejection:
    return Rejection(doc.row, doc.name, message, str(code), _suffix(doc.name), len(doc.data or b""), field)


def _document_date(doc: NewDocument) -> tuple[dt.date | None, Rejection | None]:
    if doc.date_text.strip():
        day = parse_date(doc.date_text)
        if day is None:
            return None, _refuse(doc, f"the document date {doc.date_text.strip()!r} is not a date like 09/14/2026",
                                 BAD_DATE)
        return day, None
    day = date_from_name(doc.name)
    if day is None:
        return None, _refuse(doc, "the document date is required (or start the file's name with it, "
                                  "like 2026-09-14-evaluation.docx)", NO_DATE)
    return day, None


def add_documents(folder: CaseFolder, documents: list[NewDocument],
                  validate: Callable[[dict], tuple[Case | None, list[tuple[str, str]]]]
                  ) -> tuple[list[Added], list[Rejection], Case | None]:
    """Store ``documents`` in the case folder and list them in its case file, all of them or none.

    Args:
        folder: The case's folder.
        documents: The rows of the upload form that have a file (or something typed).
        validate: Checks a case mapping as the door does; returns (case, problems).

    Returns:
        (added, [], case) when every document went in; ([], rejections, None) when
        any was refused, with nothing stored.
    """
    saved: list[str] = []   # every upload written so far: removed again unless the whole set goes in
    try:
        added, rejections, case = _add_all(folder, documents, validate, saved)
    except BaseException:   # anything unforeseen (a converter crash, a full disk) leaves nothing behind either
        for rel in saved:
            folder.remove_upload(rel)
        raise
    if rejections:
        for rel in saved:
            folder.remove_upload(rel)
    return added, rejections, case


def _add_all(folder: CaseFolder, documents: list[NewDocument],
             validate: Callable[[dict], tuple[Case | None, list[tuple[str, str]]]],
             saved: list[str]) -> tuple[list[Added], list[Rejection], Case | None]:
    stored: list[tuple[NewDocument, str, Attachment, int]] = []
    rejections: list[Rejection] = []
    for doc in documents:
        if doc.data is None:
            rejections.append(_refuse(doc, "a date or title was typed in this row, but no file was chosen", NO_FILE))
            continue
        day, refused = _document_date(doc)
        if refused is None and doc.kind not in ATTACHMENT_KIND_WORDS:
            refused = _refuse(doc, "choose the kind of document", BAD_KIND)
        if refused is not None:
            rejections.append(refused)
            continue
        try:
            rel = folder.save_upload(doc.data, doc.name)
        except UploadError as exc:
            rejections.append(_refuse(doc, exc.detail, exc.code))
            continue
        saved.append(rel)
        att = Attachment(file=rel, path=folder.root / rel, kind=doc.kind, date=day, title=doc.title or None)
        try:
            exhibit = ingest_attachment(att)
        except PacketizerError as exc:  # unreadable, encrypted, over a limit, or cannot be rendered
            told = ingest_message(exc, rel, doc.name)
            rejections.append(_refuse(doc, told.removeprefix(f"{doc.name}: "), exc.code))
            continue
        stored.append((doc, rel, att, exhibit.pages))
    if not rejections:
        case_doc = folder.read()
        listed = case_doc.setdefault("attachments", [])
        first = len(listed)
        for _, rel, att, _ in stored:
            entry = {"file": rel, "kind": att.kind, "date": att.date.isoformat()}
            if att.title:
                entry["title"] = att.title
            listed.append(entry)
        case, problems = validate(case_doc)
        for field, message in problems:
            where = _ATTACHMENT_FIELD.match(field)
            position = int(where[1]) - first if where else -1
            doc = stored[position][0] if 0 <= position < len(stored) else stored[0][0]
            rejections.append(_refuse(doc, message, "bad_case", field))
    if rejections:
        return [], sorted(rejections, key=lambda r: r.row), None
    folder.write(case_doc)
    saved.clear()   # the case file lists them now: they stay
    added = []
    for doc, rel, att, pages in stored:
        folder.record_pages(rel, pages)  # the case page weighs the documents against the channel's page limit
        added.append(Added(rel, doc.name, att.kind, pages))
    return added, [], case


def audit_rejections(session: Session, record: CaseRecord, rejections: list[Rejection], *, actor: Actor,
                     now: dt.datetime) -> None:
    """One ``document.rejected`` row per refused file: its row, type, size and reason code, never its name."""
    for rejected in rejections:
        write_audit(session, actor, "document.rejected", "case", record.case_id, now=now, detail={
            "case_pk": record.id, "row": rejected.row, "type": rejected.suffix, "size": rejected.size,
            "code": rejected.code})

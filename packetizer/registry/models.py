"""The registry's tables: users, sign-in failures, cases, builds, jobs, submissions, determinations, the denial
worklist (remittance uploads and their work items), audit log.

A case row carries the case id, payer, dates, codes and status needed to
list and track it, and the member's name, member id and claim number the case
list is searched by (patient data: never logged, never in the audit log); the
case itself (date of birth, notes, everything else) stays in the case folder.
Audit rows are append-only (see :mod:`packetizer.registry.audit`).

Tracking records (submissions, requests for information, determinations) are
corrected, never edited: a correction is a new row that names the row it
``corrects`` and why, and the old row keeps its values with ``superseded_at``
set. The current records are those not superseded.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROLES = ("staff", "auditor", "admin")
JOB_KINDS = ("build", "preview", "appeal")   # appeal: a build of the appeal packet (SPEC section 10)
#: queued -> running -> done | failed; a job is active while queued or running.
JOB_STATES = ("queued", "running", "done", "failed")
ACTIVE_JOB_STATES = ("queued", "running")
DETERMINATIONS = ("approved", "partially_approved", "denied")
CHANNELS = ("portal", "fax", "mail", "appeal")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person who signs in; ``role`` is one of :data:`ROLES`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Raised to end every session of this user (sign-out, password change, account disabled).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SignInFailure(Base):
    """One failed sign-in, counted per username and per client address for the backoff."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)


class CaseRecord(Base):
    """A case known to the web application; the case file lives in ``folder`` under the instance."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), unique=True)
    payer_id: Mapped[str] = mapped_column(String(64), index=True)
    folder: Mapped[str] = mapped_column(String(64), unique=True)
    first_date_of_service: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date | None] = mapped_column(Date, index=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    late_reason_category: Mapped[str] = mapped_column(String(64))
    service_codes: Mapped[str] = mapped_column(String(2000))   # space-separated, for outcome patterns
    # Copied from the case file so the case list can be searched in SQL (patient data: never logged or audited).
    # Empty (None) on a row made before migration 0005 until the app fills it at start.
    member_first_name: Mapped[str | None] = mapped_column(String(100))
    member_last_name: Mapped[str | None] = mapped_column(String(100))
    member_id: Mapped[str | None] = mapped_column(String(64))
    claim_number: Mapped[str | None] = mapped_column(String(64))
    # The member's name and id and the claim number folded for search (no case, no accents: "alvarez" finds
    # "ÁLVAREZ" on any database; SQLite's lower() knows ASCII only).
    search_text: Mapped[str | None] = mapped_column(String(400))
    # Copied from the case file for the outcome breakdowns (not patient data); empty on a row made before
    # migration 0007 until its checks run again.
    facility_name: Mapped[str | None] = mapped_column(String(200))
    rendering_provider: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default="draft")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))

    builds: Mapped[list["Build"]] = relationship(back_populates="case", order_by="Build.id")
    submissions: Mapped[list["Submission"]] = relationship(back_populates="case", order_by="Submission.id")

    @property
    def current_submissions(self) -> list["Submission"]:
        """The submissions as they stand: a corrected one is replaced by its correction."""
        return [s for s in self.submissions if s.current]


class Build(Base):
    """One packet built from a case; the files sit in ``folder`` under the instance."""

    __tablename__ = "builds"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    built_by: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str] = mapped_column(String(255))
    report_name: Mapped[str] = mapped_column(String(255))
    report_html_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    input_fingerprint: Mapped[str | None] = mapped_column(String(64))
    override_reason: Mapped[str | None] = mapped_column(Text)
    archive_prefix: Mapped[str | None] = mapped_column(String(1024))
    archive_error: Mapped[str | None] = mapped_column(Text)

    case: Mapped[CaseRecord] = relationship(back_populates="builds")


class Job(Base):
    """A build or preview of a case run outside the request, its progress, and what it made.

    ``host`` and ``pid`` name the process that runs it (the server process while
    it is queued, the worker process once running), so a job whose process is gone
    is marked failed rather than left running forever. A case has at most one
    active job of each kind: the partial unique index holds that even when two
    clicks race, and the second joins the first.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("uq_jobs_active", "case_pk", "kind", unique=True,
              sqlite_where=text("state IN ('queued', 'running')"),
              postgresql_where=text("state IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    input_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str | None] = mapped_column(String(32))
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_total: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)          # user-safe, never PHI
    override_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)

    case: Mapped[CaseRecord] = relationship()
    build: Mapped[Build | None] = relationship()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES


class Submission(Base):
    """A packet sent to the payer and its follow-up date; the payer answers with requests and a determination."""

    __tablename__ = "submissions"
    # A record is corrected once; a second correction is made to the correction (and two racing lose one).
    __table_args__ = (Index("uq_submissions_corrects_id", "corrects_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id"))
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(100))
    follow_up_due: Mapped[dt.date] = mapped_column(Date, index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)

    case: Mapped[CaseRecord] = relationship(back_populates="submissions")
    build: Mapped[Build | None] = relationship()
    corrects: Mapped["Submission | None"] = relationship(remote_side=[id])
    info_requests: Mapped[list["InfoRequest"]] = relationship(back_populates="submission", order_by="InfoRequest.id")
    determinations: Mapped[list["Determination"]] = relationship(back_populates="submission",
                                                                 order_by="Determination.id")

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    @property
    def current_determination(self) -> "Determination | None":
        """The payer's decision as it stands (corrections applied), if one was recorded."""
        return next((d for d in self.determinations if d.current), None)

    @property
    def current_info_requests(self) -> list["InfoRequest"]:
        return [r for r in self.info_requests if r.current]


class InfoRequest(Base):
    """The payer asked for more information about a submission; ``responded_on`` is when it was sent."""

    __tablename__ = "info_requests"
    __table_args__ = (Index("uq_info_requests_corrects_id", "corrects_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    requested_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    responded_on: Mapped[dt.date | None] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("info_requests.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)

    submission: Mapped[Submission] = relationship(back_populates="info_requests")
    corrects: Mapped["InfoRequest | None"] = relationship(remote_side=[id])

    @property
    def current(self) -> bool:
        return self.superseded_at is None


class Determination(Base):
    """The payer's decision on a submission (one of :data:`DETERMINATIONS`) and the reason given.

    A submission has at most one current determination; the partial unique
    index holds that even when two requests race.
    """

    __tablename__ = "determinations"
    __table_args__ = (
        Index("uq_determinations_current", "submission_id", unique=True,
              sqlite_where=text("superseded_at IS NULL"), postgresql_where=text("superseded_at IS NULL")),
        Index("uq_determinations_corrects_id", "corrects_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    determination: Mapped[str] = mapped_column(String(32))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("determinations.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)

    submission: Mapped[Submission] = relationship(back_populates="determinations")
    corrects: Mapped["Determination | None"] = relationship(remote_side=[id])
    lines: Mapped[list["DeterminationLine"]] = relationship(back_populates="determination",
                                                            order_by="DeterminationLine.line_no")

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    @property
    def lines_summary(self) -> str | None:
        """The decision line by line in words (``line 1 97110: 2 of 4 units approved``), or None without lines."""
        if not self.lines:
            return None
        return "; ".join(f"line {l.line_no} {l.code}: {_units(l.units_approved)} of {_units(l.units_billed)} "
                         f"units approved" for l in self.lines)


def _units(value: float) -> str:
    return f"{value:g}"


class DeterminationLine(Base):
    """What the payer decided on one service line: units approved of those billed, and the outcome that makes.

    ``line_no`` counts the case file's service lines from 1; ``code`` and ``units_billed`` are the line as it
    stood when the decision was recorded. A determination's lines are written with it and never changed.
    """

    __tablename__ = "determination_lines"
    __table_args__ = (UniqueConstraint("determination_id", "line_no", name="uq_determination_lines_line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    determination_id: Mapped[int] = mapped_column(ForeignKey("determinations.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    units_billed: Mapped[float] = mapped_column(Float)
    units_approved: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))   # one of DETERMINATIONS

    determination: Mapped[Determination] = relationship(back_populates="lines")


#: A work item is open until staff mark it done, the 835 shows the claim paid, or the payer's determination on its
#: request is recorded from a later 835.
WORKLIST_STATES = ("open", "done")


class EraUpload(Base):
    """One remittance (835) file taken into the worklist: its hash and size, never its name or its bytes."""

    __tablename__ = "era_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    claims: Mapped[int] = mapped_column(Integer)
    new_items: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)


class WorklistItem(Base):
    """A claim an 835 reported with an adjustment, as the worklist reads it, and what became of it.

    ``claim`` is the claim's worklist JSON (member name and id: patient data, never logged or audited);
    ``claim_key`` is unique, so the same claim imported again updates its item.
    """

    __tablename__ = "worklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: The same for every adjudication of the claim (paid, denied, reversed): how a later 835 finds the case.
    claim_identity: Mapped[str] = mapped_column(String(64), index=True)
    claim_number: Mapped[str] = mapped_column(String(64), index=True)
    payer_id: Mapped[str | None] = mapped_column(String(64))
    claim: Mapped[str] = mapped_column(Text)
    claim_status: Mapped[str] = mapped_column(String(16))
    triage: Mapped[str] = mapped_column(String(16), index=True)
    deadline: Mapped[dt.date | None] = mapped_column(Date, index=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    resolution: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    case_pk: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    first_upload_id: Mapped[int] = mapped_column(ForeignKey("era_uploads.id"))
    last_upload_id: Mapped[int] = mapped_column(ForeignKey("era_uploads.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    case: Mapped[CaseRecord | None] = relationship()


class AuditEntry(Base):
    """One audit log row; ``hash`` covers every other column and ``prev_hash`` chains the rows."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
                      Index("ix_audit_log_actor_seq", "actor", "seq"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))          # ISO 8601 UTC, hashed as written
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(200), index=True)
    client: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)            # canonical JSON, no PHI
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the newest audit entry.

    Appenders update it first, which serialises them on every backend, and it
    lets verification notice rows cut from the end of the chain.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))

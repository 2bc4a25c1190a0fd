"""Tracking corrections: determinations get their own table; every tracking record can be superseded.

A submission, a request for information or a determination is corrected by a
new row that names the row it ``corrects`` and the reason; the old row keeps
its values with ``superseded_at`` set. A record is corrected at most once, and
a submission has at most one current determination (unique indexes, the
second partial, on SQLite and PostgreSQL alike).

The determination columns of ``submissions`` move to ``determinations``; when
each was recorded was never stored, so a moved determination takes the
submission's ``recorded_at``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from packetizer.registry.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CORRECTED = ("submissions", "info_requests")
_OLD_COLUMNS = ("determination", "determination_on", "determination_reason", "determination_by")


def _correction_columns(table: str) -> list[sa.Column]:
    return [
        sa.Column("superseded_at", UTCDateTime, nullable=True),
        sa.Column("corrects_id", sa.Integer, sa.ForeignKey(f"{table}.id"), nullable=True),
        sa.Column("correction_reason", sa.Text, nullable=True),
    ]


def _add_correction_columns(table: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        for column in _correction_columns(table):
            op.add_column(table, column)
        return
    # SQLite adds a column with its REFERENCES clause in place; Alembic would want to ALTER a constraint.
    op.add_column(table, sa.Column("superseded_at", UTCDateTime, nullable=True))
    op.execute(f"ALTER TABLE {table} ADD COLUMN corrects_id INTEGER REFERENCES {table} (id)")
    op.add_column(table, sa.Column("correction_reason", sa.Text, nullable=True))


def upgrade() -> None:
    for table in _CORRECTED:
        _add_correction_columns(table)
        op.create_index(f"uq_{table}_corrects_id", table, ["corrects_id"], unique=True)
    op.create_table(
        "determinations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False, index=True),
        sa.Column("determination", sa.String(32), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        *_correction_columns("determinations"),
    )
    op.create_index("uq_determinations_current", "determinations", ["submission_id"], unique=True,
                    sqlite_where=sa.text("superseded_at IS NULL"), postgresql_where=sa.text("superseded_at IS NULL"))
    op.create_index("uq_determinations_corrects_id", "determinations", ["corrects_id"], unique=True)
    op.execute(
        "INSERT INTO determinations (submission_id, determination, decided_on, reason, recorded_at, recorded_by) "
        "SELECT id, determination, determination_on, determination_reason, recorded_at, "
        "COALESCE(determination_by, recorded_by) FROM submissions "
        "WHERE determination IS NOT NULL AND determination_on IS NOT NULL"
    )
    for column in _OLD_COLUMNS:
        op.drop_column("submissions", column)  # SQLite 3.35+ drops a plain column in place


def downgrade() -> None:
    op.add_column("submissions", sa.Column("determination", sa.String(32), nullable=True))
    op.add_column("submissions", sa.Column("determination_on", sa.Date, nullable=True))
    op.add_column("submissions", sa.Column("determination_reason", sa.Text, nullable=True))
    op.add_column("submissions", sa.Column("determination_by", sa.String(64), nullable=True))
    # Only the current determination of each submission fits back in the old columns.
    for target, source in (("determination", "determination"), ("determination_on", "decided_on"),
                           ("determination_reason", "reason"), ("determination_by", "recorded_by")):
        op.execute(
            f"UPDATE submissions SET {target} = (SELECT d.{source} FROM determinations d "
            f"WHERE d.submission_id = submissions.id AND d.superseded_at IS NULL)"
        )
    op.drop_index("uq_determinations_corrects_id", table_name="determinations")
    op.drop_index("uq_determinations_current", table_name="determinations")
    op.drop_table("determinations")
    for table in _CORRECTED:
        op.drop_index(f"uq_{table}_corrects_id", table_name=table)
    # The old schema cannot tell a superseded record from a current one: the records as they stand stay
    # (the audit log keeps each correction). A superseded submission has no requests left: they moved on.
    for table in _CORRECTED:
        op.execute(f"UPDATE {table} SET corrects_id = NULL")
        op.execute(f"DELETE FROM {table} WHERE superseded_at IS NOT NULL")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_drop_correction_columns()
        return
    for table in reversed(_CORRECTED):
        for name in ("correction_reason", "corrects_id", "superseded_at"):
            op.drop_column(table, name)


# The tables as 0001-0002 made them (with the determination columns back). SQLite drops a column that
# references a table only by copying the table, and a copy must not leave rows pointing at a dropped parent
# while foreign keys are on (they cannot be turned off inside the migration's transaction): the copies refer
# to each other, the old child goes before the old parent, and renaming the parent's copy renames the
# reference with it.
_SUBMISSION_COLUMNS = ("id, case_pk, build_id, submitted_on, channel, reference, follow_up_due, recorded_at, "
                       "recorded_by, determination, determination_on, determination_reason, determination_by")
_REQUEST_COLUMNS = "id, submission_id, requested_on, due_on, note, responded_on, recorded_at, recorded_by"


def _sqlite_drop_correction_columns() -> None:
    op.create_table(
        "_down_submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("build_id", sa.Integer, sa.ForeignKey("builds.id"), nullable=True),
        sa.Column("submitted_on", sa.Date, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("follow_up_due", sa.Date, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("determination", sa.String(32), nullable=True),
        sa.Column("determination_on", sa.Date, nullable=True),
        sa.Column("determination_reason", sa.Text, nullable=True),
        sa.Column("determination_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "_down_info_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("_down_submissions.id"), nullable=False),
        sa.Column("requested_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("responded_on", sa.Date, nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
    )
    op.execute(f"INSERT INTO _down_submissions ({_SUBMISSION_COLUMNS}) SELECT {_SUBMISSION_COLUMNS} FROM submissions")
    op.execute(f"INSERT INTO _down_info_requests ({_REQUEST_COLUMNS}) SELECT {_REQUEST_COLUMNS} FROM info_requests")
    op.drop_table("info_requests")
    op.drop_table("submissions")
    op.rename_table("_down_submissions", "submissions")
    op.rename_table("_down_info_requests", "info_requests")
    op.create_index("ix_submissions_case_pk", "submissions", ["case_pk"])
    op.create_index("ix_submissions_follow_up_due", "submissions", ["follow_up_due"])
    op.create_index("ix_info_requests_submission_id", "info_requests", ["submission_id"])

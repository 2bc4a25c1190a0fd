"""Jobs: builds and previews run outside the request, with their progress in the registry.

One row per build or preview of a case: its input fingerprint, state (queued,
running, done, failed), stage and pages done, a user-safe message, who asked
and when, the build it made, and the host and process that run it. A case has
at most one active (queued or running) job of each kind: a partial unique index,
on SQLite and PostgreSQL alike.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from packetizer.registry.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("input_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("pages_done", sa.Integer, nullable=False),
        sa.Column("pages_total", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("build_id", sa.Integer, sa.ForeignKey("builds.id"), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
    )
    op.create_index("uq_jobs_active", "jobs", ["case_pk", "kind"], unique=True,
                    sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)


def downgrade() -> None:
    op.drop_index("uq_jobs_active", table_name="jobs")
    op.drop_table("jobs")

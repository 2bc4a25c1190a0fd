"""The denial worklist: remittance (835) uploads and one work item per claim they report.

An upload row keeps the file's SHA-256, who uploaded it when and how many
claims it held; never the file's name (a clearinghouse may put a patient's name
in it) and never the file itself. A work item keeps the claim as the worklist
reads it (JSON with the member's name and id: patient data, like the case
table's member columns, never logged or audited), its triage, deadline and
claim status for the list, the case a request was started as, and whether it
is done. ``claim_key`` is unique: the same claim imported twice is one item.
``claim_identity`` is the same for every adjudication of one claim: a later
remittance that pays or denies it finds the item, and the case, by it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from packetizer.registry.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "era_uploads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_at", UTCDateTime, nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("new_items", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
    )
    op.create_table(
        "worklist_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("claim_key", sa.String(128), nullable=False, unique=True),
        sa.Column("claim_identity", sa.String(64), nullable=False, index=True),
        sa.Column("claim_number", sa.String(64), nullable=False, index=True),
        sa.Column("payer_id", sa.String(64), nullable=True),
        sa.Column("claim", sa.Text, nullable=False),
        sa.Column("claim_status", sa.String(16), nullable=False),
        sa.Column("triage", sa.String(16), nullable=False, index=True),
        sa.Column("deadline", sa.Date, nullable=True, index=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=True, index=True),
        sa.Column("first_upload_id", sa.Integer, sa.ForeignKey("era_uploads.id"), nullable=False),
        sa.Column("last_upload_id", sa.Integer, sa.ForeignKey("era_uploads.id"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worklist_items")
    op.drop_table("era_uploads")

"""Outcomes per service line: what the payer decided on each line of a determination; facility and provider.

A determination may carry one row per service line of the case: the line's
number (1-based, in the case file's order), its code and billed units as they
stood when the decision was recorded, and the units the payer approved (0 is
denied, all of them approved, anything between partially approved). The
determination's own value is then derived from its lines. A correction is a
new determination with lines of its own; the old lines stay with the old row.
A determination without lines (recorded before this revision, or from a
remittance) keeps its case-level value.

The case row gains the facility and rendering provider names (not patient
data) for the outcome breakdowns; a row made before this revision gets them the
next time its checks run (opening the case page does).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "determination_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("determination_id", sa.Integer, sa.ForeignKey("determinations.id"), nullable=False, index=True),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("units_billed", sa.Float, nullable=False),
        sa.Column("units_approved", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.UniqueConstraint("determination_id", "line_no", name="uq_determination_lines_line"),
    )
    op.add_column("cases", sa.Column("facility_name", sa.String(200), nullable=True))
    op.add_column("cases", sa.Column("rendering_provider", sa.String(200), nullable=True))


def downgrade() -> None:
    # The case-level value of each determination stays; its split by line cannot fit the older schema.
    op.drop_column("cases", "rendering_provider")   # SQLite 3.35+ drops a plain column in place
    op.drop_column("cases", "facility_name")
    op.drop_table("determination_lines")

"""Case search: the member's name and id and the claim number on the case row; the audit log by user.

The case list is searched by member name, member id and claim number in SQL, so
the case row now carries them (patient data: never logged, never in the audit
log). The migration cannot read the case folders (it does not know the
instance folder): rows made before it are filled from their case files when
the web application starts (:func:`packetizer.casebook.cases.fill_search_fields`).

An index on the audit log's (actor, seq) finds a user's newest row in one probe
(the case page asks it on every view) and serves the audit log's user filter.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("member_first_name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("member_last_name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("member_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claim_number", sa.String(64), nullable=True))
        batch.add_column(sa.Column("search_text", sa.String(400), nullable=True))
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_seq", table_name="audit_log")
    # Dropped in place (SQLite 3.35+ can): rebuilding the table would fail while builds point at it.
    with op.batch_alter_table("cases", recreate="never") as batch:
        batch.drop_column("search_text")
        batch.drop_column("claim_number")
        batch.drop_column("member_id")
        batch.drop_column("member_last_name")
        batch.drop_column("member_first_name")

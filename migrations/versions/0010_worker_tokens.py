"""worker tokens: one per node, scoped to the work that node claimed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_worker_tokens_worker", "worker_tokens", ["worker"])


def downgrade() -> None:
    op.drop_index("ix_worker_tokens_worker", "worker_tokens")
    op.drop_table("worker_tokens")

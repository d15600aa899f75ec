"""nodes: the autoscaler's worker nodes and its event log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("server_status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delete_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_nodes_state", "nodes", ["state"])
    op.create_table(
        "autoscaler_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("node", sa.String(64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_autoscaler_events_at", "autoscaler_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_autoscaler_events_at", "autoscaler_events")
    op.drop_table("autoscaler_events")
    op.drop_index("ix_nodes_state", "nodes")
    op.drop_table("nodes")

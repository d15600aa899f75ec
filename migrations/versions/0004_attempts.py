"""attempts: automatic retries of executions and of batch coordinators; heartbeats

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("attempt", sa.Integer(), nullable=False,
                                   server_default="1"))
        table.add_column(sa.Column("retried_errors", sa.JSON(), nullable=False,
                                   server_default="[]"))
        table.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True),
                                   nullable=True))
        table.add_column(sa.Column("coordinator_attempt", sa.Integer(), nullable=False,
                                   server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_column("coordinator_attempt")
        table.drop_column("heartbeat_at")
    with op.batch_alter_table("executions") as table:
        table.drop_column("heartbeat_at")
        table.drop_column("retried_errors")
        table.drop_column("attempt")

"""disk allowance: what an execution's /work may hold

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("disk_mb", sa.Integer(), nullable=False,
                                   server_default="1024"))


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_column("disk_mb")

"""schedules: a batch that recurs, fired by a Prefect deployment schedule

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cron", sa.String(120), nullable=True),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("script_name", sa.String(255), nullable=False),
        sa.Column("batch", sa.JSON(), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_schedules_account_id", "schedules", ["account_id"])
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("schedule_id", sa.String(32), nullable=True))
        table.create_index("ix_batches_schedule_id", ["schedule_id"])


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_index("ix_batches_schedule_id")
        table.drop_column("schedule_id")
    op.drop_index("ix_schedules_account_id", "schedules")
    op.drop_table("schedules")

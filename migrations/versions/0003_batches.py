"""batches: many executions of one script, one per input file; retry lineage

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("script_name", sa.String(255), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("parallel", sa.Integer(), nullable=False),
        sa.Column("fail_fast", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("retry_of", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_batches_account_id", "batches", ["account_id"])
    op.create_index("ix_batches_created_at", "batches", ["created_at"])
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("batch_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("batch_index", sa.Integer(), nullable=True))
        table.add_column(sa.Column("retry_of", sa.String(32), nullable=True))
        table.create_foreign_key("fk_executions_batch_id", "batches", ["batch_id"], ["id"],
                                 ondelete="CASCADE")
        table.create_index("ix_executions_batch_id", ["batch_id"])
        table.create_index("ix_executions_retry_of", ["retry_of"])


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_index("ix_executions_retry_of")
        table.drop_index("ix_executions_batch_id")
        table.drop_constraint("fk_executions_batch_id", type_="foreignkey")
        table.drop_column("retry_of")
        table.drop_column("batch_index")
        table.drop_column("batch_id")
    op.drop_table("batches")

"""submission safety: idempotency keys of executions and batches, notes on executions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("notes", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("idempotency_key", sa.String(64), nullable=True))
        table.create_unique_constraint("uq_executions_account_idempotency_key",
                                       ["account_id", "idempotency_key"])
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("idempotency_key", sa.String(64), nullable=True))
        table.create_unique_constraint("uq_batches_account_idempotency_key",
                                       ["account_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("batches") as table:
        table.drop_constraint("uq_batches_account_idempotency_key", type_="unique")
        table.drop_column("idempotency_key")
    with op.batch_alter_table("executions") as table:
        table.drop_constraint("uq_executions_account_idempotency_key", type_="unique")
        table.drop_column("idempotency_key")
        table.drop_column("notes")

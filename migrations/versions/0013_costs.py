"""costs: node prices, each execution's estimate and final cost, billing hours and their
shares, spending limits

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as table:
        table.add_column(sa.Column("server_type", sa.String(32), nullable=True))
        table.add_column(sa.Column("price_per_hour_micros", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("price_source", sa.String(200), nullable=True))
        table.add_column(sa.Column("slots", sa.Integer(), nullable=True))
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("cost_micros", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("cost_state", sa.String(16), nullable=True))
        table.add_column(sa.Column("compute_microseconds", sa.BigInteger(), nullable=True))
    # the cost report: an account's executions by the day they finished
    op.create_index("ix_executions_account_finished", "executions",
                    ["account_id", "finished_at"])
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("estimate_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("accounts") as table:
        table.add_column(sa.Column("spend_limit_micros", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        table.add_column(sa.Column("warned_month", sa.String(7), nullable=True))
    op.create_table(
        "billing_hours",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("price_source", sa.String(200), nullable=False),
        sa.Column("executions", sa.Integer(), nullable=False),
        sa.UniqueConstraint("node", "started_at", name="uq_billing_hours_node_started"),
    )
    op.create_table(
        "cost_shares",
        sa.Column("billing_hour_id", sa.Integer(),
                  sa.ForeignKey("billing_hours.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("execution_id", sa.String(32),
                  sa.ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("micros", sa.BigInteger(), nullable=False),
        sa.Column("microseconds", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_cost_shares_execution", "cost_shares", ["execution_id"])


def downgrade() -> None:
    op.drop_index("ix_cost_shares_execution", "cost_shares")
    op.drop_table("cost_shares")
    op.drop_table("billing_hours")
    with op.batch_alter_table("accounts") as table:
        table.drop_column("warned_month")
        table.drop_column("webhook_url")
        table.drop_column("spend_limit_micros")
    with op.batch_alter_table("batches") as table:
        table.drop_column("estimate_micros")
    op.drop_index("ix_executions_account_finished", "executions")
    with op.batch_alter_table("executions") as table:
        table.drop_column("compute_microseconds")
        table.drop_column("cost_state")
        table.drop_column("cost_micros")
    with op.batch_alter_table("nodes") as table:
        table.drop_column("slots")
        table.drop_column("price_source")
        table.drop_column("price_per_hour_micros")
        table.drop_column("server_type")

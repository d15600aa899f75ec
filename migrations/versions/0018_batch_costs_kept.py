"""batch_item_counts.cost_micros, priced_items, final_items: a batch's cost kept beside
its counts as its items are priced, so that its status and a list of batches read six
rows a batch, not every item (README, Benchmarks: a batch's status as the batch grows);
filled for batches already there

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = ("cost_micros", "priced_items", "final_items")


def upgrade() -> None:
    with op.batch_alter_table("batch_item_counts") as table:
        table.add_column(sa.Column("cost_micros", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("priced_items", sa.Integer(), nullable=False,
                                   server_default="0"))
        table.add_column(sa.Column("final_items", sa.Integer(), nullable=False,
                                   server_default="0"))
    mine = ("FROM executions e WHERE e.batch_id = batch_item_counts.batch_id "
            "AND e.status = batch_item_counts.status")
    op.execute(
        "UPDATE batch_item_counts SET "
        f"cost_micros = (SELECT coalesce(sum(e.cost_micros), 0) {mine}), "
        f"priced_items = (SELECT count(e.cost_state) {mine}), "
        f"final_items = (SELECT count(*) {mine} AND e.cost_state = 'final')")


def downgrade() -> None:
    with op.batch_alter_table("batch_item_counts") as table:
        for column in COLUMNS:
            table.drop_column(column)

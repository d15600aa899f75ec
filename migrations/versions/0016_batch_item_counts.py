"""batch_item_counts: a batch's items counted by status (and the time of those that ran),
kept as items move, so that a batch's status, its live stream and its coordinator read
six rows, not every item (README, Benchmarks: 10,000 items); filled for batches already
there

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled")


def upgrade() -> None:
    op.create_table(
        "batch_item_counts",
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("ran_items", sa.Integer(), nullable=False),
        sa.Column("ran_seconds", sa.Float(), nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        seconds = "extract(epoch FROM e.finished_at - e.started_at)"
    else:  # SQLite keeps UTC text
        seconds = "(julianday(e.finished_at) - julianday(e.started_at)) * 86400.0"
    ran = "e.started_at IS NOT NULL AND e.finished_at IS NOT NULL"
    for status in STATUSES:
        op.execute(
            "INSERT INTO batch_item_counts (batch_id, status, items, ran_items, ran_seconds) "
            f"SELECT b.id, '{status}', "
            f"(SELECT count(*) FROM executions e WHERE e.batch_id = b.id "
            f"AND e.status = '{status}'), "
            f"(SELECT count(*) FROM executions e WHERE e.batch_id = b.id "
            f"AND e.status = '{status}' AND {ran}), "
            f"(SELECT coalesce(sum({seconds}), 0) FROM executions e WHERE e.batch_id = b.id "
            f"AND e.status = '{status}' AND {ran}) FROM batches b")


def downgrade() -> None:
    op.drop_table("batch_item_counts")

"""executions (batch_id, finished_at): a follower's "what finished lately" in a batch
(GET /batches/{id}/outputs?finished_since=, asked each time round) reads those items
through an index, not every item of the batch

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_executions_batch_finished", "executions", ["batch_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_executions_batch_finished", table_name="executions")

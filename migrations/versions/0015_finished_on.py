"""executions.finished_on: the UTC date an execution finished, stored once so the cost
report groups by a column rather than computing a date on every row

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("finished_on", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE executions SET finished_on = (finished_at AT TIME ZONE 'UTC')::date "
                   "WHERE finished_at IS NOT NULL")
    else:  # SQLite keeps finished_at as UTC text: its date is the first ten characters
        op.execute("UPDATE executions SET finished_on = substr(finished_at, 1, 10) "
                   "WHERE finished_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_column("finished_on")

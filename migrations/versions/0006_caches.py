"""caches: requirements and dependency layers, the result cache

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("requirements", sa.Text(), nullable=True))
        table.add_column(sa.Column("dependency_cache", sa.String(8), nullable=True))
        table.add_column(sa.Column("cache_key", sa.String(64), nullable=True))
        table.add_column(sa.Column("result_cache", sa.String(8), nullable=True))
        table.add_column(sa.Column("cached_from", sa.String(32), nullable=True))
        table.create_index("ix_executions_account_cache_key", ["account_id", "cache_key"])


def downgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.drop_index("ix_executions_account_cache_key")
        for column in ("cached_from", "result_cache", "cache_key", "dependency_cache",
                       "requirements"):
            table.drop_column(column)

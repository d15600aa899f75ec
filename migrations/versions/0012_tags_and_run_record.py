"""tags (metadata) on executions and batches; the run record: script hash, image id,
each attempt's worker and reason

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TAGS = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("executions") as table:
        table.add_column(sa.Column("tags", TAGS, nullable=False, server_default="{}"))
        table.add_column(sa.Column("script_sha256", sa.String(64), nullable=True))
        table.add_column(sa.Column("image_id", sa.String(100), nullable=True))
        table.add_column(sa.Column("attempt_history", sa.JSON(), nullable=False,
                                   server_default="[]"))
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("tags", TAGS, nullable=False, server_default="{}"))
    # `tags @> '{"k": "v"}'` (rgrid list --metadata k=v) on PostgreSQL: a GIN index
    op.create_index("ix_executions_tags", "executions", ["tags"],
                    postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"})
    # the account's newest first, the order every listing pages in
    op.create_index("ix_executions_account_created", "executions",
                    ["account_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_executions_account_created", "executions")
    op.drop_index("ix_executions_tags", "executions")
    with op.batch_alter_table("batches") as table:
        table.drop_column("tags")
    with op.batch_alter_table("executions") as table:
        table.drop_column("attempt_history")
        table.drop_column("image_id")
        table.drop_column("script_sha256")
        table.drop_column("tags")

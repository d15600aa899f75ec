"""api keys: a name, an optional expiry, revocation

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("name", sa.String(100), nullable=False,
                                   server_default="default"))
        table.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("revoked_at")
        table.drop_column("expires_at")
        table.drop_column("name")

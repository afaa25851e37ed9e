"""Mirrors: upstream registries under a local prefix, their sealed credentials and status.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirrors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prefix", sa.String(255), nullable=False, unique=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        # Fernet ciphertext: the key is in <data_dir>/keys, never in the database.
        sa.Column("password_sealed", sa.Text, nullable=True),
        sa.Column("check_interval_s", sa.Integer, nullable=False, server_default="60"),
        sa.Column("status", sa.String(255), nullable=False, server_default="unchecked"),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mirrors")

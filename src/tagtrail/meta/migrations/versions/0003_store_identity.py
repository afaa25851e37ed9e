"""Store identity: one random id per metadata database, which the blob storage's marker names.

Revision ID: 0003
Revises: 0002
"""

import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("identity", sa.String(36), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_store_identity_one_row"),
    )
    # Created here, once: a database upgraded from 0002 gets its identity as a new one does,
    # and a dump of the database (a row) carries it along.
    op.bulk_insert(
        table,
        [{"id": 1, "identity": str(uuid.uuid4()), "created_ms": time.time_ns() // 1_000_000}],
    )


def downgrade() -> None:
    op.drop_table("store_identity")

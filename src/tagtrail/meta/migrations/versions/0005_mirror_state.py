"""Mirror state: who wrote a history record and the check before a mirrored move, tag checks,
watches with their lease, and fetch leases.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: the records of pushes (and every record from before) have neither.
    with op.batch_alter_table("tag_history") as batch:
        batch.add_column(sa.Column("action", sa.String(16), nullable=True))
        batch.add_column(sa.Column("previous_check_ms", sa.BigInteger, nullable=True))
    op.create_table(
        "mirror_tag_checks",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("tag", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=True),
        sa.Column("checked_ms", sa.BigInteger, nullable=False),
        sa.Column("imported", sa.Boolean, nullable=False),
    )
    op.create_table(
        "mirror_watches",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("tags", sa.String(1024), nullable=True),
        sa.Column("exclude", sa.String(1024), nullable=True),
        sa.Column("interval_s", sa.Integer, nullable=False),
        sa.Column("platforms", sa.String(1024), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_round_ms", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "mirror_fetches",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("until_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mirror_fetches")
    op.drop_table("mirror_watches")
    op.drop_table("mirror_tag_checks")
    with op.batch_alter_table("tag_history") as batch:
        batch.drop_column("previous_check_ms")
        batch.drop_column("action")

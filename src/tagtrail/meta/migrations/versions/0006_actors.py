"""Who made each tag move: ``tag_history.actor``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: records from before this revision name no actor (read as unknown).
    with op.batch_alter_table("tag_history") as batch:
        batch.add_column(sa.Column("actor", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tag_history") as batch:
        batch.drop_column("actor")

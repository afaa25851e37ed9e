"""Rules that stop tag moves: immutable-tag rules per organisation (or repository pattern).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # Names, not ids: a rule may guard an organisation that has no accounts row (auth off).
        sa.Column("organisation", sa.String(255), nullable=False),
        # A glob over the rest of the repository name; NULL covers every repository.
        sa.Column("repository", sa.String(255), nullable=True),
        sa.Column("tag_pattern", sa.String(255), nullable=False),
        # JSON list of globs exempted from the rule; NULL when none.
        sa.Column("except_patterns", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        # A removal keeps the row: it is the audit record of who removed which rule, when.
        sa.Column("removed_ms", sa.BigInteger, nullable=True),
        sa.Column("removed_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_tag_rules_organisation", "tag_rules", ["organisation"])


def downgrade() -> None:
    op.drop_index("ix_tag_rules_organisation", table_name="tag_rules")
    op.drop_table("tag_rules")

"""Privacy deletions: the record that a visitor's conversations were deleted on request, by whom,
when and why, with counts and a hash of the deleted rows (never their content).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the privacy_deletions table."""
    op.create_table(
        "privacy_deletions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("selected_by", sa.String(16), nullable=False),  # "conversation" | "email"
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_privacy_deletions_deleted_at", "privacy_deletions", ["deleted_at"])


def downgrade() -> None:
    """Drop the privacy_deletions table (the deletions themselves cannot be undone)."""
    op.drop_index("ix_privacy_deletions_deleted_at", table_name="privacy_deletions")
    op.drop_table("privacy_deletions")

"""Entry revisions: every change of a knowledge-base entry kept whole (content or deletion, author,
reason, time), and the author and reason of each KB version. History begins here: each existing
entry gets one revision at its current version, marked `backfilled` (author unknown), since what
it said before was never recorded.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CONTENT = ("question", "alternates", "answer", "category", "language", "tags", "url", "deleted")


def upgrade() -> None:
    """Add the revisions table and the versions' author and reason; backfill one revision per entry."""
    with op.batch_alter_table("kb_versions") as batch:
        batch.add_column(sa.Column("author", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
    revisions = op.create_table(
        "kb_entry_revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("kb_version", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("alternates", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kb_entry_revisions_entry_version", "kb_entry_revisions", ["entry_id", "kb_version"],
                    unique=True)
    op.create_index("ix_kb_entry_revisions_kb_version", "kb_entry_revisions", ["kb_version"])
    # Tombstones too: a deleted entry's revision says it is deleted (with what it said last).
    entries = sa.table("kb_entries", sa.column("id"), sa.column("version"), sa.column("updated_at"),
                       *(sa.column(name) for name in CONTENT))
    op.execute(revisions.insert().from_select(
        ["entry_id", "kb_version", *CONTENT, "author", "reason", "backfilled", "created_at"],
        sa.select(entries.c.id, entries.c.version, *(entries.c[name] for name in CONTENT),
                  sa.literal(""), sa.literal(""), sa.literal(True), entries.c.updated_at)))


def downgrade() -> None:
    """Drop the revisions and the versions' author and reason (the entries stay as they are)."""
    op.drop_index("ix_kb_entry_revisions_kb_version", table_name="kb_entry_revisions")
    op.drop_index("ix_kb_entry_revisions_entry_version", table_name="kb_entry_revisions")
    op.drop_table("kb_entry_revisions")
    with op.batch_alter_table("kb_versions") as batch:
        batch.drop_column("reason")
        batch.drop_column("author")

"""Staff labels on logged turns: expected entry (or out of scope), approved or corrected answer.

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-01 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create turn_labels: one row per labelled turn, removed with its turn."""
    op.create_table(
        "turn_labels",
        sa.Column(
            "turn_id", sa.Integer(),
            sa.ForeignKey("turn_traces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False,
        ),
        sa.Column("expected_entry_id", sa.String(128), nullable=True),  # NULL: out of scope
        sa.Column("review", sa.String(16), nullable=True),  # "approved" | "corrected" | NULL
        sa.Column("corrected_answer", sa.Text(), nullable=True),
        sa.Column("labelled_by", sa.String(64), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_turn_labels_labelled_at", "turn_labels", ["labelled_at"])


def downgrade() -> None:
    """Drop turn_labels (and with it every label)."""
    op.drop_index("ix_turn_labels_labelled_at", table_name="turn_labels")
    op.drop_table("turn_labels")

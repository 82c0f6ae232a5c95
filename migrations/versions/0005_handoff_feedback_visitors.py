"""Hand-off, feedback and visitors: a conversation's state (bot / waiting / human, held by whom,
waiting since), the visitor it is bound to (a token's hash) and a contact email; every message's
author; the customers' thumbs up/down on turns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the columns (old conversations are the bot's and bound to no visitor; old messages are
    the customer's or the bot's by their role) and the feedback table."""
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="bot"))
        batch.add_column(sa.Column("held_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("visitor_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("contact_email", sa.String(254), nullable=True))
        batch.create_index("ix_conversations_state", ["state"])
        batch.create_index("ix_conversations_visitor_hash", ["visitor_hash"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("author", sa.String(80), nullable=False, server_default="customer"))
    op.execute("UPDATE messages SET author = 'bot' WHERE role = 'assistant'")
    op.create_table(
        "turn_feedback",
        sa.Column(
            "turn_id", sa.Integer(),
            sa.ForeignKey("turn_traces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False,
        ),
        sa.Column("rating", sa.String(8), nullable=False),  # "up" | "down"
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_turn_feedback_given_at", "turn_feedback", ["given_at"])


def downgrade() -> None:
    """Drop the feedback, the authors, the hand-off state, the visitor bindings and the emails."""
    op.drop_index("ix_turn_feedback_given_at", table_name="turn_feedback")
    op.drop_table("turn_feedback")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_visitor_hash")
        batch.drop_index("ix_conversations_state")
        for column in ("contact_email", "visitor_hash", "waiting_since", "held_by", "state"):
            batch.drop_column(column)

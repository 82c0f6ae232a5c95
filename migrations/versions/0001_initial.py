"""Initial schema: the knowledge base (kb_versions, kb_entries) and the conversation log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the knowledge-base and conversation tables."""
    op.create_table(
        "kb_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=True),
        _timestamp("created_at"),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("alternates", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_index("ix_kb_entries_version", "kb_entries", ["version"])

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(64), primary_key=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
    )
    op.create_index("ix_conversations_created_at", "conversations", ["created_at"])
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(64),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _timestamp("created_at"),
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])

    op.create_table(
        "turn_traces",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(64),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column(
            "user_message_id", sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column(
            "assistant_message_id", sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("generator", sa.String(200), nullable=False),
        sa.Column("kb_version", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        _timestamp("created_at"),
    )
    op.create_index("ix_turn_traces_conversation_id", "turn_traces", ["conversation_id"])
    op.create_index("ix_turn_traces_created_at", "turn_traces", ["created_at"])


def downgrade() -> None:
    """Drop every table created above, dependents first."""
    for table, indexes in (
        ("turn_traces", ["ix_turn_traces_created_at", "ix_turn_traces_conversation_id"]),
        ("messages", ["ix_messages_created_at", "ix_messages_conversation_id"]),
        ("conversations", ["ix_conversations_updated_at", "ix_conversations_created_at"]),
        ("kb_entries", ["ix_kb_entries_version"]),
        ("kb_versions", []),
    ):
        for index in indexes:
            op.drop_index(index, table_name=table)
        op.drop_table(table)

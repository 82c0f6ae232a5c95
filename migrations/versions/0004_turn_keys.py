"""Turn keys: the client's idempotency key of a turn, unique, so that a retried turn is answered
from the log instead of being logged twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add turn_traces.turn_key (NULL for turns sent without one) and its unique index."""
    with op.batch_alter_table("turn_traces") as batch:
        batch.add_column(sa.Column("turn_key", sa.String(64), nullable=True))
        batch.create_index("ix_turn_traces_turn_key", ["turn_key"], unique=True)


def downgrade() -> None:
    """Drop the turn keys (the turns stay)."""
    with op.batch_alter_table("turn_traces") as batch:
        batch.drop_index("ix_turn_traces_turn_key")
        batch.drop_column("turn_key")

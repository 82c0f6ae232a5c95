"""Bot settings that staff change live in the console (issue 14): one row per overridden setting,
its JSON value, who changed it and when (chatbot.live_settings).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
# Written against 0007 while 0008 was being written on another branch: rechain to "0008" on merge.
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the table of live settings (none stored: the environment's settings are in force)."""
    op.create_table(
        "bot_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the live settings: the environment's settings are in force again."""
    op.drop_table("bot_settings")

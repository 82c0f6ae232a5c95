"""Turn traces record the grounding check: grounded, its reasons, the replaced generated answer.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the grounding columns; turns logged before them read as not checked."""
    with op.batch_alter_table("turn_traces") as batch:
        batch.add_column(sa.Column("grounded", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("grounding_reasons", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("replaced_answer", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop the grounding columns."""
    with op.batch_alter_table("turn_traces") as batch:
        for column in ("replaced_answer", "grounding_reasons", "grounded"):
            batch.drop_column(column)

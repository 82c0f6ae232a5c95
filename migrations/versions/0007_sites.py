"""Sites: the websites that embed the chat widget (a public key, allowed origins, the signing
secret of their visitors' identities); conversations remember the site whose widget started them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the sites table and conversations' site key (old conversations: no site)."""
    op.create_table(
        "sites",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("origins", sa.JSON(), nullable=False),
        # Kept as given: HMAC verification needs the secret itself (a hash of it would not do).
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("site_key", sa.String(64), nullable=True))
        batch.create_index("ix_conversations_site_key", ["site_key"])


def downgrade() -> None:
    """Drop conversations' site key and the sites."""
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_site_key")
        batch.drop_column("site_key")
    op.drop_table("sites")

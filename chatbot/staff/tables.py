"""The staff tables: accounts (name, role, password hash) and the sessions of signed-in browsers.

A session row holds the SHA-256 of the cookie's token, never the token: whoever reads the
database cannot sign in with what they read. Removing an account removes its sessions (cascade).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from knowledge_base.db_models import Base, utcnow

STAFF_NAME_CHARS = 64  # as the hand-off's `held_by` (chatbot.conversations.tables)
ROLE_CHARS = 16
PASSWORD_HASH_CHARS = 255  # an argon2id hash in PHC form is ~100
TOKEN_HASH_CHARS = 64  # hex SHA-256
CSRF_CHARS = 64


class StaffUserRow(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(STAFF_NAME_CHARS), unique=True)
    role: Mapped[str] = mapped_column(String(ROLE_CHARS))
    password_hash: Mapped[str] = mapped_column(String(PASSWORD_HASH_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffSessionRow(Base):
    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_CHARS), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(CSRF_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

"""Sessions of signed-in staff: a random token in the browser's cookie, its SHA-256 in
`staff_sessions` with the session's CSRF token and its expiry.

A server-side session (not a cookie that carries its own claims) is ended for good by signing
out or by removing the account, and needs no signing key to keep or rotate. The token is 256
random bits: unguessable, and looked up by its hash, so the database never holds a usable one.

    >>> sessions = StaffSessions(engine, ttl_s=8 * 3600)
    >>> started = sessions.start(user)           # started.token goes into the cookie
    >>> sessions.find(started.token)              # a StaffSession, or None once expired or ended
    >>> sessions.end(started.token)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from chatbot.conversations.database import retry_when_busy, transaction
from chatbot.staff.accounts import StaffUser
from chatbot.staff.tables import StaffSessionRow, StaffUserRow
from knowledge_base.db_models import utcnow

_MAX_TOKEN_CHARS = 128  # a presented token longer than this is not one of ours (ours are 43)


@dataclass(frozen=True)
class StaffSession:
    """A live session: who is signed in, the CSRF token its forms and API calls must send back,
    when it ends. `token` is set only by `start` (the store keeps its hash, not the token)."""

    user: StaffUser
    csrf_token: str
    expires_at: datetime
    token: str = ""

    def csrf_matches(self, presented: str | None) -> bool:
        """Whether `presented` is this session's CSRF token, compared in constant time."""
        return bool(presented) and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def token_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes (stored in UTC); PostgreSQL aware ones.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class StaffSessions:
    """The sessions in the database; each lasts `ttl_s` seconds from its start."""

    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self._engine, self.ttl_s = engine, ttl_s

    @retry_when_busy
    def start(self, user: StaffUser, now: datetime | None = None) -> StaffSession:
        """A new session for `user` (expired ones of anyone are swept out on the way)."""
        now = now or utcnow()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=self.ttl_s)
        with transaction(self._engine) as session:
            session.execute(delete(StaffSessionRow).where(StaffSessionRow.expires_at <= now))
            session.add(StaffSessionRow(token_hash=token_hash(token), user_id=user.id, csrf_token=csrf,
                                        created_at=now, expires_at=expires))
        return StaffSession(user, csrf, expires, token)

    @retry_when_busy
    def find(self, token: str | None, now: datetime | None = None) -> StaffSession | None:
        """The live session of `token`, or None (no token, unknown, ended, expired, or its
        account removed)."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        now = now or utcnow()
        with transaction(self._engine) as session:
            found = session.execute(
                select(StaffSessionRow, StaffUserRow).join(StaffUserRow, StaffUserRow.id == StaffSessionRow.user_id)
                .where(StaffSessionRow.token_hash == token_hash(token))).first()
            if found is None:
                return None
            row, user = found
            if _aware(row.expires_at) <= now:
                return None
            return StaffSession(StaffUser(user.id, user.name, user.role, user.created_at), row.csrf_token,
                                _aware(row.expires_at))

    @retry_when_busy
    def end(self, token: str | None) -> None:
        """End the session of `token` (nothing happens for an unknown one)."""
        if token and len(token) <= _MAX_TOKEN_CHARS:
            with transaction(self._engine) as session:
                session.execute(delete(StaffSessionRow).where(StaffSessionRow.token_hash == token_hash(token)))

"""Staff accounts: a name, a role and an argon2id password hash (pwdlib), in `staff_users`.

There is no default account and no default password: `chatbot user add NAME --role admin`
makes the first one (the server says so when it starts without one).

    >>> accounts = StaffAccounts(engine)
    >>> accounts.add("alice", "admin", "a long passphrase")
    >>> accounts.check_password("alice", "a long passphrase")   # a StaffUser, or None
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from chatbot.conversations.database import retry_when_busy, transaction
from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.staff.roles import ROLES, is_role
from chatbot.staff.tables import STAFF_NAME_CHARS, StaffSessionRow, StaffUserRow
from knowledge_base.storable import storable

# Names appear in the console, in the log as a message's author ("staff:<name>") and on the
# command line: a readable alphabet, no spaces.
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.@-]{{0,{STAFF_NAME_CHARS - 1}}}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 hashes any length; this bounds the work one request can ask for


@dataclass(frozen=True)
class StaffUser:
    """A staff account as the services show it (never with its hash)."""

    id: int
    name: str
    role: str
    created_at: datetime


@cache
def _hasher():
    # pwdlib's recommended hasher is argon2id with its current parameters; built on first use
    # (not at import) so that `import chatbot` stays light.
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    # An unknown name is checked against this hash, so it costs the same time as a known one.
    return _hasher().hash("no account has this password")


def check_name(name: str) -> str:
    """`name` if it is a valid account name, else `InvalidInput` saying what a name may hold."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"a staff name is 1-{STAFF_NAME_CHARS} letters, digits, '_', '.', '@' or '-', "
                           "starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    """`password` if it may be set, else `InvalidInput` saying why (length, unstorable text)."""
    if not isinstance(password, str) or storable(password) != password:
        raise InvalidInput("the password holds characters that cannot be stored (a NUL or a lone surrogate)")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"the password is too long: use at most {MAX_PASSWORD_CHARS} characters")
    return password


def _user(row: StaffUserRow) -> StaffUser:
    return StaffUser(row.id, row.name, row.role, row.created_at)


class StaffAccounts:
    """The accounts in the database (SQLite or PostgreSQL); driver errors become `chatbot.errors`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def add(self, name: str, role: str, password: str) -> StaffUser:
        """Create an account; `Conflict` if the name is taken, `InvalidInput` for a bad name,
        role or password."""
        check_name(name)
        if not is_role(role):
            raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        password_hash = _hasher().hash(check_password(password))
        with transaction(self._engine) as session:
            if session.scalar(select(StaffUserRow).where(func.lower(StaffUserRow.name) == name.lower())):
                raise Conflict(f"a staff account named {name!r} exists already")
            row = StaffUserRow(name=name, role=role, password_hash=password_hash)
            session.add(row)
            session.flush()
            return _user(row)

    @retry_when_busy
    def list(self) -> list[StaffUser]:
        """Every account, by name."""
        with transaction(self._engine) as session:
            return [_user(row) for row in session.scalars(select(StaffUserRow).order_by(StaffUserRow.name))]

    @retry_when_busy
    def remove(self, name: str) -> StaffUser:
        """Remove an account and end its sessions; `UnknownItem` if there is none, `Conflict` for
        the last admin (the console would lock everyone out of account management)."""
        with transaction(self._engine) as session:
            row = session.scalar(select(StaffUserRow).where(StaffUserRow.name == name))
            if row is None:
                raise UnknownItem(f"no staff account is named {name!r} (see `chatbot user list`)")
            if row.role == "admin":
                admins = session.scalar(select(func.count()).where(StaffUserRow.role == "admin"))
                if admins <= 1:
                    raise Conflict(f"{name!r} is the last admin: add another admin before removing it")
            removed = _user(row)
            # Explicit as well as cascaded: a SQLite connection without foreign keys would keep them.
            session.execute(delete(StaffSessionRow).where(StaffSessionRow.user_id == row.id))
            session.delete(row)
            return removed

    @retry_when_busy
    def has_admin(self) -> bool:
        """Whether any admin account exists (the server prints how to make one when none does)."""
        with transaction(self._engine) as session:
            return session.scalar(select(func.count()).where(StaffUserRow.role == "admin")) > 0

    def check_password(self, name: str, password: str) -> StaffUser | None:
        """The account if `password` is its password, else None (an unknown name alike, and in
        the same time: argon2's own comparison is constant-time, and an unknown name is checked
        against a dummy hash)."""
        with transaction(self._engine) as session:
            row = session.scalar(select(StaffUserRow).where(StaffUserRow.name == name)) \
                if isinstance(name, str) and _NAME.match(name) else None
            user, stored = (_user(row), row.password_hash) if row is not None else (None, _dummy_hash())
        try:
            matches = _hasher().verify(password, stored)
        except Exception:  # a malformed stored hash, or a password that cannot be encoded: no match
            matches = False
        return user if matches and user is not None else None

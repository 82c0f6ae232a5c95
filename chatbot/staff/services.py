"""The staff services: accounts, signing in and out, sessions. Part of the application object
(`chatbot.services.Services` inherits them), so the console and `chatbot user …` call the same.

    >>> services.add_staff_user("alice", "admin", password)
    >>> signed_in = services.sign_in("alice", password, "203.0.113.9")   # a StaffSession with its token
    >>> services.staff_session(signed_in.token)                          # None once expired or ended
    >>> services.sign_out(signed_in.token)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.errors import LoginRefused
from chatbot.staff.accounts import StaffAccounts, StaffUser
from chatbot.staff.login_limits import LoginLimiter
from chatbot.staff.sessions import StaffSession, StaffSessions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chatbot.settings import Settings

FIRST_ADMIN_HINT = ("No staff account exists yet: create the first admin with\n"
                    "    chatbot user add NAME --role admin\n"
                    "(it asks for the password; there is no default one), then sign in at /admin.")


@dataclass
class StaffDesk:
    """The staff stores and the sign-in limiter, wired once (`for_settings`)."""

    accounts: StaffAccounts
    sessions: StaffSessions
    limiter: LoginLimiter

    @classmethod
    def for_settings(cls, engine: "Engine", settings: "Settings") -> "StaffDesk":
        return cls(StaffAccounts(engine), StaffSessions(engine, settings.staff_session_ttl_s),
                   LoginLimiter(settings.staff_login_attempts, settings.staff_login_address_attempts,
                                settings.staff_login_window_s))


class StaffServices:
    """Mixed into `Services`, whose `staff` (a `StaffDesk`) these use."""

    staff: StaffDesk

    def add_staff_user(self, name: str, role: str, password: str) -> StaffUser:
        """Create a staff account (`Conflict` for a taken name, `InvalidInput` for a bad name,
        role or password: at least 10 characters)."""
        return self.staff.accounts.add(name, role, password)

    def staff_users(self) -> list[StaffUser]:
        """Every staff account, by name."""
        return self.staff.accounts.list()

    def remove_staff_user(self, name: str) -> StaffUser:
        """Remove an account and end its sessions (`UnknownItem`; `Conflict` for the last admin)."""
        return self.staff.accounts.remove(name)

    def first_admin_hint(self) -> str | None:
        """What to do when no admin exists yet (printed by `chatbot serve`), else None."""
        return None if self.staff.accounts.has_admin() else FIRST_ADMIN_HINT

    def sign_in(self, name: str, password: str, address: str) -> StaffSession:
        """Check the password and start a session (its `token` goes into the cookie).

        `TooManyAttempts` when the account or the address `address` has failed too often in the
        window (checked before the password, so guessing stops there); `LoginRefused`, saying
        neither which part was wrong nor whether the account exists, for a wrong name or password.
        """
        limiter = self.staff.limiter
        limiter.check(name, address)
        user = self.staff.accounts.check_password(name, password)
        if user is None:
            limiter.failed(name, address)
            raise LoginRefused(LoginRefused.public_message)
        limiter.succeeded(name)
        return self.staff.sessions.start(user)

    def staff_session(self, token: str | None) -> StaffSession | None:
        """The live session of a cookie's `token`, or None."""
        return self.staff.sessions.find(token)

    def sign_out(self, token: str | None) -> None:
        """End the session of `token`."""
        self.staff.sessions.end(token)

"""Staff accounts, sign-in, its limits and sessions, through the services (real SQLite, real
argon2 hashes, the real `limits` moving window)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.errors import Conflict, InvalidInput, LoginRefused, TooManyAttempts, UnknownItem
from chatbot.staff.roles import role_allows
from chatbot.staff.tables import StaffUserRow

PASSWORD = "correct horse battery"


def test_accounts_are_added_listed_and_removed_with_hashed_passwords(make_services) -> None:
    services = make_services()
    assert services.first_admin_hint() is not None and "chatbot user add" in services.first_admin_hint()
    services.add_staff_user("alice", "admin", PASSWORD)
    services.add_staff_user("bob", "viewer", PASSWORD + "!")
    assert services.first_admin_hint() is None
    assert [(u.name, u.role) for u in services.staff_users()] == [("alice", "admin"), ("bob", "viewer")]
    with Session(services.database) as session:
        stored = session.scalar(select(StaffUserRow.password_hash).where(StaffUserRow.name == "alice"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert services.remove_staff_user("bob").name == "bob"
    assert [u.name for u in services.staff_users()] == ["alice"]


@pytest.mark.parametrize(("name", "role", "password", "error"), [
    ("alice", "admin", PASSWORD, Conflict),  # taken
    ("ALICE", "viewer", PASSWORD, Conflict),  # taken, in another case
    ("carol", "owner", PASSWORD, InvalidInput),  # no such role
    ("carol", "editor", "short", InvalidInput),  # under 10 characters
    ("carol smith", "editor", PASSWORD, InvalidInput),  # a space
    ("carol", "editor", "ten chars \x00", InvalidInput),  # a NUL
])
def test_bad_accounts_are_refused_with_a_reason(make_services, name, role, password, error) -> None:
    services = make_services()
    services.add_staff_user("alice", "admin", PASSWORD)
    with pytest.raises(error):
        services.add_staff_user(name, role, password)
    assert [u.name for u in services.staff_users()] == ["alice"]


def test_the_last_admin_stays_and_unknown_names_are_unknown(make_services) -> None:
    services = make_services()
    services.add_staff_user("alice", "admin", PASSWORD)
    with pytest.raises(Conflict, match="last admin"):
        services.remove_staff_user("alice")
    with pytest.raises(UnknownItem):
        services.remove_staff_user("nobody")
    services.add_staff_user("root", "admin", PASSWORD)
    services.remove_staff_user("alice")


def test_sign_in_starts_a_session_that_signing_out_and_removal_end(make_services) -> None:
    services = make_services()
    services.add_staff_user("alice", "admin", PASSWORD)
    services.add_staff_user("erin", "editor", PASSWORD)
    session = services.sign_in("erin", PASSWORD, "127.0.0.1")
    found = services.staff_session(session.token)
    assert found.user.name == "erin" and found.user.role == "editor"
    assert found.csrf_matches(session.csrf_token) and not found.csrf_matches("x" + session.csrf_token[1:])
    assert not found.csrf_matches(None) and not found.csrf_matches("")
    services.sign_out(session.token)
    assert services.staff_session(session.token) is None
    again = services.sign_in("erin", PASSWORD, "127.0.0.1")
    services.remove_staff_user("erin")
    assert services.staff_session(again.token) is None
    assert services.staff_session("not a token") is None and services.staff_session(None) is None


def test_sessions_expire(make_services) -> None:
    services = make_services(staff_session_ttl_s=60)
    services.add_staff_user("alice", "admin", PASSWORD)
    session = services.sign_in("alice", PASSWORD, "127.0.0.1")
    sessions = services.staff.sessions
    assert sessions.find(session.token, now=session.expires_at - timedelta(seconds=1)) is not None
    assert sessions.find(session.token, now=session.expires_at) is None


def test_wrong_passwords_are_refused_alike_then_limited_then_recover(make_services) -> None:
    services = make_services(staff_login_attempts=3, staff_login_window_s=2)
    services.add_staff_user("alice", "admin", PASSWORD)
    with pytest.raises(LoginRefused) as unknown:
        services.sign_in("nobody", PASSWORD, "10.0.0.1")
    for _ in range(3):
        with pytest.raises(LoginRefused) as wrong:
            services.sign_in("alice", "wrong password", "10.0.0.1")
    assert str(unknown.value) == str(wrong.value)  # never says whether the account exists
    with pytest.raises(TooManyAttempts, match="this account") as limited:
        services.sign_in("alice", PASSWORD, "10.0.0.2")  # even the right password, from elsewhere
    assert 1 <= limited.value.retry_after_s <= 2
    time.sleep(2.1)
    assert services.sign_in("alice", PASSWORD, "10.0.0.1").user.name == "alice"


def test_one_address_is_limited_across_accounts(make_services) -> None:
    services = make_services(staff_login_attempts=100, staff_login_address_attempts=4)
    services.add_staff_user("alice", "admin", PASSWORD)
    for name in ("a1", "a2", "a3", "a4"):
        with pytest.raises(LoginRefused):
            services.sign_in(name, "guess guess guess", "10.0.0.9")
    with pytest.raises(TooManyAttempts, match="this address"):
        services.sign_in("alice", PASSWORD, "10.0.0.9")
    assert services.sign_in("alice", PASSWORD, "10.0.0.10").user.name == "alice"


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "viewer") and role_allows("editor", "editor")
    assert not role_allows("viewer", "editor") and not role_allows("editor", "admin")
    assert not role_allows("owner", "viewer") and not role_allows("admin", "owner")

"""The staff roles, each allowed what the ones below it are (DESIGN.md "Packages and layout").

    viewer   reads the knowledge base, the hit test, the conversation log, exports and the inbox
    editor   and changes the knowledge base, takes, answers and releases conversations
    admin    and manages staff accounts, deletes a visitor's data on request (later: sites and settings)

    >>> role_allows("admin", "editor")
    True
"""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")  # least to most allowed


def is_role(value: object) -> bool:
    """Whether `value` names a role."""
    return value in ROLES


def role_allows(role: str, needed: str) -> bool:
    """Whether a staff member with `role` may do what `needed` may (an unknown role may nothing)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)

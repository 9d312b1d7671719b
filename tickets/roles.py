"""Roles are Django auth groups; helpers answer "what may this user do" with one cached query."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "Admin"
    SUPERVISOR = "Supervisor"
    AGENT = "Agent"


_CACHE_ATTR = "_helpdesk_roles"


def roles_of(user: Any) -> frozenset[str]:
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            names.add(Role.ADMIN.value)
        cached = frozenset(names)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def is_agent(user: Any) -> bool:
    return bool(roles_of(user) & {Role.ADMIN, Role.SUPERVISOR, Role.AGENT})


def sees_all_tickets(user: Any) -> bool:
    return bool(roles_of(user) & {Role.ADMIN, Role.SUPERVISOR})


def is_admin(user: Any) -> bool:
    return Role.ADMIN in roles_of(user)


def may_merge_contacts(user: Any) -> bool:
    """Merging contacts reaches beyond one team (their tickets may sit in any group)."""
    return sees_all_tickets(user)

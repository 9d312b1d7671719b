"""Permissions that follow the help desk's roles.

An Admin (the role group, or a superuser) may do everything, including in the Django admin,
whether or not someone also ticked "staff status" for them, and for models added after the
role's permissions were first granted. Agents and supervisors keep exactly the model
permissions their groups hold (see migration 0002_roles).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from .roles import is_admin


class RoleBackend(BaseBackend):
    """Permissions only: signing in stays ModelBackend's and allauth's job."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(user_obj.is_active and is_admin(user_obj))

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return bool(user_obj.is_active and is_admin(user_obj))

"""Who may use the agent API: agents only; some actions only supervisors and admins."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..roles import is_agent, may_merge_contacts


class IsAgent(BasePermission):
    """Agents, supervisors and admins. Customers and other logged-in users get 403."""

    message = "Only agents may use this API."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_agent(request.user)


class IsSupervisor(BasePermission):
    """Supervisors and admins: changes that reach beyond one team (merging contacts)."""

    message = "Only supervisors and admins may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_merge_contacts(request.user)

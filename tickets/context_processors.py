from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import is_admin, is_agent, sees_all_tickets


def desk(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "is_agent": is_agent(user),
        "is_supervisor": sees_all_tickets(user),
        "is_helpdesk_admin": is_admin(user),
    }

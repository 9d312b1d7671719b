"""Team membership, in one place: which groups an agent works in, whether they may work on a
group's tickets, and who may take a group's tickets. Supervisors and admins work in every
group; an agent only in the groups they are a member of; a ticket with no group is anyone's."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from .models import Group
from .roles import Role, is_agent, sees_all_tickets


def team_ids(user: Any) -> list[int]:
    """The ids of the user's teams, read once per request (cached on the user object)."""
    cached = getattr(user, "_helpdesk_group_ids", None)
    if cached is None:
        cached = list(Group.objects.filter(members=user).values_list("id", flat=True))
        user._helpdesk_group_ids = cached
    return cached


def works_in_group(user: Any, group_id: int | None) -> bool:
    """May this agent work on a ticket of this group (and so be its assignee)? Read fresh."""
    if not is_agent(user):
        return False
    if group_id is None or sees_all_tickets(user):
        return True
    return Group.objects.filter(pk=group_id, members=user).exists()


def group_workers_q(group_id: int | None) -> Q:
    """A filter on users: those who work on this group's tickets (members, supervisors and
    admins; every agent when there is no group)."""
    if group_id is None:
        return Q(is_superuser=True) | Q(groups__name__in=[r.value for r in Role])
    return (
        Q(helpdesk_groups=group_id)
        | Q(is_superuser=True)
        | Q(groups__name__in=[Role.ADMIN.value, Role.SUPERVISOR.value])
    )

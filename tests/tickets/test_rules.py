"""Rules that used to be computed in several places, now each in one: who works in which team,
who may merge contacts, and that a phone number and a WhatsApp number are one person's."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.factories import ContactFactory, make_ticket
from tickets import selectors, services
from tickets.identities import equivalent_kinds
from tickets.models import Group, Identity
from tickets.roles import may_merge_contacts
from tickets.teams import group_workers_q, team_ids, works_in_group

pytestmark = pytest.mark.django_db


def test_an_agent_works_in_their_teams_supervisors_in_all(
    agent: Any, other_agent: Any, supervisor: Any, customer: Any, support: Group, billing: Group
) -> None:
    assert team_ids(agent) == [support.pk]
    assert works_in_group(agent, support.pk) and not works_in_group(agent, billing.pk)
    assert works_in_group(agent, None)  # a ticket with no group is anyone's
    assert works_in_group(supervisor, billing.pk)
    assert not works_in_group(customer, None)
    workers = set(get_user_model().objects.filter(group_workers_q(support.pk)).distinct())
    assert agent in workers and supervisor in workers and other_agent not in workers


def test_the_assignee_menu_and_the_assign_service_agree(
    agent: Any, other_agent: Any, supervisor: Any, support: Group
) -> None:
    ticket = make_ticket(group=support)
    menu = set(selectors.assignable_agents(ticket))
    assert menu == {agent, supervisor}
    for person in menu:
        services.ticket_assign(ticket=ticket, agent=person, actor=supervisor)
    with pytest.raises(services.ServiceError):
        services.ticket_assign(ticket=ticket, agent=other_agent, actor=supervisor)


def test_only_supervisors_and_admins_merge_contacts(
    agent: Any, supervisor: Any, admin_user: Any
) -> None:
    assert not may_merge_contacts(agent)
    assert may_merge_contacts(supervisor) and may_merge_contacts(admin_user)
    keep, dupe = ContactFactory(), ContactFactory()
    with pytest.raises(services.ServiceError):
        services.contact_merge(source=dupe, target=keep, actor=agent)
    assert services.contact_merge(source=dupe, target=keep, actor=None) == keep  # the system


def test_a_whatsapp_number_someone_has_as_phone_is_theirs() -> None:
    assert equivalent_kinds("whatsapp") == ("whatsapp", "phone")
    assert equivalent_kinds("email") == ("email",)
    owner, other = ContactFactory(), ContactFactory()
    services.identity_add(contact=owner, kind="phone", value="+1 415 555 0199")
    with pytest.raises(services.ServiceError, match="another contact"):
        services.identity_add(contact=other, kind="whatsapp", value="14155550199")
    services.identity_add(contact=owner, kind="whatsapp", value="14155550199")
    assert set(owner.identities.values_list("kind", flat=True)) == {"email", "phone", "whatsapp"}
    assert not Identity.objects.filter(contact=other, kind="whatsapp").exists()

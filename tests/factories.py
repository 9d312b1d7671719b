"""factory_boy factories for the core rows (tickets go through the services, like real ones)."""

from __future__ import annotations

from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup

from tickets import services
from tickets.models import Channel, Contact, Group, Identity, Organisation, Ticket
from tickets.roles import Role

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True  # the hooks below save what they change themselves

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw-for-tests-123")

    @factory.post_generation
    def verified_email(self, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        # allauth requires a verified address to log in (mandatory verification)
        if create and extracted is not False:
            EmailAddress.objects.get_or_create(
                user=self, email=self.email, defaults={"verified": True, "primary": True}
            )

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create and extracted:
            # get_or_create: transactional tests flush the roles the migration created
            self.groups.add(AuthGroup.objects.get_or_create(name=extracted)[0])


def make_agent(username: str, *, groups: list[Group] = (), role: str = Role.AGENT) -> Any:  # type: ignore[assignment]
    user = UserFactory(username=username, email=f"{username}@desk.test", role=role)
    for group in groups:
        group.members.add(user)
    return user


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Org {n}")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    name = factory.Faker("name")

    @factory.post_generation
    def email(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create:
            Identity.objects.create(
                contact=self,
                kind=Identity.Kind.EMAIL,
                value=(extracted or f"contact{self.pk}@customer.test").lower(),
            )


def make_ticket(
    *,
    contact: Contact | None = None,
    group: Group | None = None,
    subject: str = "Printer on fire",
    text: str = "It is on fire. Please help.",
    channel: str = Channel.EMAIL,
    **kwargs: Any,
) -> Ticket:
    return services.ticket_create(
        contact=contact or ContactFactory(),
        subject=subject,
        text=text,
        channel=channel,
        group=group,
        **kwargs,
    )

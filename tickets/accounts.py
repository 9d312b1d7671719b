"""Portal logins meet contacts: a customer's login is linked to the contact owning its email,
but only once that email is verified (otherwise anyone could sign up with someone else's
address and read their tickets)."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import email_confirmed, user_signed_up
from django.dispatch import receiver

from . import services
from .roles import is_agent


@receiver(email_confirmed)
def link_on_confirmation(sender: Any, request: Any, email_address: Any, **kwargs: Any) -> None:
    user = email_address.user
    if not is_agent(user):
        services.contact_link_user(user=user, email=email_address.email)


@receiver(user_signed_up)
def link_on_verified_signup(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from allauth.account.models import EmailAddress

    verified = EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    for email in verified:
        services.contact_link_user(user=user, email=email)

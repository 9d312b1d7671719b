"""The project's URLs with the email channel mounted at /channels/email/, for the tests that
run before `channels_in/urls.py` includes it (see `mailtools.email_urls`)."""

from __future__ import annotations

from django.urls import URLResolver, include, path

from channels_in import urls as channels_urls
from helpdesk import urls as root

urlpatterns = [
    p
    for p in root.urlpatterns
    if not (isinstance(p, URLResolver) and p.urlconf_name is channels_urls)
]
urlpatterns.append(
    path(
        "channels/",
        include(
            (
                [*channels_urls.urlpatterns, path("email/", include("channels_in.email.urls"))],
                "channels_in",
            )
        ),
    )
)

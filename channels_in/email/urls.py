"""Mounted at /channels/email/ (namespace `channels_in:email`)."""

from __future__ import annotations

from django.urls import path

from . import views, webhooks

app_name = "email"
urlpatterns = [
    path("inbound/mailgun/<slug:account>/mime", webhooks.mailgun, name="inbound_mailgun"),
    path("inbound/postmark/<slug:account>/", webhooks.postmark, name="inbound_postmark"),
    path("inbound/sendgrid/<slug:account>/", webhooks.sendgrid, name="inbound_sendgrid"),
    path("inbound/ses/<slug:account>/", webhooks.ses, name="inbound_ses"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/new/", views.account_new, name="account_new"),
    path("accounts/<int:account_id>/check/", views.account_check, name="account_check"),
]

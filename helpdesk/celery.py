"""The Celery app. Tasks are routed to named queues (see `tickets.queues.Queue`); the broker
transport gives each queue its own visibility timeout (see `helpdesk.broker`)."""

from __future__ import annotations

import os

from celery import Celery

from . import broker  # noqa: F401  (registers the transport alias before any connection)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from __future__ import annotations

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import accounts, live, sla_live  # noqa: F401  (portal logins; live screens; SLA)
        from .automation import receivers as automation_receivers  # noqa: F401  (triggers)
        from .search import receivers  # noqa: F401  (search documents follow changes)

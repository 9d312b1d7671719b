from __future__ import annotations

from django.apps import AppConfig


class ChannelsInConfig(AppConfig):
    name = "channels_in"
    verbose_name = "Channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect to the core's domain events and register each channel's adapters.
        from . import receipt_tasks, receivers  # noqa: F401
        from .chat import adapter as chat_adapter  # noqa: F401
        from .email import adapter as email_adapter  # noqa: F401
        from .messenger import adapter as messenger_adapter  # noqa: F401
        from .sms import adapter as sms_adapter  # noqa: F401
        from .telegram import adapter as telegram_adapter  # noqa: F401
        from .voice import adapter as voice_adapter  # noqa: F401
        from .whatsapp import adapter as whatsapp_adapter  # noqa: F401

# Each outbound message gets the state of its latest delivery (tickets.Message.delivery_status),
# so threads and the portal show failures without reading the deliveries.
from __future__ import annotations

from typing import Any

from django.db import migrations


def fill(apps: Any, schema_editor: Any) -> None:
    Delivery = apps.get_model("channels_in", "OutboundDelivery")
    Message = apps.get_model("tickets", "Message")
    latest: dict[int, tuple[str, str]] = {}
    rows = Delivery.objects.order_by("message_id", "updated_at", "id")
    for message_id, status, error in rows.values_list("message_id", "status", "error").iterator():
        latest[message_id] = (status, error)
    for message_id, (status, error) in latest.items():
        if status in ("queued", "sending"):
            continue
        Message.objects.filter(pk=message_id).update(
            delivery_status=status, delivery_error=error[:500] if status == "failed" else ""
        )


class Migration(migrations.Migration):
    dependencies = [
        ("channels_in", "0006_recovery"),
        ("tickets", "0008_message_delivery_status"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

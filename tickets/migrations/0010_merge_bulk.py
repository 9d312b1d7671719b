# Bulk jobs and delivery states on messages were built beside history import and SLA; this
# joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0008_message_delivery_status"),
        ("tickets", "0009_merge_history_import"),
    ]

    operations = []

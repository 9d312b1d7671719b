# SLA policies were built beside the event log and search; this joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_sla"),
        ("tickets", "0006_merge_event_log"),
    ]

    operations = []

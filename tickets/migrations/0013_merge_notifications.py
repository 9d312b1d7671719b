# Notifications and followers were built beside the other desk work; this joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0007_notifications"),
        ("tickets", "0012_event_kinds"),
    ]

    operations = []

# Triggers and time automations were built beside SLA, history import and bulk jobs; this
# joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0007_automation"),
        ("tickets", "0010_merge_bulk"),
    ]

    operations = []

# The typed event log was built beside calendars and search; this joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_event_log"),
        ("tickets", "0005_merge_calendars_search"),
    ]

    operations = []

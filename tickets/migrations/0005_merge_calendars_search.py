# Calendars and ticket search were built side by side; this joins the two lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_calendars"),
        ("tickets", "0004_search"),
    ]

    operations = []

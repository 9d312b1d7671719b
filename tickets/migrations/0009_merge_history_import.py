# History import was built beside SLA; this joins the lines.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0007_history_import"),
        ("tickets", "0008_sla_event_kinds"),
    ]

    operations = []

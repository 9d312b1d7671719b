"""Every minute, celery beat (DatabaseScheduler) queues the poll of every IMAP mailbox."""

from django.db import migrations

TASK_NAME = "email: poll IMAP mailboxes"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "channels_in.email.tasks.poll_mailboxes",
            "interval": every_minute,
            "queue": "ingest",
            "enabled": True,
            # a poll older than its interval is pointless: the next one is already due
            "expire_seconds": 55,
        },
    )
    # tell a running beat that its schedule changed
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("channels_in", "0002_mailboxstate"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

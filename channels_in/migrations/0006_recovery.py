"""Claims for crash recovery (claim and queue times, the sending state), and the beat
schedule of the sweeper that uses them: every minute, `channels_in.tasks.sweep_stuck`."""

from django.db import migrations, models
from django.utils import timezone

TASK_NAME = "recovery: re-queue work a dead worker left"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "channels_in.tasks.sweep_stuck",
            "interval": every_minute,
            "queue": "ingest",
            "enabled": True,
            # a sweep that waited a whole interval is replaced by the next one
            "expire_seconds": 55,
        },
    )
    # tell a running beat that its schedule changed
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('channels_in', '0005_outbounddelivery_parts'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ('tickets', '0003_ticket_updated_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='inboundmessage',
            name='claimed_at',
            field=models.DateTimeField(blank=True, help_text='When a worker last started processing it. Received and claimed after it was last queued: an attempt is running, or died.', null=True),
        ),
        migrations.AddField(
            model_name='inboundmessage',
            name='queued_at',
            field=models.DateTimeField(blank=True, help_text='When a processing task was last queued for it (by the store or the sweeper).', null=True),
        ),
        migrations.AddField(
            model_name='outbounddelivery',
            name='claimed_at',
            field=models.DateTimeField(blank=True, help_text='When a worker last claimed it to send.', null=True),
        ),
        migrations.AlterField(
            model_name='outbounddelivery',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending (claimed by a worker)'), ('sent', 'Sent'), ('delivered', 'Delivered'), ('read', 'Read'), ('failed', 'Failed')], default='queued', max_length=16),
        ),
        migrations.AddIndex(
            model_name='outbounddelivery',
            index=models.Index(fields=['status', 'updated_at'], name='delivery_status_updated'),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]

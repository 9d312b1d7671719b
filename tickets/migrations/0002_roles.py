"""The three agent roles as auth groups, with the model permissions each one needs."""

from __future__ import annotations

from typing import Any

from django.db import migrations

AGENT_PERMS = [
    ("tickets", "view_ticket"), ("tickets", "change_ticket"), ("tickets", "add_ticket"),
    ("tickets", "view_message"), ("tickets", "add_message"),
    ("tickets", "view_contact"), ("tickets", "change_contact"), ("tickets", "add_contact"),
    ("tickets", "view_organisation"), ("tickets", "view_macro"), ("tickets", "view_tag"),
]
SUPERVISOR_EXTRA = [
    ("tickets", "delete_ticket"), ("tickets", "add_macro"), ("tickets", "change_macro"),
    ("tickets", "change_organisation"), ("tickets", "add_organisation"),
    ("tickets", "view_group"), ("tickets", "change_group"),
]


def create_roles(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(pairs: list[tuple[str, str]]) -> list[Any]:
        return [
            p for app, code in pairs
            for p in Permission.objects.filter(content_type__app_label=app, codename=code)
        ]

    agent, _ = Group.objects.get_or_create(name="Agent")
    agent.permissions.set(perms(AGENT_PERMS))
    supervisor, _ = Group.objects.get_or_create(name="Supervisor")
    supervisor.permissions.set(perms(AGENT_PERMS + SUPERVISOR_EXTRA))
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.set(Permission.objects.all())


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]

"""The four roles as groups with their permissions, and the default approval policy row."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    f"view_{model}"
    for model in (
        "cloudproject",
        "gateway",
        "enterpriserouter",
        "peerlink",
        "statuschange",
        "drift",
        "changerequest",
        "auditevent",
        "approval",
        "comment",
    )
] + ["export_peerlink"]
ENGINEER = [*VIEWER, "submit_change", "retry_change"]
APPROVER = [*ENGINEER, "approve_change"]
ROLES = {"Viewer": VIEWER, "Engineer": ENGINEER, "Approver": APPROVER}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; roles need them now.
    from django.apps import apps as global_apps

    for label in ("contenttypes", "auth", "peerlinks"):
        create_permissions(global_apps.get_app_config(label), apps=apps, verbosity=0)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="peerlinks", codename__in=codenames)
        )
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.set(
        Permission.objects.filter(content_type__app_label__in=["peerlinks", "auth"]).exclude(
            codename__in=["add_auditevent", "change_auditevent", "delete_auditevent"]
        )
    )
    Policy = apps.get_model("peerlinks", "Policy")
    Policy.objects.get_or_create(pk=1)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[*ROLES, "Admin"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0002_approvals"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

"""The Admin role manages cloud accounts: an Admin group made before accounts existed gets their permissions
(ensure_roles gives a new group every permission, but leaves an existing one as it is)."""

from django.db import migrations

MODELS = {"cloudaccount": "cloud account", "accountrole": "role for one account"}
ACTIONS = ("add", "change", "delete", "view")


def grant_account_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admin = Group.objects.filter(name="Admin").first()
    if admin is None:
        return  # made after this migrate with every permission
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for model, verbose_name in MODELS.items():
        content_type, _ = ContentType.objects.get_or_create(app_label="peerlinks", model=model)
        for action in ACTIONS:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {verbose_name}"},
            )
            admin.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0020_policy_cross_account_approval"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_account_permissions, migrations.RunPython.noop, elidable=False)]

"""The default approval policy row.

This migration once also made the four roles; they are now made (when missing) after every migrate by
`peerlinks.permissions.ensure_roles`, where the roles are defined, so a database made today gets the same
groups as one made by the first release.
"""

from django.db import migrations


def create_policy(apps, schema_editor):
    Policy = apps.get_model("peerlinks", "Policy")
    Policy.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0002_approvals"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_policy, migrations.RunPython.noop)]

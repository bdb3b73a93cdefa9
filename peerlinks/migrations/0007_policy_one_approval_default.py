"""Every kind of change needs one approval by default: renames too (the default was none).

An install whose policy still has the old default for renames (none) is raised to one: nothing can tell an
untouched default from a deliberate none, and a rename done without review is the risk this closes. An
admin who wants renames to skip approval lowers it again in the admin. Creates and deletes keep whatever
they are set to: they already needed one by default.
"""

from django.db import migrations, models


def renames_need_one_approval(apps, schema_editor) -> None:
    Policy = apps.get_model("peerlinks", "Policy")
    Policy.objects.filter(approvals_update=0).update(approvals_update=1)


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0006_policy_window_defaults"),
    ]

    operations = [
        migrations.AlterField(
            model_name="policy",
            name="approvals_update",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        # Undone, the policy keeps one approval for renames: which installs had none cannot be told apart.
        migrations.RunPython(renames_need_one_approval, migrations.RunPython.noop),
    ]

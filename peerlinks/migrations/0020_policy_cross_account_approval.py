"""The policy says whose approvals a link between two accounts needs: an approver of each account (the
default) or any approver of either."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0019_shared_attachments"),
    ]

    operations = [
        migrations.AddField(
            model_name="policy",
            name="cross_account_approval",
            field=models.CharField(
                choices=[
                    ("each", "an approver of each account"),
                    ("either", "any approver of either account"),
                ],
                default="each",
                max_length=8,
                verbose_name="a link between two accounts needs",
            ),
        ),
    ]

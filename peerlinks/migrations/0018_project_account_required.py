"""Every cloud project belongs to an account, one project per account and region."""

import django.db.models.deletion
from django.db import migrations, models

import peerlinks.models


class Migration(migrations.Migration):
    dependencies = [("peerlinks", "0017_first_account")]

    operations = [
        migrations.AlterField(
            model_name="cloudproject",
            name="account",
            field=models.ForeignKey(
                default=peerlinks.models.first_account_pk,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="projects",
                to="peerlinks.cloudaccount",
                verbose_name="account",
            ),
        ),
        migrations.AddConstraint(
            model_name="cloudproject",
            constraint=models.UniqueConstraint(fields=("account", "region"), name="one_project_per_region"),
        ),
        migrations.AddConstraint(
            model_name="accountrole",
            constraint=models.UniqueConstraint(
                fields=("user", "account", "role"), name="one_grant_per_role_and_account"
            ),
        ),
    ]

"""Cloud accounts: the CLOUD_* settings become the first account, and what is cached stays attached to it."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import peerlinks.encryption


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0015_user_preferences"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="cloudproject",
            options={
                "ordering": ["account", "region"],
                "verbose_name": "cloud project",
                "verbose_name_plural": "cloud projects",
            },
        ),
        migrations.AlterField(
            model_name="cloudproject",
            name="region",
            field=models.CharField(max_length=36, verbose_name="region"),
        ),
        migrations.CreateModel(
            name="CloudAccount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.SlugField(
                        help_text="Short name, used in filters, exports and IdP groups such as dcportal-approver-<name>.",
                        max_length=40,
                        unique=True,
                        verbose_name="name",
                    ),
                ),
                ("description", models.CharField(blank=True, max_length=255, verbose_name="description")),
                (
                    "from_environment",
                    models.BooleanField(
                        default=False,
                        editable=False,
                        help_text="Credentials, regions and endpoints come from the CLOUD_* settings.",
                        verbose_name="from the environment",
                    ),
                ),
                (
                    "auth",
                    models.CharField(
                        choices=[("aksk", "Access key (AK/SK)"), ("token", "IAM user (token)")],
                        default="aksk",
                        max_length=8,
                        verbose_name="authentication",
                    ),
                ),
                (
                    "access_key",
                    peerlinks.encryption.EncryptedTextField(blank=True, verbose_name="access key ID (AK)"),
                ),
                (
                    "secret_key",
                    peerlinks.encryption.EncryptedTextField(
                        blank=True, verbose_name="secret access key (SK)"
                    ),
                ),
                (
                    "iam_domain",
                    models.CharField(blank=True, max_length=64, verbose_name="IAM account (domain) name"),
                ),
                ("iam_user", models.CharField(blank=True, max_length=64, verbose_name="IAM user name")),
                (
                    "iam_password",
                    peerlinks.encryption.EncryptedTextField(blank=True, verbose_name="IAM user password"),
                ),
                ("regions", models.JSONField(blank=True, default=list, verbose_name="managed regions")),
                ("endpoints", models.JSONField(blank=True, default=dict, verbose_name="endpoint overrides")),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at"),
                ),
            ],
            options={
                "verbose_name": "cloud account",
                "verbose_name_plural": "cloud accounts",
                "ordering": ["-from_environment", "name"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("from_environment", True)),
                        fields=("from_environment",),
                        name="one_account_from_environment",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AccountRole",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[("Viewer", "Viewer"), ("Engineer", "Engineer"), ("Approver", "Approver")],
                        max_length=16,
                        verbose_name="role",
                    ),
                ),
                (
                    "from_idp",
                    models.BooleanField(
                        default=False, editable=False, verbose_name="from the identity provider"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="account_roles",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="roles",
                        to="peerlinks.cloudaccount",
                        verbose_name="account",
                    ),
                ),
            ],
            options={
                "verbose_name": "role for one account",
                "verbose_name_plural": "roles for one account",
                "ordering": ["account", "user", "role"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="peerlinks.cloudaccount",
                verbose_name="account",
            ),
        ),
        migrations.AddField(
            model_name="changerequest",
            name="peer_account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="peerlinks.cloudaccount",
                verbose_name="peer's account",
            ),
        ),
        migrations.AddField(
            model_name="cloudproject",
            name="account",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="projects",
                to="peerlinks.cloudaccount",
                verbose_name="account",
            ),
        ),
    ]

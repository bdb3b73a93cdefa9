"""Cloud accounts: the CLOUD_* settings become the first account, and what is cached stays attached to it."""

from django.conf import settings
from django.db import migrations

ACCOUNT_BOUND = ["peer_link", "change_request", "gateway", "drift", "enterpriserouter", "cloudproject"]


def attach_to_first_account(apps, schema_editor):
    CloudAccount = apps.get_model("peerlinks", "CloudAccount")
    CloudProject = apps.get_model("peerlinks", "CloudProject")
    AuditEvent = apps.get_model("peerlinks", "AuditEvent")
    account, _ = CloudAccount.objects.get_or_create(
        from_environment=True, defaults={"name": settings.CLOUD_ACCOUNT_NAME}
    )
    CloudProject.objects.filter(account__isnull=True).update(account=account)
    AuditEvent.objects.filter(account__isnull=True, object_type__in=ACCOUNT_BOUND).update(account=account)
    AuditEvent.objects.filter(account__isnull=True, change_request__isnull=False).update(account=account)


class Migration(migrations.Migration):
    dependencies = [("peerlinks", "0016_accounts")]

    operations = [migrations.RunPython(attach_to_first_account, migrations.RunPython.noop, elidable=False)]

"""Cloud accounts as an admin manages them: saving one (audited, credentials named but never shown), its
regions discovered through IAM, and the regions it manages (a sync queued for those newly added).

The first account (from the CLOUD_* settings) is only described here: its credentials, regions and
endpoints stay in the settings.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from peerlinks import cloud
from peerlinks.cloud.endpoints import check_region_name
from peerlinks.models import CloudAccount
from peerlinks.services import dispatch
from peerlinks.services.audit import record_audit

# Fields whose values are never written anywhere but their encrypted column: the audit names them only.
CREDENTIALS = ("access_key", "secret_key", "iam_password")
# What an admin may edit on the first account: the rest comes from the CLOUD_* settings.
ENVIRONMENT_EDITABLE = ("description",)
# IAM is one service for the whole account: any region's IAM endpoint lists every project of it. When the
# account manages no region yet and no endpoint override names one, ask in Huawei Cloud's main region
# (cn-north-4, where IAM's global endpoint also answers).
DEFAULT_IAM_REGION = "cn-north-4"


def _audited_fields() -> list[str]:
    return [
        field.attname
        for field in CloudAccount._meta.concrete_fields
        if not field.primary_key and field.attname not in ("created_at", "from_environment")
    ]


@transaction.atomic
def save_account(account: CloudAccount, *, user: AbstractBaseUser | None) -> CloudAccount:
    """Save an account as an admin edited it (None: the system, for the demo) and audit it: `account.added`,
    or `account.changed` with the before and after of each changed field; a credential is only named
    ("set", "changed", "cleared")."""
    before_row = (
        CloudAccount.objects.select_for_update().filter(pk=account.pk).first() if account.pk else None
    )
    if before_row is not None and before_row.from_environment:
        account.from_environment = True
        for name in _audited_fields():
            if name not in ENVIRONMENT_EDITABLE:
                setattr(account, name, getattr(before_row, name))
    account.full_clean()
    account.save()
    before, after = {}, {}
    for name in _audited_fields():
        old = getattr(before_row, name) if before_row else None
        new = getattr(account, name)
        if before_row is not None and old == new:
            continue
        if name in CREDENTIALS:
            if old or new:
                after[name] = "cleared" if not new else ("changed" if old else "set")
            continue
        if before_row is not None:
            before[name] = old
        after[name] = new
    if before_row is None:
        record_audit(action="account.added", actor=user, obj=account, after=after)
    elif after:
        record_audit(action="account.changed", actor=user, obj=account, before=before, after=after)
    return account


def iam_region(account: CloudAccount) -> str:
    """The region whose IAM endpoint is asked for the account's projects: its first managed region, else
    a region its IAM endpoint override names (a cloud of its own, e.g. iam@eu-west-101), else
    DEFAULT_IAM_REGION."""
    if account.managed_regions:
        return account.managed_regions[0]
    endpoints = account.endpoints if not account.from_environment else {}
    for key in endpoints or {}:
        service, _at, region = key.partition("@")
        if service == "iam" and region:
            return region
    return DEFAULT_IAM_REGION


def discover_regions(account: CloudAccount, *, region: str = "") -> list[str]:
    """The regions the account has, from its IAM projects (asked in `region`, by default iam_region's),
    sorted; a project that is not a region (a sub-project such as cn-north-4_dev, MOS) is left out.
    Raises cloud.CloudError when IAM cannot be asked or refuses the account's credentials."""
    projects = cloud.list_projects(region=region or iam_region(account), config=account.cloud_config())
    found = set()
    for project in projects:
        try:
            found.add(check_region_name(project.name))
        except ValueError:
            continue
    return sorted(found)


def set_regions(
    account: CloudAccount, *, regions: list[str], user: AbstractBaseUser
) -> tuple[list[str], bool]:
    """Manage exactly `regions` in the account (audited as `account.changed`) and queue a full sync when
    some are added. Returns the regions added, and whether a sync was queued (False: none was needed, or
    one already waiting or running takes the ask)."""
    if account.from_environment:
        raise ValidationError(_("The regions of this account come from the CLOUD_REGIONS setting."))
    for region in regions:
        try:
            check_region_name(region)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    regions = list(dict.fromkeys(regions))
    with transaction.atomic():
        row = CloudAccount.objects.select_for_update().get(pk=account.pk)
        before = list(row.regions)
        if before == regions:
            return [], False
        row.regions = regions
        row.save(update_fields=["regions"])
        account.regions = regions
        record_audit(
            action="account.changed",
            actor=user,
            obj=row,
            before={"regions": before},
            after={"regions": regions},
        )
        added = [region for region in regions if region not in before]
        return added, bool(added) and dispatch.sync_all_regions()

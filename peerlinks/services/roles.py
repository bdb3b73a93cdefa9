"""Roles held for one account, given and taken away by an admin, each step in the audit log.

(Roles held for every account are groups; roles for one account that IdP groups give are set at each
single sign-on login, in `sso`.)
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from peerlinks.models import AccountRole, CloudAccount
from peerlinks.services.audit import record_audit


def _described(row: AccountRole) -> dict[str, str]:
    return {"account": row.account.name, "role": row.role}


def add_account_role(
    *, user: AbstractBaseUser, account: CloudAccount, role: str, by: AbstractBaseUser
) -> AccountRole:
    """Give `user` role `role` for `account` only (`user.account_role_added`, on the user)."""
    with transaction.atomic():
        row = AccountRole.objects.create(user=user, account=account, role=role)
        record_audit(
            action="user.account_role_added", actor=by, obj=user, after=_described(row), account_id=account.pk
        )
    return row


def remove_account_role(*, row: AccountRole, by: AbstractBaseUser) -> None:
    """Take a role for one account away (`user.account_role_removed`, on the user)."""
    with transaction.atomic():
        record_audit(
            action="user.account_role_removed",
            actor=by,
            obj=row.user,
            before={**_described(row), "from_idp": row.from_idp},
            account_id=row.account_id,
        )
        row.delete()

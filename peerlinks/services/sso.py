"""Single sign-on: what a person's identity provider (IdP) groups make them in dcportal.

At every login through the IdP the person's roles are set from the groups claim: a role whose group they
are no longer in is taken away then. `OIDC_ROLE_GROUPS` maps an IdP group to a role for every account
(`{"idp-group": "Approver"}`); a group named `<OIDC_ACCOUNT_GROUP_PREFIX><role>-<account>`
(`dcportal-approver-team-b`) gives a role for one account only (an `AccountRole` marked `from_idp`; those an
admin gave are left alone). A grant names its role and the account it covers (None: every account).
"""

import logging
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from peerlinks.models import AccountRole, CloudAccount
from peerlinks.permissions import ADMIN, ROLES, ensure_role
from peerlinks.services.audit import record_audit

logger = logging.getLogger(__name__)

ROLE_NAMES = (*ROLES, ADMIN)
# The roles a group may give for one account, by the word the group's name uses.
ACCOUNT_ROLE_WORDS = {role.lower(): role for role in AccountRole.Role.values}


class Grant(NamedTuple):
    role: str
    account: str | None = None  # None: every account


def role_mapping_problems(mapping: object) -> list[str]:
    """What is wrong with an `OIDC_ROLE_GROUPS` value, in words (empty when it is right)."""
    if not isinstance(mapping, dict):
        return ['OIDC_ROLE_GROUPS must be a JSON object such as {"idp-group": "Approver"}.']
    return [
        f"OIDC_ROLE_GROUPS maps {group!r} to {role!r}: the roles are {', '.join(ROLE_NAMES)}."
        for group, role in mapping.items()
        if role not in ROLE_NAMES
    ]


def grants_from_groups(groups: Iterable[str]) -> set[Grant]:
    """The grants that IdP groups `groups` give: by `OIDC_ROLE_GROUPS` for every account, and by name for one
    account (`dcportal-approver-team-b`); other groups, and groups naming an unknown account, give none."""
    mapping: dict[str, str] = settings.OIDC_ROLE_GROUPS
    grants = {Grant(role=mapping[group]) for group in groups if group in mapping}
    wanted = {group: grant for group in groups if (grant := _account_grant(group)) is not None}
    names = {grant.account for grant in wanted.values()}
    known = set(CloudAccount.objects.filter(name__in=names).values_list("name", flat=True))
    for group, grant in wanted.items():
        if grant.account in known:
            grants.add(grant)
        else:
            logger.info("IdP group %s names no known cloud account: it gives no role", group)
    return grants


def _account_grant(group: str) -> Grant | None:
    """The grant a group named `<prefix><role>-<account>` asks for (its account not looked up), else None."""
    prefix = settings.OIDC_ACCOUNT_GROUP_PREFIX
    if not prefix or not group.startswith(prefix):
        return None
    word, dash, account = group[len(prefix) :].partition("-")
    if not dash or not account or word not in ACCOUNT_ROLE_WORDS:
        return None
    return Grant(role=ACCOUNT_ROLE_WORDS[word], account=account)


def groups_in_claims(claims: dict) -> list[str]:
    """The IdP groups in a person's claims (`OIDC_GROUPS_CLAIM`), a list whatever the IdP sent."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return [str(group) for group in value if isinstance(group, str | int)]


def apply_sso_login(*, user: AbstractUser, claims: dict) -> AbstractUser:
    """Bring `user` in line with the IdP's claims at a login: name, email and roles. The IdP decides:
    roles (and Django admin access, which comes with Admin) it no longer gives are taken away, for every
    account and for one; groups that are not roles, and roles for one account an admin gave, are left
    alone. A change of roles is audited (`user.roles_from_idp`, roles and account roles before and after)."""
    grants = grants_from_groups(groups_in_claims(claims))
    roles = sorted({grant.role for grant in grants if grant.account is None})
    account_roles = sorted(f"{grant.role}@{grant.account}" for grant in grants if grant.account is not None)
    with transaction.atomic():
        user.email = str(claims.get("email") or user.email)[:254]
        user.first_name = str(claims.get("given_name") or claims.get("name") or user.first_name)[:150]
        user.last_name = str(claims.get("family_name") or user.last_name)[:150]
        user.is_staff = ADMIN in roles
        user.is_superuser = user.is_superuser and ADMIN in roles
        if user.pk is None:
            user.set_unusable_password()
        user.save()
        before = sorted(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
        if roles != before:
            user.groups.remove(*Group.objects.filter(name__in=set(before) - set(roles)))
            user.groups.add(*(ensure_role(role) for role in roles))
        before_accounts, account_roles = _set_account_roles(user, account_roles)
        if roles != before or account_roles != before_accounts:
            record_audit(
                action="user.roles_from_idp",
                actor_name="single sign-on",
                obj=user,
                before={"roles": before, "account_roles": before_accounts},
                after={"roles": roles, "account_roles": account_roles},
            )
    return user


def _set_account_roles(user: AbstractUser, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Make the user's roles for one account from the IdP (`from_idp`) those in `wanted` ("Role@account")
    that an admin has not already given; returns what they were and what they are now, in that form."""
    rows = AccountRole.objects.filter(user=user).select_related("account")
    from_idp = {f"{row.role}@{row.account.name}": row for row in rows if row.from_idp}
    by_admin = {f"{row.role}@{row.account.name}" for row in rows if not row.from_idp}
    wanted = sorted(set(wanted) - by_admin)
    for key in set(from_idp) - set(wanted):
        from_idp[key].delete()
    accounts = {account.name: account for account in CloudAccount.objects.all()}
    for key in set(wanted) - set(from_idp):
        role, _at, name = key.partition("@")
        AccountRole.objects.create(user=user, account=accounts[name], role=role, from_idp=True)
    user.__dict__.pop("_account_roles_cache", None)  # what permissions.AccountRoleBackend read before
    return sorted(from_idp), wanted

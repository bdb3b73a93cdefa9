"""Single sign-on: what a person's identity provider (IdP) groups make them in dcportal.

At every login through the IdP the person's roles are set from the groups claim: a role whose group they
are no longer in is taken away then. `OIDC_ROLE_GROUPS` maps an IdP group to a role (`{"idp-group":
"Approver"}`). A grant names its role and the account it covers; `None` covers every account (the only
kind today), so a grant per account can be added without changing how logins apply them.
"""

from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from peerlinks.permissions import ADMIN, ROLES, ensure_role
from peerlinks.services.audit import record_audit

ROLE_NAMES = (*ROLES, ADMIN)


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
    """The grants that IdP groups `groups` give, by `OIDC_ROLE_GROUPS`; unmapped groups give none."""
    mapping: dict[str, str] = settings.OIDC_ROLE_GROUPS
    return {Grant(role=mapping[group]) for group in groups if group in mapping}


def groups_in_claims(claims: dict) -> list[str]:
    """The IdP groups in a person's claims (`OIDC_GROUPS_CLAIM`), a list whatever the IdP sent."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return [str(group) for group in value if isinstance(group, str | int)]


def apply_sso_login(*, user: AbstractUser, claims: dict) -> AbstractUser:
    """Bring `user` in line with the IdP's claims at a login: name, email and roles. The IdP decides:
    roles (and Django admin access, which comes with Admin) it no longer gives are taken away; groups that
    are not roles are left alone. A change of roles is audited."""
    grants = grants_from_groups(groups_in_claims(claims))
    roles = sorted({grant.role for grant in grants if grant.account is None})
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
            record_audit(
                action="user.roles_from_idp",
                actor_name="single sign-on",
                obj=user,
                before={"roles": before},
                after={"roles": roles},
            )
    return user

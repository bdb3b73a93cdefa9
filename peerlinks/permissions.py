"""Who may do what: one decorator for views, naming the permission a role must hold.

Roles are groups (Viewer, Engineer, Approver, Admin; `ROLES` below, made after every migrate) holding these
permissions:

- `peerlinks.view_peerlink`: read every page (Viewer and up).
- `peerlinks.export_peerlink`: download the peer-link CSV (Viewer and up).
- `peerlinks.submit_change`: ask for, edit, cancel and comment on changes; edit local fields; queue a
  refresh; acknowledge drift (Engineer and up). Refresh and drift are actions, so reading is not enough.
- `peerlinks.approve_change`: approve or reject others' requests, see the approvals queue (Approver, Admin).
- `peerlinks.retry_change`: retry a failed request as a new one (Engineer and up).
- `peerlinks.change_policy`: edit the approval policy and its change window (Admin), and so also run an
  approved change before the window opens (approvers may too, on others' requests).

A role is held for every account (the group) or for one account only (an `AccountRole`, given by an admin
or by IdP groups such as dcportal-approver-<account>). `AccountRoleBackend` makes Django's own permission
check know both: `user.has_perm(perm)` says whether the user holds `perm` for at least one account (so a
view, a menu or `{{ perms }}` is offered), `user.has_perm(perm, account)` whether for that account (what a
service enforces before acting in it). `accounts_with_perm` says where, `holder`/`holders` the same for one
user or for everyone holding a permission (what the approval outlook and the notices weigh). The services
ask through `lifecycle` (its `who` guards, `role_refusal`, `check_engineer_in`, `may_approve`), which also
says why not ("You are not an engineer for account team-b.").

Anonymous visitors are sent to the login page; a logged-in user without the permission gets the 403 page,
which tells them to ask an admin for a role. The Django admin is for staff only (Django's own rule).
"""

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, CharField, Exists, F, FilteredRelation, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Concat

VIEW = "peerlinks.view_peerlink"
EXPORT = "peerlinks.export_peerlink"
SUBMIT = "peerlinks.submit_change"
APPROVE = "peerlinks.approve_change"
RETRY = "peerlinks.retry_change"
# Who may change the window may also step outside it.
OVERRIDE_WINDOW = "peerlinks.change_policy"


def permission_required_or_403(perm: str) -> Callable[[Callable], Callable]:
    """Log in first (redirect), then hold `perm` or get a 403 page that explains."""

    def decorator(view: Callable) -> Callable:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorator


VIEWER = [
    f"view_{model}"
    for model in (
        "cloudproject",
        "gateway",
        "enterpriserouter",
        "peerlink",
        "statuschange",
        "drift",
        "changerequest",
        "auditevent",
        "approval",
        "comment",
    )
] + ["export_peerlink"]
ENGINEER = [*VIEWER, "submit_change", "retry_change"]
APPROVER = [*ENGINEER, "approve_change"]
# Each role's peerlinks permissions (codenames); Admin holds every peerlinks and auth permission except
# those that would rewrite the append-only audit log.
ROLES: dict[str, list[str]] = {"Viewer": VIEWER, "Engineer": ENGINEER, "Approver": APPROVER}
ADMIN = "Admin"
AUDIT_REWRITES = ["add_auditevent", "change_auditevent", "delete_auditevent"]


def role_permissions(name: str) -> "QuerySet[Permission]":
    """The permissions role `name` holds."""
    if name == ADMIN:
        return Permission.objects.filter(content_type__app_label__in=["peerlinks", "auth"]).exclude(
            codename__in=AUDIT_REWRITES
        )
    return Permission.objects.filter(content_type__app_label="peerlinks", codename__in=ROLES[name])


def ensure_role(name: str) -> Group:
    """The group of role `name`, made with its permissions if missing (an existing one is left as is)."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        group.permissions.set(role_permissions(name))
    return group


def ensure_roles(**kwargs: object) -> None:
    """Make every missing role (run after each migrate, once the permissions exist, and after a flush)."""
    for name in [*ROLES, ADMIN]:
        ensure_role(name)


# --- Roles for one account ---------------------------------------------------------------------------


def _account_roles(user: Any) -> dict[int, frozenset[str]]:
    """Account pk → the roles the user holds for that account only (read once per user object)."""
    if not (user.is_authenticated and user.is_active):
        return {}
    if getattr(user, "_account_roles_cache", None) is None:
        _read_access(user)
    return user._account_roles_cache


_ACCOUNT_MARK = "account:"


def _read_access(user: Any) -> None:
    """Read what an active `user` may do, kept on the user object (so for the request): the permissions of
    their global roles (their groups', those given to them, all for a superuser), where Django's backend
    would read them in two queries, and the roles they hold for one account. Read with the person when
    their session was (`user_with_preferences`: `_ACCESS_READ`), else in a query of its own; what was read
    with the person is used once (a sign-in that gives roles reads them again)."""
    from peerlinks.models import fixed_rows

    found: set[str] = set()
    by_account: dict[int, set[str]] = {}
    if hasattr(user, _ACCESS_READ[0]):  # (through getattr: `user` may be the request's lazy user)
        permissions, roles = (getattr(user, name) or "" for name in _ACCESS_READ)
        for name in _ACCESS_READ:
            delattr(user, name)
        rows = [tuple(held.split(".", 1)) for held in permissions.split(",") if held]
        rows += [tuple(held.split(" ", 1)) for held in roles.split(",") if held]
    else:
        superuser = bool(user.is_superuser)
        rows = fixed_rows(("access", superuser), partial(_access_query, superuser=superuser), user.pk)
    for first, second in rows:
        if first.startswith(_ACCOUNT_MARK):
            by_account.setdefault(int(first.removeprefix(_ACCOUNT_MARK)), set()).add(second)
        else:
            found.add(f"{first}.{second}")
    user._perm_cache = found
    user._account_roles_cache = {account_id: frozenset(roles) for account_id, roles in by_account.items()}


def _access_query(user_pk: int, *, superuser: bool) -> QuerySet:
    """_read_access's query: the codenames of the permissions held globally, then the roles for one account
    (marked with the account's pk)."""
    from peerlinks.models import AccountRole

    held = Permission.objects.all()
    if not superuser:
        held = held.filter(Q(user=user_pk) | Q(group__user=user_pk))
    permissions = held.values_list("content_type__app_label", "codename").order_by()
    account = Concat(Value(_ACCOUNT_MARK), Cast("account_id", CharField()))
    roles = AccountRole.objects.filter(user=user_pk).values_list(account, "role").order_by()
    return permissions.union(roles, all=True)


# What `_person_with_preferences` reads of a person's access beside their row: their permissions held
# globally ("app_label.codename", joined by commas) and their roles for one account ("account:<pk> <role>").
_ACCESS_READ = ("permissions_held", "account_roles_held")


def _access_columns() -> dict[str, Any]:
    """`_access_query`'s two parts as columns of the person's own row (`_ACCESS_READ`)."""
    from peerlinks.models import AccountRole, texts_of

    label = Concat("content_type__app_label", Value("."), "codename", output_field=CharField())
    every = Permission.objects.all()
    held = every.filter(Q(user=OuterRef("pk")) | Q(group__user=OuterRef("pk")))
    permissions = Case(When(is_superuser=True, then=texts_of(every, label)), default=texts_of(held, label))
    role = Concat(Value(_ACCOUNT_MARK), Cast("account_id", CharField()), Value(" "), "role")
    roles = texts_of(AccountRole.objects.filter(user=OuterRef("pk")), role)
    return dict(zip(_ACCESS_READ, (permissions, roles), strict=True))


def _codename(perm: str) -> str:
    app_label, _dot, codename = perm.partition(".")
    return codename if app_label == "peerlinks" else ""


def _roles_give(roles: frozenset[str], perm: str) -> bool:
    codename = _codename(perm)
    return bool(codename) and any(codename in ROLES.get(role, ()) for role in roles)


def account_pk(obj: Any) -> int | None:
    """The account an object is in: an account itself, a project's, or that of the gateway a change, a link
    or a drift is about (read through the project's account id: no query once the project is loaded)."""
    from peerlinks.models import CloudAccount, CloudProject

    if isinstance(obj, CloudAccount):
        return obj.pk
    if isinstance(obj, CloudProject):
        return obj.account_id
    for path in ("project", "gateway", "peer_link"):
        try:
            inner = getattr(obj, path, None)
        except ObjectDoesNotExist:
            inner = None
        if inner is not None:
            return account_pk(inner)
    return None


def accounts_with_perm(user: Any, perm: str) -> set[int] | None:
    """The accounts (pks) where `user` holds `perm`: None for every account (a role held globally)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if GlobalRolesBackend().has_perm(user, perm):
        return None
    return {account_id for account_id, roles in _account_roles(user).items() if _roles_give(roles, perm)}


def readable_accounts(user: Any) -> set[int] | None:
    """The accounts (pks) whose links, gateways, changes and audit `user` may read: None for every one.

    Reading stays global (whoever may read at all reads every account) unless LIMIT_READING_TO_OWN_ACCOUNTS
    is on: then a user without a global role reads only the accounts where they hold a role. Every read
    path asks this through the querysets' `visible_to(user)` (peerlinks.models.AccountScopedQuerySet)."""
    if not settings.LIMIT_READING_TO_OWN_ACCOUNTS:
        return None
    return accounts_with_perm(user, VIEW)


def as_key(accounts: "frozenset[int] | set[int] | None") -> tuple[int, ...] | None:
    """Accounts (readable_accounts, a Holder's) as part of a fixed query's key (models.fixed_rows): what a
    query filtered to them (`visible_to`) depends on."""
    return None if accounts is None else tuple(sorted(accounts))


def rows_for_reader(user: Any, name: Hashable, build: Callable[..., Any], *values: int | str) -> list:
    """The rows of `build(user, *values)`, a query shaped only by what `user` may read (`visible_to`), by
    `values` and by nothing else of theirs: compiled once per set of readable accounts (models.fixed_rows)."""
    from peerlinks.models import fixed_rows

    return fixed_rows((name, as_key(readable_accounts(user))), partial(build, user), *values)


def roles_giving(perm: str) -> list[str]:
    """The roles (held for one account) that give `perm`."""
    return [role for role in ROLES if _roles_give(frozenset([role]), perm)]


def roles_by_account(user: Any) -> list[tuple[str, list[str]]]:
    """The roles `user` holds for one account only, as (account name, role names), by account name."""
    from peerlinks.models import AccountRole

    if not user.is_authenticated:
        return []
    found: dict[str, list[str]] = {}
    rows = AccountRole.objects.filter(user=user).order_by("account__name", "role")
    for name, role in rows.values_list("account__name", "role"):
        found.setdefault(name, []).append(role)
    return list(found.items())


@dataclass(frozen=True)
class Holder:
    """A user and the accounts (pks) they hold one permission for; `accounts` None: every account."""

    user: Any
    accounts: frozenset[int] | None

    def holds_for(self, account_pk: int | None) -> bool:
        return self.accounts is None or account_pk in self.accounts


def holder(user: Any, perm: str) -> Holder:
    """`user` with where they hold `perm` (see accounts_with_perm)."""
    accounts = accounts_with_perm(user, perm)
    return Holder(user, None if accounts is None else frozenset(accounts))


def holders(perm: str) -> list[Holder]:
    """Every active user holding `perm` for at least one account, by username, with where: one query
    whatever the number of users (a page weighing many changes against them reads this once): each active
    user holding it globally, or joined with the roles for one account that give it."""

    everywhere = get_user_model().objects.with_perm(
        perm, is_active=True, include_superusers=True, backend="peerlinks.permissions.GlobalRolesBackend"
    )
    giving = FilteredRelation("account_roles", condition=Q(account_roles__role__in=roles_giving(perm)))
    rows = (
        get_user_model()
        .objects.filter(is_active=True)
        .annotate(giving=giving, everywhere=Exists(everywhere.filter(pk=OuterRef("pk"))))
        .filter(Q(everywhere=True) | Q(giving__isnull=False))
        .annotate(role_account=F("giving__account_id"))
        .order_by()
    )
    found: dict[int, tuple[Any, set[int] | None]] = {}
    for user in rows:
        _user, accounts = found.setdefault(user.pk, (user, None if user.everywhere else set()))
        if accounts is not None and user.role_account is not None:
            accounts.add(user.role_account)
    held = [
        Holder(user, None if accounts is None else frozenset(accounts)) for user, accounts in found.values()
    ]
    return sorted(held, key=lambda h: h.user.get_username())


def user_with_preferences(user_id: Any) -> Any:
    """The signed-in person of a session, read with their saved preferences (language, time zone), which
    every page applies (one query, not two, compiled once: models.fixed_rows); None when they no longer
    exist."""
    from peerlinks.models import fixed_rows

    if type(user_id) is int:
        found = fixed_rows("person with preferences", _person_with_preferences, user_id)
    else:  # not as Django's login stores it: read as Django would read it, whatever it is
        found = list(_person_with_preferences(user_id))
    return found[0] if found else None


def _person_with_preferences(pk: int) -> Any:
    person = get_user_model()._default_manager.select_related("preferences").filter(pk=pk)
    return person.annotate(**_access_columns())[:1]


class GlobalRolesBackend(ModelBackend):
    """Django's backend for passwords and roles held globally (groups), reading a person's permissions with
    their roles for one account in one query (`_read_access`), once per request."""

    def get_user(self, user_id: Any) -> Any:
        user = user_with_preferences(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            _read_access(user_obj)
        return user_obj._perm_cache


class AccountRoleBackend(GlobalRolesBackend):
    """Django permission checks that know roles held for one account (see the module docstring).

    Listed after ModelBackend, which answers for roles held globally; this one adds the rest. It never
    authenticates anyone."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        return None

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if not user_obj.is_active or not user_obj.is_authenticated:
            return False
        if obj is None:
            return any(_roles_give(roles, perm) for roles in _account_roles(user_obj).values())
        if super().has_perm(user_obj, perm):
            return True  # held for every account
        pk = account_pk(obj)
        return pk is not None and _roles_give(_account_roles(user_obj).get(pk, frozenset()), perm)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return False  # the Django admin stays for staff with global roles

"""What dcportal knows: a cache of what the cloud says, the changes people ask for, and the audit trail.

Cached rows mirror the cloud (filled by the sync service); rows that disappear from the cloud are kept
with `gone_at` set, for history, and hidden by default.
"""

import copy
import dataclasses
import datetime
import hashlib
import json
import uuid
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.validators import URLValidator
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from peerlinks import search_index
from peerlinks.encryption import EncryptedTextField
from peerlinks.per_request import once_per_request
from peerlinks.presentation.times import format_time, zone_from_name

if TYPE_CHECKING:
    from peerlinks.cloud import CloudConfig


def count_of(rows: models.QuerySet, column: str = "pk", *, distinct: bool = False) -> Subquery:
    """How many `rows` there are (with a value in `column`; each value once when `distinct`), as a subquery
    answering one number: a count read beside other columns instead of by a query of its own."""
    template = "COUNT(DISTINCT %(expressions)s)" if distinct else "COUNT(%(expressions)s)"
    counted = rows.order_by().annotate(
        n=models.Func(models.F(column), template=template, output_field=models.IntegerField())
    )
    return Subquery(counted.values("n"), output_field=models.IntegerField())


class _Joined(models.Func):
    """The texts of every row joined by commas, in one value (an aggregate: GROUP_CONCAT on SQLite,
    string_agg on PostgreSQL); NULL for no row."""

    function = "GROUP_CONCAT"
    output_field = models.TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="STRING_AGG(%(expressions)s, ',')", **extra)


def texts_of(rows: models.QuerySet, text: models.Expression) -> Subquery:
    """The `text` of every one of `rows`, joined by commas in no order (None for no row), as a subquery
    answering one value: what a query reads beside other columns instead of by a query of its own. The
    texts must hold no comma."""
    joined = rows.order_by().annotate(texts=_Joined(text))
    return Subquery(joined.values("texts"), output_field=models.TextField())


class ReadQuickly:
    """Rows read from the database become instances without running `Model.__init__`: the row's values go
    straight into the new instance's `__dict__` under their attnames, which is where `__init__` would have
    put them (each field of these models stores its value there through a descriptor without `__set__`, or
    the foreign key's, which only drops a cached object a new instance does not have), and a deferred field
    is left out, as `__init__` leaves it. `__init__` costs about as much as the rest of reading a row, and a
    table of links reads four instances a row.

    Django's `from_db` still builds the instance when the model has an `__init__` of its own, when a field
    has a descriptor of its own, or when anything listens for `pre_init` or `post_init` (those signals are
    sent by `__init__`)."""

    @classmethod
    def from_db(cls, db: str, field_names: list[str], values: tuple) -> models.Model:
        plain = cls.__dict__.get("_read_quickly")
        if plain is None:
            plain = cls._read_quickly = _fields_stored_plainly(cls)
        if not plain or models.signals.pre_init.receivers or models.signals.post_init.receivers:
            return super().from_db(db, field_names, values)
        new = cls.__new__(cls)
        new.__dict__.update(zip(field_names, values, strict=True))
        state = new._state = models.base.ModelState()
        state.adding, state.db = False, db
        return new


def _fields_stored_plainly(model: type[models.Model]) -> bool:
    """Whether `model` is built by Django's own `__init__` and every concrete field of it keeps its value in
    the instance's `__dict__` on assignment, with nothing else done (ReadQuickly)."""
    from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
    from django.db.models.query_utils import DeferredAttribute

    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    fields = model._meta.concrete_fields
    return model.__init__ is models.Model.__init__ and all(
        type(model.__dict__.get(field.attname)) in plain for field in fields
    )


# Stand-ins for the values of a fixed query that change from call to call (fixed_rows): integers no row has,
# which fit a 32-bit integer column (a value out of its range would make the whole query empty), and texts no
# column holds.
_SLOT = -2_000_000_000
_TEXT_SLOT = "\x00fixed-rows-slot-{}"


def _stand_in(i: int, value: int | str) -> int | str:
    if type(value) is int:
        return _SLOT - i
    if type(value) is str:
        return _TEXT_SLOT.format(i)
    raise TypeError(f"fixed_rows takes integers and texts, not {type(value).__name__}")


def fixed_rows(key: Hashable, query: Callable[..., models.QuerySet], *values: int | str) -> list:
    """The rows of `query(*values)` (model instances, or tuples for a values_list), a queryset whose SQL is
    the same for every call but for `values` (integers and texts: a person's pk, a link's cloud ID),
    which must reach the SQL's parameters unchanged (an exact match, not a pattern): compiled once per process
    and `key`, with stand-ins for `values` that each call replaces in the parameters. Each call then only
    executes it, and reads its rows as Django does for any query (conversions, related rows, prefetches).
    For what pages read on every request: building and compiling a query costs more CPU than running it.
    `key` must name whatever else shapes the query; with DEBUG on (the tests) the first call with each
    `values` checks that against a query built anew."""
    connection = connections[DEFAULT_DB_ALIAS]
    key = (connection.vendor, key)
    if key not in _FIXED:
        stand_ins = [_stand_in(i, value) for i, value in enumerate(values)]
        queryset = query(*stand_ins)
        _FIXED[key] = (queryset, *_compiled(queryset, connection), stand_ins)
        _check_unchanged(key, *_FIXED[key][2:])
    queryset, compiler, sql, params, stand_ins = _FIXED[key]
    given = dict(zip(stand_ins, values, strict=True))
    params = tuple(given.get(param, param) if type(param) in (int, str) else param for param in params)
    if settings.DEBUG and (key, values) not in _FIXED_CHECKED:
        if _compiled(query(*values), connection)[1:] != (sql, params):
            raise AssertionError(f"the query {key[1]!r} is not fixed: its key leaves out what shapes it")
        _FIXED_CHECKED.add((key, values))
    if compiler is None:  # a query that can have no row (a filter on an empty list), as Django answers it
        return []
    # A copy on this thread's connection: the compiled one is shared by every thread of the process.
    compiler = copy.copy(compiler)
    compiler.connection = connection
    compiler.as_sql = lambda *args, **kwargs: (sql, params)
    # The queryset reads its rows its own way (instances, tuples), from this compiler.
    compiled = copy.copy(queryset.query)
    compiled.get_compiler = lambda *args, **kwargs: compiler
    # A shallow copy by hand: copy.copy would pickle the queryset, which reads its rows.
    run = object.__new__(type(queryset))
    run.__dict__ |= queryset.__dict__
    run._query = compiled  # not the `query` setter, which would make a values_list answer dicts
    return list(run)


# fixed_rows' querysets with their compiled queries by (database vendor, key), and the (key, values) checked
# against a query built anew (with DEBUG on).
_FIXED: dict[Hashable, tuple] = {}
_FIXED_CHECKED: set[Hashable] = set()


def _check_unchanged(key: Hashable, sql: str, params: tuple, stand_ins: list) -> None:
    """Refuse a query that changes a text value on its way to the SQL (a pattern such as `%value%`): each
    call replaces only whole parameters, so its rows would be those of the stand-in."""
    for stand_in in stand_ins:
        if type(stand_in) is str and (
            stand_in in sql or any(type(p) is str and p != stand_in and stand_in in p for p in params)
        ):
            raise ValueError(f"the query {key[1]!r} changes a value it is given: it cannot be fixed")


def _compiled(queryset: models.QuerySet, connection: object) -> tuple[object, str, tuple]:
    """The compiler of `queryset`, set up (as_sql sets up its columns and their conversions), its SQL and
    parameters; (None, "", ()) for a query that can have no row."""
    compiler = queryset.query.get_compiler(connection=connection)
    try:
        return (compiler, *compiler.as_sql())
    except EmptyResultSet:
        return None, "", ()


def first_with_total(rows: models.QuerySet, size: int) -> tuple[list, int]:
    """The first `size` of `rows` and how many there are in all, in one query: each row read carries the
    total (a count over the whole result, taken before the limit) instead of a count query of its own."""
    first = list(rows.annotate(rows_in_all=models.Window(models.Count("pk")))[:size])
    return first, first[0].rows_in_all if first else 0


class AccountScopedQuerySet(models.QuerySet):
    """Rows that belong to a cloud account, reached through `account_path`: filtered by account, and cut
    down to what a user may read (`visible_to`, the one place the reading limit is applied)."""

    account_path = "account"

    def in_account(self, account: "CloudAccount") -> "AccountScopedQuerySet":
        return self.filter(self._in_accounts([account.pk]))

    def visible_to(self, user: object) -> "AccountScopedQuerySet":
        """The rows `user` may read: all of them, unless LIMIT_READING_TO_OWN_ACCOUNTS keeps them to the
        accounts where they hold a role (peerlinks.permissions.readable_accounts)."""
        from peerlinks.permissions import readable_accounts

        accounts = readable_accounts(user)
        return self if accounts is None else self.filter(self._in_accounts(accounts))

    def _in_accounts(self, pks: "list[int] | set[int]") -> Q:
        return Q(**{f"{self.account_path}__in": pks})


class CloudAccountQuerySet(AccountScopedQuerySet):
    account_path = "pk"

    def several(self) -> bool:
        """Whether this install manages more than one account: pages then name each row's account (a
        column, a filter); with one, they stay as they were."""
        return len(accounts_in_order()) > 1

    def managed_regions(self) -> list[str]:
        """Every region some account manages, the first account's first, in their order (the accounts as
        the page's banner read them, `accounts_in_order`; the first made if missing)."""
        accounts = accounts_in_order()
        if not any(account.from_environment for account in accounts):
            self.environment()
            accounts = list(self.all())
        in_order = sorted(accounts, key=lambda account: account.pk)
        return list(dict.fromkeys(region for account in in_order for region in account.managed_regions))

    def environment(self) -> "CloudAccount":
        """The account the CLOUD_* settings describe (made on first use: every install has it)."""
        account = self.filter(from_environment=True).first()
        if account is None:
            account, _created = self.get_or_create(
                from_environment=True, defaults={"name": settings.CLOUD_ACCOUNT_NAME}
            )
        return account


class CloudAccount(ReadQuickly, models.Model):
    """A Huawei Cloud account dcportal manages: how to reach it, and which of its regions to sync.

    The first account is the one the CLOUD_* settings describe (`from_environment`): its credentials,
    regions and endpoint overrides are read from the settings, so existing installs need no change. Other
    accounts are added by an admin; their credentials are encrypted at rest (FIELD_ENCRYPTION_KEYS) and
    never shown again once saved.
    """

    class Auth(models.TextChoices):
        AKSK = "aksk", _("Access key (AK/SK)")
        TOKEN = "token", _("IAM user (token)")

    # Short and stable: IdP groups name it (dcportal-approver-<name>), as do filters and exports.
    name = models.SlugField(
        max_length=40,
        unique=True,
        verbose_name=_("name"),
        help_text=_("Short name, used in filters, exports and IdP groups such as dcportal-approver-<name>."),
    )
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    from_environment = models.BooleanField(
        default=False,
        editable=False,
        verbose_name=_("from the environment"),
        help_text=_("Credentials, regions and endpoints come from the CLOUD_* settings."),
    )
    auth = models.CharField(
        max_length=8, choices=Auth.choices, default=Auth.AKSK, verbose_name=_("authentication")
    )
    access_key = EncryptedTextField(blank=True, verbose_name=_("access key ID (AK)"))
    secret_key = EncryptedTextField(blank=True, verbose_name=_("secret access key (SK)"))
    iam_domain = models.CharField(max_length=64, blank=True, verbose_name=_("IAM account (domain) name"))
    iam_user = models.CharField(max_length=64, blank=True, verbose_name=_("IAM user name"))
    iam_password = EncryptedTextField(blank=True, verbose_name=_("IAM user password"))
    regions = models.JSONField(default=list, blank=True, verbose_name=_("managed regions"))
    # Per service ("iam") or per service and region ("iam@eu-west-101"), as CLOUD_ENDPOINTS.
    endpoints = models.JSONField(default=dict, blank=True, verbose_name=_("endpoint overrides"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    # What a row of a table that names an account leaves out (PeerLinkQuerySet.for_list).
    NOT_FOR_LISTS = ("access_key", "secret_key", "iam_password", "regions", "endpoints")

    objects = CloudAccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("cloud account")
        verbose_name_plural = _("cloud accounts")
        ordering = ["-from_environment", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_environment"],
                condition=Q(from_environment=True),
                name="one_account_from_environment",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def managed_regions(self) -> list[str]:
        """The regions dcportal syncs and offers in this account."""
        return list(settings.CLOUD_REGIONS) if self.from_environment else list(self.regions)

    def clean(self) -> None:
        """An added account has what its authentication needs (AK/SK: both keys; token: domain, user and
        password) and endpoint overrides as CLOUD_ENDPOINTS takes them. The first one is checked at start."""
        if self.from_environment:
            return
        needed = ["access_key", "secret_key"]
        if self.auth == self.Auth.TOKEN:
            needed = ["iam_domain", "iam_user", "iam_password"]
        errors = {
            name: _("Required for this authentication ({auth}).").format(auth=self.get_auth_display())
            for name in needed
            if not getattr(self, name)
        }
        from peerlinks.cloud.endpoints import check_overrides

        endpoints = self.endpoints
        try:
            if not isinstance(endpoints, dict) or not all(isinstance(v, str) for v in endpoints.values()):
                raise ValueError("expected service=URL pairs")
            check_overrides(endpoints)
        except ValueError as exc:
            errors["endpoints"] = _("Not a valid endpoint override: {problem}").format(problem=exc)
        if errors:
            raise ValidationError(errors)

    def cloud_config(self) -> "CloudConfig":
        """How the cloud client reaches this account."""
        from peerlinks.cloud import CloudConfig

        base = CloudConfig.from_settings()
        if self.from_environment:
            return base
        # The account's projects as the page read them (cached_regions), or read now outside a page.
        project_ids = {
            p.region: p.project_id for p in cached_regions() if p.account_id == self.pk and p.project_id
        }
        return dataclasses.replace(
            base,
            auth=self.auth,
            ak=self.access_key or "",
            sk=self.secret_key or "",
            iam_user=self.iam_user,
            iam_password=self.iam_password or "",
            iam_domain=self.iam_domain,
            project_ids=project_ids,
            endpoints={**base.endpoints, **(self.endpoints or {})},
        )


def accounts_in_order() -> list[CloudAccount]:
    """Every account, the first (the environment's) first, then by name; read once per page, which asks in
    several places (the banner, the navigation, a column shown only with several accounts)."""
    return _accounts_and_regions()[0]


class AccountRole(models.Model):
    """A role held for one account only (a role held for every account is a group: permissions.ROLES).

    Given by an admin, or at each single sign-on login from IdP groups such as dcportal-approver-<account>.
    """

    class Role(models.TextChoices):
        VIEWER = "Viewer", _("Viewer")
        ENGINEER = "Engineer", _("Engineer")
        APPROVER = "Approver", _("Approver")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="account_roles",
        verbose_name=_("user"),
    )
    account = models.ForeignKey(
        CloudAccount, on_delete=models.CASCADE, related_name="roles", verbose_name=_("account")
    )
    role = models.CharField(max_length=16, choices=Role.choices, verbose_name=_("role"))
    # Set by single sign-on (and so taken away by it when the IdP no longer gives it) or by an admin.
    from_idp = models.BooleanField(
        default=False, editable=False, verbose_name=_("from the identity provider")
    )

    class Meta:
        verbose_name = _("role for one account")
        verbose_name_plural = _("roles for one account")
        ordering = ["account", "user", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "account", "role"], name="one_grant_per_role_and_account")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.account}"


def first_account_pk() -> int:
    """The default account of a project: the first one (CloudAccount.objects.environment)."""
    return CloudAccount.objects.environment().pk


class CloudProject(ReadQuickly, models.Model):
    """One region's project in an account: where gateways and enterprise routers are listed from."""

    account = models.ForeignKey(
        CloudAccount,
        default=first_account_pk,
        on_delete=models.PROTECT,
        related_name="projects",
        verbose_name=_("account"),
    )
    region = models.CharField(max_length=36, verbose_name=_("region"))
    project_id = models.CharField(max_length=36, blank=True, verbose_name=_("project ID"))
    synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced"))
    # Why the last sync failed: technical (operation, status, Huawei's code and message, request id) and
    # in plain words; since when syncs have failed (the first failure after the last good sync).
    sync_error = models.TextField(blank=True, verbose_name=_("last sync error"))
    sync_problem = models.TextField(blank=True, verbose_name=_("last sync problem"))
    sync_failed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("failing since"))
    # A region the account has but CLOUD_REGIONS does not name: how many global DC gateways it held when
    # a full sync last looked (None: not looked at, or the look failed), and when.
    unmanaged_gateways = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("unmanaged gateways")
    )
    unmanaged_looked_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("unmanaged region looked at")
    )
    # The region's sync claim (peerlinks.services.sync): who holds it ("" for nobody) and until when,
    # by the database's clock, unless renewed.
    sync_claim = models.CharField(max_length=32, blank=True, verbose_name=_("sync claimed by"))
    sync_claimed_until = models.DateTimeField(null=True, blank=True, verbose_name=_("sync claimed until"))

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("cloud project")
        verbose_name_plural = _("cloud projects")
        ordering = ["account", "region"]
        constraints = [models.UniqueConstraint(fields=["account", "region"], name="one_project_per_region")]

    def __str__(self) -> str:
        return self.region


def is_cloud_id(text: str) -> bool:
    """Whether `text` is a whole cloud ID (a UUID, as the cloud writes them)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def cached_regions() -> list[CloudProject]:
    """Every cached region (project) of every account, by region, with its present gateways counted
    (`n_gateways`); read once per page, where the banner, the sync table and a region filter all ask."""
    return _accounts_and_regions()[1]


@once_per_request
def _accounts_and_regions() -> tuple[list[CloudAccount], list[CloudProject]]:
    """`accounts_in_order` and `cached_regions` in one query, as every page's banner needs both: each
    account joined with its projects (one row per project, one for an account without any), each project's
    present gateways counted by a subquery on their project index."""
    account_columns = [field.attname for field in CloudAccount._meta.concrete_fields]
    columns = [field.attname for field in CloudProject._meta.concrete_fields]
    accounts: dict[int, CloudAccount] = {}
    regions = []
    for row in fixed_rows("accounts and regions", _accounts_and_regions_query):
        account_values, values = row[: len(account_columns)], row[len(account_columns) : -1]
        account = accounts.get(account_values[0])
        if account is None:
            account = accounts[account_values[0]] = CloudAccount.from_db(
                DEFAULT_DB_ALIAS, account_columns, account_values
            )
        if values[0] is None:  # an account without any project
            continue
        project = CloudProject.from_db(DEFAULT_DB_ALIAS, columns, values)
        project.n_gateways = row[-1]
        project.account = account
        regions.append(project)
    return list(accounts.values()), sorted(regions, key=lambda project: (project.region, project.account_id))


def _accounts_and_regions_query() -> models.QuerySet:
    account_columns = [field.attname for field in CloudAccount._meta.concrete_fields]
    columns = [field.attname for field in CloudProject._meta.concrete_fields]
    gateways = Gateway.objects.filter(project=OuterRef("projects__pk"), gone_at__isnull=True)
    return (
        CloudAccount.objects.annotate(
            **{f"project_{column}": models.F(f"projects__{column}") for column in columns},
            project_n_gateways=count_of(gateways),
        )
        .order_by("-from_environment", "name", "projects__region")
        .values_list(*account_columns, *[f"project_{column}" for column in columns], "project_n_gateways")
    )


class CachedQuerySet(AccountScopedQuerySet):
    """Rows mirrored from the cloud; those gone from it are kept for history with `gone_at` set."""

    account_path = "project__account"

    def present(self) -> "CachedQuerySet":
        return self.filter(gone_at__isnull=True)


class Gateway(ReadQuickly, models.Model):
    """A global DC gateway as last seen in the cloud."""

    class Status(models.TextChoices):
        DOWN = "DOWN"
        PENDING_UPDATE = "PENDING_UPDATE"
        ACTIVE = "ACTIVE"
        ERROR = "ERROR"

    cloud_id = models.CharField(max_length=36, unique=True, verbose_name=_("cloud ID"))
    project = models.ForeignKey(
        CloudProject, on_delete=models.PROTECT, related_name="gateways", verbose_name=_("project")
    )
    name = models.CharField(max_length=64, verbose_name=_("name"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    region_id = models.CharField(max_length=36, blank=True, verbose_name=_("region ID"))
    bgp_asn = models.BigIntegerField(null=True, blank=True, verbose_name=_("BGP ASN"))
    status = models.CharField(max_length=20, verbose_name=_("status"))
    admin_state_up = models.BooleanField(default=True, verbose_name=_("administratively up"))
    current_peer_link_count = models.IntegerField(default=0, verbose_name=_("peer links"))
    available_peer_link_count = models.IntegerField(default=0, verbose_name=_("peer links available"))
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    cloud_created_at = models.DateTimeField(null=True, blank=True, verbose_name=_("created in the cloud"))
    cloud_updated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("updated in the cloud"))
    synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced"))
    links_synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("links last synced"))
    gone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("gone from the cloud"))

    objects = CachedQuerySet.as_manager()

    class Meta:
        verbose_name = _("global DC gateway")
        verbose_name_plural = _("global DC gateways")
        ordering = ["name", "cloud_id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("peerlinks:gateway_detail", args=[self.cloud_id])

    @property
    def region(self) -> str:
        """The region whose DC endpoint and project manage this gateway."""
        return self.project.region

    @property
    def account(self) -> CloudAccount:
        return self.project.account

    @property
    def has_quota_left(self) -> bool:
        return self.available_peer_link_count > 0


class EnterpriseRouter(ReadQuickly, models.Model):
    """An enterprise router in one region: a possible peer of a gateway."""

    AVAILABLE = "available"

    cloud_id = models.CharField(max_length=36, unique=True, verbose_name=_("cloud ID"))
    project = models.ForeignKey(
        CloudProject, on_delete=models.PROTECT, related_name="routers", verbose_name=_("project")
    )
    name = models.CharField(max_length=64, verbose_name=_("name"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    state = models.CharField(max_length=32, verbose_name=_("state"))
    asn = models.BigIntegerField(null=True, blank=True, verbose_name=_("ASN"))
    synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced"))
    gone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("gone from the cloud"))

    objects = CachedQuerySet.as_manager()

    class Meta:
        verbose_name = _("enterprise router")
        verbose_name_plural = _("enterprise routers")
        ordering = ["name", "cloud_id"]

    def __str__(self) -> str:
        return self.name

    @property
    def region(self) -> str:
        return self.project.region

    @property
    def account(self) -> CloudAccount:
        return self.project.account

    @property
    def is_available(self) -> bool:
        return self.state == self.AVAILABLE


def peer_model(peer_type: str) -> type[models.Model]:
    """Where a peer of this type is cached: enterprise routers, or (for a gateway peer) gateways."""
    return EnterpriseRouter if peer_type == PeerLink.PeerType.ER else Gateway


def _of_peer(column: str, *, type_from: str = "peer_type", id_from: str = "peer_gateway_id") -> Coalesce:
    """A column of a link's cached peer (an enterprise router or a gateway, by the link's peer type), ""
    when the peer is not cached; `type_from` and `id_from` name where the row holds its peer's type and ID
    (a link's columns, or a change's annotations)."""

    def column_in(peer_type: str) -> Subquery:
        model = peer_model(peer_type)
        return Subquery(model.objects.filter(cloud_id=OuterRef(id_from)).values(column)[:1])

    types = PeerLink.PeerType.values
    found = Case(*(When(**{type_from: kind}, then=column_in(kind)) for kind in types), default=Value(""))
    return Coalesce(found, Value(""))


class PeerLinkQuerySet(CachedQuerySet):
    account_path = "gateway__project__account"

    def for_list(self) -> "PeerLinkQuerySet":
        """With each link's gateway, project and account, read in the same query; the account without its
        credentials and settings (`CloudAccount.NOT_FOR_LISTS`): a table of links names the account, and
        decrypting keys or parsing settings per row cost time for nothing (read on use, one query)."""
        return self.select_related("gateway", "gateway__project", "gateway__project__account").defer(
            *(f"gateway__project__account__{name}" for name in CloudAccount.NOT_FOR_LISTS)
        )

    def with_peer_name(self) -> "PeerLinkQuerySet":
        """Each link with its peer's cached name as `peer_name` ("" when the peer is not cached)."""
        return self.annotate(peer_name=_of_peer("name"))

    def with_peer(self) -> "PeerLinkQuerySet":
        """Each link with its peer's cached name (`peer_name`) and account name (`peer_account_name`), ""
        when the peer is not cached: what a link's page says of its peer without reading it."""
        return self.with_peer_name().annotate(peer_account_name=_of_peer("project__account__name"))

    def with_waiting_for(self) -> "PeerLinkQuerySet":
        """Each link with `waiting_for`: the account whose acceptance its ER attachment waits for ("")."""
        waiting = SharedAttachment.objects.waiting().filter(cloud_id=OuterRef("link_id"))
        account = Subquery(waiting.values("router__project__account__name")[:1])
        pending_er = Q(peer_type=PeerLink.PeerType.ER, status__in=PeerLink.PENDING_STATUSES) & ~Q(link_id="")
        return self.annotate(
            waiting_for=Case(When(pending_er, then=Coalesce(account, Value(""))), default=Value(""))
        )

    def pending(self) -> "PeerLinkQuerySet":
        return self.filter(status__in=PeerLink.PENDING_STATUSES)

    def matching(self, text: str, *, read_twice: bool = False) -> "PeerLinkQuerySet":
        """Links whose name, ID, description, peer ID, owner, ticket or a label contains `text` (any case),
        found through the search index (peerlinks.search_index; `read_twice` as there); a whole ID is
        looked up as the link's or its peer's ID (indexed), not searched for in every column."""
        if is_cloud_id(text):
            return self.filter(Q(cloud_id=text.lower()) | Q(peer_gateway_id=text.lower()))
        spellings = {text, *_json_spellings(text)}
        return search_index.narrowed(self, spellings, read_twice=read_twice).filter(
            Q(name__icontains=text)
            | Q(cloud_id__icontains=text)
            | Q(description__icontains=text)
            | Q(peer_gateway_id__icontains=text)
            | Q(owner_team__icontains=text)
            | Q(ticket_ref__icontains=text)
            | _labels_text_contains(text)
        )

    def matching_labels(self, text: str) -> "PeerLinkQuerySet":
        """Links with a label containing `text` (any case)."""
        return self.filter(_labels_text_contains(text))

    def labelled(self, label: str) -> "PeerLinkQuerySet":
        """Links carrying `label` (whole, any case)."""
        return self.filter(_labels_text_contains(label, whole=True))


def _json_spellings(text: str) -> set[str]:
    """How `text` reads inside the labels' JSON text: SQLite keeps that text as written, non-ASCII as \\u
    escapes; PostgreSQL prints it unescaped."""
    return {json.dumps(text, ensure_ascii=escape)[1:-1] for escape in (True, False)}


def _labels_text_contains(text: str, *, whole: bool = False) -> Q:
    """The labels' JSON text contains `text` (a whole label, quotes included, with `whole`), in each of its
    spellings there (`_json_spellings`), so the lookup means the same on both databases."""
    q = Q()
    for spelling in _json_spellings(text):
        q |= Q(labels__icontains=f'"{spelling}"' if whole else spelling)
    return q


class ListOrderIndex(models.Index):
    """An index on present rows in one of a list's orders: a column, then the cloud id, read forwards for
    the ascending order and backwards for the descending one (the tie-breaker runs the column's way:
    filters.StableOrderingFilter). A nullable column's nulls come first, as paging orders them
    (paging.SortKey): PostgreSQL is told so; SQLite keeps them first anyway and takes no NULLS clause in an
    index."""

    def __init__(self, column: str, *, nullable: bool = False, name: str) -> None:
        self.column, self.nullable = column, nullable
        first = F(column).asc(nulls_first=True) if nullable else F(column).asc()
        super().__init__(first, F("cloud_id").asc(), condition=Q(gone_at__isnull=True), name=name)

    def deconstruct(self) -> tuple[str, tuple, dict]:
        path, _, _ = super().deconstruct()
        return path, (self.column,), {"nullable": self.nullable, "name": self.name}

    def create_sql(
        self, model: type[models.Model], schema_editor: Any, using: str = "", **kwargs: Any
    ) -> Any:
        if self.nullable and schema_editor.connection.vendor == "sqlite":
            plain = ListOrderIndex(self.column, name=self.name)
            return plain.create_sql(model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class PeerLink(ReadQuickly, models.Model):
    """A peer link between a global DC gateway and an enterprise router or another gateway."""

    class Status(models.TextChoices):
        PENDING_CREATE = "PENDING_CREATE", _("Creating")
        PENDING_UPDATE = "PENDING_UPDATE", _("Updating")
        ACTIVE = "ACTIVE", pgettext_lazy("peer link status", "Active")
        ERROR = "ERROR", pgettext_lazy("peer link status", "Error")

    class PeerType(models.TextChoices):
        ER = "ER", _("Enterprise router")
        GDGW = "GDGW", _("Global DC gateway")

    PENDING_STATUSES = (Status.PENDING_CREATE, Status.PENDING_UPDATE)
    # What a link no longer in the cloud reads as (its `status` keeps the last status the cloud gave).
    GONE = "GONE"

    cloud_id = models.CharField(max_length=36, unique=True, verbose_name=_("cloud ID"))
    gateway = models.ForeignKey(
        Gateway, on_delete=models.PROTECT, related_name="peer_links", verbose_name=_("gateway")
    )
    name = models.CharField(max_length=64, verbose_name=_("name"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    status = models.CharField(max_length=20, verbose_name=_("status"))
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    peer_type = models.CharField(max_length=8, choices=PeerType.choices, verbose_name=_("peer type"))
    peer_gateway_id = models.CharField(max_length=36, verbose_name=_("peer ID"))
    peer_region = models.CharField(max_length=36, verbose_name=_("peer region"))
    peer_project_id = models.CharField(max_length=36, verbose_name=_("peer project ID"))
    peer_site_code = models.CharField(max_length=64, blank=True, verbose_name=_("peer site code"))
    link_id = models.CharField(max_length=64, blank=True, verbose_name=_("link ID"))
    bandwidth_size = models.IntegerField(default=0, verbose_name=_("bandwidth (Mbit/s)"))
    gcb_id = models.CharField(max_length=36, blank=True, verbose_name=_("GCB ID"))
    create_owner = models.CharField(max_length=8, blank=True, verbose_name=_("created by (service)"))
    instance_id = models.CharField(max_length=64, blank=True, verbose_name=_("instance ID"))
    tenant_id = models.CharField(max_length=36, blank=True, verbose_name=_("tenant ID"))
    cloud_created_at = models.DateTimeField(null=True, blank=True, verbose_name=_("created in the cloud"))
    cloud_updated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("updated in the cloud"))
    first_seen_at = models.DateTimeField(default=timezone.now, verbose_name=_("first seen"))
    # When the cache last wrote what the cloud shows (a gone link: when it was last seen); a sync that finds
    # the link unchanged writes nothing, its gateway's links_synced_at says it looked (last_synced_at).
    synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced"))
    gone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("gone from the cloud"))
    # mirror.link_digest of the cloud's fields as written: a sync compares it, not every field.
    cloud_digest = models.CharField(max_length=16, blank=True, editable=False)
    # Local facts the cloud has no place for (peer links carry no cloud tags).
    owner_team = models.CharField(max_length=100, blank=True, verbose_name=_("owner team"))
    ticket_ref = models.CharField(max_length=100, blank=True, verbose_name=_("ticket reference"))
    labels = models.JSONField(default=list, blank=True, verbose_name=_("labels"))

    objects = PeerLinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("peer link")
        verbose_name_plural = _("peer links")
        ordering = ["name", "cloud_id"]
        permissions = [("export_peerlink", _("Can export peer links as CSV"))]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["gone_at", "name"]),
            models.Index(fields=["peer_gateway_id"]),
            # The list's owner and ticket filters, and search's exact lookups of them.
            models.Index(fields=["owner_team"]),
            models.Index(fields=["ticket_ref"]),
            # The list's default order over present links, whole and by status: a page is an index range
            # read instead of sorting every present link (first page at 5,000 links: 9 ms -> 0.3 ms).
            models.Index(
                fields=["name", "cloud_id"], condition=Q(gone_at__isnull=True), name="peerlink_present_name"
            ),
            models.Index(
                fields=["status", "name", "cloud_id"],
                condition=Q(gone_at__isnull=True),
                name="peerlink_present_status_name",
            ),
            # The list's other orders on a column of the link's own (owner and ticket use the indexes
            # above): at 100,000 links a page sorted by when links were updated read 100,000 rows to sort
            # them (250 ms on PostgreSQL); now a range of the index, as for the name (45 ms).
            ListOrderIndex("status", name="peerlink_present_status"),
            ListOrderIndex("peer_type", name="peerlink_present_peer_type"),
            ListOrderIndex("peer_region", name="peerlink_present_peer_region"),
            ListOrderIndex("cloud_created_at", nullable=True, name="peerlink_present_created"),
            ListOrderIndex("cloud_updated_at", nullable=True, name="peerlink_present_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("peerlinks:detail", args=[self.cloud_id])

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING_STATUSES

    @property
    def is_read_only(self) -> bool:
        """Links made by Cloud Connect are managed there, not here."""
        return self.create_owner == "cc"

    @property
    def shown_status(self) -> str:
        """The status to show: GONE once the link no longer exists in the cloud, else the cloud's."""
        return self.GONE if self.gone_at is not None else self.status

    @property
    def last_synced_at(self) -> datetime.datetime | None:
        """When a sync last saw the link as the cache holds it: its gateway's last listing of links (or a
        later write of the row); for a gone link, the last time it was seen. Select the gateway with it."""
        if self.gone_at is not None:
            return self.synced_at
        looked = self.gateway.links_synced_at
        if looked is None or (self.synced_at is not None and self.synced_at > looked):
            return self.synced_at
        return looked


class SharedAttachmentQuerySet(models.QuerySet):
    def waiting(self) -> "SharedAttachmentQuerySet":
        """Those still waiting for the router's account to decide, oldest first, with router and account."""
        return (
            self.filter(state=SharedAttachment.WAITING, gone_at__isnull=True)
            .select_related("router__project__account")
            .order_by("first_seen_at", "pk")
        )


class SharedAttachment(ReadQuickly, models.Model):
    """An attachment another account asked for on a managed enterprise router (a cross-account peer link):
    it waits in `pending_acceptance` until the router's account accepts or rejects it, and is kept after."""

    WAITING = "pending_acceptance"

    cloud_id = models.CharField(max_length=36, unique=True, verbose_name=_("cloud ID"))
    router = models.ForeignKey(
        EnterpriseRouter,
        on_delete=models.CASCADE,
        related_name="shared_attachments",
        verbose_name=_("enterprise router"),
    )
    name = models.CharField(max_length=64, blank=True, verbose_name=_("name"))
    # The gateway that asked for it (a peer link's global DC gateway) and that gateway's project.
    resource_id = models.CharField(max_length=36, verbose_name=_("gateway ID"))
    resource_project_id = models.CharField(max_length=36, blank=True, verbose_name=_("gateway's project ID"))
    state = models.CharField(max_length=32, verbose_name=_("state"))
    first_seen_at = models.DateTimeField(default=timezone.now, verbose_name=_("first seen"))
    synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last synced"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    gone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("gone from the cloud"))

    objects = SharedAttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("shared attachment")
        verbose_name_plural = _("shared attachments")
        ordering = ["-first_seen_at", "-pk"]

    def __str__(self) -> str:
        return self.name or self.cloud_id

    @property
    def account(self) -> CloudAccount:
        """The account that decides: the router's."""
        return self.router.project.account

    @property
    def is_waiting(self) -> bool:
        return self.state == self.WAITING and self.gone_at is None

    def peer_link(self) -> "PeerLink | None":
        """The peer link that asked for this attachment, when it is cached."""
        links = PeerLink.objects.select_related("gateway__project__account")
        return links.filter(link_id=self.cloud_id, peer_type=PeerLink.PeerType.ER).first()

    def creating_change(self) -> "ChangeRequest | None":
        """The change request that made the peer link asking for this attachment (None: made elsewhere)."""
        creates = ChangeRequest.objects.filter(kind=ChangeRequest.Kind.CREATE).select_related("requested_by")
        made = creates.filter(peer_link__link_id=self.cloud_id).first()
        if made is None:
            # Before a sync has cached the link's attachment ID: the latest create from that gateway to it.
            made = creates.filter(
                gateway__cloud_id=self.resource_id, payload__peer_gateway_id=self.router.cloud_id
            ).first()
        return made


class StatusChange(ReadQuickly, models.Model):
    """One observed transition of a peer link's status, with when dcportal saw it."""

    peer_link = models.ForeignKey(
        PeerLink, on_delete=models.CASCADE, related_name="status_changes", verbose_name=_("peer link")
    )
    from_status = models.CharField(max_length=20, blank=True, verbose_name=_("from status"))
    to_status = models.CharField(max_length=20, verbose_name=_("to status"))
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    observed_at = models.DateTimeField(default=timezone.now, verbose_name=_("observed at"))

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["observed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class DriftQuerySet(AccountScopedQuerySet):
    account_path = "peer_link__gateway__project__account"


class Drift(ReadQuickly, models.Model):
    """A change made outside dcportal, noticed by a sync and listed until someone acknowledges it."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created outside dcportal")
        CHANGED = "changed", _("Changed outside dcportal")
        DELETED = "deleted", _("Deleted outside dcportal")
        DUPLICATE = "duplicate", _("Duplicate link to the same peer")

    peer_link = models.ForeignKey(
        PeerLink, on_delete=models.CASCADE, related_name="drifts", verbose_name=_("peer link")
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, verbose_name=_("kind"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))
    detected_at = models.DateTimeField(default=timezone.now, verbose_name=_("detected at"))
    acknowledged_at = models.DateTimeField(null=True, blank=True, verbose_name=_("acknowledged at"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )

    objects = DriftQuerySet.as_manager()

    class Meta:
        verbose_name = _("drift")
        verbose_name_plural = _("drifts")
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.peer_link}"


class ChangeRequestQuerySet(AccountScopedQuerySet):
    account_path = "gateway__project__account"

    def _in_accounts(self, pks: "list[int] | set[int]") -> Q:
        # A cross-account change is in both accounts: its peer's account reads it too.
        return super()._in_accounts(pks) | Q(peer_account__in=pks)

    def with_peer(self) -> "ChangeRequestQuerySet":
        """Each change with its peer's cached name (`peer_name`) and account name (`peer_account_name`), ""
        when the peer is not cached: the peer of `ChangeRequest.peer_fields`, read in the same query."""

        def in_payload(key: str) -> Case:
            def path(kind: str) -> str:
                return "__".join(("payload", *ChangeRequest.peer_path(kind), key))

            kinds = ChangeRequest.Kind.values
            found = (When(kind=kind, then=KT(path(kind))) for kind in kinds)
            return Case(*found, default=Value(""), output_field=models.CharField())

        named = self.annotate(peer_of_type=in_payload("peer_type"), peer_of_id=in_payload("peer_gateway_id"))
        where = {"type_from": "peer_of_type", "id_from": "peer_of_id"}
        return named.annotate(
            peer_name=_of_peer("name", **where), peer_account_name=_of_peer("project__account__name", **where)
        )

    def with_first_retry(self) -> "ChangeRequestQuerySet":
        """Each change with the pk of its first retry (`first_retry_id`, None when never retried), read in
        the same query: the steps offered on a list of changes ask for it once per failed change."""
        retries = ChangeRequest.objects.filter(retry_of=OuterRef("pk")).order_by("pk").values("pk")[:1]
        return self.annotate(first_retry_id=Subquery(retries))

    def with_cross_account_rule(self) -> "ChangeRequestQuerySet":
        """Each change with the policy's rule for a link between two accounts (`cross_account_rule`, None
        while no policy was saved), read in the same query: a page weighing changes reads no policy row."""
        rule = Policy.objects.filter(pk=Policy.PK).values("cross_account_approval")
        return self.annotate(cross_account_rule=Subquery(rule))


class ChangeRequest(ReadQuickly, models.Model):
    """Someone's request to create, change or delete a peer link, from submission to its outcome."""

    class Kind(models.TextChoices):
        CREATE = "create", pgettext_lazy("change kind", "Create")
        UPDATE = "update", _("Rename / describe")
        DELETE = "delete", pgettext_lazy("change kind", "Delete")

    class State(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", _("Pending approval")
        APPROVED = "approved", pgettext_lazy("change request state", "Approved")
        EXECUTING = "executing", _("Executing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", pgettext_lazy("change request state", "Rejected")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    # Every state is one or the other; the transitions between them are in peerlinks.services.lifecycle.
    OPEN_STATES = (State.PENDING_APPROVAL, State.APPROVED, State.EXECUTING)
    TERMINAL_STATES = (State.DONE, State.FAILED, State.REJECTED, State.CANCELLED, State.EXPIRED)

    kind = models.CharField(max_length=10, choices=Kind.choices, verbose_name=_("kind"))
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.PENDING_APPROVAL, verbose_name=_("state")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="change_requests",
        verbose_name=_("requested by"),
    )
    gateway = models.ForeignKey(
        Gateway, on_delete=models.PROTECT, related_name="change_requests", verbose_name=_("gateway")
    )
    peer_link = models.ForeignKey(
        PeerLink,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="change_requests",
        verbose_name=_("peer link"),
    )
    # Exactly what will be sent: name/description/peer for create, name/description for update.
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    cloud_request_ids = models.JSONField(default=list, blank=True, verbose_name=_("cloud request IDs"))
    error_code = models.CharField(max_length=64, blank=True, verbose_name=_("error code"))
    error_msg = models.TextField(blank=True, verbose_name=_("error message"))  # in plain words
    error_detail = models.TextField(blank=True, verbose_name=_("error detail"))  # as the cloud client said it
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        verbose_name=_("retry of"),
    )
    # Policy as it stood at submission: approvals needed, and when an undecided request expires.
    approvals_required = models.PositiveSmallIntegerField(default=0, verbose_name=_("approvals needed"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    # An approved request waits for the change window: not executed before this time.
    not_before = models.DateTimeField(null=True, blank=True, verbose_name=_("not before"))
    # The other managed account a cross-account link reaches (its router or gateway is there), as it stood
    # at submission: that account's approvers must approve too (peerlinks.services.approvals).
    peer_account = models.ForeignKey(
        CloudAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("peer's account"),
    )
    # The drift (a change made outside dcportal) this request undoes, when it was asked for as its revert.
    reverts_drift = models.ForeignKey(
        "Drift",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reverts",
        verbose_name=_("reverts drift"),
    )
    # The batch it was asked for in (an upload or a choice of many links), decided with one approval.
    batch = models.ForeignKey(
        "ChangeBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rows",
        verbose_name=_("batch"),
    )

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"])]
        permissions = [
            ("submit_change", _("Can submit and cancel own change requests")),
            ("approve_change", _("Can approve or reject others' change requests")),
            ("retry_change", _("Can retry failed change requests")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.payload.get('name', '')}".strip()

    def get_absolute_url(self) -> str:
        return reverse("peerlinks:change_detail", args=[self.pk])

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES

    @staticmethod
    def peer_path(kind: str) -> tuple[str, ...]:
        """Where in the payload of a change of `kind` its peer is: a create's is the one it asks for; a
        rename's or a delete's, the one its link had (`before`)."""
        return () if kind == ChangeRequest.Kind.CREATE else ("before",)

    @property
    def peer_fields(self) -> dict[str, Any]:
        """The payload's part naming the change's peer (`peer_type`, `peer_gateway_id`, `peer_region`)."""
        fields = self.payload
        for key in self.peer_path(self.kind):
            fields = fields.get(key) or {}
        return fields

    @property
    def account(self) -> CloudAccount:
        """The account the change is made in: its gateway's."""
        return self.gateway.project.account

    @property
    def accounts(self) -> list[CloudAccount]:
        """Every account the change touches: the gateway's, then the peer's when it is another one."""
        return [self.account, *([self.peer_account] if self.peer_account_id else [])]

    @property
    def payload_digest(self) -> str:
        """SHA-256 of the canonical JSON payload: what an approval is bound to."""
        canonical = json.dumps(self.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class ChangeBatch(models.Model):
    """Many change requests of one kind asked for together (an upload of links to create, or links chosen in
    the list to delete): decided with one approval, each of its rows then carried out and reported on its
    own, as any change request is (a failed row undoes no other and can be asked for again)."""

    class Kind(models.TextChoices):
        CREATE = "create", pgettext_lazy("change kind", "Create")
        DELETE = "delete", pgettext_lazy("change kind", "Delete")

    kind = models.CharField(max_length=10, choices=Kind.choices, verbose_name=_("kind"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="change_batches",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    # The batch whose failed rows this one asks for again.
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        verbose_name=_("retry of"),
    )

    class Meta:
        verbose_name = _("batch of changes")
        verbose_name_plural = _("batches of changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return gettext("Batch {number}").format(number=self.pk)

    def get_absolute_url(self) -> str:
        return reverse("peerlinks:batch_detail", args=[self.pk])


class AuditEvent(ReadQuickly, models.Model):
    """An append-only record of something done: who, what, to which object, before and after."""

    SYSTEM = "system"  # the actor_name of what dcportal did by itself

    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_name = models.CharField(max_length=150, blank=True, verbose_name=_("actor name"))
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    object_type = models.CharField(max_length=32, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, blank=True, verbose_name=_("object ID"))
    object_repr = models.CharField(max_length=200, blank=True, verbose_name=_("object"))
    before = models.JSONField(null=True, blank=True, verbose_name=_("before"))
    after = models.JSONField(null=True, blank=True, verbose_name=_("after"))
    cloud_request_id = models.CharField(max_length=64, blank=True, verbose_name=_("cloud request ID"))
    change_request = models.ForeignKey(
        ChangeRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
        verbose_name=_("change request"),
    )
    # The account the object is in (None for what belongs to no account: users, the policy).
    account = models.ForeignKey(
        CloudAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("account"),
    )

    # An event of no account (a user, the policy) is read by those who read every account.
    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{format_time(self.at)} {self.shown_actor} {self.action} {self.shown_object}".strip()

    @property
    def shown_actor(self) -> str:
        """Who acted: the person's name, or "system" in the reader's language for what dcportal did by
        itself (stored as SYSTEM or, in old events, as nothing)."""
        if self.actor_id is None and self.actor_name in ("", self.SYSTEM):
            return pgettext("actor", "system")
        return self.actor_name

    @property
    def shown_object(self) -> str:
        """What the event touched, as its reader reads it: a change request by its label in the active
        language (the stored one is in the language of whoever acted), anything else as stored."""
        if self.object_type == "change_request" and self.change_request_id is not None:
            return str(self.change_request)
        return self.object_repr or self.object_id

    @property
    def object_url(self) -> str:
        """The page of what the event touched, or "" when it has none."""
        try:
            if self.object_type == "peer_link":
                return reverse("peerlinks:detail", args=[self.object_id])
            if self.object_type == "change_request":
                return reverse("peerlinks:change_detail", args=[int(self.object_id)])
            if self.object_type == "shared_attachment":
                link = PeerLink.objects.filter(link_id=self.object_id).values_list("cloud_id", flat=True)
                return reverse("peerlinks:detail", args=[link[0]]) if link else ""
        except (NoReverseMatch, ValueError):  # an id that is not a UUID or a number has no page
            pass
        return ""


class Approval(models.Model):
    """One approver's decision on a change request, bound to the exact payload they saw."""

    class Decision(models.TextChoices):
        APPROVE = "approve", pgettext_lazy("decision", "Approved")
        REJECT = "reject", pgettext_lazy("decision", "Rejected")

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="approvals", verbose_name=_("change request")
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="approvals",
        verbose_name=_("approver"),
    )
    decision = models.CharField(max_length=10, choices=Decision.choices, verbose_name=_("decision"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    # SHA-256 of the canonical JSON payload decided on; an edited payload no longer matches.
    payload_digest = models.CharField(max_length=64, verbose_name=_("payload digest"))
    decided_at = models.DateTimeField(default=timezone.now, verbose_name=_("decided at"))

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "approver", "payload_digest"],
                name="one_decision_per_approver_payload",
            )
        ]

    def __str__(self) -> str:
        return gettext("{decision} by {approver} on #{number}").format(
            decision=self.get_decision_display(), approver=self.approver, number=self.change_request_id
        )


class Comment(models.Model):
    """A message in a change request's discussion thread."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="comments", verbose_name=_("change request")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(max_length=2000, verbose_name=_("body"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return gettext("{author} on #{number}").format(author=self.author, number=self.change_request_id)


class Notice(models.Model):
    """An in-app notification for one user, shown until read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices", verbose_name=_("user")
    )
    change_request = models.ForeignKey(
        ChangeRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notices",
        verbose_name=_("change request"),
    )
    message = models.CharField(max_length=300, verbose_name=_("message"))  # in English, as sent
    # What happened, so each reader gets it in their language (services.notifications.notice_text); "" for
    # a notice that has its message only.
    kind = models.CharField(max_length=20, blank=True, verbose_name=_("kind"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("details"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return gettext("notice #{number}").format(number=self.pk)


class Preferences(models.Model):
    """A person's language and time zone, kept so they follow them to any browser and into their mail.

    "" in `language` or `time_zone`: nothing chosen (the browser decides, and mail uses the server's
    defaults). `browser_time_zone` is the zone their browser last reported, for mail when none is chosen.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="preferences",
        verbose_name=_("user"),
    )
    language = models.CharField(
        max_length=10, blank=True, choices=settings.LANGUAGES, verbose_name=_("language")
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        verbose_name=_("time zone"),
        help_text=_("A zone name such as Asia/Shanghai; empty to follow their browser."),
    )
    browser_time_zone = models.CharField(
        max_length=64, blank=True, verbose_name=_("time zone of their browser")
    )

    class Meta:
        verbose_name = _("preferences")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return self.user.get_username()

    def clean(self) -> None:
        for field in ("time_zone", "browser_time_zone"):
            if getattr(self, field) and zone_from_name(getattr(self, field)) is None:
                raise ValidationError({field: _("Unknown time zone.")})


# Defaults of the change window, as callables: Django's check for a fixed time default (fields.W161) would
# otherwise warn, and `check --fail-level WARNING` fail, whenever it runs within 10 s of 22:00 or 06:00.
def window_opens_at() -> datetime.time:
    return datetime.time(22, 0)


def window_closes_at() -> datetime.time:
    return datetime.time(6, 0)


class Policy(models.Model):
    """The approval policy, edited by admins: approvals per kind, expiry, and an optional change window.

    One row (pk 1); `Policy.current()` reads it, and a list of changes can read its cross-account rule with
    them (`ChangeRequestQuerySet.with_cross_account_rule`).
    """

    PK = 1

    approvals_create = models.PositiveSmallIntegerField(default=1, verbose_name=_("approvals for a create"))
    approvals_update = models.PositiveSmallIntegerField(default=1, verbose_name=_("approvals for a rename"))
    approvals_delete = models.PositiveSmallIntegerField(default=1, verbose_name=_("approvals for a delete"))
    expire_after = models.DurationField(
        default=datetime.timedelta(days=7), verbose_name=_("undecided requests expire after")
    )

    class CrossAccount(models.TextChoices):
        """Whose approvals a link between two accounts needs, besides the number required."""

        EACH = "each", _("an approver of each account")
        EITHER = "either", _("any approver of either account")

    # Read at each approval (unlike the counts, which a request keeps from its submission).
    cross_account_approval = models.CharField(
        max_length=8,
        choices=CrossAccount.choices,
        default=CrossAccount.EACH,
        verbose_name=_("a link between two accounts needs"),
    )
    window_enabled = models.BooleanField(default=False, verbose_name=_("change window on"))
    # ISO weekdays (1 = Monday) on which a window opens, comma-separated.
    window_weekdays = models.CharField(
        max_length=20, default="1,2,3,4,5", verbose_name=_("change window weekdays")
    )
    window_start = models.TimeField(default=window_opens_at, verbose_name=_("change window opens"))
    window_end = models.TimeField(default=window_closes_at, verbose_name=_("change window closes"))

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policy")

    def __str__(self) -> str:
        return str(_("Approval policy"))

    @classmethod
    def current(cls) -> "Policy":
        """The policy in force (read once per page, which may weigh many changes against it)."""
        return _policy_in_force()

    def approvals_for(self, kind: str) -> int:
        return {
            "create": self.approvals_create,
            "update": self.approvals_update,
            "delete": self.approvals_delete,
        }[kind]


@once_per_request
def _policy_in_force() -> Policy:
    return Policy.objects.get_or_create(pk=Policy.PK)[0]


class DataVersion(models.Model):
    """On SQLite, the version of the data pages draw (one row, `peerlinks.data_version`); PostgreSQL
    keeps it in a sequence instead and leaves this table empty."""

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"data version {self.value}"


class ProcessHeartbeat(models.Model):
    """A task worker's or scheduler's sign of life: one row per process run, stamped while it runs.

    `name` is the worker id a worker writes into the task rows it claims (`worker_ids`), so a running
    task can be traced to the process that claimed it; `started_at` tells a restarted process that
    reuses the name (systemd's `%H-%i`) from the one that died.
    """

    class Kind(models.TextChoices):
        WORKER = "worker"
        SCHEDULER = "scheduler"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            models.Index(fields=["kind", "last_seen"]),
            models.Index(fields=["name", "last_seen"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.host}, pid {self.pid})"


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, *, now: datetime.datetime | None = None) -> "ApiTokenQuerySet":
        """Tokens that still open the API: not revoked, not expired, their owner still active."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now, owner__is_active=True)


class ApiToken(models.Model):
    """A personal token for the HTTP API (`Authorization: Bearer <token>`), acting as its owner.

    Only the SHA-256 of the token is kept: it is shown once, when made. It never grants more than its owner
    holds at the moment of each request; a read-only token is refused on every write.
    """

    class Scope(models.TextChoices):
        READ = "read_only", _("Read only")
        WRITE = "read_write", _("Read and write")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("owner"),
    )
    name = models.CharField(max_length=100, verbose_name=_("name"))
    # The token's first characters, shown in the list so its owner can tell tokens apart.
    prefix = models.CharField(max_length=16, verbose_name=_("prefix"))
    key_hash = models.CharField(
        max_length=64, unique=True, editable=False, verbose_name=_("SHA-256 of the key")
    )
    scope = models.CharField(
        max_length=10, choices=Scope.choices, default=Scope.READ, verbose_name=_("scope")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    # The per-token rate limit: requests counted in the minute that started at `window_start`.
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_count = models.PositiveIntegerField(default=0, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    def is_usable(self, *, now: datetime.datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed to a retry with the same key.

    Keys are per user and kept for a day (`API_IDEMPOTENCY_HOURS`); `fingerprint` is the SHA-256 of the
    method, path and body, so the same key with another request is refused.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(max_length=255, verbose_name=_("key"))
    fingerprint = models.CharField(max_length=64, verbose_name=_("request fingerprint"))
    status = models.PositiveSmallIntegerField(verbose_name=_("status"))
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    body = models.TextField(blank=True, verbose_name=_("body"))
    location = models.CharField(max_length=500, blank=True, verbose_name=_("location"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_answer_per_user_key")]

    def __str__(self) -> str:
        return self.key


class WebhookSubscription(models.Model):
    """A receiver an admin set up to hear about events: a URL, how to speak to it (a format), which events,
    and optionally only those of one cloud account or one gateway."""

    class Format(models.TextChoices):
        GENERIC = "generic", _("Generic JSON (signed)")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk robot")
        FEISHU = "feishu", _("Feishu / Lark bot")
        SLACK = "slack", _("Slack incoming webhook")
        TEAMS = "teams", _("Microsoft Teams (Adaptive Card)")

    class Event(models.TextChoices):
        SUBMITTED = "change.submitted", _("Change submitted")
        APPROVED = "change.approved", _("Change approved")
        REJECTED = "change.rejected", _("Change rejected")
        DONE = "change.done", _("Change done")
        FAILED = "change.failed", _("Change failed")
        EXPIRED = "change.expired", _("Change expired")
        LINK_STATUS = "link.status_changed", _("Link status changed")
        DRIFT = "drift.found", _("Drift found")

    name = models.CharField(max_length=100, verbose_name=_("name"))
    url = models.URLField(
        max_length=1000, validators=[URLValidator(schemes=["http", "https"])], verbose_name=_("URL")
    )
    # Generic JSON: the HMAC key of X-Dcportal-Signature; DingTalk and Feishu: the robot's signing secret.
    secret = EncryptedTextField(
        blank=True,
        verbose_name=_("secret"),
        help_text=_(
            "Generic JSON: the key each body is signed with (HMAC-SHA256). DingTalk and Feishu: the robot's "
            "signing secret (optional). Never shown again once saved."
        ),
    )
    format = models.CharField(
        max_length=10, choices=Format.choices, default=Format.GENERIC, verbose_name=_("format")
    )
    events = models.JSONField(default=list, verbose_name=_("events"))
    account = models.ForeignKey(
        CloudAccount,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("cloud account"),
        help_text=_("Only events of this account (empty: every account)."),
    )
    gateway = models.ForeignKey(
        "Gateway",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("gateway"),
        help_text=_("Only events of this gateway (empty: every gateway)."),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = set(self.events or []) - set(self.Event.values)
        if unknown or not isinstance(self.events, list):
            raise ValidationError({"events": gettext("Choose events from the list.")})
        if self.format == self.Format.GENERIC and not self.secret:
            raise ValidationError({"secret": gettext("A generic JSON webhook needs a secret to sign with.")})


class WebhookDelivery(models.Model):
    """One event on its way to one subscription: the event as sent (its id lets receivers drop a
    duplicate), its state, and when the next attempt is due."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("webhook")
    )
    event_id = models.UUIDField(default=uuid.uuid4, verbose_name=_("event ID"))
    event_type = models.CharField(max_length=30, verbose_name=_("event"))
    event = models.JSONField(verbose_name=_("event body"))
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING, verbose_name=_("state")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: what the receiver answered, or why it could not be reached."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("status code"))
    response_excerpt = models.CharField(max_length=500, blank=True, verbose_name=_("response"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration (ms)"))
    error = models.CharField(max_length=500, blank=True, verbose_name=_("error"))

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"#{self.pk}"

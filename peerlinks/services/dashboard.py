"""The dashboard's reads: counts by status, links in trouble, how fresh each region's data is, drift and
recent activity; acknowledging drift; gateways by region. Everything here reads the cache.
"""

import copy
import hashlib
import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from peerlinks.data_version import drawn_part
from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    CloudProject,
    Drift,
    Gateway,
    PeerLink,
    accounts_in_order,
    cached_regions,
    count_of,
    fixed_rows,
)
from peerlinks.per_request import once_per_request
from peerlinks.permissions import APPROVE, as_key, holder, readable_accounts, rows_for_reader
from peerlinks.presentation.text import describe_problem
from peerlinks.services import dispatch
from peerlinks.services.approvals import awaiting_decision
from peerlinks.services.audit import record_audit
from peerlinks.services.lifecycle import check_engineer_in
from peerlinks.services.notifications import unread_notices

RECENT = 10
LISTED = 50


@dataclass
class RegionSync:
    """When a region of an account was last synced, whether that is too long ago, and why the last try
    failed."""

    region: str
    account: str = ""  # the account's name
    first_account: bool = True  # the account of the CLOUD_* settings
    managed: bool = True  # one of the account's managed regions (else only cached)
    synced_at: datetime | None = None
    sync_error: str = ""
    sync_problem: str = ""  # in the reader's language
    sync_failed_at: datetime | None = None
    gateways: int = 0
    stale: bool = True

    @property
    def anchor(self) -> str:
        """What tells this row apart in element ids: the region, with the account's name before it for an
        account other than the first (a region can be in several accounts)."""
        return self.region if self.first_account else f"{self.account}-{self.region}"


@dataclass
class UnmanagedRegions:
    """Regions an account has (noted by a full sync) or that were synced once, not among its managed
    regions (CLOUD_REGIONS for the first account); named "region (account)" when there are several."""

    with_gateways: list[CloudProject]  # … holding global DC gateways dcportal does not show
    not_looked_at: list[str]  # … whose gateways could not be counted
    without_gateways: list[str]  # … holding none

    def __bool__(self) -> bool:
        return bool(self.with_gateways or self.not_looked_at)


@dataclass
class DashboardLive:
    """The parts of the dashboard that update while it is open: counts, drift and each region's sync."""

    counts: dict[str, int]
    total: int
    regions: list[RegionSync]
    drifts: list[Drift]
    drift_count: int


@dataclass
class Dashboard:
    unmanaged_regions: UnmanagedRegions
    counts: dict[str, int]
    total: int
    errors: list[PeerLink]
    pending_too_long: list[PeerLink]
    regions: list[RegionSync]
    drifts: list[Drift]
    drift_count: int
    recent_changes: list[ChangeRequest]
    recent_events: list[AuditEvent]
    pending_too_long_after: timedelta = field(default_factory=lambda: timedelta(0))


def build_dashboard(*, user: AbstractBaseUser, now: datetime | None = None) -> Dashboard:
    """Everything the home page shows `user` (the accounts they may read), in a fixed number of queries,
    those that do not depend on the time compiled once (models.fixed_rows)."""
    now = now or timezone.now()
    counts = nav_counts(user, statuses=True).statuses
    too_long = timedelta(seconds=settings.PENDING_TOO_LONG)
    drifts, drift_count = _open_drifts(user)
    return Dashboard(
        unmanaged_regions=unmanaged_regions(user=user),
        counts=counts,
        total=sum(counts.values()),
        # Each list is read only when the counts above say it can have rows.
        errors=rows_for_reader(user, "dashboard: links in error", _links_in_error)
        if counts[PeerLink.Status.ERROR]
        else [],
        pending_too_long=pending_too_long(user=user, now=now)
        if any(counts[status] for status in PeerLink.PENDING_STATUSES)
        else [],
        regions=region_syncs(now=now, user=user),
        drifts=drifts,
        drift_count=drift_count,
        recent_changes=rows_for_reader(user, "dashboard: recent changes", _recent_changes),
        recent_events=rows_for_reader(user, "dashboard: recent events", _recent_events),
        pending_too_long_after=too_long,
    )


def _links_in_error(user: AbstractBaseUser) -> QuerySet[PeerLink]:
    present = PeerLink.objects.visible_to(user).present()
    return present.filter(status=PeerLink.Status.ERROR).for_list()[:LISTED]


def _recent_changes(user: AbstractBaseUser) -> QuerySet[ChangeRequest]:
    related = ("requested_by", "gateway__project__account", "peer_link")
    return ChangeRequest.objects.visible_to(user).select_related(*related)[:RECENT]


def _recent_events(user: AbstractBaseUser) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.visible_to(user).select_related("change_request", "account")[:RECENT]


def _open_drifts(user: AbstractBaseUser) -> tuple[list[Drift], int]:
    """The first LISTED unacknowledged drifts `user` may read, and how many there are in all (counted only
    past those)."""
    listed = rows_for_reader(user, "dashboard: open drift", _drift_query)
    return listed, len(listed) if len(listed) < LISTED else _drift_query(user, listed=False).count()


def _drift_query(user: AbstractBaseUser, *, listed: bool = True) -> QuerySet[Drift]:
    drifts = (
        Drift.objects.visible_to(user)
        .filter(acknowledged_at__isnull=True)
        .select_related("peer_link__gateway__project__account")
    )
    return drifts[:LISTED] if listed else drifts


def build_dashboard_live(*, user: AbstractBaseUser, now: datetime | None = None) -> DashboardLive:
    """What the dashboard's live parts show, without the lists that do not update in place."""
    counts = nav_counts(user, statuses=True).statuses
    drifts, drift_count = _open_drifts(user)
    return DashboardLive(
        counts=counts,
        total=sum(counts.values()),
        regions=region_syncs(now=now or timezone.now(), user=user),
        drifts=drifts,
        drift_count=drift_count,
    )


def status_counts(*, user: AbstractBaseUser) -> dict[str, int]:
    """Present links per status (every status, 0 for none) in the accounts `user` may read."""
    counts = dict.fromkeys(PeerLink.Status.values, 0)
    rows = PeerLink.objects.visible_to(user).present().values("status").annotate(n=Count("id")).order_by()
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


@dataclass(frozen=True)
class NavCounts:
    """The counts every page reads with its frame: the navigation's badges (requests waiting for this
    approver's decision, approvals.awaiting_decision, 0 for non-approvers, each batch counted once; the
    person's unread notices), whether a full sync may be queued, and on the dashboard its links per status."""

    changes_waiting: int  # … not in a batch
    batches_waiting: int
    notices_unread: int
    # A run of the full sync waits or runs (dispatch.is_queued then says whether its worker still lives).
    sync_unfinished: bool = False
    statuses: dict[str, int] | None = None  # present links per status, when asked for

    @property
    def approvals_waiting(self) -> int:
        return self.changes_waiting + self.batches_waiting

    @property
    def sync_queued(self) -> bool:
        """Whether a full sync waits or runs (dispatch.is_queued, asked only when a run is unfinished)."""
        return self.sync_unfinished and dispatch.is_queued("sync_all_regions")


def nav_counts(user: AbstractBaseUser, *, statuses: bool = False) -> NavCounts:
    """The counts of NavCounts in one query (the person's row with a count of each beside it), read once
    per page: the navigation, the page's poll, the notices page and the dashboard all show them.
    `statuses`: with the present links per status (kept_status_counts)."""
    return _nav_counts(user, statuses)


@once_per_request
def _nav_counts(user: AbstractBaseUser, statuses: bool) -> NavCounts:
    if not user.is_authenticated:
        return NavCounts(0, 0, 0)
    if not statuses:
        return _frame_counts(user, statuses=False)
    # The links per status are kept under the data's version; when they are not, they are counted in the
    # frame's own query.
    counted: dict[str, NavCounts] = {}

    def count() -> dict[str, int]:
        counted["frame"] = _frame_counts(user, statuses=True)
        return counted["frame"].statuses

    by_status = drawn_part("status counts", as_key(readable_accounts(user)), count)
    return counted.get("frame") or replace(_nav_counts(user, False), statuses=by_status)


def _frame_counts(user: AbstractBaseUser, *, statuses: bool) -> NavCounts:
    approver = user.has_perm(APPROVE)  # reads the person's roles: the stand-in below copies them
    # What shapes the query besides the person's pk: where they approve and what they may read.
    shape = (approver and as_key(holder(user, APPROVE).accounts), as_key(readable_accounts(user)))
    query = partial(_nav_counts_query, user, statuses=statuses, approver=approver)
    names = _nav_count_names(statuses, approver)
    rows = fixed_rows(("nav counts", statuses, *shape), query, user.pk)
    row = dict(zip(names, rows[0], strict=True)) if rows else {}
    by_status = None
    if statuses:
        by_status = {status: row.get(f"n_{i}", 0) for i, status in enumerate(PeerLink.Status.values)}
        if row.get("n_other"):  # a status the cloud added: named by the grouped count
            by_status = status_counts(user=user)
    return NavCounts(
        changes_waiting=row.get("n_single", 0),
        batches_waiting=row.get("n_batches", 0),
        notices_unread=row.get("n_notices", 0),
        sync_unfinished=bool(row.get("n_sync")),
        statuses=by_status,
    )


def _nav_count_names(statuses: bool, approver: bool) -> list[str]:
    names = ["n_notices", "n_sync"] + (["n_single", "n_batches"] if approver else [])
    if statuses:
        names += [f"n_{i}" for i in range(len(PeerLink.Status.values))] + ["n_other"]
    return names


def _nav_counts_query(user: AbstractBaseUser, pk: int, *, statuses: bool, approver: bool) -> QuerySet:
    """The person's row (`pk`: theirs, or fixed_rows' stand-in) with each count of NavCounts beside it, in
    the order of _nav_count_names. `user` gives the roles: a copy of them with `pk` asks the queries."""
    person = copy.copy(user)
    person.pk = pk
    counts = {
        "n_notices": count_of(unread_notices(person)),
        "n_sync": count_of(dispatch.unfinished_runs("sync_all_regions")),
    }
    if approver:
        # A batch is one decision (services.bulk): counted once, whatever its number of rows.
        waiting = awaiting_decision(person)
        counts["n_single"] = count_of(waiting.filter(batch__isnull=True))
        counts["n_batches"] = count_of(waiting, "batch_id", distinct=True)
    present = PeerLink.objects.visible_to(person).present()
    if statuses:
        counts |= {f"n_{i}": count_of(present.filter(status=s)) for i, s in enumerate(PeerLink.Status.values)}
        # Any other status (one the cloud added) lies between the known ones in the status index: counted
        # from those gaps, so no row of a known status is read twice.
        known = sorted(PeerLink.Status.values)
        gaps = Q(status__lt=known[0]) | Q(status__gt=known[-1])
        for low, high in itertools.pairwise(known):
            gaps |= Q(status__gt=low, status__lt=high)
        counts["n_other"] = count_of(present.filter(gaps))
    assert list(counts) == _nav_count_names(statuses, approver)
    return get_user_model().objects.filter(pk=pk).annotate(**counts).values_list(*counts)


def _accounts(user: AbstractBaseUser | None) -> list[CloudAccount]:
    """The accounts whose regions are shown (every one, the first first; only those `user` may read)."""
    accounts = list(accounts_in_order())
    if not accounts or not accounts[0].from_environment:
        accounts.insert(0, CloudAccount.objects.environment())  # every install has it, even before a sync
    readable = None if user is None else readable_accounts(user)
    return [account for account in accounts if readable is None or account.pk in readable]


def synced_since(moment: datetime) -> bool:
    """Whether every managed region of every account has been synced since `moment`."""
    managed = {(account.pk, region) for account in _accounts(None) for region in account.managed_regions}
    fresh = set(CloudProject.objects.filter(synced_at__gte=moment).values_list("account_id", "region"))
    return managed <= fresh


def unmanaged_regions(*, user: AbstractBaseUser) -> UnmanagedRegions:
    """The regions dcportal does not show, in the accounts `user` may read: those worth naming first,
    then the rest."""
    accounts = _accounts(user)
    by_pk = {account.pk: account for account in accounts}
    several = CloudAccount.objects.several()
    rows = [
        row for row in _projects(accounts).values() if row.region not in by_pk[row.account_id].managed_regions
    ]
    for row in rows:
        row.where = f"{row.region} ({by_pk[row.account_id].name})" if several else row.region
    return UnmanagedRegions(
        with_gateways=[row for row in rows if row.unmanaged_gateways],
        not_looked_at=[row.where for row in rows if row.unmanaged_gateways is None],
        without_gateways=[row.where for row in rows if row.unmanaged_gateways == 0],
    )


def pending_too_long(*, user: AbstractBaseUser, now: datetime) -> list[PeerLink]:
    """The first LISTED present links `user` may read still pending since longer than
    settings.PENDING_TOO_LONG (since their last status change, else since first seen), longest first.
    When each pending link began to wait is read once per version of the data (data_version.drawn_part),
    and weighed against the time on every request; the links shown are read only when there are some."""
    cutoff = now - timedelta(seconds=settings.PENDING_TOO_LONG)
    waiting = drawn_part("pending links", as_key(readable_accounts(user)), lambda: _waiting_since(user))
    stuck = [pk for since, _name, pk in waiting if since < cutoff][:LISTED]
    if not stuck:
        return []
    links = _pending(user).in_bulk(stuck)
    return [links[pk] for pk in stuck if pk in links]


def _pending(user: AbstractBaseUser) -> QuerySet[PeerLink]:
    """The present pending links `user` may read, each with when its status last changed (`pending_since`)."""
    links = PeerLink.objects.visible_to(user).present().pending().for_list()
    return links.annotate(pending_since=Max("status_changes__observed_at"))


def _waiting_since(user: AbstractBaseUser) -> list[tuple[datetime, str, int]]:
    """(since when, name, pk) of each pending link `user` may read, longest waiting first."""
    rows = _pending(user).values_list("pending_since", "first_seen_at", "name", "pk")
    return sorted((since or first_seen, name, pk) for since, first_seen, name, pk in rows)


def _projects(accounts: list[CloudAccount]) -> dict[tuple[int, str], CloudProject]:
    """The cached regions of these accounts by (account pk, region), by region, with their present gateways
    counted (models.cached_regions)."""
    pks = {account.pk for account in accounts}
    return {(p.account_id, p.region): p for p in cached_regions() if p.account_id in pks}


def region_syncs(*, now: datetime, user: AbstractBaseUser | None = None) -> list[RegionSync]:
    """Every managed region of each account (and any cached one), with its last sync and a stale flag; of
    the accounts `user` may read when given. The first account's regions come first."""
    stale_before = now - timedelta(seconds=settings.STALE_AFTER)
    accounts = _accounts(user)
    projects = _projects(accounts)
    # A region only noted as the account's (never synced, no gateways) is not shown: see unmanaged_regions.
    cached = [key for key, p in projects.items() if p.synced_at is not None or p.n_gateways]
    managed = [(account.pk, region) for account in accounts for region in account.managed_regions]
    by_pk = {account.pk: account for account in accounts}
    rows = []
    for key in dict.fromkeys([*managed, *sorted(cached, key=lambda key: key[1])]):
        account, region = by_pk[key[0]], key[1]
        where = {
            "region": region,
            "account": account.name,
            "first_account": account.from_environment,
            "managed": region in account.managed_regions,
        }
        project = projects.get(key)
        if project is None:
            rows.append(RegionSync(**where))
            continue
        rows.append(
            RegionSync(
                **where,
                synced_at=project.synced_at,
                sync_error=project.sync_error,
                sync_problem=describe_problem(project.sync_problem)
                or _("The last sync with Huawei Cloud failed."),
                sync_failed_at=project.sync_failed_at,
                gateways=project.n_gateways,
                stale=project.synced_at is None or project.synced_at < stale_before,
            )
        )
    return rows


@dataclass
class CloudOutage:
    """Managed regions whose last sync failed outright: since when, and the data shown dates from when."""

    regions: list[RegionSync]
    since: datetime
    cached_from: datetime | None
    several_accounts: bool = False  # the install has several: each region is named with its account

    @property
    def problem(self) -> str:
        return self.regions[0].sync_problem

    @property
    def region_names(self) -> str:
        """The failing regions, each with its account when the install has several."""
        return ", ".join(
            f"{row.region} ({row.account})" if self.several_accounts else row.region for row in self.regions
        )


def cloud_outage(*, user: AbstractBaseUser | None = None, now: datetime | None = None) -> CloudOutage | None:
    """The cloud as every page's banner tells it (`user`: of the accounts they may read): None while the
    last sync of each managed region got its answers (a gateway that could not be listed is the region's
    note, not an outage)."""
    failing = [
        row
        for row in region_syncs(now=now or timezone.now(), user=user)
        if row.managed
        and row.sync_error
        and row.sync_failed_at is not None
        and (row.synced_at is None or row.synced_at < row.sync_failed_at)
    ]
    if not failing:
        return None
    synced = [row.synced_at for row in failing if row.synced_at is not None]
    return CloudOutage(
        regions=failing,
        since=min(row.sync_failed_at for row in failing),
        cached_from=min(synced) if len(synced) == len(failing) else None,
        several_accounts=CloudAccount.objects.several(),
    )


@dataclass
class LiveFacts:
    """What a page's live parts show: the navigation's counts, the cloud banner and, on the dashboard,
    its counts, drift and syncs (a Dashboard or a DashboardLive), on the gateway list its regions."""

    approvals_waiting: int
    notices_unread: int
    outage: CloudOutage | None
    dashboard: Dashboard | DashboardLive | None = None
    gateway_groups: list[tuple[RegionSync, list[Gateway]]] | None = None
    sync_queued: bool | None = None  # on pages with the Refresh button: whether a full sync waits or runs

    @property
    def page(self) -> str:
        """Which page's parts these are: `dashboard`, `gateways` or "" (the navigation and banner only)."""
        if self.dashboard is not None:
            return "dashboard"
        return "gateways" if self.gateway_groups is not None else ""

    @property
    def version(self) -> str:
        """A fingerprint of these facts: a page's poll gets its live parts again only when it changed."""
        outage = self.outage and [
            (r.region, r.sync_failed_at, r.synced_at, r.sync_error) for r in self.outage.regions
        ]
        facts: list = [self.approvals_waiting, self.notices_unread, outage, self.sync_queued]
        if self.dashboard is not None:
            dash = self.dashboard
            facts += [
                dash.counts,
                dash.drift_count,
                [(d.pk, d.detected_at) for d in dash.drifts],
                [_region_facts(r) for r in dash.regions],
            ]
        for region, gateways in self.gateway_groups or []:
            facts.append(_region_facts(region))
            facts += [
                (g.cloud_id, g.name, g.status, g.current_peer_link_count, g.available_peer_link_count)
                + (g.links_synced_at,)
                for g in gateways
            ]
        return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]


def _region_facts(r: RegionSync) -> tuple:
    return (r.account, r.region, r.synced_at, r.sync_failed_at, r.sync_error, r.stale, r.gateways)


def live_facts(*, user: AbstractBaseUser, page: str = "", now: datetime | None = None) -> LiveFacts:
    """What a page's live parts show now (`page`: `dashboard` or `gateways` for theirs too)."""
    now = now or timezone.now()
    counts = nav_counts(user, statuses=page == "dashboard")
    return LiveFacts(
        approvals_waiting=counts.approvals_waiting,
        notices_unread=counts.notices_unread,
        outage=cloud_outage(user=user, now=now),
        dashboard=build_dashboard_live(user=user, now=now) if page == "dashboard" else None,
        gateway_groups=gateways_by_region(user=user, now=now) if page == "gateways" else None,
        sync_queued=counts.sync_queued if page else None,
    )


# At most this many links are followed by one poll: a page shows no more badges than that (its page size).
MAX_FOLLOWED_LINKS = 200


@dataclass
class FollowedLinks:
    """The pending links a page's poll follows: those whose status moved on since the page showed them, and
    whether any of them is still pending (then the page keeps polling fast)."""

    changed: list[PeerLink]
    any_pending: bool


def follow_links(*, user: AbstractBaseUser, shown: dict[str, str]) -> FollowedLinks:
    """Read the links a page shows as pending (`shown`: cloud ID → the status it shows) in one query.

    A link `user` may not read, or that does not exist, is left out (its badge is never answered for).
    """
    if not shown:
        return FollowedLinks(changed=[], any_pending=False)
    links = PeerLink.objects.visible_to(user).filter(cloud_id__in=list(shown)[:MAX_FOLLOWED_LINKS])
    links = links.only("cloud_id", "status", "gone_at", "reason")
    changed, any_pending = [], False
    for link in links:
        now_shows = "GONE" if link.gone_at else link.status
        if now_shows != shown[link.cloud_id]:
            changed.append(link)
        any_pending = any_pending or (link.is_pending and not link.gone_at)
    return FollowedLinks(changed=changed, any_pending=any_pending)


def acknowledge_drift(
    *, drift_id: int, user: AbstractBaseUser, action: str = "drift.acknowledged", note: dict | None = None
) -> Drift:
    """Mark a drift as seen by `user`; acknowledging twice keeps the first acknowledgement.

    Adopting or reverting a drift deals with it too: `action` names how in the audit log, `note` adds to it.
    Only an engineer in the link's account may (ChangeForbidden).
    """
    with transaction.atomic():
        drift = Drift.objects.select_for_update().select_related("peer_link").get(pk=drift_id)
        check_engineer_in(user, drift.peer_link.gateway.account)
        if drift.acknowledged_at is not None:
            return drift
        drift.acknowledged_at = timezone.now()
        drift.acknowledged_by = user
        drift.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record_audit(
            action=action,
            actor=user,
            obj=drift.peer_link,
            after={"drift": drift.pk, "kind": drift.kind, **(note or {})},
        )
    return drift


def gateways_by_region(
    *, user: AbstractBaseUser, now: datetime | None = None
) -> list[tuple[RegionSync, list[Gateway]]]:
    """Every present gateway `user` may read, grouped under its account's region and that region's sync
    state; regions without gateways included."""
    rows = region_syncs(now=now or timezone.now(), user=user)
    groups = {(row.account, row.region): (row, []) for row in rows}
    gateways = (
        Gateway.objects.visible_to(user)
        .present()
        .select_related("project__account")
        .order_by("project__region", "name")
    )
    for gateway in gateways:
        key = (gateway.account.name, gateway.region)
        where = RegionSync(
            region=gateway.region,
            account=gateway.account.name,
            first_account=gateway.account.from_environment,
        )
        groups.setdefault(key, (where, []))[1].append(gateway)
    return list(groups.values())

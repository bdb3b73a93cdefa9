"""Reconcile the cache with the cloud: fetch, update, create, mark gone, stamp the time.

A region is fetched whole (gateways, enterprise routers, every gateway's peer links page by page)
before anything is written, so a failed fetch never wipes or half-updates the cache: it is recorded
on the region instead, and the pages show the data as stale with the reason.

At most one sync per region runs at a time, whoever asked (the Refresh button, the scheduler, a re-check,
the command). The claim is a lease on the region's CloudProject row: a token and an expiry, taken with one
conditional UPDATE and judged by the database's clock, so it holds across processes and hosts, on SQLite
as on PostgreSQL. A running sync renews it between pages and gives it back at the end; a worker killed
mid-sync blocks the region until the lease runs out (SYNC_LEASE), no longer. A lease and not a row lock
held for the whole sync: that would keep a transaction open across minutes of network calls (on SQLite,
blocking every writer); nor an advisory lock, which SQLite lacks. A re-check that finds the region claimed
is merged: the sync holding it reads those links too, and the next tick asks again. A full sync waits
(up to SYNC_LEASE) and then runs, so a person's Refresh always gets a fetch that began after they asked.

Lock order in the write, as for every writer of the cache (peerlinks.services.mirror): the region row
first (the claim is checked under it), then the shared attachments of its routers, then its gateways in
pk order, stamped links_synced_at in the same statements, then their peer links in pk order, and nothing
after.

A link the cloud shows as cached is not written at all: its gateway's links_synced_at is its last sync
(PeerLink.last_synced_at), and its cloud_digest tells it apart from a changed one without reading every
field.
"""

import gc
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from peerlinks import cloud, data_version
from peerlinks.models import (
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    CloudProject,
    Drift,
    EnterpriseRouter,
    Gateway,
    PeerLink,
    SharedAttachment,
    StatusChange,
)
from peerlinks.presentation.text import cloud_problem, gateways_problem
from peerlinks.services import dispatch, lifecycle, webhooks
from peerlinks.services.audit import audit_event, record_audits
from peerlinks.services.mirror import (
    GATEWAY_FIELDS,
    LINK_FIELDS,
    ROUTER_FIELDS,
    apply_link,
    gateway_values,
    link_digest,
    link_values,
    router_values,
    set_gone,
    store_shared_attachment,
)

logger = logging.getLogger(__name__)

# A change to these that no change request of ours explains is drift.
DRIFT_FIELDS = ("name", "description")
# A change request of ours finished longer ago than this no longer explains what a sync sees.
EXPLAINS_FOR = timedelta(hours=1)
# How often a full sync waiting for its region looks again whether the claim is free.
CLAIM_POLL = 0.1


@dataclass
class SyncResult:
    """What one region's sync found."""

    region: str
    account: str = ""
    ok: bool = True
    error: str = ""
    # A re-check that found the region being synced by another, which covers it.
    merged: bool = False
    gateways: int = 0
    links_created: int = 0
    links_updated: int = 0
    links_gone: int = 0
    drifts: int = 0
    api_calls: int = 0
    warnings: list[str] = field(default_factory=list)
    problem: str = ""  # the warnings, as stored for presentation.text.describe_problem


@dataclass
class _RegionSnapshot:
    project_id: str
    gateways: list["cloud.GlobalDcGateway"]
    routers: list["cloud.EnterpriseRouter"]
    links_by_gateway: dict[str, list["cloud.PeerLink"]]
    failed_gateways: dict[str, cloud.CloudError]
    # The gateway attachments of each router listed (a router whose listing failed is left out).
    attachments_by_router: dict[str, list["cloud.ErAttachment"]] = field(default_factory=dict)


class _ClaimLost(Exception):
    """Another sync took the region over after this one's lease ran out."""


class _Claim:
    """This sync's lease on its region; see the module docstring."""

    def __init__(self, project_pk: int) -> None:
        self.project_pk = project_pk
        self.token = uuid.uuid4().hex
        self.lease = timedelta(seconds=settings.SYNC_LEASE)
        self.renewed_at = 0.0

    def take(self) -> bool:
        """Claim the region if nobody holds it or the holder's lease ran out; True if claimed."""
        free = Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=Now())
        taken = CloudProject.objects.filter(free, pk=self.project_pk).update(
            sync_claim=self.token, sync_claimed_until=Now() + self.lease
        )
        self.renewed_at = time.monotonic()
        return taken == 1

    def renew(self) -> None:
        """Extend the lease once a third of it has passed; raises _ClaimLost if another sync took it."""
        if time.monotonic() - self.renewed_at < self.lease.total_seconds() / 3:
            return
        renewed = CloudProject.objects.filter(pk=self.project_pk, sync_claim=self.token).update(
            sync_claimed_until=Now() + self.lease
        )
        if not renewed:
            raise _ClaimLost
        self.renewed_at = time.monotonic()

    def check(self, project: CloudProject) -> None:
        """Under the region's row lock: raises _ClaimLost unless the claim is still ours."""
        if project.sync_claim != self.token:
            raise _ClaimLost

    def release(self) -> None:
        """Give the region back (unless another sync took it over meanwhile)."""
        CloudProject.objects.filter(pk=self.project_pk, sync_claim=self.token).update(
            sync_claim="", sync_claimed_until=None
        )


# Seconds between two counts of the gateways of a region the account has but dcportal does not manage.
UNMANAGED_LOOK_INTERVAL = 900


def sync_all(*, regions: list[str] | None = None) -> list[SyncResult]:
    """Sync every managed region of every account (or only `regions`, in the accounts that manage them);
    one region failing does not stop the others. A sync of every region also notes the regions each
    account has that are not managed (the dashboard names them)."""
    CloudAccount.objects.environment()
    results = []
    for account in CloudAccount.objects.order_by("pk"):
        wanted = [r for r in account.managed_regions if regions is None or r in regions]
        done = [sync_region(region=region, account=account) for region in wanted]
        if regions is None and any(result.ok for result in done):
            record_account_regions(account=account)
        results += done
    if any(result.links_created or result.links_updated or result.links_gone for result in results):
        refresh_statistics()  # a sync that wrote no link leaves the planner's figures as they are
    return results


def refresh_statistics() -> None:
    """Tell SQLite's query planner how the links now are (PostgreSQL's autovacuum keeps its own figures).
    Without them it guesses that few links are present and reads a search by walking every present link
    instead of starting from the search index's matches (at 100,000 links: 11 -> 3 ms a page, 12 -> 3 ms
    its count). The links table only: figures for the small tables (accounts, regions, gateways) make it
    start sorted pages from them and sort every link (a page by name, descending: 4 ms -> 1.8 s). About
    0.3 s at 100,000 links, once a full sync that wrote links."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {PeerLink._meta.db_table}")


def record_account_regions(*, account: CloudAccount | None = None, now: datetime | None = None) -> list[str]:
    """Note every region the account has (a project row each, nothing synced) and, for those not managed,
    how many global DC gateways they hold (looked at again after UNMANAGED_LOOK_INTERVAL); the regions.

    A failure is logged and leaves what was noted before: the regions' own syncs report the cloud's state.
    """
    account = account or CloudAccount.objects.environment()
    config = account.cloud_config()
    managed = account.managed_regions
    now = now or timezone.now()
    try:
        projects = cloud.list_projects(region=managed[0], config=config) if managed else []
    except cloud.CloudError as exc:
        logger.warning("the regions of account %s could not be listed: %s", account, exc)
        return []
    mine = CloudProject.objects.filter(account=account)
    known = set(mine.values_list("region", flat=True))
    CloudProject.objects.bulk_create(
        [
            CloudProject(account=account, region=p.name, project_id=p.id)
            for p in projects
            if p.name not in known
        ],
        ignore_conflicts=True,
    )
    due = mine.exclude(region__in=managed).filter(
        Q(unmanaged_looked_at__isnull=True)
        | Q(unmanaged_looked_at__lt=now - timedelta(seconds=UNMANAGED_LOOK_INTERVAL))
    )
    for project in due:
        try:
            count = sum(1 for _ in cloud.list_global_dc_gateways(region=project.region, config=config))
        except cloud.CloudError as exc:
            logger.info("gateways of unmanaged region %s not counted: %s", project.region, exc)
            count = None
        CloudProject.objects.filter(pk=project.pk).update(unmanaged_gateways=count, unmanaged_looked_at=now)
    return sorted(p.name for p in projects)


def recheck_pending() -> int:
    """Re-fetch the links of every gateway that has a link still pending; returns how many gateways.

    A region being synced meanwhile is left to that sync (its gateways are not counted).
    """
    pending = (
        PeerLink.objects.present()
        .pending()
        .values_list("gateway__project__account_id", "gateway__project__region", "gateway__cloud_id")
        .order_by()  # the links' own ordering would make every link's row distinct: one listing per link
        .distinct()
    )
    by_region: dict[tuple[int, str], list[str]] = {}
    for account_id, region, gateway_id in pending:
        by_region.setdefault((account_id, region), []).append(gateway_id)
    accounts = CloudAccount.objects.in_bulk({account_id for account_id, _ in by_region})
    checked = 0
    for (account_id, region), gateway_ids in by_region.items():
        account = accounts[account_id]
        if not sync_region(region=region, account=account, gateway_ids=gateway_ids).merged:
            checked += len(gateway_ids)
    return checked


def sync_region(
    *, region: str, account: CloudAccount | None = None, gateway_ids: list[str] | None = None
) -> SyncResult:
    """Fetch one region of an account (by default the first one) from the cloud and reconcile the cache.

    With `gateway_ids`, only those gateways' peer links are fetched (the quick re-check of pending links);
    gateways and routers are then left as they are.
    """
    account = account or CloudAccount.objects.environment()
    project, _ = CloudProject.objects.select_related("account").get_or_create(account=account, region=region)
    result = SyncResult(region=region, account=account.name)
    full = gateway_ids is None
    # A re-check is merged into the sync holding the region; a full sync (maybe someone's Refresh) waits.
    claim = _claim_region(project, wait=full)
    if claim is None and not full:
        result.merged = True
        return result
    if claim is None:
        logger.warning("sync of %s not run: another sync held the region for %gs", region, _claim_wait())
        result.ok = False
        result.error = f"Another sync of {region} was still running after {_claim_wait():g} s; not synced."
        return result
    try:
        with _collector_paused():
            return _sync_claimed(project, claim=claim, gateway_ids=gateway_ids, result=result)
    except _ClaimLost:
        logger.warning("sync of %s dropped: its claim ran out and another sync took over", region)
        result.ok = False
        result.error = f"Another sync of {region} took over: this one's claim ran out as it fetched."
        return result
    finally:
        claim.release()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a region is fetched and written. The region's snapshot is tens
    of thousands of objects without cycles (reference counting frees them), which each collection would
    walk again: a third of a re-sync's CPU at 20,000 links. Cycles made meanwhile are collected after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _claim_wait() -> float:
    """Seconds a full sync waits at most for another sync of its region to finish."""
    return settings.SYNC_LEASE


def _claim_region(project: CloudProject, *, wait: bool) -> _Claim | None:
    """Claim the region; `wait`ing until the holder is done or its lease ran out. None if not claimed."""
    claim = _Claim(project.pk)
    deadline = time.monotonic() + _claim_wait() + CLAIM_POLL
    while not claim.take():
        if not wait or time.monotonic() >= deadline:
            return None
        time.sleep(CLAIM_POLL)
    return claim


def _sync_claimed(
    project: CloudProject, *, claim: _Claim, gateway_ids: list[str] | None, result: SyncResult
) -> SyncResult:
    region = project.region
    # Rows written after this instant (a change being executed) are newer than what we fetch.
    fetched_at = timezone.now()
    try:
        snapshot = _fetch_region(
            region=region,
            config=project.account.cloud_config(),
            gateway_ids=gateway_ids,
            keep_alive=claim.renew,
        )
    except cloud.CloudError as exc:
        logger.warning("sync of %s failed: %s", region, exc)
        CloudProject.objects.filter(pk=project.pk).update(
            sync_error=str(exc),
            sync_problem=cloud_problem(exc),
            sync_failed_at=Coalesce("sync_failed_at", Value(timezone.now(), output_field=DateTimeField())),
        )
        result.ok = False
        result.error = str(exc)
        return result

    result.warnings = [f"{gid}: {err}" for gid, err in snapshot.failed_gateways.items()]
    result.problem = gateways_problem(list(snapshot.failed_gateways.values()))
    # A link the executor stored a moment ago can collide with one inserted here (PostgreSQL): write
    # again, then it is a cached row, newer than the fetch, and kept.
    for attempt in range(2):
        try:
            _write_region(
                project,
                claim=claim,
                snapshot=snapshot,
                full=gateway_ids is None,
                fetched_at=fetched_at,
                result=result,
            )
            break
        except IntegrityError:
            if attempt:
                raise
            logger.info("sync of %s met a link stored meanwhile; writing again", region)
    return result


def _fetch_region(
    *, region: str, config: cloud.CloudConfig, gateway_ids: list[str] | None, keep_alive: Callable[[], None]
) -> _RegionSnapshot:
    def listed(items: Iterable) -> list:
        # Items arrive a page at a time: renewing the claim here renews it between pages.
        kept = []
        for item in items:
            keep_alive()
            kept.append(item)
        return kept

    project_id = cloud.get_project_id(region=region, config=config)
    if gateway_ids is None:
        gateways = listed(cloud.list_global_dc_gateways(region=region, config=config))
        routers = listed(cloud.list_enterprise_routers(region=region, config=config))
        wanted = [g.id for g in gateways]
    else:
        gateways, routers, wanted = [], [], gateway_ids
    links_by_gateway: dict[str, list[cloud.PeerLink]] = {}
    failed: dict[str, str] = {}
    for gateway_id in wanted:
        try:
            links_by_gateway[gateway_id] = listed(
                cloud.list_peer_links(region=region, gateway_id=gateway_id, config=config)
            )
        except cloud.NotFound:
            links_by_gateway[gateway_id] = []
        except cloud.CloudError as exc:
            # Keep this gateway's cached links untouched; the others still sync.
            failed[gateway_id] = exc
    attachments_by_router: dict[str, list[cloud.ErAttachment]] = {}
    for router in routers:
        try:
            attachments_by_router[router.id] = listed(
                cloud.list_er_attachments(region=region, er_id=router.id, resource_type="gdgw", config=config)
            )
        except cloud.CloudError as exc:
            # What waits on this router stays as last seen; the links still sync.
            logger.warning("attachments of router %s in %s not listed: %s", router.id, region, exc)
    return _RegionSnapshot(project_id, gateways, routers, links_by_gateway, failed, attachments_by_router)


def _write_region(
    project: CloudProject,
    *,
    claim: _Claim,
    snapshot: _RegionSnapshot,
    full: bool,
    fetched_at: datetime,
    result: SyncResult,
) -> None:
    """Write a fetched region in one transaction, in the cache's lock order (see the module docstring)."""
    now = timezone.now()
    with transaction.atomic():
        locked = CloudProject.objects.select_for_update(no_key=True).get(pk=project.pk)
        claim.check(locked)
        region = {
            "sync_error": "; ".join(result.warnings),
            "sync_problem": result.problem,
            "sync_failed_at": now if result.warnings else None,
        }
        if full:
            region |= {"project_id": snapshot.project_id, "synced_at": now}
        # A re-check that meets no problem, after none, writes nothing here (pages draw the region's row).
        if any(getattr(locked, name) != value for name, value in region.items()):
            CloudProject.objects.filter(pk=project.pk).update(**region)
        if full:
            _write_routers(project=project, routers=snapshot.routers, now=now)
            _write_shared_attachments(project=project, listed=snapshot.attachments_by_router, now=now)
            gateways, links_by_gateway, last_looks = _write_gateways(
                project=project, snapshot=snapshot, now=now
            )
        else:
            links_by_gateway = snapshot.links_by_gateway
            gateways, last_looks = _stamp_gateways(
                project=project, links_by_gateway=links_by_gateway, now=now
            )
        _apply_links(
            gateways=gateways,
            last_looks=last_looks,
            links_by_gateway=links_by_gateway,
            now=now,
            fetched_at=fetched_at,
            result=result,
            account_id=project.account_id,
        )
    result.gateways = len(links_by_gateway)


def _lock_gateways(rows: QuerySet) -> dict[str, Gateway]:
    """Lock gateway rows in pk order; by cloud id. No key lock: a link may still be inserted under them."""
    return {row.cloud_id: row for row in rows.select_for_update(no_key=True).order_by("pk")}


def _last_looks(cached: dict[str, Gateway], links_by_gateway: dict[str, list]) -> dict[str, datetime | None]:
    """When each gateway's links were listed before this sync; None for a first look (the baseline, not
    drift)."""
    return {
        cloud_id: cached[cloud_id].links_synced_at if cloud_id in cached else None
        for cloud_id in links_by_gateway
    }


def _stamp_gateways(
    *, project: CloudProject, links_by_gateway: dict[str, list["cloud.PeerLink"]], now: datetime
) -> tuple[dict[str, Gateway], dict[str, datetime | None]]:
    """Lock the re-checked gateways and stamp links_synced_at; the rows by cloud id, and the last looks."""
    cached = _lock_gateways(Gateway.objects.filter(project=project, cloud_id__in=list(links_by_gateway)))
    Gateway.objects.filter(pk__in=[row.pk for row in cached.values()]).update(links_synced_at=now)
    return cached, _last_looks(cached, links_by_gateway)


def _write_routers(*, project: CloudProject, routers: list["cloud.EnterpriseRouter"], now: datetime) -> None:
    rows = [
        EnterpriseRouter(cloud_id=r.id, project=project, synced_at=now, gone_at=None, **router_values(r))
        for r in routers
    ]
    EnterpriseRouter.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["cloud_id"],
        update_fields=[*ROUTER_FIELDS, "project", "synced_at", "gone_at"],
    )
    seen = [r.id for r in routers]
    EnterpriseRouter.objects.filter(project=project, gone_at__isnull=True).exclude(cloud_id__in=seen).update(
        gone_at=now
    )


def _write_shared_attachments(
    *, project: CloudProject, listed: dict[str, list["cloud.ErAttachment"]], now: datetime
) -> None:
    """Keep the attachments that wait for the region's routers' account to accept them: a new one is
    noted (and its approvers told), a known one gets its state, one no longer listed is marked gone."""
    routers = dict(
        EnterpriseRouter.objects.filter(project=project, cloud_id__in=list(listed)).values_list(
            "cloud_id", "pk"
        )
    )
    known = {
        row.cloud_id: row
        for row in SharedAttachment.objects.select_for_update().filter(router_id__in=routers.values())
    }
    for router_id, attachments in listed.items():
        router = EnterpriseRouter(pk=routers[router_id], cloud_id=router_id, project=project)
        seen = set()
        for attachment in attachments:
            seen.add(attachment.id)
            row, started = store_shared_attachment(
                router=router, attachment=attachment, now=now, known=known.get(attachment.id)
            )
            if started:
                dispatch.notify_attachment("waiting", attachment_id=row.pk)
        mine = [row.pk for row in known.values() if row.router_id == router.pk and row.cloud_id not in seen]
        SharedAttachment.objects.filter(pk__in=mine, gone_at__isnull=True).update(gone_at=now)


def _write_gateways(
    *, project: CloudProject, snapshot: _RegionSnapshot, now: datetime
) -> tuple[dict[str, Gateway], dict[str, list["cloud.PeerLink"]], dict[str, datetime | None]]:
    """Lock the region's gateways, upsert what the cloud listed and mark the rest gone.

    Each gateway whose links were fetched is stamped links_synced_at with the rest of its row. Returns the
    rows by cloud id, the links of each gateway (none for a gone one) and the last looks.
    """
    cached = _lock_gateways(Gateway.objects.filter(project=project))
    seen = {g.id for g in snapshot.gateways}
    # A gateway gone from the cloud took its links with it.
    links_by_gateway = snapshot.links_by_gateway | {
        cloud_id: [] for cloud_id in cached if cloud_id not in seen
    }
    last_looks = _last_looks(cached, links_by_gateway)

    def links_synced_at(cloud_id: str) -> datetime | None:
        if cloud_id in links_by_gateway:
            return now
        return cached[cloud_id].links_synced_at if cloud_id in cached else None

    rows = [
        Gateway(
            cloud_id=g.id,
            project=project,
            synced_at=now,
            links_synced_at=links_synced_at(g.id),
            gone_at=None,
            **gateway_values(g),
        )
        for g in snapshot.gateways
    ]
    # Sets each row's pk, inserted or updated (RETURNING: PostgreSQL, SQLite 3.35+).
    Gateway.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["cloud_id"],
        update_fields=[*GATEWAY_FIELDS, "project", "synced_at", "links_synced_at", "gone_at"],
    )
    gone = {cloud_id: row for cloud_id, row in cached.items() if cloud_id not in seen}
    Gateway.objects.filter(pk__in=[row.pk for row in gone.values()]).update(
        gone_at=Coalesce(F("gone_at"), Value(now, output_field=DateTimeField())), links_synced_at=now
    )
    return {row.cloud_id: row for row in rows} | gone, links_by_gateway, last_looks


def _apply_links(
    *,
    gateways: dict[str, Gateway],
    last_looks: dict[str, datetime | None],
    links_by_gateway: dict[str, list["cloud.PeerLink"]],
    now: datetime,
    fetched_at: datetime,
    result: SyncResult,
    account_id: int,
) -> None:
    synced_gateway_pks = [gateways[gid].pk for gid in links_by_gateway if gid in gateways]
    seen_at = {gateways[gid].pk: last_looks[gid] for gid in links_by_gateway if gid in gateways}
    # Locked in pk order, read as plain tuples (see _CACHED): most rows match the cloud and need no model
    # instance. The database answers whether each is gone, or newer than the fetch (written after it began,
    # by a change of ours: the cache is the fresher one and is left as it is).
    cached = {
        row[1]: row
        for row in PeerLink.objects.filter(gateway_id__in=synced_gateway_pks)
        .select_for_update(no_key=True)
        .order_by("pk")
        .annotate(
            is_gone=Q(gone_at__isnull=False),
            is_newer=Q(synced_at__isnull=False, synced_at__gt=fetched_at),
        )
        .values_list(*_CACHED)
    }
    # Changes of ours that explain what the cloud shows: anything not finished, or finished lately.
    ours = list(
        ChangeRequest.objects.filter(gateway_id__in=synced_gateway_pks)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=now - EXPLAINS_FOR))
        .filter(state__in=lifecycle.MAY_HAVE_REACHED_CLOUD)
        .select_related("peer_link")
    )
    # Each create of ours explains one link at most: the one it recorded, or else the first seen.
    explaining: set[int] = set()
    known = set(cached)  # links cached before or made by a change of ours: originals, not duplicates
    to_create: list[tuple[Gateway, str, dict]] = []
    created_outside: list[tuple[str, dict]] = []
    to_update: list[PeerLink] = []
    transitions: list[StatusChange] = []
    drifts: list[Drift] = []
    audits: list[AuditEvent] = []
    seen: set[str] = set()

    differing: dict[int, dict] = {}  # cached rows the cloud shows otherwise: their new values, by pk
    for gateway_id, links in links_by_gateway.items():
        gateway = gateways.get(gateway_id)
        if gateway is None:
            continue
        for link in links:
            seen.add(link.id)
            values = link_values(link)
            known_row = cached.get(link.id)
            if known_row is None:
                to_create.append((gateway, link.id, values))
                if _explained_create(ours, gateway=gateway, link_id=link.id, values=values, used=explaining):
                    known.add(link.id)
                elif last_looks[gateway_id] is not None:
                    created_outside.append((link.id, values))
                continue
            pk, _, gone, newer, digest = known_row
            if newer or (not gone and digest == link_digest(values)):
                continue  # unchanged: its gateway's links_synced_at is its freshness stamp
            differing[pk] = values

    gone_pks = [
        pk
        for cloud_id, (pk, _, gone, newer, _) in cached.items()
        if cloud_id not in seen and not (gone or newer)
    ]
    rows = _rows_by_pk([*differing, *gone_pks])
    for pk, values in differing.items():
        row = rows[pk]
        before = {f: getattr(row, f) for f in LINK_FIELDS}
        drifted = {
            f: {"before": before[f], "after": values[f]}
            for f in DRIFT_FIELDS
            if before[f] != values[f] and not _explained_update(ours, row=row, values=values)
        }
        if drifted:
            drifts.append(Drift(peer_link=row, kind=Drift.Kind.CHANGED, detail=drifted))
            audits.append(_audit("peer_link.changed_outside", row, before=before, after=values, now=now))
        changed, transition = apply_link(row, values, now=now)
        if changed:
            to_update.append(row)
        if transition is not None:
            transitions.append(transition)
    changed_rows = len(to_update)

    gone = [rows[pk] for pk in gone_pks]
    for row in gone:
        set_gone(row, now=now, seen_at=seen_at[row.gateway_id])
        if not _explained_delete(ours, row=row):
            drifts.append(Drift(peer_link=row, kind=Drift.Kind.DELETED, detail={"name": row.name}))
            audits.append(_audit("peer_link.deleted_outside", row, before={"status": row.status}, now=now))
        to_update.append(row)

    if to_create:
        _insert_new_links(to_create, now=now)
        _record_first_statuses(gateway_pks=synced_gateway_pks, now=now)
    duplicates = _duplicates(links_by_gateway, gateways=gateways, ours=ours, known=known)
    if created_outside:
        ids = [cloud_id for cloud_id, _ in created_outside if cloud_id not in duplicates]
        new_rows = PeerLink.objects.in_bulk(ids, field_name="cloud_id")
        for cloud_id, values in created_outside:
            if cloud_id in duplicates:
                continue  # reported below, as what it is
            row = new_rows[cloud_id]
            drifts.append(Drift(peer_link=row, kind=Drift.Kind.CREATED, detail={"name": row.name}))
            audits.append(_audit("peer_link.created_outside", row, after=values, now=now))
    if duplicates:
        _report_duplicates(duplicates, drifts=drifts, audits=audits, now=now)
    # Only rows that changed are written (in pk order, as locked).
    if to_update:
        to_update.sort(key=lambda row: row.pk)
        fields = [*LINK_FIELDS, "cloud_digest", "synced_at", "gone_at"]
        PeerLink.objects.bulk_update(to_update, fields, batch_size=500)
    StatusChange.objects.bulk_create(transitions)
    Drift.objects.bulk_create(drifts)
    webhooks.publish_link_events(
        transitions=transitions, drifts=drifts, gateways=gateways.values(), account_id=account_id
    )
    for event in audits:
        event.account_id = account_id
    record_audits(audits)
    result.links_created = len(to_create)
    result.links_updated = changed_rows
    result.links_gone = len(gone)
    result.drifts = len(drifts)


# A cached link as the sync first reads it: enough to tell whether the cloud shows it otherwise.
_CACHED = ("pk", "cloud_id", "is_gone", "is_newer", "cloud_digest")


def _rows_by_pk(pks: list[int], *, batch: int = 500) -> dict[int, PeerLink]:
    """The cached links with these pks, as model instances (already locked by the caller), by pk."""
    rows: dict[int, PeerLink] = {}
    for start in range(0, len(pks), batch):
        rows |= PeerLink.objects.in_bulk(pks[start : start + batch])
    return rows


def _new_link_constants(now: datetime) -> dict:
    """What every new cached link starts with besides cloud_id, gateway and LINK_FIELDS: seen and synced
    now, and the model's defaults (as `PeerLink.objects.create` in mirror.store_link gives them)."""
    stamps = {"first_seen_at": now, "synced_at": now}
    given = {"cloud_id", "gateway", "cloud_digest", *LINK_FIELDS, *stamps}
    defaults = {
        f.name: f.get_default()
        for f in PeerLink._meta.concrete_fields
        if not f.primary_key and f.name not in given
    }
    return stamps | defaults


def _insert_new_links(new: list[tuple[Gateway, str, dict]], *, now: datetime) -> None:
    """Insert links seen for the first time as plain value tuples, in one command.

    bulk_create builds a model instance per row and prepares every value through its field: profiled, that
    was most of a first sync's time. Here only the cloud's two timestamps are adapted per row; the values
    every new row shares are prepared once.
    """
    meta = PeerLink._meta
    constants = _new_link_constants(now)
    stamps = ("cloud_created_at", "cloud_updated_at")  # the only per-row values needing adaptation
    plain = [name for name in LINK_FIELDS if name not in stamps]
    names = ["cloud_id", "gateway", "cloud_digest", *plain, *stamps, *constants]
    fields = [meta.get_field(name) for name in names]
    shared = tuple(meta.get_field(n).get_db_prep_save(v, connection) for n, v in constants.items())
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        (
            cloud_id,
            gateway.pk,
            link_digest(values),
            *(values[name] for name in plain),
            *(adapt(values[name]) for name in stamps),
            *shared,
        )
        for gateway, cloud_id, values in new
    ]
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams the rows in one command, formatted by the driver; an executemany would still
            # send every row as a statement of its own (measured: 3x slower at 5,000 links).
            # Past Django's cursor wrapper, so its error translation (IntegrityError) is asked for here.
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in params:
                    copy.write_row(row)
            data_version.moved(connection)  # past Django's cursor, so not seen by its watch
        else:
            # SQLite runs one prepared statement per row in C, with no parameter limit to split on.
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", params)


def _record_first_statuses(*, gateway_pks: list[int], now: datetime) -> None:
    """The first status of every link this sync inserted (the row mirror.first_status makes), written by
    the database in one statement."""
    quote = connection.ops.quote_name
    change, link = StatusChange._meta, PeerLink._meta
    into = ", ".join(
        quote(change.get_field(name).column)
        for name in ("peer_link", "from_status", "to_status", "reason", "observed_at")
    )
    pk, status, reason, first_seen, gateway = (
        quote(link.get_field(name).column) for name in ("id", "status", "reason", "first_seen_at", "gateway")
    )
    gateways = ", ".join(["%s"] * len(gateway_pks))
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"INSERT INTO {quote(change.db_table)} ({into}) "
        f"SELECT {pk}, '', {status}, {reason}, %s FROM {quote(link.db_table)} "
        f"WHERE {first_seen} = %s AND {gateway} IN ({gateways})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, stamp, *gateway_pks])


def _audit(
    action: str, row: PeerLink, *, before: dict | None = None, after: dict | None = None, now: datetime
) -> AuditEvent:
    # The account is set on the whole batch (_apply_links), not looked up per event.
    return audit_event(
        action=action, obj=row, actor_name="sync", before=before, after=after, at=now, account_id=None
    )


def _explained_create(
    ours: list[ChangeRequest], *, gateway: Gateway, link_id: str, values: dict, used: set[int]
) -> bool:
    """A create of ours made this link: the one it recorded, or (not recorded yet) the first one seen with
    its name and peer. A create explains one link only: a second link it would match is a duplicate."""
    for cr in ours:
        if not (
            cr.kind == ChangeRequest.Kind.CREATE
            and cr.gateway_id == gateway.pk
            and cr.payload.get("name") == values["name"]
            and cr.payload.get("peer_gateway_id") == values["peer_gateway_id"]
        ):
            continue
        recorded = cr.peer_link.cloud_id if cr.peer_link is not None else None
        if recorded == link_id or (recorded is None and cr.pk not in used):
            used.add(cr.pk)
            return True
    return False


def _duplicates(
    links_by_gateway: dict[str, list["cloud.PeerLink"]],
    *,
    gateways: dict[str, Gateway],
    ours: list[ChangeRequest],
    known: set[str],
) -> dict[str, tuple["cloud.PeerLink", "cloud.PeerLink", bool]]:
    """Links that repeat another link of their gateway to the same peer.

    {duplicate id: (duplicate, original, reported before)}. dcportal never makes two (the executor's
    pre-check refuses it); two exist only when something went wrong (an outside tool, or a create sent
    twice). The original is, in this order: not reported as a duplicate before (so the answer stays the
    same from one sync to the next), `known` (cached before, or made by a change of ours), the oldest.
    Not counted: a link one of our deletes is taking away (a delete-then-create is not a duplicate), and
    Cloud Connect's links, which Cloud Connect manages beside the gateway's own.
    """
    leaving = {cr.peer_link.cloud_id for cr in ours if cr.kind == ChangeRequest.Kind.DELETE and cr.peer_link}
    groups: list[list[cloud.PeerLink]] = []
    for gateway_id, links in links_by_gateway.items():
        if gateway_id not in gateways:
            continue
        by_peer: dict[str, list[cloud.PeerLink]] = {}
        for link in links:
            peer = link.peer_site.gateway_id if link.peer_site else None
            if peer and link.id not in leaving and str(link.create_owner or "") != "cc":
                by_peer.setdefault(peer, []).append(link)
        groups.extend(same for same in by_peer.values() if len(same) > 1)
    if not groups:
        return {}
    reported = set(
        Drift.objects.filter(
            kind=Drift.Kind.DUPLICATE, peer_link__cloud_id__in=[link.id for same in groups for link in same]
        ).values_list("peer_link__cloud_id", flat=True)
    )
    found: dict[str, tuple[cloud.PeerLink, cloud.PeerLink, bool]] = {}
    for same in groups:
        same.sort(
            key=lambda link: (
                link.id in reported,
                link.id not in known,
                link.created_time is None,
                link.created_time or 0,
                link.id,
            )
        )
        for duplicate in same[1:]:
            found[duplicate.id] = (duplicate, same[0], duplicate.id in reported)
    return found


def _report_duplicates(
    duplicates: dict[str, tuple["cloud.PeerLink", "cloud.PeerLink", bool]],
    *,
    drifts: list[Drift],
    audits: list[AuditEvent],
    now: datetime,
) -> None:
    """A drift (listed on the dashboard) and an audit event for each duplicate not reported before."""
    new = {cloud_id: pair for cloud_id, (*pair, reported) in duplicates.items() if not reported}
    rows = PeerLink.objects.in_bulk(list(new), field_name="cloud_id")
    for cloud_id, (link, original) in new.items():
        row = rows[cloud_id]
        detail = {
            "name": link.name or "",
            "peer": row.peer_gateway_id,
            "duplicate_of": original.id,
            "duplicate_of_name": original.name or "",
        }
        drifts.append(Drift(peer_link=row, kind=Drift.Kind.DUPLICATE, detail=detail))
        audits.append(_audit("peer_link.duplicate", row, after=detail, now=now))


def _explained_update(ours: list[ChangeRequest], *, row: PeerLink, values: dict) -> bool:
    return any(
        cr.kind == ChangeRequest.Kind.UPDATE
        and cr.peer_link_id == row.pk
        and all(cr.payload.get(f, values[f]) == values[f] for f in DRIFT_FIELDS)
        for cr in ours
    )


def _explained_delete(ours: list[ChangeRequest], *, row: PeerLink) -> bool:
    return any(cr.kind == ChangeRequest.Kind.DELETE and cr.peer_link_id == row.pk for cr in ours)

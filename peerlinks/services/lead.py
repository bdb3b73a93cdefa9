"""Read models for the team lead's view: what waits for a decision, how the links are doing, how long
provisioning takes, and whether the data can be trusted. Everything reads the cache in a fixed number
of queries, whatever the number of rows.

Provisioning time is counted two ways: the cloud's time, from the start of the request's execution to
the first time dcportal saw its link ACTIVE, and the total, from its submission (so with the wait for
approval and for the change window) to the same moment. Percentiles are computed in Python over at
most MAX_SAMPLES requests of the chosen period (one query fetches their times): SQLite has no percentile
function, and a period holds a few hundred creates at most, so the bound is a safety net rather than a
limit in practice.
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from peerlinks.models import ChangeRequest, CloudAccount, Gateway, PeerLink, first_with_total
from peerlinks.services.dashboard import RegionSync, region_syncs

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
LISTED = 50
MAX_SAMPLES = 5000
STATUSES = [(status.value, status.label) for status in PeerLink.Status]


@dataclass
class MatrixRow:
    """Link counts of one gateway or region, one per status in STATUSES, then any other status."""

    label: str
    counts: list[int]
    other: int = 0
    region: str = ""
    gateway_id: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts) + self.other

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(status, n) for (status, _), n in zip(STATUSES, self.counts, strict=True)]


@dataclass
class StatusMatrix:
    gateways: list[MatrixRow]
    regions: list[MatrixRow]
    totals: MatrixRow
    statuses: list[tuple[str, str]] = field(default_factory=lambda: list(STATUSES))

    @property
    def any_other(self) -> bool:
        return self.totals.other > 0

    def count(self, status: str) -> int:
        return dict(self.totals.cells).get(status, 0)


@dataclass
class LeadSummary:
    """The parts of the lead view that do not depend on the chosen period."""

    pending: list[ChangeRequest]
    pending_count: int
    matrix: StatusMatrix
    errors: list[PeerLink]
    error_count: int
    stale_regions: list[RegionSync]


@dataclass
class DailyTimes:
    """Provisioning times of the links that went ACTIVE on one day, in seconds: the total (p50, p95)
    and the cloud's time (None when no request of the day has a recorded execution start)."""

    day: date
    count: int
    p50: float
    p95: float
    cloud_p50: float | None = None
    cloud_p95: float | None = None


@dataclass
class Provisioning:
    """Provisioning times over a period: how many, the p50 and p95 in seconds of the total and of the
    cloud's time, and per day."""

    samples: int
    p50: float | None
    p95: float | None
    daily: list[DailyTimes]
    first_day: date
    days: int
    capped: bool = False
    cloud_p50: float | None = None
    cloud_p95: float | None = None


@dataclass
class PeriodStats:
    """The parts of the lead view over the chosen period: provisioning times and failed requests."""

    days: int
    since: datetime
    provisioning: Provisioning
    failed: list[ChangeRequest]
    failed_count: int
    periods: tuple[int, ...] = PERIODS


def _scoped(queryset: QuerySet, user: AbstractBaseUser, account: CloudAccount | None) -> QuerySet:
    """The rows `user` may read, of `account` only when one is chosen."""
    queryset = queryset.visible_to(user)
    return queryset if account is None else queryset.in_account(account)


def build_lead_summary(
    *, user: AbstractBaseUser, account: CloudAccount | None = None, now: datetime | None = None
) -> LeadSummary:
    """Pending approvals (oldest first, with age), links by status, links in error, stale regions: in the
    accounts `user` may read, or in `account` only."""
    now = now or timezone.now()
    pending_qs = _scoped(ChangeRequest.objects, user, account).filter(
        state=ChangeRequest.State.PENDING_APPROVAL
    )
    pending, pending_count = first_with_total(
        pending_qs.select_related("requested_by", "gateway").order_by("created_at", "id"), LISTED
    )
    for change in pending:
        change.age = now - change.created_at
    matrix = status_matrix(gateways=_scoped(Gateway.objects, user, account))
    stale = [row for row in region_syncs(now=now, user=user) if row.stale or row.sync_error]
    return LeadSummary(
        pending=pending,
        pending_count=pending_count,
        matrix=matrix,
        errors=list(
            _scoped(PeerLink.objects, user, account)
            .present()
            .filter(status=PeerLink.Status.ERROR)
            .for_list()
            .order_by("gateway__project__region", "gateway__name", "name")[:LISTED]
        ),
        error_count=matrix.count(PeerLink.Status.ERROR),
        stale_regions=[row for row in stale if account is None or row.account == account.name],
    )


def status_matrix(*, gateways: QuerySet[Gateway]) -> StatusMatrix:
    """Present links counted by status for each of `gateways` still present, and summed per region (one
    query)."""
    present = Q(peer_links__gone_at__isnull=True)
    counts = {
        f"n{i}": Count("peer_links", filter=present & Q(peer_links__status=status))
        for i, (status, _) in enumerate(STATUSES)
    }
    rows = (
        gateways.present()
        .values("cloud_id", "name", "project__region")
        .annotate(n_all=Count("peer_links", filter=present), **counts)
        .order_by("project__region", "name", "cloud_id")
    )
    gateways, regions = [], {}
    totals = MatrixRow(label="All", counts=[0] * len(STATUSES))
    for row in rows:
        numbers = [row[f"n{i}"] for i in range(len(STATUSES))]
        gateway = MatrixRow(
            label=row["name"],
            counts=numbers,
            other=row["n_all"] - sum(numbers),
            region=row["project__region"],
            gateway_id=row["cloud_id"],
        )
        gateways.append(gateway)
        region = regions.setdefault(
            gateway.region, MatrixRow(label=gateway.region, counts=[0] * len(STATUSES), region=gateway.region)
        )
        for total in (region, totals):
            total.counts = [a + b for a, b in zip(total.counts, numbers, strict=True)]
            total.other += gateway.other
    return StatusMatrix(gateways=gateways, regions=list(regions.values()), totals=totals)


def period_start(*, days: int, now: datetime) -> datetime:
    """Local midnight `days - 1` days ago: the period is today and the days before it."""
    first_day = timezone.localdate(now) - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first_day, time.min))


def build_period_stats(
    *, days: int, user: AbstractBaseUser, account: CloudAccount | None = None, now: datetime | None = None
) -> PeriodStats:
    """Provisioning times and failed requests over the last `days` days (one of PERIODS), in the accounts
    `user` may read, or in `account` only."""
    if days not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {days!r}")
    now = now or timezone.now()
    since = period_start(days=days, now=now)
    changes = _scoped(ChangeRequest.objects, user, account)
    failed = changes.filter(state=ChangeRequest.State.FAILED).filter(
        Q(finished_at__gte=since) | Q(finished_at__isnull=True, updated_at__gte=since)
    )
    failed_rows, failed_count = first_with_total(
        failed.select_related("requested_by", "gateway").order_by(
            F("finished_at").desc(nulls_last=True), "-updated_at", "-id"
        ),
        LISTED,
    )
    return PeriodStats(
        days=days,
        since=since,
        provisioning=provisioning_times(changes=changes, since=since, days=days),
        failed=failed_rows,
        failed_count=failed_count,
    )


def provisioning_times(*, changes: QuerySet[ChangeRequest], since: datetime, days: int) -> Provisioning:
    """Time from each create request's submission (of `changes`), and from its execution start, to its
    link's first ACTIVE, when that is in the period."""
    first_active = Min(
        "peer_link__status_changes__observed_at",
        filter=Q(
            peer_link__status_changes__to_status=PeerLink.Status.ACTIVE,
            peer_link__status_changes__observed_at__gte=F("created_at"),
        ),
    )
    pairs = list(
        changes.filter(kind=ChangeRequest.Kind.CREATE, peer_link__isnull=False)
        .annotate(active_at=first_active)
        .filter(active_at__gte=since)
        .order_by("-active_at", "-id")
        .values_list("created_at", "started_at", "active_at")[: MAX_SAMPLES + 1]
    )
    capped = len(pairs) > MAX_SAMPLES
    pairs = pairs[:MAX_SAMPLES]
    by_day: dict[date, list[float]] = defaultdict(list)
    cloud_by_day: dict[date, list[float]] = defaultdict(list)
    for created_at, started_at, active_at in pairs:
        day = timezone.localdate(active_at)
        by_day[day].append((active_at - created_at).total_seconds())
        if started_at is not None and started_at <= active_at:
            cloud_by_day[day].append((active_at - started_at).total_seconds())
    durations = [seconds for values in by_day.values() for seconds in values]
    cloud_durations = [seconds for values in cloud_by_day.values() for seconds in values]
    daily = [
        DailyTimes(
            day=day,
            count=len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            cloud_p50=_percentile_or_none(cloud_by_day.get(day), 50),
            cloud_p95=_percentile_or_none(cloud_by_day.get(day), 95),
        )
        for day, values in sorted(by_day.items())
    ]
    first_day = timezone.localdate(since)
    return Provisioning(
        samples=len(durations),
        p50=_percentile_or_none(durations, 50),
        p95=_percentile_or_none(durations, 95),
        daily=daily,
        first_day=first_day,
        days=days,
        capped=capped,
        cloud_p50=_percentile_or_none(cloud_durations, 50),
        cloud_p95=_percentile_or_none(cloud_durations, 95),
    )


def _percentile_or_none(values: Sequence[float] | None, p: float) -> float | None:
    return percentile(values, p) if values else None


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile by linear interpolation between closest ranks.

    The same definition as PostgreSQL's percentile_cont, numpy's default and Excel's PERCENTILE.INC:
    rank = (n - 1) * p / 100 in the sorted values, interpolated between its two neighbours.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

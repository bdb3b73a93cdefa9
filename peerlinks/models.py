"""What dcportal knows: a cache of what the cloud says, the changes people ask for, and the audit trail.

Cached rows mirror the cloud (filled by the sync service); rows that disappear from the cloud are kept
with `gone_at` set, for history, and hidden by default.
"""

import datetime
import hashlib
import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone


class CloudProject(models.Model):
    """One region's project in the account: where gateways and enterprise routers are listed from."""

    region = models.CharField(max_length=36, unique=True)
    project_id = models.CharField(max_length=36, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    sync_error = models.TextField(blank=True)
    sync_failed_at = models.DateTimeField(null=True, blank=True)
    # The region's sync claim (peerlinks.services.sync): who holds it ("" for nobody) and until when,
    # by the database's clock, unless renewed.
    sync_claim = models.CharField(max_length=32, blank=True)
    sync_claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["region"]

    def __str__(self) -> str:
        return self.region


def is_cloud_id(text: str) -> bool:
    """Whether `text` is a whole cloud ID (a UUID, as the cloud writes them)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


class CachedQuerySet(models.QuerySet):
    """Rows mirrored from the cloud; those gone from it are kept for history with `gone_at` set."""

    def present(self) -> "CachedQuerySet":
        return self.filter(gone_at__isnull=True)


class Gateway(models.Model):
    """A global DC gateway as last seen in the cloud."""

    class Status(models.TextChoices):
        DOWN = "DOWN"
        PENDING_UPDATE = "PENDING_UPDATE"
        ACTIVE = "ACTIVE"
        ERROR = "ERROR"

    cloud_id = models.CharField(max_length=36, unique=True)
    project = models.ForeignKey(CloudProject, on_delete=models.PROTECT, related_name="gateways")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    region_id = models.CharField(max_length=36, blank=True)
    bgp_asn = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20)
    admin_state_up = models.BooleanField(default=True)
    current_peer_link_count = models.IntegerField(default=0)
    available_peer_link_count = models.IntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    cloud_created_at = models.DateTimeField(null=True, blank=True)
    cloud_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    links_synced_at = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)

    objects = CachedQuerySet.as_manager()

    class Meta:
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
    def has_quota_left(self) -> bool:
        return self.available_peer_link_count > 0


class EnterpriseRouter(models.Model):
    """An enterprise router in one region: a possible peer of a gateway."""

    AVAILABLE = "available"

    cloud_id = models.CharField(max_length=36, unique=True)
    project = models.ForeignKey(CloudProject, on_delete=models.PROTECT, related_name="routers")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=32)
    asn = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)

    objects = CachedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "cloud_id"]

    def __str__(self) -> str:
        return self.name

    @property
    def region(self) -> str:
        return self.project.region

    @property
    def is_available(self) -> bool:
        return self.state == self.AVAILABLE


def peer_model(peer_type: str) -> type[models.Model]:
    """Where a peer of this type is cached: enterprise routers, or (for a gateway peer) gateways."""
    return EnterpriseRouter if peer_type == PeerLink.PeerType.ER else Gateway


class PeerLinkQuerySet(CachedQuerySet):
    def for_list(self) -> "PeerLinkQuerySet":
        return self.select_related("gateway", "gateway__project")

    def with_peer_name(self) -> "PeerLinkQuerySet":
        """Each link with its peer's cached name as `peer_name` ("" when the peer is not cached)."""

        def name_in(peer_type: str) -> Subquery:
            model = peer_model(peer_type)
            return Subquery(model.objects.filter(cloud_id=OuterRef("peer_gateway_id")).values("name")[:1])

        named = Case(
            *(When(peer_type=peer_type, then=name_in(peer_type)) for peer_type in PeerLink.PeerType.values),
            default=Value(""),
        )
        return self.annotate(peer_name=Coalesce(named, Value("")))

    def pending(self) -> "PeerLinkQuerySet":
        return self.filter(status__in=PeerLink.PENDING_STATUSES)

    def matching(self, text: str) -> "PeerLinkQuerySet":
        """Links whose name, ID, description, peer ID, owner, ticket or a label contains `text`; a whole ID
        is looked up as the link's or its peer's ID (indexed), not searched for in every column."""
        if is_cloud_id(text):
            return self.filter(Q(cloud_id=text.lower()) | Q(peer_gateway_id=text.lower()))
        return self.filter(
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


def _labels_text_contains(text: str, *, whole: bool = False) -> Q:
    """The labels' JSON text contains `text` (a whole label, quotes included, with `whole`). SQLite keeps
    that text as written, non-ASCII as \\u escapes; PostgreSQL prints it unescaped: both spellings are asked
    for, so the lookup means the same on both databases."""
    spellings = {json.dumps(text, ensure_ascii=escape) for escape in (True, False)}
    q = Q()
    for spelling in spellings:
        q |= Q(labels__icontains=spelling if whole else spelling[1:-1])
    return q


class PeerLink(models.Model):
    """A peer link between a global DC gateway and an enterprise router or another gateway."""

    class Status(models.TextChoices):
        PENDING_CREATE = "PENDING_CREATE", "Creating"
        PENDING_UPDATE = "PENDING_UPDATE", "Updating"
        ACTIVE = "ACTIVE", "Active"
        ERROR = "ERROR", "Error"

    class PeerType(models.TextChoices):
        ER = "ER", "Enterprise router"
        GDGW = "GDGW", "Global DC gateway"

    PENDING_STATUSES = (Status.PENDING_CREATE, Status.PENDING_UPDATE)
    # What a link no longer in the cloud reads as (its `status` keeps the last status the cloud gave).
    GONE = "GONE"

    cloud_id = models.CharField(max_length=36, unique=True)
    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="peer_links")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20)
    reason = models.CharField(max_length=255, blank=True)
    peer_type = models.CharField(max_length=8, choices=PeerType.choices)
    peer_gateway_id = models.CharField(max_length=36)
    peer_region = models.CharField(max_length=36)
    peer_project_id = models.CharField(max_length=36)
    peer_site_code = models.CharField(max_length=64, blank=True)
    link_id = models.CharField(max_length=64, blank=True)
    bandwidth_size = models.IntegerField(default=0)
    gcb_id = models.CharField(max_length=36, blank=True)
    create_owner = models.CharField(max_length=8, blank=True)
    instance_id = models.CharField(max_length=64, blank=True)
    tenant_id = models.CharField(max_length=36, blank=True)
    cloud_created_at = models.DateTimeField(null=True, blank=True)
    cloud_updated_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)
    # Local facts the cloud has no place for (peer links carry no cloud tags).
    owner_team = models.CharField(max_length=100, blank=True)
    ticket_ref = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=list, blank=True)

    objects = PeerLinkQuerySet.as_manager()

    class Meta:
        ordering = ["name", "cloud_id"]
        permissions = [("export_peerlink", "Can export peer links as CSV")]
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


class StatusChange(models.Model):
    """One observed transition of a peer link's status, with when dcportal saw it."""

    peer_link = models.ForeignKey(PeerLink, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=255, blank=True)
    observed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["observed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class Drift(models.Model):
    """A change made outside dcportal, noticed by a sync and listed until someone acknowledges it."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created outside dcportal"
        CHANGED = "changed", "Changed outside dcportal"
        DELETED = "deleted", "Deleted outside dcportal"
        DUPLICATE = "duplicate", "Duplicate link to the same peer"

    peer_link = models.ForeignKey(PeerLink, on_delete=models.CASCADE, related_name="drifts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.peer_link}"


class ChangeRequest(models.Model):
    """Someone's request to create, change or delete a peer link, from submission to its outcome."""

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Rename / describe"
        DELETE = "delete", "Delete"

    class State(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        EXECUTING = "executing", "Executing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    # Every state is one or the other; the transitions between them are in peerlinks.services.lifecycle.
    OPEN_STATES = (State.PENDING_APPROVAL, State.APPROVED, State.EXECUTING)
    TERMINAL_STATES = (State.DONE, State.FAILED, State.REJECTED, State.CANCELLED, State.EXPIRED)

    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING_APPROVAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="change_requests"
    )
    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="change_requests")
    peer_link = models.ForeignKey(
        PeerLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="change_requests"
    )
    # Exactly what will be sent: name/description/peer for create, name/description for update.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cloud_request_ids = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_msg = models.TextField(blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Policy as it stood at submission: approvals needed, and when an undecided request expires.
    approvals_required = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    # An approved request waits for the change window: not executed before this time.
    not_before = models.DateTimeField(null=True, blank=True)
    # The drift (a change made outside dcportal) this request undoes, when it was asked for as its revert.
    reverts_drift = models.ForeignKey(
        "Drift", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverts"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"])]
        permissions = [
            ("submit_change", "Can submit and cancel own change requests"),
            ("approve_change", "Can approve or reject others' change requests"),
            ("retry_change", "Can retry failed change requests"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.payload.get('name', '')}".strip()

    def get_absolute_url(self) -> str:
        return reverse("peerlinks:change_detail", args=[self.pk])

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES

    @property
    def payload_digest(self) -> str:
        """SHA-256 of the canonical JSON payload: what an approval is bound to."""
        canonical = json.dumps(self.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class AuditEvent(models.Model):
    """An append-only record of something done: who, what, to which object, before and after."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    cloud_request_id = models.CharField(max_length=64, blank=True)
    change_request = models.ForeignKey(
        ChangeRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.object_repr}"

    @property
    def object_url(self) -> str:
        """The page of what the event touched, or "" when it has none."""
        try:
            if self.object_type == "peer_link":
                return reverse("peerlinks:detail", args=[self.object_id])
            if self.object_type == "change_request":
                return reverse("peerlinks:change_detail", args=[int(self.object_id)])
        except (NoReverseMatch, ValueError):  # an id that is not a UUID or a number has no page
            pass
        return ""


class Approval(models.Model):
    """One approver's decision on a change request, bound to the exact payload they saw."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    change_request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    # SHA-256 of the canonical JSON payload decided on; an edited payload no longer matches.
    payload_digest = models.CharField(max_length=64)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "approver", "payload_digest"],
                name="one_decision_per_approver_payload",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver} on #{self.change_request_id}"


class Comment(models.Model):
    """A message in a change request's discussion thread."""

    change_request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} on #{self.change_request_id}"


class Notice(models.Model):
    """An in-app notification for one user, shown until read."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    change_request = models.ForeignKey(
        ChangeRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="notices"
    )
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message


# Defaults of the change window, as callables: Django's check for a fixed time default (fields.W161) would
# otherwise warn, and `check --fail-level WARNING` fail, whenever it runs within 10 s of 22:00 or 06:00.
def window_opens_at() -> datetime.time:
    return datetime.time(22, 0)


def window_closes_at() -> datetime.time:
    return datetime.time(6, 0)


class Policy(models.Model):
    """The approval policy, edited by admins: approvals per kind, expiry, and an optional change window.

    One row (pk 1); `Policy.current()` reads it.
    """

    approvals_create = models.PositiveSmallIntegerField(default=1)
    approvals_update = models.PositiveSmallIntegerField(default=1)
    approvals_delete = models.PositiveSmallIntegerField(default=1)
    expire_after = models.DurationField(default=datetime.timedelta(days=7))
    window_enabled = models.BooleanField(default=False)
    # ISO weekdays (1 = Monday) on which a window opens, comma-separated.
    window_weekdays = models.CharField(max_length=20, default="1,2,3,4,5")
    window_start = models.TimeField(default=window_opens_at)
    window_end = models.TimeField(default=window_closes_at)

    class Meta:
        verbose_name_plural = "policy"

    def __str__(self) -> str:
        return "Approval policy"

    @classmethod
    def current(cls) -> "Policy":
        return cls.objects.get_or_create(pk=1)[0]

    def approvals_for(self, kind: str) -> int:
        return {
            "create": self.approvals_create,
            "update": self.approvals_update,
            "delete": self.approvals_delete,
        }[kind]


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

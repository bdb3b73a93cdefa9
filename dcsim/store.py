"""The simulated accounts' state: global DC gateways, peer links, enterprise routers and their attachments.

One lock guards everything. Asynchronous work (a link turning ACTIVE, a deleted link disappearing) is not
run by a background thread: each record carries the time it is due, and every operation first settles what
has fallen due by the clock, in due-time order. The same clock therefore always gives the same history.
"""

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from dcsim.errors import ApiError, bad_parameter, not_found

PEER_LINK_STATUSES = ("PENDING_CREATE", "PENDING_UPDATE", "ACTIVE", "ERROR")
GATEWAY_STATUSES = ("DOWN", "PENDING_UPDATE", "ACTIVE", "ERROR")
ROUTER_STATES = ("pending", "available", "modifying", "deleting", "deleted", "failed", "freezed")
ATTACHMENT_STATES = (
    "pending",
    "available",
    "modifying",
    "deleting",
    "deleted",
    "failed",
    "pending_acceptance",
    "rejected",
    "initiating_request",
    "freezed",
)
QUOTA_TYPES = (
    "physicalConnect",
    "virtualInterface",
    "connectGateway",
    "geip",
    "globalDcGateway",
    "peerLinkPerGdgw",
)
BUSY = "resource is busy"
NEVER = math.inf  # a due time that never comes


def iso_time(epoch: float) -> str:
    """UTC with milliseconds and a literal Z: ``2025-01-01T00:00:05.000Z``."""
    millis = int(round(epoch * 1000))
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def new_id() -> str:
    """A fresh lowercase UUIDv4."""
    return str(uuid.uuid4())


@dataclass
class SimConfig:
    """Timings and limits that can change at runtime."""

    transition_delay: float = 3.0
    delete_delay: float | None = None  # None: the same as transition_delay
    peer_link_quota: int = 3

    @property
    def effective_delete_delay(self) -> float:
        return self.transition_delay if self.delete_delay is None else self.delete_delay

    def as_dict(self) -> dict:
        return {
            "transition_delay": self.transition_delay,
            "delete_delay": self.effective_delete_delay,
            "peer_link_quota": self.peer_link_quota,
        }


@dataclass
class Gateway:
    id: str
    project_id: str
    name: str
    created_at: float
    description: str = ""
    bgp_asn: int = 64512
    region_id: str | None = None
    status: str = "ACTIVE"
    reason: str | None = None
    enterprise_project_id: str = "0"
    global_center_network_id: str | None = None
    location_name: str | None = None
    locales: dict | None = None
    tags: list = field(default_factory=list)
    admin_state_up: bool = True
    address_family: str = "ipv4"
    updated_at: float | None = None
    quota: int | None = None  # None: the configured default peer_link_quota
    activate_at: float | None = None


@dataclass
class PeerLink:
    id: str
    project_id: str
    gateway_id: str
    name: str
    peer_gateway_id: str
    peer_project_id: str
    peer_region_id: str
    peer_type: str
    created_at: float
    description: str | None = None
    status: str = "PENDING_CREATE"
    reason: str | None = None
    updated_at: float | None = None
    create_owner: str | None = None
    instance_id: str | None = None
    bandwidth_size: int = 0
    gcb_id: str | None = None
    link_id: str | None = None
    due_at: float | None = None  # when a PENDING_* status resolves
    settle_to: str = "ACTIVE"  # the status a PENDING_UPDATE returns to
    fail_reason: str | None = None  # decided at create time by fault injection
    gone_at: float | None = None  # set by DELETE: the link stays visible until then


@dataclass
class Router:
    id: str
    project_id: str
    region_id: str
    name: str
    created_at: float
    state: str = "available"
    asn: int = 64513
    description: str = ""
    enterprise_project_id: str = "0"
    updated_at: float | None = None
    propagation_table_id: str = field(default_factory=new_id)
    association_table_id: str = field(default_factory=new_id)
    auto_accept_shared_attachments: bool = False


@dataclass
class Attachment:
    id: str
    er_id: str
    project_id: str
    name: str
    resource_id: str
    resource_type: str
    resource_project_id: str
    created_at: float
    route_table_id: str
    state: str = "available"
    description: str = ""
    updated_at: float | None = None


class Store:
    """Thread-safe in-memory state of the simulated accounts (each record carries its project)."""

    def __init__(
        self,
        *,
        projects: dict[str, str],
        config: SimConfig,
        owners: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        fail_activation: Callable[[], bool] = lambda: False,
    ) -> None:
        self.projects = projects  # project_id -> region
        self.owners = owners or {}  # project_id -> account name
        self.config = config
        self.clock = clock
        self.fail_activation = fail_activation
        self._lock = threading.Lock()
        self.gateways: dict[str, Gateway] = {}
        self.peer_links: dict[str, PeerLink] = {}
        self.routers: dict[str, Router] = {}
        self.attachments: dict[str, Attachment] = {}

    def clear(self) -> None:
        """Forget every resource."""
        with self._lock:
            self.gateways.clear()
            self.peer_links.clear()
            self.routers.clear()
            self.attachments.clear()

    def insert(self, *records: Gateway | PeerLink | Router | Attachment) -> None:
        """Add ready-made records (seeding and control endpoints)."""
        tables = {
            Gateway: self.gateways,
            PeerLink: self.peer_links,
            Router: self.routers,
            Attachment: self.attachments,
        }
        with self._lock:
            for record in records:
                tables[type(record)][record.id] = record

    # Lifecycle

    def _settle(self) -> float:
        """Apply every transition that has fallen due, oldest first; return the current time."""
        now = self.clock()
        due: list[tuple[float, int, str, str]] = []
        for gateway in self.gateways.values():
            if gateway.activate_at is not None and gateway.activate_at <= now:
                due.append((gateway.activate_at, 0, "gateway", gateway.id))
        for link in self.peer_links.values():
            if link.due_at is not None and link.due_at <= now:
                due.append((link.due_at, 1, "transition", link.id))
            if link.gone_at is not None and link.gone_at <= now:
                due.append((link.gone_at, 2, "gone", link.id))
        for when, _, kind, record_id in sorted(due):
            if kind == "gateway":
                gateway = self.gateways[record_id]
                gateway.activate_at = None
                gateway.status = "ACTIVE"
                gateway.region_id = gateway.region_id or self.projects.get(gateway.project_id)
                gateway.updated_at = when
            elif kind == "transition" and record_id in self.peer_links:
                self._resolve_pending(self.peer_links[record_id], when)
            elif kind == "gone" and record_id in self.peer_links:
                self._remove_link(self.peer_links[record_id])
        return now

    def _resolve_pending(self, link: PeerLink, when: float) -> None:
        link.due_at = None
        link.updated_at = when
        if link.status == "PENDING_UPDATE":
            link.status = link.settle_to
            return
        link.create_owner = link.create_owner or "dc"
        reason = link.fail_reason or self._activation_problem(link)
        if reason:
            link.status, link.reason = "ERROR", reason
            return
        if link.peer_type == "ER":
            router = self.routers[link.peer_gateway_id]
            gateway = self.gateways.get(link.gateway_id)
            shared = self.owners.get(router.project_id) != self.owners.get(link.project_id)
            attachment = Attachment(
                id=new_id(),
                er_id=router.id,
                project_id=router.project_id,
                name=f"gdgw-{gateway.name if gateway else link.gateway_id[:8]}-{link.name}"[:64],
                resource_id=link.gateway_id,
                resource_type="gdgw",
                resource_project_id=link.project_id,
                created_at=when,
                updated_at=when,
                route_table_id=router.association_table_id,
                description=f"Created for peer link {link.id}",
            )
            self.attachments[attachment.id] = attachment
            link.link_id = attachment.id
            if shared and not router.auto_accept_shared_attachments:
                # The router's account must accept it: the link stays PENDING_CREATE until then.
                attachment.state = "pending_acceptance"
                return
        else:
            # The peer GDGW's own peer-link ID is not modelled: a fresh UUID stands in for it.
            link.link_id = new_id()
        link.status, link.reason = "ACTIVE", None

    def _activation_problem(self, link: PeerLink) -> str | None:
        gateway = self.gateways.get(link.gateway_id)
        if gateway is None or gateway.status != "ACTIVE":
            state = gateway.status if gateway else "deleted"
            return f"global DC gateway {link.gateway_id} is {state}, expected ACTIVE"
        if link.peer_type == "ER":
            router = self.routers.get(link.peer_gateway_id)
            if router is None:
                return f"enterprise router {link.peer_gateway_id} no longer exists"
            if router.state != "available":
                return f"enterprise router {router.name} ({router.id}) is {router.state}, expected available"
            return None
        peer = self.gateways.get(link.peer_gateway_id)
        if peer is None or peer.status != "ACTIVE":
            state = peer.status if peer else "deleted"
            return f"peer global DC gateway {link.peer_gateway_id} is {state}, expected ACTIVE"
        return None

    def _awaiting_acceptance(self, link: PeerLink) -> bool:
        """The link waits for another account to accept its attachment (it may be withdrawn meanwhile)."""
        attachment = self.attachments.get(link.link_id or "")
        return attachment is not None and attachment.state == "pending_acceptance"

    def _remove_link(self, link: PeerLink) -> None:
        del self.peer_links[link.id]
        if link.peer_type == "ER" and link.link_id:
            self.attachments.pop(link.link_id, None)

    # Wire shapes

    def _quota_of(self, gateway: Gateway) -> int:
        return self.config.peer_link_quota if gateway.quota is None else gateway.quota

    def _link_count(self, gateway_id: str) -> int:
        return sum(1 for link in self.peer_links.values() if link.gateway_id == gateway_id)

    def _gateway_wire(self, gateway: Gateway, *, for_create: bool = False) -> dict:
        current = self._link_count(gateway.id)
        wire = {
            "id": gateway.id,
            "tenant_id": gateway.project_id,
            "name": gateway.name,
            "description": gateway.description,
            "reason": gateway.reason,
            "enterprise_project_id": gateway.enterprise_project_id,
            "global_center_network_id": gateway.global_center_network_id,
            "bgp_asn": gateway.bgp_asn,
            "region_id": gateway.region_id,
            "location_name": gateway.location_name,
            "locales": dict(gateway.locales) if gateway.locales else None,
            "current_peer_link_count": current,
            "available_peer_link_count": max(0, self._quota_of(gateway) - current),
            "tags": [dict(tag) for tag in gateway.tags],
            "admin_state_up": gateway.admin_state_up,
            "status": gateway.status,
            "created_time": iso_time(gateway.created_at),
            "updated_time": iso_time(gateway.updated_at) if gateway.updated_at is not None else None,
            "address_family": gateway.address_family,
        }
        if for_create:
            for key in ("reason", "locales", "updated_time"):
                del wire[key]
            wire["current_peer_link_count"] = None
        return wire

    @staticmethod
    def _link_wire(link: PeerLink, *, shape: str = "entry") -> dict:
        wire = {
            "id": link.id,
            "name": link.name,
            "tenant_id": link.project_id,
            "description": link.description,
            "status": link.status,
            "reason": link.reason,
            "created_time": iso_time(link.created_at),
            "updated_time": iso_time(link.updated_at) if link.updated_at is not None else None,
            "global_dc_gateway_id": link.gateway_id,
            "bandwidth_info": {"bandwidth_size": link.bandwidth_size, "gcb_id": link.gcb_id},
            "peer_site": {
                "gateway_id": link.peer_gateway_id,
                "link_id": link.link_id,
                "region_id": link.peer_region_id,
                "site_code": link.peer_region_id,
                "project_id": link.peer_project_id,
                "type": link.peer_type,
            },
            "create_owner": link.create_owner,
            "instance_id": link.instance_id,
        }
        if shape == "create":
            del wire["create_owner"], wire["updated_time"]
        elif shape == "update":
            del wire["create_owner"], wire["instance_id"]
        return wire

    @staticmethod
    def _router_wire(router: Router) -> dict:
        return {
            "id": router.id,
            "name": router.name,
            "description": router.description,
            "state": router.state,
            "tags": [],
            "charge_mode": "postPaid",
            "created_at": iso_time(router.created_at),
            "updated_at": iso_time(router.updated_at if router.updated_at is not None else router.created_at),
            "enterprise_project_id": router.enterprise_project_id,
            "project_id": router.project_id,
            "asn": router.asn,
            "enable_default_propagation": True,
            "enable_default_association": True,
            "default_propagation_route_table_id": router.propagation_table_id,
            "default_association_route_table_id": router.association_table_id,
            "availability_zone_ids": [f"{router.region_id}a", f"{router.region_id}b"],
            "auto_accept_shared_attachments": router.auto_accept_shared_attachments,
        }

    @staticmethod
    def _attachment_wire(attachment: Attachment, *, detailed: bool = True) -> dict:
        wire = {
            "id": attachment.id,
            "name": attachment.name,
            "description": attachment.description,
            "state": attachment.state,
            "created_at": iso_time(attachment.created_at),
            "updated_at": iso_time(
                attachment.updated_at if attachment.updated_at is not None else attachment.created_at
            ),
            "tags": [],
            "project_id": attachment.project_id,
            "er_id": attachment.er_id,
            "resource_id": attachment.resource_id,
            "resource_type": attachment.resource_type,
            "resource_project_id": attachment.resource_project_id,
            "associated": True,
            "route_table_id": attachment.route_table_id,
        }
        if not detailed:
            for key in ("er_id", "associated", "route_table_id"):
                del wire[key]
        return wire

    # Global DC gateways

    def _gateway(self, project_id: str, gateway_id: str) -> Gateway:
        gateway = self.gateways.get(gateway_id.lower())
        if gateway is None or gateway.project_id != project_id:
            raise not_found(f"global_dc_gateway {gateway_id} not found")
        return gateway

    def list_gateways(self, project_id: str) -> list[dict]:
        with self._lock:
            self._settle()
            return [self._gateway_wire(g) for g in self.gateways.values() if g.project_id == project_id]

    def show_gateway(self, project_id: str, gateway_id: str) -> dict:
        with self._lock:
            self._settle()
            return self._gateway_wire(self._gateway(project_id, gateway_id))

    def create_gateway(self, project_id: str, **values: object) -> dict:
        """A new gateway starts DOWN with no region, and becomes ACTIVE in its project's region later."""
        with self._lock:
            now = self._settle()
            gateway = Gateway(
                id=new_id(),
                project_id=project_id,
                created_at=now,
                status="DOWN",
                activate_at=now + self.config.transition_delay,
                **values,
            )
            self.gateways[gateway.id] = gateway
            return self._gateway_wire(gateway, for_create=True)

    def update_gateway(self, project_id: str, gateway_id: str, changes: dict) -> dict:
        with self._lock:
            now = self._settle()
            gateway = self._gateway(project_id, gateway_id)
            for key, value in changes.items():
                setattr(gateway, key, value)
            gateway.updated_at = now
            return self._gateway_wire(gateway)

    def delete_gateway(self, project_id: str, gateway_id: str) -> None:
        with self._lock:
            self._settle()
            gateway = self._gateway(project_id, gateway_id)
            if self._link_count(gateway.id):
                raise bad_parameter("global DC gateway still has peer links")
            del self.gateways[gateway.id]

    # Peer links

    def _peer_link(self, project_id: str, gateway_id: str, link_id: str) -> PeerLink:
        self._gateway(project_id, gateway_id)
        link = self.peer_links.get(link_id.lower())
        if link is None or link.gateway_id != gateway_id.lower():
            raise not_found(f"peer_link {link_id} not found")
        return link

    def list_peer_links(self, project_id: str, gateway_id: str) -> list[dict]:
        with self._lock:
            self._settle()
            gateway = self._gateway(project_id, gateway_id)
            return [
                self._link_wire(link) for link in self.peer_links.values() if link.gateway_id == gateway.id
            ]

    def show_peer_link(self, project_id: str, gateway_id: str, link_id: str) -> dict:
        with self._lock:
            self._settle()
            return self._link_wire(self._peer_link(project_id, gateway_id, link_id))

    def _peer_target_type(self, gateway_id: str, project_id: str, region_id: str) -> str:
        router = self.routers.get(gateway_id)
        if router is not None and router.project_id == project_id and router.region_id == region_id:
            return "ER"
        peer = self.gateways.get(gateway_id)
        if peer is not None and peer.project_id == project_id:
            return "GDGW"
        raise not_found(
            f"peer_site {gateway_id} not found in project {project_id} region {region_id}", status=400
        )

    def create_peer_link(
        self,
        project_id: str,
        gateway_id: str,
        *,
        name: str,
        description: str | None,
        peer_gateway_id: str,
        peer_project_id: str,
        peer_region_id: str,
    ) -> dict:
        with self._lock:
            now = self._settle()
            gateway = self._gateway(project_id, gateway_id)
            peer_gateway_id = peer_gateway_id.lower()
            peer_type = self._peer_target_type(peer_gateway_id, peer_project_id, peer_region_id)
            if self._link_count(gateway.id) >= self._quota_of(gateway):
                raise ApiError(400, "DC.0001", "peer link quota exceeded")
            link = PeerLink(
                id=new_id(),
                project_id=project_id,
                gateway_id=gateway.id,
                name=name,
                description=description,
                peer_gateway_id=peer_gateway_id,
                peer_project_id=peer_project_id,
                peer_region_id=peer_region_id,
                peer_type=peer_type,
                created_at=now,
                due_at=now + self.config.transition_delay,
            )
            if self.fail_activation():
                link.fail_reason = (
                    "simulated failure: the peer link could not be provisioned (fault injection)"
                )
            self.peer_links[link.id] = link
            return self._link_wire(link, shape="create")

    def update_peer_link(self, project_id: str, gateway_id: str, link_id: str, changes: dict) -> dict:
        """Rename or re-describe a link; it passes through PENDING_UPDATE and returns to its status."""
        with self._lock:
            now = self._settle()
            link = self._peer_link(project_id, gateway_id, link_id)
            if link.status.startswith("PENDING_") or link.gone_at is not None:
                raise ApiError(409, "DC.0001", BUSY)
            changed = {key: value for key, value in changes.items() if getattr(link, key) != value}
            if changed:
                for key, value in changed.items():
                    setattr(link, key, value)
                link.updated_at = now
                delay = self.config.transition_delay
                if delay > 0:
                    link.settle_to, link.status, link.due_at = link.status, "PENDING_UPDATE", now + delay
            return self._link_wire(link, shape="update")

    def delete_peer_link(self, project_id: str, gateway_id: str, link_id: str) -> None:
        """Schedule removal; the link stays visible, status unchanged, for the delete delay."""
        with self._lock:
            now = self._settle()
            link = self._peer_link(project_id, gateway_id, link_id)
            if link.gone_at is not None:
                return
            if link.status.startswith("PENDING_") and not self._awaiting_acceptance(link):
                raise ApiError(409, "DC.0001", BUSY)
            delay = self.config.effective_delete_delay
            if delay <= 0:
                self._remove_link(link)
            else:
                link.gone_at = now + delay

    # Enterprise routers

    def list_routers(self, project_id: str) -> list[dict]:
        with self._lock:
            self._settle()
            return [self._router_wire(r) for r in self.routers.values() if r.project_id == project_id]

    def _router(self, project_id: str, router_id: str) -> Router:
        router = self.routers.get(router_id.lower())
        if router is None or router.project_id != project_id:
            raise not_found(f"enterprise router {router_id} not found", code="ER.0002")
        return router

    def show_router(self, project_id: str, router_id: str) -> dict:
        with self._lock:
            self._settle()
            return self._router_wire(self._router(project_id, router_id))

    def router_ids_attached_to(self, resource_ids: list[str]) -> set[str]:
        with self._lock:
            self._settle()
            return {a.er_id for a in self.attachments.values() if a.resource_id in resource_ids}

    def list_attachments(self, project_id: str, router_id: str) -> list[dict]:
        with self._lock:
            self._settle()
            router = self._router(project_id, router_id)
            return [self._attachment_wire(a) for a in self.attachments.values() if a.er_id == router.id]

    def show_attachment(self, project_id: str, router_id: str, attachment_id: str) -> dict:
        with self._lock:
            self._settle()
            router = self._router(project_id, router_id)
            attachment = self.attachments.get(attachment_id.lower())
            if attachment is None or attachment.er_id != router.id:
                raise not_found(f"attachment {attachment_id} not found", code="ER.0002")
            return self._attachment_wire(attachment, detailed=False)

    def _decide_attachment(self, project_id: str, router_id: str, attachment_id: str, accept: bool) -> dict:
        """The router's account accepts or rejects a shared attachment waiting for it; the peer link that
        asked for it goes on to ACTIVE, or to ERROR with the reason."""
        with self._lock:
            now = self._settle()
            router = self._router(project_id, router_id)
            attachment = self.attachments.get(attachment_id.lower())
            if attachment is None or attachment.er_id != router.id:
                raise not_found(f"attachment {attachment_id} not found", code="ER.0002")
            if attachment.state != "pending_acceptance":
                problem = f"attachment {attachment.id} is {attachment.state}, expected pending_acceptance"
                raise ApiError(409, "ER.0003", problem)
            attachment.state, attachment.updated_at = ("available" if accept else "rejected"), now
            for link in self.peer_links.values():
                if link.link_id == attachment.id and link.status == "PENDING_CREATE":
                    link.updated_at = now
                    if accept:
                        link.status, link.reason = "ACTIVE", None
                    else:
                        link.status = "ERROR"
                        owner = f"the owner of enterprise router {router.name} ({router.id})"
                        link.reason = f"{owner} rejected the attachment"
            return self._attachment_wire(attachment, detailed=False)

    def accept_attachment(self, project_id: str, router_id: str, attachment_id: str) -> dict:
        return self._decide_attachment(project_id, router_id, attachment_id, accept=True)

    def reject_attachment(self, project_id: str, router_id: str, attachment_id: str) -> dict:
        return self._decide_attachment(project_id, router_id, attachment_id, accept=False)

    # Quotas

    def quotas(self, project_id: str) -> list[dict]:
        with self._lock:
            self._settle()
            gateways = [g for g in self.gateways.values() if g.project_id == project_id]
            busiest = max((self._link_count(g.id) for g in gateways), default=0)
            used = {"globalDcGateway": len(gateways), "peerLinkPerGdgw": busiest}
            limits = {
                "physicalConnect": 10,
                "virtualInterface": 50,
                "connectGateway": 10,
                "geip": 10,
                "globalDcGateway": -1,
                "peerLinkPerGdgw": self.config.peer_link_quota,
            }
            return [
                {"type": kind, "quota": limits[kind], "used": used.get(kind, 0), "unit": "count"}
                for kind in QUOTA_TYPES
            ]

    # Control (changes made outside the APIs)

    def gateway_wire(self, gateway_id: str) -> dict:
        with self._lock:
            self._settle()
            gateway = self.gateways.get(gateway_id)
            if gateway is None:
                raise not_found(f"global_dc_gateway {gateway_id} not found", code="DCSIM.0002")
            return self._gateway_wire(gateway)

    def router_wire(self, router_id: str) -> dict:
        with self._lock:
            self._settle()
            router = self.routers.get(router_id)
            if router is None:
                raise not_found(f"enterprise router {router_id} not found", code="DCSIM.0002")
            return self._router_wire(router) | {"region_id": router.region_id}

    def patch_gateway(self, gateway_id: str, changes: dict) -> dict:
        with self._lock:
            now = self._settle()
            gateway = self.gateways.get(gateway_id)
            if gateway is None:
                raise not_found(f"global_dc_gateway {gateway_id} not found", code="DCSIM.0002")
            for key, value in changes.items():
                setattr(gateway, key, value)
            if "status" in changes:
                gateway.activate_at = None
            gateway.updated_at = now
            return self._gateway_wire(gateway)

    def patch_router(self, router_id: str, changes: dict) -> dict:
        with self._lock:
            now = self._settle()
            router = self.routers.get(router_id)
            if router is None:
                raise not_found(f"enterprise router {router_id} not found", code="DCSIM.0002")
            for key, value in changes.items():
                setattr(router, key, value)
            router.updated_at = now
            return self._router_wire(router) | {"region_id": router.region_id}

    def force_peer_link(self, link_id: str, changes: dict) -> dict:
        """Overwrite a link as if changed outside the portal; a forced status cancels pending work."""
        with self._lock:
            now = self._settle()
            link = self.peer_links.get(link_id)
            if link is None:
                raise not_found(f"peer_link {link_id} not found", code="DCSIM.0002")
            for key, value in changes.items():
                setattr(link, key, value)
            if "status" in changes:
                link.due_at = None
                if changes["status"] != "ERROR" and "reason" not in changes:
                    link.reason = None
                if changes["status"] != "PENDING_CREATE":
                    link.create_owner = link.create_owner or "dc"
            link.updated_at = now
            return self._link_wire(link)

    def counts(self) -> dict:
        with self._lock:
            self._settle()
            by_status: dict[str, int] = {}
            for link in self.peer_links.values():
                by_status[link.status] = by_status.get(link.status, 0) + 1
            return {
                "global_dc_gateways": len(self.gateways),
                "peer_links": len(self.peer_links),
                "peer_links_by_status": by_status,
                "peer_links_being_deleted": sum(1 for link in self.peer_links.values() if link.gone_at),
                "enterprise_routers": len(self.routers),
                "attachments": len(self.attachments),
            }

"""Starting states: ``empty`` (just the accounts and their projects) and ``demo`` (a small, realistic estate
in the demo account, and a gateway and a router in team-b)."""

import hashlib
import uuid

from dcsim import TEAM_B_DOMAIN, project_id_for
from dcsim.store import Attachment, Gateway, PeerLink, Router, Store

SEEDS = ("empty", "demo")
BASE_TIME = 1735689600.0  # 2025-01-01T00:00:00Z; demo timestamps are fixed offsets from it
DAY = 86400.0
DEMO_PENDING_SECONDS = 600.0  # the demo's PENDING_CREATE link settles ten minutes after the seed is loaded


def demo_id(name: str) -> str:
    """A fixed, UUIDv4-shaped ID for a demo record."""
    return str(uuid.UUID(bytes=hashlib.sha256(f"dcsim-demo:{name}".encode()).digest()[:16], version=4))


def load(store: Store, seed: str, *, now: float) -> None:
    """Put a seed's records into an (empty) store."""
    if seed == "demo":
        _load_demo(store, now)
    elif seed != "empty":
        raise ValueError(f"unknown seed {seed!r}")


def _gateway(
    key: str, region: str, name: str, asn: int, day: float, account: str | None = None, **extra: object
) -> Gateway:
    locations = {
        "cn-north-4": ("Beijing4", "CN North-Beijing4", "华北-北京四"),
        "cn-east-3": ("Shanghai1", "CN East-Shanghai1", "华东-上海一"),
        "ap-southeast-1": ("Hong Kong", "AP-Hong Kong", "中国-香港"),
        "cn-south-1": ("Guangzhou", "CN South-Guangzhou", "华南-广州"),
    }
    location, en_us, zh_cn = locations[region]
    return Gateway(
        id=demo_id(key),
        project_id=project_id_for(region, account) if account else project_id_for(region),
        name=name,
        created_at=BASE_TIME + day * DAY,
        updated_at=BASE_TIME + day * DAY + 60,
        bgp_asn=asn,
        region_id=region,
        location_name=location,
        locales={"en_us": en_us, "zh_cn": zh_cn},
        **extra,
    )


def _router(
    key: str, region: str, name: str, asn: int, state: str, day: float, account: str | None = None
) -> Router:
    return Router(
        id=demo_id(key),
        project_id=project_id_for(region, account) if account else project_id_for(region),
        region_id=region,
        name=name,
        created_at=BASE_TIME + day * DAY,
        updated_at=BASE_TIME + day * DAY + 120,
        state=state,
        asn=asn,
        description=f"{name} ({region})",
        propagation_table_id=demo_id(f"{key}:propagation"),
        association_table_id=demo_id(f"{key}:association"),
    )


def _load_demo(store: Store, now: float) -> None:
    beijing = _gateway("gdgw:beijing-core", "cn-north-4", "gdgw-beijing-core", 64512, 1, quota=3)
    shanghai = _gateway(
        "gdgw:shanghai-hub", "cn-east-3", "gdgw-shanghai-hub", 64515, 2, quota=5, description="Shanghai hub"
    )
    hongkong = _gateway("gdgw:hongkong-edge", "ap-southeast-1", "gdgw-hongkong-edge", 64520, 3)
    guangzhou = _gateway("gdgw:guangzhou-spare", "cn-south-1", "gdgw-guangzhou-spare", 64525, 4)
    beijing_new = _gateway(
        "gdgw:beijing-new",
        "cn-north-4",
        "gdgw-beijing-new",
        64530,
        40,
        status="DOWN",
        description="Awaiting VIF",
    )
    routers = {
        "bj-prod": _router("er:bj-prod", "cn-north-4", "er-bj-prod", 64600, "available", 1),
        "bj-dev": _router("er:bj-dev", "cn-north-4", "er-bj-dev", 64601, "available", 2),
        "bj-migrating": _router("er:bj-migrating", "cn-north-4", "er-bj-migrating", 64602, "modifying", 3),
        "sh-prod": _router("er:sh-prod", "cn-east-3", "er-sh-prod", 64610, "available", 1),
        "sh-staging": _router("er:sh-staging", "cn-east-3", "er-sh-staging", 64611, "pending", 30),
        "sh-legacy": _router("er:sh-legacy", "cn-east-3", "er-sh-legacy", 64612, "failed", 5),
        "hk-apac": _router("er:hk-apac", "ap-southeast-1", "er-hk-apac", 64620, "available", 2),
        "hk-frozen": _router("er:hk-frozen", "ap-southeast-1", "er-hk-frozen", 64621, "freezed", 6),
        "gz-core": _router("er:gz-core", "cn-south-1", "er-gz-core", 64630, "available", 4),
    }
    store.insert(beijing, shanghai, hongkong, guangzhou, beijing_new, *routers.values())
    # team-b: its own gateway, and a router the demo account may peer with (its attachment waits for
    # team-b to accept it).
    store.insert(
        _gateway("gdgw:team-b-edge", "cn-north-4", "gdgw-team-b-edge", 64540, 5, TEAM_B_DOMAIN),
        _router("er:team-b-shared", "cn-north-4", "er-team-b-shared", 64640, "available", 5, TEAM_B_DOMAIN),
    )

    def link(
        key: str, gateway: Gateway, name: str, target: Router | Gateway, day: float, **extra: object
    ) -> PeerLink:
        target_region = target.region_id
        values = {
            "updated_at": BASE_TIME + day * DAY + 35.796,
            "status": "ACTIVE",
            "create_owner": "dc",
        } | extra
        record = PeerLink(
            id=demo_id(f"link:{key}"),
            project_id=gateway.project_id,
            gateway_id=gateway.id,
            name=name,
            peer_gateway_id=target.id,
            peer_project_id=target.project_id,
            peer_region_id=target_region,
            peer_type="ER" if isinstance(target, Router) else "GDGW",
            created_at=BASE_TIME + day * DAY,
            **values,
        )
        if record.status == "ACTIVE" and isinstance(target, Router):
            attachment = Attachment(
                id=demo_id(f"attachment:{key}"),
                er_id=target.id,
                project_id=target.project_id,
                name=f"gdgw-{gateway.name}-{name}"[:64],
                resource_id=gateway.id,
                resource_type="gdgw",
                resource_project_id=gateway.project_id,
                created_at=record.updated_at,
                updated_at=record.updated_at,
                route_table_id=target.association_table_id,
                description=f"Created for peer link {record.id}",
            )
            store.insert(attachment)
            record.link_id = attachment.id
        elif record.status == "ACTIVE":
            record.link_id = demo_id(f"peer-side:{key}")
        store.insert(record)
        return record

    link("bj-prod", beijing, "pl-bj-to-er-prod", routers["bj-prod"], 10, description="Beijing production")
    link(
        "bj-sh",
        beijing,
        "pl-bj-to-er-shanghai",
        routers["sh-prod"],
        11,
        description="Cross-region to Shanghai",
    )
    link("bj-hk", beijing, "pl-bj-to-gdgw-hongkong", hongkong, 12, description=None)
    link(
        "sh-staging",
        shanghai,
        "pl-sh-to-er-prod-new",
        routers["sh-prod"],
        50,
        status="PENDING_CREATE",
        create_owner=None,
        updated_at=None,
        due_at=now + DEMO_PENDING_SECONDS,
    )
    link(
        "sh-legacy",
        shanghai,
        "pl-sh-to-er-legacy",
        routers["sh-legacy"],
        20,
        status="ERROR",
        reason=f"enterprise router er-sh-legacy ({routers['sh-legacy'].id}) is failed, expected available",
    )
    link(
        "sh-cc",
        shanghai,
        "pl-sh-cloud-connect",
        routers["sh-prod"],
        15,
        create_owner="cc",
        instance_id=demo_id("cc:central-network"),
        bandwidth_size=100,
        gcb_id=demo_id("cc:bandwidth-package"),
        description="Created by Cloud Connect",
    )
    link("hk-apac", hongkong, "pl-hk-to-er-apac", routers["hk-apac"], 13)
    store.insert(
        Attachment(
            id=demo_id("attachment:bj-prod-vpc"),
            er_id=routers["bj-prod"].id,
            project_id=routers["bj-prod"].project_id,
            name="vpc-bj-prod-app",
            resource_id=demo_id("vpc:bj-prod-app"),
            resource_type="vpc",
            resource_project_id=routers["bj-prod"].project_id,
            created_at=BASE_TIME + 2 * DAY,
            updated_at=BASE_TIME + 2 * DAY,
            route_table_id=routers["bj-prod"].association_table_id,
        )
    )

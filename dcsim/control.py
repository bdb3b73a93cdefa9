"""The control API, for tests and demos: what each control call checks and does (add or change gateways,
routers and peer links behind the cloud APIs' back, set timings and faults), and the /_dcsim/ routes."""

import json
from collections.abc import Callable
from typing import NamedTuple

from dcsim import REGIONS, project_id_for
from dcsim import seed as seeds
from dcsim.errors import ApiError
from dcsim.faults import FaultConfigError, Faults
from dcsim.routing import Request, Response, find_route
from dcsim.store import (
    GATEWAY_STATUSES,
    PEER_LINK_STATUSES,
    ROUTER_STATES,
    Gateway,
    Router,
    SimConfig,
    Store,
    new_id,
)
from dcsim.validation import NAME_RE, UUID_RE


def _error(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "DCSIM.0001" if status == 400 else "DCSIM.0002", message)


# The operations. The Simulator's methods of the same names (reset, set_faults, add_gateway, ...) carry
# the signatures and defaults, and forward here.


def check_seed(seed: str) -> None:
    if seed not in seeds.SEEDS:
        raise _error(f"seed must be one of {', '.join(seeds.SEEDS)}")


def set_faults(faults: Faults, settings: dict) -> dict:
    try:
        faults.update(**settings)
    except FaultConfigError as exc:
        raise _error(str(exc)) from None
    return faults.snapshot()


def queue_fault(
    faults: Faults,
    fault: str,
    *,
    count: int,
    method: str | None,
    path_contains: str | None,
    latency_ms: int | None,
) -> dict:
    try:
        faults.queue(fault, count=count, method=method, path_contains=path_contains, latency_ms=latency_ms)
    except FaultConfigError as exc:
        raise _error(str(exc)) from None
    return faults.snapshot()


def set_config(
    config: SimConfig,
    *,
    transition_delay: float | None,
    delete_delay: float | None,
    peer_link_quota: int | None,
) -> dict:
    for key, value in (("transition_delay", transition_delay), ("delete_delay", delete_delay)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _error(f"{key} must be a non-negative number")
            setattr(config, key, float(value))
    if peer_link_quota is not None:
        if isinstance(peer_link_quota, bool) or not isinstance(peer_link_quota, int) or peer_link_quota < 0:
            raise _error("peer_link_quota must be a non-negative integer")
        config.peer_link_quota = peer_link_quota
    return config.as_dict()


def add_gateway(
    store: Store,
    *,
    name: str,
    region: str,
    bgp_asn: int,
    status: str,
    quota: int | None,
    description: str,
    id: str | None,
    address_family: str,
    account: str,
) -> dict:
    _check_region(region)
    _check_account(store, account)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _error("name must be 1-64 letters, digits, CJK, '-', '_' or '.'")
    _check_choice("status", status, GATEWAY_STATUSES)
    _check_quota(quota)
    gateway_id = _check_new_id(store, id)
    store.insert(
        Gateway(
            id=gateway_id,
            project_id=project_id_for(region, account),
            name=name,
            created_at=store.clock(),
            description=description,
            bgp_asn=int(bgp_asn),
            region_id=region,
            status=status,
            quota=quota,
            address_family=address_family,
        )
    )
    return store.gateway_wire(gateway_id)


def patch_gateway(store: Store, gateway_id: str, changes: dict) -> dict:
    _check_changes(changes, {"status", "quota", "name", "reason"})
    if "status" in changes:
        _check_choice("status", changes["status"], GATEWAY_STATUSES)
    if "quota" in changes:
        _check_quota(changes["quota"])
    return store.patch_gateway(gateway_id, changes)


def add_router(
    store: Store,
    *,
    name: str,
    region: str,
    asn: int,
    state: str,
    description: str,
    id: str | None,
    account: str,
    auto_accept_shared_attachments: bool,
) -> dict:
    _check_region(region)
    _check_account(store, account)
    if not isinstance(auto_accept_shared_attachments, bool):
        raise _error("auto_accept_shared_attachments must be true or false")
    _check_choice("state", state, ROUTER_STATES)
    if not isinstance(name, str) or not name or len(name) > 64:
        raise _error("name must be a string of 1-64 characters")
    router_id = _check_new_id(store, id)
    store.insert(
        Router(
            id=router_id,
            project_id=project_id_for(region, account),
            region_id=region,
            name=name,
            created_at=store.clock(),
            state=state,
            asn=int(asn),
            description=description,
            auto_accept_shared_attachments=auto_accept_shared_attachments,
        )
    )
    return store.router_wire(router_id)


def patch_router(store: Store, router_id: str, changes: dict) -> dict:
    _check_changes(changes, {"state", "name", "auto_accept_shared_attachments"})
    if not isinstance(changes.get("auto_accept_shared_attachments", False), bool):
        raise _error("auto_accept_shared_attachments must be true or false")
    if "state" in changes:
        _check_choice("state", changes["state"], ROUTER_STATES)
    return store.patch_router(router_id, changes)


def force_peer_link(store: Store, link_id: str, changes: dict) -> dict:
    _check_changes(changes, {"status", "reason", "name", "description"})
    if "status" in changes:
        _check_choice("status", changes["status"], PEER_LINK_STATUSES)
    return store.force_peer_link(link_id, changes)


def _check_account(store: Store, account: object) -> None:
    if account not in set(store.owners.values()):
        raise _error(f"account must be one of {', '.join(sorted(set(store.owners.values())))}")


def _check_region(region: object) -> None:
    if region not in REGIONS:
        raise _error(f"unknown region '{region}'")


def _check_choice(label: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _error(f"{label} must be one of {', '.join(choices)}")


def _check_quota(quota: object) -> None:
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
        raise _error("quota must be a non-negative integer or null")


def _check_changes(changes: dict, allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise _error(f"cannot change {', '.join(sorted(unknown))}")


def _check_new_id(store: Store, value: object) -> str:
    """The ID for a new gateway or router: a fresh one, or the caller's UUID if no resource has it yet."""
    if value is None:
        return new_id()
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise _error("id must be a UUID")
    value = value.lower()
    if value in store.gateways or value in store.routers:
        raise _error(f"id {value} already exists")
    return value


# The /_dcsim/ routes: each calls the Simulator method it names, with arguments taken from the JSON body
# (and the ID in the path), so HTTP callers get exactly what Python callers get.

Arguments = tuple[tuple, dict]


class ControlRoute(NamedTuple):
    method: str
    pattern: str
    operation: str  # the Simulator method to call
    arguments: Callable[[dict, dict[str, str]], Arguments]  # (JSON body, path params) -> (args, kwargs)
    status: int = 200


def _nothing(data: dict, params: dict[str, str]) -> Arguments:
    return (), {}


def _body(data: dict, params: dict[str, str]) -> Arguments:
    return (), data


def _id_and_body(data: dict, params: dict[str, str]) -> Arguments:
    return (params["id"].lower(),), data


def _fault_and_body(data: dict, params: dict[str, str]) -> Arguments:
    options = dict(data)
    fault = options.pop("fault", None)
    return (fault,), options


def _seed(data: dict, params: dict[str, str]) -> Arguments:
    return (data.get("seed", "empty"),), {}


ROUTES: list[ControlRoute] = [
    ControlRoute("GET", "/_dcsim/faults", "get_faults", _nothing),
    ControlRoute("PUT", "/_dcsim/faults", "set_faults", _body),
    ControlRoute("DELETE", "/_dcsim/faults", "clear_faults", _nothing),
    ControlRoute("POST", "/_dcsim/faults/next", "queue_fault", _fault_and_body, 201),
    ControlRoute("POST", "/_dcsim/reset", "reset", _seed),
    ControlRoute("GET", "/_dcsim/config", "get_config", _nothing),
    ControlRoute("PUT", "/_dcsim/config", "set_config", _body),
    ControlRoute("GET", "/_dcsim/state", "state", _nothing),
    ControlRoute("POST", "/_dcsim/global-dc-gateways", "add_gateway", _body, 201),
    ControlRoute("PATCH", "/_dcsim/global-dc-gateways/{id}", "patch_gateway", _id_and_body),
    ControlRoute("POST", "/_dcsim/enterprise-routers", "add_router", _body, 201),
    ControlRoute("PATCH", "/_dcsim/enterprise-routers/{id}", "patch_router", _id_and_body),
    ControlRoute("PATCH", "/_dcsim/peer-links/{id}", "force_peer_link", _id_and_body),
]


def handle(simulator: object, request: Request) -> Response:
    """Answer a /_dcsim/ request by calling the ``simulator`` method its route names (no auth, no faults)."""
    found = find_route(ROUTES, request.method, request.path)
    if found is None:
        raise _error(f"no control route {request.method} {request.path}", status=404)
    route, params = found
    request.params = params
    request.read_body()
    data: dict = {}
    if request.body:
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _error("body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _error("body must be a JSON object")
    try:
        args, kwargs = route.arguments(data, params)
        return route.status, getattr(simulator, route.operation)(*args, **kwargs), {}
    except TypeError as exc:
        raise _error(f"bad arguments: {exc}") from None

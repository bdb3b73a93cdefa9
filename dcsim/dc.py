"""Direct Connect (DC): global DC gateways, their peer links and the account's quotas, with DC's
request checks, ``fields`` projection and marker paging."""

from dcsim.errors import bad_parameter
from dcsim.listing import filter_by, page_after, sort_by
from dcsim.routing import Request, Response, Route
from dcsim.store import GATEWAY_STATUSES, QUOTA_TYPES, Store
from dcsim.validation import (
    BODY_PROJECT_RE,
    NAME_RE,
    NO_ANGLE_BRACKETS_RE,
    UUID_RE,
    Query,
    check_uuid,
    object_field,
    parse_body,
    string_field,
)

_SORT_KEYS = ("id", "name", "created_time", "updated_time", "status")

# Global DC gateways and quotas


def _gateway_id(request: Request) -> str:
    return check_uuid(request.params["gateway"], "global_dc_gateway_id")


def list_gateways(store: Store, request: Request) -> Response:
    query = request.query
    items = store.list_gateways(request.params["project"].lower())
    items = filter_by(items, "id", query.many("id", split_commas=True), lower=True)
    items = filter_by(items, "name", query.many("name", split_commas=True, pattern=NAME_RE))
    items = filter_by(
        items,
        "enterprise_project_id",
        query.many("enterprise_project_id", split_commas=True, max_items=10),
    )
    items = filter_by(items, "status", query.many("status", split_commas=True, choices=GATEWAY_STATUSES))
    items = filter_by(items, "global_center_network_id", query.many("global_center_network_id"))
    for ignored in ("site_network_id", "cloud_connection_id"):
        query.many(ignored)
    page, page_info = _paginate(items, query)
    return 200, {"global_dc_gateways": _restrict(page, query), "page_info": page_info}, {}


def show_gateway(store: Store, request: Request) -> Response:
    query = request.query
    query.many("ext_fields")
    query.many("enterprise_project_id", max_items=10)
    query.integer("limit", low=1, high=2000)
    gateway = store.show_gateway(request.params["project"].lower(), _gateway_id(request))
    return 200, {"global_dc_gateway": _restrict([gateway], query)[0]}, {}


def create_gateway(store: Store, request: Request) -> Response:
    body = parse_body(request.body, "global_dc_gateway")
    where = "global_dc_gateway"
    values: dict = {"name": _name(body, where, required=True)}
    description = string_field(body, "description", where=where, max_length=255, pattern=NO_ANGLE_BRACKETS_RE)
    if description is not None:
        values["description"] = description
    if body.get("bgp_asn") is not None:
        values["bgp_asn"] = _bgp_asn(body["bgp_asn"])
    eps = string_field(body, "enterprise_project_id", where=where, max_length=36)
    if eps is not None:
        if eps != "0" and not UUID_RE.match(eps):
            raise bad_parameter(f"{where}.enterprise_project_id must be '0' or a UUID")
        values["enterprise_project_id"] = eps
    family = string_field(body, "address_family", where=where)
    if family is not None:
        values["address_family"] = _choice(family, ("ipv4", "dual"), f"{where}.address_family")
    if body.get("tags") is not None:
        values["tags"] = _tags(body["tags"])
    string_field(body, "tenant_id", where=where, max_length=36, pattern=BODY_PROJECT_RE)
    gateway = store.create_gateway(request.params["project"].lower(), **values)
    return 201, {"global_dc_gateway": gateway}, {}


def update_gateway(store: Store, request: Request) -> Response:
    gateway_id = _gateway_id(request)
    body = parse_body(request.body, "global_dc_gateway")
    where = "global_dc_gateway"
    changes: dict = {}
    name = _name(body, where, required=False)
    if name is not None:
        changes["name"] = name
    description = string_field(body, "description", where=where, max_length=255, pattern=NO_ANGLE_BRACKETS_RE)
    if description is not None:
        changes["description"] = description
    family = string_field(body, "address_family", where=where, max_length=36)
    if family is not None:
        changes["address_family"] = _choice(family, ("ipv4", "dual"), f"{where}.address_family")
    gateway = store.update_gateway(request.params["project"].lower(), gateway_id, changes)
    return 200, {"global_dc_gateway": gateway}, {}


def delete_gateway(store: Store, request: Request) -> Response:
    store.delete_gateway(request.params["project"].lower(), _gateway_id(request))
    return 204, None, {}


def show_quotas(store: Store, request: Request) -> Response:
    """The quota reply is 201 and, unlike every other DC reply, carries no request_id."""
    types = request.query.many("type", max_items=len(QUOTA_TYPES), choices=QUOTA_TYPES)
    resources = store.quotas(request.params["project"].lower())
    if types is not None:
        resources = [item for item in resources if item["type"] in types]
    return 201, {"quotas": {"resources": resources}}, {}


# Peer links


def _link_ids(request: Request) -> tuple[str, str]:
    return _gateway_id(request), check_uuid(request.params["link"], "peer_link_id")


def list_peer_links(store: Store, request: Request) -> Response:
    query = request.query
    gateway_id = _gateway_id(request)
    items = store.list_peer_links(request.params["project"].lower(), gateway_id)
    items = filter_by(items, "id", query.many("id", split_commas=True), lower=True)
    items = filter_by(items, "name", query.many("name", split_commas=True, pattern=NAME_RE))
    query.many("ext_fields")
    query.integer("offset", low=1, high=1000)
    page, page_info = _paginate(items, query)
    return 200, {"peer_links": _restrict(page, query), "page_info": page_info}, {}


def show_peer_link(store: Store, request: Request) -> Response:
    query = request.query
    query.many("ext_fields")
    gateway_id, link_id = _link_ids(request)
    link = store.show_peer_link(request.params["project"].lower(), gateway_id, link_id)
    return 200, {"peer_link": _restrict([link], query)[0]}, {}


def create_peer_link(store: Store, request: Request) -> Response:
    gateway_id = _gateway_id(request)
    body = parse_body(request.body, "peer_link")
    name = _name(body, "peer_link", required=True)
    description = string_field(body, "description", where="peer_link", max_length=128)
    site = object_field(body, "peer_site", where="peer_link")
    where = "peer_link.peer_site"
    peer_gateway_id = string_field(site, "gateway_id", where=where, required=True, max_length=36)
    check_uuid(peer_gateway_id, f"{where}.gateway_id")
    peer_project_id = string_field(
        site, "project_id", where=where, required=True, max_length=36, pattern=BODY_PROJECT_RE
    )
    peer_region_id = string_field(site, "region_id", where=where, required=True, max_length=36)
    if not peer_region_id:
        raise bad_parameter(f"{where}.region_id must not be empty")
    link = store.create_peer_link(
        request.params["project"].lower(),
        gateway_id,
        name=name,
        description=description,
        peer_gateway_id=peer_gateway_id,
        peer_project_id=peer_project_id,
        peer_region_id=peer_region_id,
    )
    return 201, {"peer_link": link}, {}


def update_peer_link(store: Store, request: Request) -> Response:
    gateway_id, link_id = _link_ids(request)
    body = parse_body(request.body, "peer_link")
    changes = {}
    name = _name(body, "peer_link", required=False)
    if name is not None:
        changes["name"] = name
    description = string_field(body, "description", where="peer_link", max_length=128)
    if description is not None:
        changes["description"] = description
    link = store.update_peer_link(request.params["project"].lower(), gateway_id, link_id, changes)
    return 200, {"peer_link": link}, {}


def delete_peer_link(store: Store, request: Request) -> Response:
    gateway_id, link_id = _link_ids(request)
    store.delete_peer_link(request.params["project"].lower(), gateway_id, link_id)
    return 204, None, {}


# Body fields


def _name(body: dict, where: str, *, required: bool) -> str | None:
    name = string_field(body, "name", where=where, required=required, max_length=64)
    if name is not None and not NAME_RE.match(name):
        raise bad_parameter(f"{where}.name must be 1-64 letters, digits, CJK characters, '-', '_' or '.'")
    return name


def _choice(value: str, choices: tuple[str, ...], label: str) -> str:
    if value not in choices:
        raise bad_parameter(f"{label} must be one of {', '.join(choices)}")
    return value


def _bgp_asn(value: object) -> int:
    # The doc example sends the ASN as a string ("64512"); accept both.
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967295:
        raise bad_parameter("global_dc_gateway.bgp_asn must be an integer between 1 and 4294967295")
    return value


def _tags(value: object) -> list[dict]:
    if not isinstance(value, list) or len(value) > 10:
        raise bad_parameter("global_dc_gateway.tags must be a list of at most 10 tags")
    tags = []
    for tag in value:
        if not isinstance(tag, dict):
            raise bad_parameter("global_dc_gateway.tags items must be objects")
        key = string_field(tag, "key", where="tag", required=True, max_length=128)
        if not key:
            raise bad_parameter("tag.key must not be empty")
        tags.append({"key": key, "value": string_field(tag, "value", where="tag", max_length=255) or ""})
    return tags


# Listing


def _restrict(items: list[dict], query: Query) -> list[dict]:
    """Keep only the keys named by ``fields`` (all of them when it is absent)."""
    fields = query.many("fields")
    if fields is None:
        return items
    for value in fields:
        if not value or len(value) > 100:
            raise bad_parameter("fields values must be 1-100 characters", code=query.code)
    return [{key: value for key, value in item.items() if key in fields} for item in items]


def _paginate(items: list[dict], query: Query) -> tuple[list[dict], dict]:
    """DC paging: sort_key/sort_dir, then marker and limit; page_reverse walks the same order backwards."""
    sort_key = query.one("sort_key", max_length=36) or "id"
    if sort_key not in _SORT_KEYS:
        raise bad_parameter(f"sort_key must be one of {', '.join(_SORT_KEYS)}")
    sort_dir = (query.many("sort_dir", choices=("asc", "desc")) or ["asc"])[0]
    limit = query.integer("limit", low=1, high=2000) or 2000
    marker = query.one("marker", max_length=36)
    descending = (sort_dir == "desc") != bool(query.boolean("page_reverse"))
    page, more = page_after(sort_by(items, sort_key, descending), marker, limit, "DC.0001")
    page_info: dict = {"current_count": len(page)}
    if page:
        page_info["previous_marker"] = page[0]["id"]
    if more:
        page_info["next_marker"] = page[-1]["id"]
    return page, page_info


# Handlers take the Store.
ROUTES: list[Route] = [
    Route("GET", "/v3/{project}/dcaas/quotas", show_quotas, "DC"),
    Route("GET", "/v3/{project}/dcaas/global-dc-gateways", list_gateways, "DC"),
    Route("POST", "/v3/{project}/dcaas/global-dc-gateways", create_gateway, "DC"),
    Route("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", show_gateway, "DC"),
    Route("PUT", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", update_gateway, "DC"),
    Route("DELETE", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", delete_gateway, "DC"),
    Route("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links", list_peer_links, "DC"),
    Route("POST", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links", create_peer_link, "DC"),
    Route("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}", show_peer_link, "DC"),
    Route(
        "PUT", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}", update_peer_link, "DC"
    ),
    Route(
        "DELETE", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}", delete_peer_link, "DC"
    ),
]

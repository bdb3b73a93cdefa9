"""Enterprise Router (ER): enterprise routers and their attachments (the peer-link targets), with ER's
filters and paging, and the router owner's accept or reject of another account's attachment."""

from dcsim.listing import filter_by, page_after, sort_by
from dcsim.routing import Request, Response, Route
from dcsim.store import ATTACHMENT_STATES, ROUTER_STATES, Store
from dcsim.validation import Query, check_uuid

_SORT_KEYS = ("id", "name", "state")
_FILTER_MAX = 100
_ATTACHMENT_RESOURCE_TYPES = ("vpc", "vpn", "dgw", "vgw", "peering", "can", "ecn", "gdgw", "connect", "cfw")


def _router_id(request: Request) -> str:
    return check_uuid(request.params["router"], "er_id", code="ER.0001")


def list_routers(store: Store, request: Request) -> Response:
    query = request.query
    items = store.list_routers(request.params["project"].lower())
    items = filter_by(items, "id", query.many("id", split_commas=True, max_items=_FILTER_MAX), lower=True)
    items = filter_by(items, "state", query.many("state", max_items=_FILTER_MAX, choices=ROUTER_STATES))
    eps = query.many("enterprise_project_id", max_items=_FILTER_MAX)
    if eps is not None and "all_granted_eps" not in eps:
        items = filter_by(items, "enterprise_project_id", eps)
    resource_ids = query.many("resource_id", max_items=_FILTER_MAX)
    if resource_ids is not None:
        attached = store.router_ids_attached_to([value.lower() for value in resource_ids])
        items = [item for item in items if item["id"] in attached]
    query.boolean("owned_by_self")
    page, page_info = _paginate(items, query)
    return 200, {"instances": page, "page_info": page_info}, {}


def show_router(store: Store, request: Request) -> Response:
    router = store.show_router(request.params["project"].lower(), _router_id(request))
    return 200, {"instance": router}, {}


def list_attachments(store: Store, request: Request) -> Response:
    query = request.query
    items = store.list_attachments(request.params["project"].lower(), _router_id(request))
    items = filter_by(items, "state", query.many("state", max_items=_FILTER_MAX, choices=ATTACHMENT_STATES))
    items = filter_by(
        items,
        "resource_type",
        query.many("resource_type", max_items=_FILTER_MAX, choices=_ATTACHMENT_RESOURCE_TYPES),
    )
    items = filter_by(items, "resource_id", query.many("resource_id", max_items=_FILTER_MAX), lower=True)
    page, page_info = _paginate(items, query)
    return 200, {"attachments": page, "page_info": page_info}, {}


def show_attachment(store: Store, request: Request) -> Response:
    router_id = _router_id(request)
    attachment_id = check_uuid(request.params["attachment"], "attachment_id", code="ER.0001")
    attachment = store.show_attachment(request.params["project"].lower(), router_id, attachment_id)
    return 200, {"attachment": attachment}, {}


def accept_attachment(store: Store, request: Request) -> Response:
    """The router's owner accepts an attachment another account asked for (pending_acceptance): 202, where
    rejecting answers 200, as the ER API documents."""
    router_id = _router_id(request)
    attachment_id = check_uuid(request.params["attachment"], "attachment_id", code="ER.0001")
    attachment = store.accept_attachment(request.params["project"].lower(), router_id, attachment_id)
    return 202, {"attachment": attachment}, {}


def reject_attachment(store: Store, request: Request) -> Response:
    """The router's owner rejects an attachment another account asked for (pending_acceptance)."""
    router_id = _router_id(request)
    attachment_id = check_uuid(request.params["attachment"], "attachment_id", code="ER.0001")
    attachment = store.reject_attachment(request.params["project"].lower(), router_id, attachment_id)
    return 200, {"attachment": attachment}, {}


def _paginate(items: list[dict], query: Query) -> tuple[list[dict], dict]:
    """ER paging: like DC but limit 0-2000 (0 means the default), and no previous_marker."""
    sort_key = (query.many("sort_key", max_items=_FILTER_MAX, choices=_SORT_KEYS) or ["id"])[0]
    sort_dir = (query.many("sort_dir", max_items=_FILTER_MAX, choices=("asc", "desc")) or ["asc"])[0]
    limit = query.integer("limit", low=0, high=2000) or 2000
    marker = query.one("marker", max_length=128)
    page, more = page_after(sort_by(items, sort_key, sort_dir == "desc"), marker, limit, "ER.0001")
    page_info: dict = {"current_count": len(page)}
    if more:
        page_info["next_marker"] = page[-1]["id"]
    return page, page_info


_ATTACHMENT = "/v3/{project}/enterprise-router/{router}/attachments/{attachment}"

# Handlers take the Store. ``instances/{router}`` is listed before ``{router}/attachments``: a path that
# fits both (``instances/attachments``) goes to show_router.
ROUTES: list[Route] = [
    Route("GET", "/v3/{project}/enterprise-router/instances", list_routers, "ER"),
    Route("GET", "/v3/{project}/enterprise-router/instances/{router}", show_router, "ER"),
    Route("GET", "/v3/{project}/enterprise-router/{router}/attachments", list_attachments, "ER"),
    Route("GET", "/v3/{project}/enterprise-router/{router}/attachments/{attachment}", show_attachment, "ER"),
    Route("POST", f"{_ATTACHMENT}/accept", accept_attachment, "ER"),
    Route("POST", f"{_ATTACHMENT}/reject", reject_attachment, "ER"),
]

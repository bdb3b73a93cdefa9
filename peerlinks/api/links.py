"""`/api/v1/links`: peer links with the list page's filters, sort and search (peerlinks.filters), one link,
and asking for a new link, a rename or a delete (change requests, through the same service as the pages)."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from peerlinks.api.access import Input, drawn, get_or_404, invalid_body, invalid_filters, require
from peerlinks.api.changes import ChangeOut
from peerlinks.api.idempotency import once
from peerlinks.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, page_response, paginate
from peerlinks.api.problems import ApiProblem
from peerlinks.filters import PEER_LINK_SORTS, PeerLinkFilter
from peerlinks.forms import PeerLinkDeleteForm, PeerLinkEditForm
from peerlinks.models import Gateway, PeerLink
from peerlinks.permissions import SUBMIT, VIEW
from peerlinks.services import changes

router = Router(tags=["links"])

LinkSort = Literal[tuple(sorted([*PEER_LINK_SORTS, *(f"-{key}" for key in PEER_LINK_SORTS)]))]
LinkStatus = Literal[tuple(PeerLink.Status.values)]
PeerType = Literal[tuple(PeerLink.PeerType.values)]


class GatewayRef(Schema):
    id: str = Field(alias="cloud_id")
    name: str


class LinkOut(Schema):
    """A peer link as dcportal last saw it in the cloud, with its local fields."""

    id: str = Field(alias="cloud_id")
    name: str
    description: str
    status: str = Field(alias="shown_status", description="The cloud's status, or GONE")
    reason: str
    account: str = Field(alias="gateway.project.account.name")
    region: str = Field(alias="gateway.project.region")
    gateway: GatewayRef
    peer_type: str
    peer_id: str = Field(alias="peer_gateway_id")
    peer_name: str
    peer_region: str
    peer_project_id: str
    bandwidth_size: int
    create_owner: str
    owner_team: str
    ticket_ref: str
    labels: list[str]
    created_at: datetime | None = Field(alias="cloud_created_at")
    updated_at: datetime | None = Field(alias="cloud_updated_at")
    synced_at: datetime | None = Field(alias="last_synced_at")
    gone_at: datetime | None


class LinkPage(Schema):
    items: list[LinkOut]
    next: str | None = Field(description="The URL of the next page; null on the last")


class LinkQuery(Input):
    account: str | None = Field(None, max_length=40, description="A cloud account's name")
    q: str | None = Field(
        None, max_length=100, description="Name, ID, description, peer ID, owner, ticket, label"
    )
    owner: str | None = Field(None, max_length=100)
    ticket: str | None = Field(None, max_length=100)
    label: str | None = Field(None, max_length=40)
    gateway: str | None = Field(None, max_length=36, description="A gateway's cloud ID")
    status: LinkStatus | None = None
    peer_type: PeerType | None = None
    region: str | None = Field(None, max_length=36)
    show_gone: bool = False
    sort: LinkSort | None = None
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _links(request: HttpRequest):
    return (
        PeerLink.objects.visible_to(request.user)
        .for_list()
        .select_related("gateway__project__account")
        .with_peer_name()
    )


@router.get("/links", response=LinkPage, summary="List peer links")
def list_links(request: HttpRequest, filters: Query[LinkQuery]) -> HttpResponse:
    """Peer links, filtered, searched and sorted as on the list page (gone links only with show_gone)."""
    require(request, VIEW)
    data = {
        name: ("on" if value is True else value)
        for name, value in filters.model_dump(exclude={"cursor", "limit"}).items()
        if value not in (None, "", False)
    }
    filterset = PeerLinkFilter(data, queryset=_links(request), request=request)
    if not filterset.is_valid():
        raise invalid_filters(filterset.form.errors)
    page = paginate(request, filterset.qs, cursor=filters.cursor, limit=filters.limit)
    return page_response(request, page, item=LinkOut)


@router.get("/links/{link_id}", response=LinkOut, summary="Get a peer link")
def get_link(request: HttpRequest, link_id: UUID) -> PeerLink:
    require(request, VIEW)
    return get_or_404(_links(request), cloud_id=str(link_id))


class CreateIn(Input):
    gateway_id: str = Field(max_length=36, description="The gateway the link starts from")
    peer_type: PeerType
    peer_id: str = Field(max_length=36, description="The enterprise router's or gateway's cloud ID")
    peer_region: str = Field(max_length=36)
    name: str = Field(pattern=changes.NAME_RE.pattern, description="1 to 64 letters, digits, Chinese, _ - .")
    description: str = Field("", max_length=changes.DESCRIPTION_MAX)


class RenameIn(Input):
    name: str | None = Field(None, pattern=changes.NAME_RE.pattern)
    description: str | None = Field(None, max_length=changes.DESCRIPTION_MAX)


CHANGE_RESPONSES = {201: ChangeOut}


@router.post("/links", response=CHANGE_RESPONSES, summary="Ask for a new peer link")
def create_link(request: HttpRequest, body: CreateIn) -> HttpResponse:
    """Submit a create request; it then waits for approval (or runs at once when the policy needs none)."""
    require(request, SUBMIT)
    gateway = (
        Gateway.objects.visible_to(request.user)
        .present()
        .select_related("project__account")
        .filter(cloud_id=body.gateway_id)
        .first()
    )
    if gateway is None:
        raise ApiProblem(
            422,
            _("Choose one of the listed gateways."),
            kind="invalid-request",
            errors=[{"loc": ["body", "gateway_id"], "msg": _("No gateway with this ID.")}],
        )
    require(request, SUBMIT, gateway)
    payload = {
        "name": body.name,
        "description": body.description,
        "peer_type": body.peer_type,
        "peer_gateway_id": body.peer_id,
        "peer_region": body.peer_region,
    }
    return once(request, lambda: _submitted(request, kind="create", gateway=gateway, payload=payload))


@router.post("/links/{link_id}/rename", response=CHANGE_RESPONSES, summary="Ask to rename a peer link")
def rename_link(request: HttpRequest, link_id: UUID, body: RenameIn) -> HttpResponse:
    """Submit a rename / description change; a field left out keeps its value, and one of them must change
    (the page's rule: its form is asked)."""
    link = _link_to_change(request, link_id)
    wanted = {"name": link.name, "description": link.description, **body.model_dump(exclude_none=True)}
    form = PeerLinkEditForm(wanted, link=link)
    if not form.is_valid():
        raise invalid_body(form.errors)
    payload = form.cleaned_data
    return once(
        request,
        lambda: _submitted(request, kind="update", gateway=link.gateway, payload=payload, peer_link=link),
    )


class DeleteIn(Input):
    confirm_name: str = Field(max_length=64, description="The link's exact name, as the page asks for it")


@router.post("/links/{link_id}/delete", response=CHANGE_RESPONSES, summary="Ask to delete a peer link")
def delete_link(request: HttpRequest, link_id: UUID, body: DeleteIn) -> HttpResponse:
    """Submit a delete, confirmed by the link's exact name (the page's rule: its form is asked)."""
    link = _link_to_change(request, link_id)
    form = PeerLinkDeleteForm(body.model_dump(), link=link)
    if not form.is_valid():
        raise invalid_body(form.errors)
    return once(
        request, lambda: _submitted(request, kind="delete", gateway=link.gateway, payload={}, peer_link=link)
    )


def _link_to_change(request: HttpRequest, link_id: UUID) -> PeerLink:
    require(request, SUBMIT)
    link = get_or_404(
        PeerLink.objects.visible_to(request.user).select_related("gateway__project__account"),
        cloud_id=str(link_id),
    )
    require(request, SUBMIT, link.gateway)
    return link


def _submitted(request: HttpRequest, **change: object) -> HttpResponse:
    submitted = changes.submit_change(user=request.user, **change)
    return drawn(request, ChangeOut, submitted, status=201, location=f"/api/v1/changes/{submitted.pk}")

"""Every `/gateways/…` URL: the list of global DC gateways by region, and one gateway with its peer links."""

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from peerlinks.htmx import render_htmx
from peerlinks.models import Gateway
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.services.dashboard import gateways_by_region, region_syncs


@permission_required_or_403(VIEW)
@require_GET
def gateway_list(request: HttpRequest) -> HttpResponse:
    """Every gateway still in the cloud, by region, with its link count, quota left and sync state."""
    return render_htmx(request, "peerlinks/gateway_list.html", {"groups": gateways_by_region()})


@permission_required_or_403(VIEW)
@require_GET
def gateway_detail(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """One gateway: its fields, quota left, last sync and its peer links."""
    gateway = get_object_or_404(Gateway.objects.select_related("project"), cloud_id=str(cloud_id))
    links = gateway.peer_links.present().for_list().with_peer_name().with_waiting_for()
    region_sync = next(r for r in region_syncs(now=timezone.now()) if r.region == gateway.region)
    context = {"gateway": gateway, "links": links, "region_sync": region_sync}
    return render_htmx(request, "peerlinks/gateway_detail.html", context)

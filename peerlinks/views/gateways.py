"""Every `/gateways/…` URL: the list of global DC gateways by region, and one gateway with its peer links."""

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from peerlinks.htmx import render_htmx
from peerlinks.models import Gateway
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.services.dashboard import RegionSync, gateways_by_region, region_syncs


@permission_required_or_403(VIEW)
@require_GET
def gateway_list(request: HttpRequest) -> HttpResponse:
    """Every gateway still in the cloud, by region, with its link count, quota left and sync state."""
    groups = gateways_by_region(user=request.user)
    return render_htmx(request, "peerlinks/gateway_list.html", {"groups": groups})


@permission_required_or_403(VIEW)
@require_GET
def gateway_detail(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """One gateway (404 unless its account may be read): its fields, quota left, last sync and its peer
    links."""
    gateways = Gateway.objects.visible_to(request.user).select_related("project__account")
    gateway = get_object_or_404(gateways, cloud_id=str(cloud_id))
    links = gateway.peer_links.present().for_list().with_peer_name().with_waiting_for()
    region_sync = next(
        (
            r
            for r in region_syncs(now=timezone.now())
            if r.region == gateway.region and r.account == gateway.account.name
        ),
        # a region no longer synced (its gateways gone)
        RegionSync(
            region=gateway.region,
            account=gateway.account.name,
            first_account=gateway.account.from_environment,
        ),
    )
    context = {"gateway": gateway, "links": links, "region_sync": region_sync}
    return render_htmx(request, "peerlinks/gateway_detail.html", context)

"""`/topology/`: gateways and their peers by region, drawn as a map, filtered like the peer-link list."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from peerlinks.filters import PeerLinkFilter
from peerlinks.htmx import render_htmx, wants_fragment
from peerlinks.models import Gateway, PeerLink
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.presentation.topology import layout_topology
from peerlinks.services.topology import topology_rows


@permission_required_or_403(VIEW)
@require_GET
def topology(request: HttpRequest) -> HttpResponse:
    """The list's filters pick the links (edges); account, gateway and region also pick the gateways
    drawn. Only the accounts the user may read are drawn."""
    links = PeerLink.objects.visible_to(request.user).present()
    filterset = PeerLinkFilter(request.GET, queryset=links, request=request)
    links = filterset.qs  # validates the form: invalid values are form errors, left out of the filtering
    chosen = filterset.form.cleaned_data
    gateways = Gateway.objects.visible_to(request.user).present()
    if chosen.get("account"):
        gateways = gateways.in_account(chosen["account"])
    if chosen.get("gateway"):
        gateways = gateways.filter(pk=chosen["gateway"].pk)
    if chosen.get("region"):
        gateways = gateways.filter(project__region=chosen["region"])
    rows = topology_rows(
        links=links, gateways=gateways, user=request.user, unfiltered=not filterset.is_filtering
    )
    context = {"form": filterset.form, "topology": layout_topology(rows)}
    # A forged filter value is a bad request; htmx still gets the map and the message (it ignores 4xx).
    status = 400 if filterset.form.errors and not wants_fragment(request) else 200
    return render_htmx(
        request, "peerlinks/topology.html", context, fragment="peerlinks/_topology_map.html", status=status
    )

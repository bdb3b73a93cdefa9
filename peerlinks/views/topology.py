"""`/topology/`: gateways and their peers by region, drawn as a map, filtered like the peer-link list."""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from peerlinks.data_version import drawn_part
from peerlinks.filters import PeerLinkFilter
from peerlinks.htmx import render_htmx, wants_fragment
from peerlinks.models import Gateway, PeerLink
from peerlinks.permissions import VIEW, as_key, permission_required_or_403, readable_accounts
from peerlinks.presentation.topology import layout_topology
from peerlinks.services import topology as topology_service
from peerlinks.services.topology import topology_rows


@permission_required_or_403(VIEW)
@require_GET
def topology(request: HttpRequest) -> HttpResponse:
    """The list's filters pick the links (edges); account, gateway and region also pick the gateways
    drawn. Only the accounts the user may read are drawn. The map is drawn once per version of the data,
    filters, reader's accounts, language and zone (`drawn_part`); a map with a filter not understood is
    drawn afresh, with its message."""
    links = PeerLink.objects.visible_to(request.user).present()
    filterset = PeerLinkFilter(request.GET, queryset=links, request=request)
    form = filterset.form

    def draw() -> str:
        chosen = form.cleaned_data  # validated: invalid values are form errors, left out of the filtering
        gateways = Gateway.objects.visible_to(request.user).present()
        if chosen.get("account"):
            gateways = gateways.in_account(chosen["account"])
        if chosen.get("gateway"):
            gateways = gateways.filter(pk=chosen["gateway"].pk)
        if chosen.get("region"):
            gateways = gateways.filter(project__region=chosen["region"])
        rows = topology_rows(
            links=filterset.qs, gateways=gateways, user=request.user, unfiltered=not filterset.is_filtering
        )
        context = {"form": form, "topology": layout_topology(rows)}
        return render_to_string("peerlinks/_topology_map.html", context, request)

    if form.is_valid():
        filters = tuple((name, request.GET.get(name, "")) for name in filterset.filters)
        caps = (topology_service.MAX_EDGES, topology_service.MAX_NODES)
        drawn = drawn_part("topology map", (filters, caps, as_key(readable_accounts(request.user))), draw)
    else:
        drawn = draw()
    # A forged filter value is a bad request; htmx still gets the map and the message (it ignores 4xx).
    status = 400 if form.errors and not wants_fragment(request) else 200
    context = {"form": form, "drawn": drawn}
    return render_htmx(
        request, "peerlinks/topology.html", context, fragment="peerlinks/_drawn.html", status=status
    )

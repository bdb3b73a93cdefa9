"""The topology map: gateways and their peers by region, filtered like the peer-link list."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from peerlinks.filters import PeerLinkFilter
from peerlinks.models import Gateway, PeerLink
from peerlinks.permissions import VIEW, permission_required_or_403
from peerlinks.services.topology import build_topology


@permission_required_or_403(VIEW)
def topology(request: HttpRequest) -> HttpResponse:
    """The list's filters pick the links (edges); gateway and region also pick the gateways drawn."""
    filterset = PeerLinkFilter(request.GET, queryset=PeerLink.objects.present())
    links = filterset.qs  # invalid values are form errors, left out of the filtering
    chosen = filterset.form.cleaned_data
    gateways = Gateway.objects.present()
    if chosen.get("gateway"):
        gateways = gateways.filter(pk=chosen["gateway"].pk)
    if chosen.get("region"):
        gateways = gateways.filter(project__region=chosen["region"])
    context = {"form": filterset.form, "topology": build_topology(links=links, gateways=gateways)}
    fragment = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    template = "peerlinks/_topology_map.html" if fragment else "peerlinks/topology.html"
    # A forged filter value is a bad request; htmx still gets the map and the message (it ignores 4xx).
    status = 400 if filterset.form.errors and not fragment else 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response

"""The topology map: gateways and their peers by region, with the peer-link list's filters."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from peerlinks.models import CloudProject, Gateway, PeerLink
from peerlinks.services.topology import build_topology


class TopologyFilterForm(forms.Form):
    """The link list's filters (gateway, status, peer type, region), as GET parameters."""

    gateway = forms.ModelChoiceField(
        queryset=Gateway.objects.present(),
        to_field_name="cloud_id",
        required=False,
        empty_label="All gateways",
    )
    status = forms.ChoiceField(choices=[("", "All statuses"), *PeerLink.Status.choices], required=False)
    peer_type = forms.ChoiceField(
        choices=[("", "All peer types"), *PeerLink.PeerType.choices], required=False
    )
    region = forms.ChoiceField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        regions = CloudProject.objects.values_list("region", flat=True)
        self.fields["region"].choices = [("", "All regions"), *((r, r) for r in regions)]

    def filter(self) -> tuple:
        """The links and the gateways to draw; invalid fields are left out rather than guessed."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        links = PeerLink.objects.present()
        gateways = Gateway.objects.present()
        if gw := data.get("gateway"):
            links, gateways = links.filter(gateway=gw), gateways.filter(pk=gw.pk)
        if region := data.get("region"):
            links = links.filter(gateway__project__region=region)
            gateways = gateways.filter(project__region=region)
        if status := data.get("status"):
            links = links.filter(status=status)
        if peer_type := data.get("peer_type"):
            links = links.filter(peer_type=peer_type)
        return links, gateways


@login_required
def topology(request: HttpRequest) -> HttpResponse:
    form = TopologyFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    links, gateways = form.filter()
    context = {"form": form, "topology": build_topology(links=links, gateways=gateways)}
    fragment = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    template = "peerlinks/_topology_map.html" if fragment else "peerlinks/topology.html"
    # A forged filter value is a bad request; htmx still gets the re-rendered map (it ignores 4xx swaps).
    status = 200 if valid or fragment else 400
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from peerlinks.services.cloud_overview import fetch_gateway_overview


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """What the cloud says right now: each managed region with its global DC gateways."""
    overview = fetch_gateway_overview(regions=settings.CLOUD_REGIONS)
    return render(request, "peerlinks/home.html", {"overview": overview})


def refresh(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=501)


def acknowledge_drift(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(status=501)

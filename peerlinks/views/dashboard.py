"""The home dashboard: what needs attention, how fresh the data is, what changed lately."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from peerlinks.models import Drift
from peerlinks.permissions import SUBMIT, VIEW, permission_required_or_403
from peerlinks.services.dashboard import acknowledge_drift as acknowledge
from peerlinks.services.dashboard import build_dashboard
from peerlinks.tasks import sync_all_regions


@permission_required_or_403(VIEW)
def home(request: HttpRequest) -> HttpResponse:
    """Counts by status, links in trouble, sync freshness per region, drift and recent activity."""
    return render(request, "peerlinks/home.html", {"dash": build_dashboard()})


@permission_required_or_403(SUBMIT)
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Queue a full sync of every region now, then go back to where the button was."""
    sync_all_regions.enqueue()
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("peerlinks:home")
    if request.htmx and not request.htmx.boosted:
        return render(request, "peerlinks/_sync_queued.html", {"back": back})
    messages.success(request, "Sync queued: fresh data from the cloud in a few seconds.")
    return redirect(back)


@permission_required_or_403(SUBMIT)
@require_POST
def acknowledge_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one drift as seen: it leaves the dashboard's list."""
    drift = get_object_or_404(Drift, pk=pk)
    drift = acknowledge(drift_id=drift.pk, user=request.user)
    if request.htmx and not request.htmx.boosted:
        return render(request, "peerlinks/_drift_row.html", {"drift": drift})
    messages.success(request, f"Drift on {drift.peer_link} acknowledged.")
    return redirect("peerlinks:home")

"""The dashboard (`/`) and its two actions: `/refresh/` (sync now) and `/drift/…/acknowledge/`."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from peerlinks.htmx import render_htmx, vary_on_htmx, wants_fragment
from peerlinks.models import Drift
from peerlinks.permissions import SUBMIT, VIEW, permission_required_or_403
from peerlinks.services import dashboard, dispatch


@permission_required_or_403(VIEW)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Counts by status, links in trouble, sync freshness per region, drift and recent activity."""
    return render_htmx(request, "peerlinks/home.html", {"dash": dashboard.build_dashboard()})


@permission_required_or_403(SUBMIT)
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Queue a full sync of every region now (merged into one already queued), then go back."""
    dispatch.sync_all_regions()
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("peerlinks:home")
    if wants_fragment(request):
        return render_htmx(request, "peerlinks/_sync_queued.html", {"back": back})
    messages.success(request, "Sync queued: fresh data from the cloud in a few seconds.")
    return vary_on_htmx(redirect(back))


@permission_required_or_403(SUBMIT)
@require_POST
def acknowledge_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one drift as seen: it leaves the dashboard's list."""
    drift = get_object_or_404(Drift, pk=pk)
    drift = dashboard.acknowledge_drift(drift_id=drift.pk, user=request.user)
    if wants_fragment(request):
        return render_htmx(request, "peerlinks/_drift_row.html", {"drift": drift})
    messages.success(request, f"Drift on {drift.peer_link} acknowledged.")
    return vary_on_htmx(redirect("peerlinks:home"))

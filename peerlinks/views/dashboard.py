"""The dashboard (`/`) and its actions: `/refresh/` (sync now), and on drift `/drift/…/acknowledge/`,
`/drift/…/adopt/` (give a link made outside an owner and ticket) and `/drift/…/revert/` (ask to undo it);
and `/live/`, what every page's one poll asks (the navigation's counts, the cloud banner, a page's own
live parts: pending links' badges, a batch's rows, a change request's panels).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from peerlinks.forms import DriftAdoptForm
from peerlinks.htmx import leave_to, render_htmx, vary_on_htmx, wants_fragment
from peerlinks.models import Drift, is_cloud_id
from peerlinks.permissions import SUBMIT, VIEW, permission_required_or_403
from peerlinks.presentation.changes import change_page
from peerlinks.services import bulk, changes, dashboard, dispatch
from peerlinks.services import drift as drift_actions
from peerlinks.services.lifecycle import ChangeRefused, check_engineer_in
from peerlinks.templatetags.dcportal import live_state


@permission_required_or_403(VIEW)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Counts by status, links in trouble, sync freshness per region, drift and recent activity."""
    context = {
        "dash": dashboard.build_dashboard(user=request.user),
        "managed_regions": settings.CLOUD_REGIONS,
    }
    return render_htmx(request, "peerlinks/home.html", context)


# Seconds a Refresh without JavaScript waits for its sync before going back to the page.
REFRESH_WAIT = 5.0

# The pages whose own parts `/live/` sends too (base.html's poll names them); others get the navigation's
# counts and the cloud banner only.
LIVE_PAGES = {"dashboard": "peerlinks:home", "gateways": "peerlinks:gateway_list"}


@login_required
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """The page's live parts out of band when they changed since the version it shows (`v`), else 204."""
    page = request.GET.get("page", "")
    if page not in LIVE_PAGES or not request.user.has_perm(VIEW):
        page = ""
    facts = dashboard.live_facts(user=request.user, page=page)
    reads = request.user.has_perm(VIEW)
    followed = dashboard.follow_links(user=request.user, shown=_links_shown(request) if reads else {})
    batch_id, batch_shown = _panel_shown(request, "batch") if reads else (None, "")
    batch = bulk.follow_batch(user=request.user, batch_id=batch_id, shown=batch_shown)
    change_id, change_shown = _panel_shown(request, "change") if reads else (None, "")
    change = changes.follow_change(user=request.user, change_id=change_id, shown=change_shown)
    parts_changed = request.GET.get("v") != facts.version
    pending = followed.any_pending or batch.is_open or change.is_open
    fast = request.GET.get("fast") == "1"
    moved = followed.changed or batch.changed or change.changed
    if not parts_changed and not moved and fast == pending:
        return vary_on_htmx(HttpResponse(status=204))
    context = _live_context(facts, fast=pending)
    context |= {"parts": parts_changed, "followed": followed.changed}
    context |= {"followed_batch": batch.batch, "batch_progress": batch.changed}
    if change.changed:  # its panels, as its page shows them
        context |= change_page(change.changed, request.user)
    if page:  # the Refresh button: the note while its sync waits or runs, else the button again
        context |= {"sync_queued": facts.sync_queued, "back": reverse(LIVE_PAGES[page])}
    return vary_on_htmx(render(request, "peerlinks/_live.html", context))


def _links_shown(request: HttpRequest) -> dict[str, str]:
    """The pending badges the page shows (`link=<cloud ID>:<status>`, one per badge); malformed ones are
    ignored."""
    shown = {}
    for value in request.GET.getlist("link")[: dashboard.MAX_FOLLOWED_LINKS]:
        cloud_id, _sep, status = value.partition(":")
        if is_cloud_id(cloud_id.lower()) and status:
            shown[cloud_id.lower()] = status
    return shown


def _panel_shown(request: HttpRequest, name: str) -> tuple[int | None, str]:
    """The panel `name` the page follows (`<name>=<id>:<version>`, from live_follow_panel): its id and the
    version shown; (None, "") for none or a malformed one."""
    pk, _sep, version = request.GET.get(name, "").partition(":")
    if not (pk.isdigit() and len(pk) <= 18 and version):  # 18 digits: a bigint at most
        return None, ""
    return int(pk), version


def _live_context(facts: dashboard.LiveFacts, *, fast: bool = False) -> dict:
    return {
        "live": live_state(page=facts.page, version=facts.version, fast=fast),
        "dash": facts.dashboard,
        "groups": facts.gateway_groups,
        "approvals_waiting": facts.approvals_waiting,
        "notices_unread": facts.notices_unread,
        "cloud_outage": facts.outage,
    }


@permission_required_or_403(SUBMIT)
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Queue a full sync of every region now (merged into one already queued), then go back."""
    asked = timezone.now()
    dispatch.sync_all_regions()
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("peerlinks:home")
    if wants_fragment(request):
        return render_htmx(request, "peerlinks/_sync_queued.html", {})
    # Without JavaScript nothing updates the page later: wait a little for the sync, so it shows the answer.
    dispatch.wait_for_full_sync(timeout=REFRESH_WAIT)
    if dashboard.synced_since(asked):
        messages.success(request, _("Synced with Huawei Cloud just now: this page shows its answer."))
    else:
        messages.success(request, _("Sync queued: fresh data from the cloud in a few seconds."))
    return vary_on_htmx(redirect(back))


@permission_required_or_403(SUBMIT)
@require_POST
def acknowledge_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one drift as seen: it leaves the dashboard's list."""
    drift = get_object_or_404(Drift.objects.visible_to(request.user), pk=pk)
    drift = dashboard.acknowledge_drift(drift_id=drift.pk, user=request.user)
    if wants_fragment(request):
        facts = dashboard.live_facts(user=request.user, page="dashboard")
        context = {**_live_context(facts), "drift": drift}
        return render_htmx(request, "peerlinks/_drift_acknowledged.html", context)
    messages.success(request, _("Drift on {link} acknowledged.").format(link=drift.peer_link))
    return vary_on_htmx(redirect("peerlinks:home"))


def _open_drift(request: HttpRequest, pk: int) -> Drift:
    drifts = Drift.objects.visible_to(request.user).select_related("peer_link__gateway__project")
    return get_object_or_404(drifts, pk=pk)


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def adopt_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Give a link created outside dcportal an owner team and a ticket; the drift is then dealt with."""
    drift = _open_drift(request, pk)
    check_engineer_in(request.user, drift.peer_link.gateway.account)
    form = DriftAdoptForm(request.POST if request.method == "POST" else None)
    if not drift_actions.can_adopt(drift):
        form = None
    elif form.is_valid():
        try:
            drift_actions.adopt_drift(drift_id=drift.pk, user=request.user, **form.cleaned_data)
        except ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            owner = form.cleaned_data["owner_team"]
            adopted = _("{link} adopted: owned by {owner}.")
            messages.success(request, adopted.format(link=drift.peer_link, owner=owner))
            return leave_to(request, reverse("peerlinks:home"))
    status = 409 if form is None else 400 if form.is_bound and form.errors else 200
    context = {"drift": drift, "form": form, "refusal": drift_actions.NOT_ADOPTABLE}
    return render_htmx(request, "peerlinks/drift_adopt_form.html", context, status=status)


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def revert_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the change request that would undo a drift; on POST ask for it (it then awaits approval)."""
    drift = _open_drift(request, pk)
    check_engineer_in(request.user, drift.peer_link.gateway.account)
    plan = drift_actions.revert_plan(drift)
    refusal = "" if plan else drift_actions.NO_UNDO
    if request.method == "POST" and plan is not None:
        try:
            change = drift_actions.revert_drift(drift_id=drift.pk, user=request.user)
        except ChangeRefused as exc:
            refusal = str(exc)
        else:
            return leave_to(request, change.get_absolute_url())
    context = {"drift": drift, "plan": plan, "refusal": refusal}
    return render_htmx(request, "peerlinks/drift_revert_form.html", context, status=409 if refusal else 200)

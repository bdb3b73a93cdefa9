"""Every `/notices/…` URL: your in-app notices (what happened to your requests, what waits for you), and
marking them read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from peerlinks.forms import NoticeReadForm
from peerlinks.htmx import render_htmx, vary_on_htmx, wants_fragment
from peerlinks.models import Notice
from peerlinks.services.dashboard import nav_counts
from peerlinks.services.notifications import mark_notices_read

PER_PAGE = 50
UNREAD_FIRST = Case(When(read_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField())


def _list_context(request: HttpRequest) -> dict:
    notices = (
        Notice.objects.filter(user=request.user)
        .select_related("change_request")
        .order_by(UNREAD_FIRST, "-created_at", "-id")
    )
    page = Paginator(notices, PER_PAGE).get_page(request.GET.get("page"))
    return {"page": page, "unread": nav_counts(request.user).notices_unread}


@login_required
@require_GET
def notice_list(request: HttpRequest) -> HttpResponse:
    """Your notices, unread first, newest first within each."""
    return render_htmx(
        request, "peerlinks/notice_list.html", _list_context(request), fragment="peerlinks/_notice_list.html"
    )


@login_required
@require_POST
def notice_mark_read(request: HttpRequest) -> HttpResponse:
    """Mark one notice (`id`, in the form or the query string) or all your notices as read."""
    form = NoticeReadForm({"id": request.POST.get("id") or request.GET.get("id", "")})
    if not form.is_valid():
        return HttpResponse(_("The notice id must be a positive whole number."), status=400)
    notice_id = form.cleaned_data["id"]
    if notice_id is not None:
        get_object_or_404(Notice, pk=notice_id, user=request.user)
    marked = mark_notices_read(user=request.user, notice_id=notice_id)
    if wants_fragment(request):
        context = {**_list_context(request), "oob_nav": True}
        return render_htmx(request, "peerlinks/_notice_list.html", context)
    if notice_id is None:
        done = ngettext("{count} notice marked read.", "{count} notices marked read.", marked)
        messages.success(request, done.format(count=marked))
    return vary_on_htmx(redirect("peerlinks:notice_list"))

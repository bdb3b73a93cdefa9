"""`/audit/`: the append-only audit log, newest first, filterable by account, action, actor, object and
date."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from peerlinks.filters import AuditEventFilter, object_type_label
from peerlinks.htmx import render_htmx
from peerlinks.models import AuditEvent
from peerlinks.permissions import VIEW, permission_required_or_403

PAGE_SIZE = 50


@permission_required_or_403(VIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit log, filtered and paginated; htmx gets just the table."""
    events = AuditEvent.objects.visible_to(request.user).select_related("change_request", "account")
    filterset = AuditEventFilter(request.GET, queryset=events.order_by("-at", "-id"), request=request)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for event in page.object_list:
        event.changes = compact_changes(event.before, event.after)
        event.object_type_label = object_type_label(event.object_type)
    context = {"filter": filterset, "page": page}
    return render_htmx(request, "peerlinks/audit_list.html", context, fragment="peerlinks/_audit_table.html")


def compact_changes(before: object, after: object) -> list[tuple[str, object, object]]:
    """(key, before, after) for each key that differs; a side that is not a dict shows as a whole."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and isinstance(after, dict):
            return [(key, None, value) for key, value in after.items()]
        if after is None and isinstance(before, dict):
            return [(key, value, None) for key, value in before.items()]
        return [] if before is None and after is None else [("", before, after)]
    keys = list(dict.fromkeys([*before, *after]))
    return [(key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]

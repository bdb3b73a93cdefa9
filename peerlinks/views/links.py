"""Peer links: the filtered table and its CSV export, one link's page, its live status badge, local fields."""

import csv
from collections.abc import Iterator
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from peerlinks.filters import PEER_LINK_SORTS, PeerLinkFilter
from peerlinks.forms import LocalFieldsForm
from peerlinks.models import PeerLink
from peerlinks.permissions import EXPORT, SUBMIT, VIEW, permission_required_or_403
from peerlinks.services.dashboard import build_link_story, fetch_er_attachment_state, update_local_fields

PAGE_SIZE = 50


def _fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@permission_required_or_403(VIEW)
def link_list(request: HttpRequest) -> HttpResponse:
    """Every peer link, filtered, sorted and paginated; htmx gets just the table."""
    filterset = PeerLinkFilter(request.GET, queryset=PeerLink.objects.for_list())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    sort = (filterset.form.cleaned_data.get("sort") or [""])[0]
    context = {"filter": filterset, "page": page, "sort": sort, "columns": _sort_columns(sort)}
    template = "peerlinks/_peerlink_table.html" if _fragment(request) else "peerlinks/peerlink_list.html"
    return render(request, template, context)


def _sort_columns(current: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the `sort` value its header links to, and the arrow showing the current order."""
    columns = {}
    for key in PEER_LINK_SORTS:
        arrow = "▲" if current == key else "▼" if current == f"-{key}" else ""
        columns[key] = {"next": f"-{key}" if current == key else key, "arrow": arrow}
    return columns


EXPORT_COLUMNS = (
    ("cloud_id", lambda link: link.cloud_id),
    ("name", lambda link: link.name),
    ("description", lambda link: link.description),
    ("status", lambda link: link.status),
    ("reason", lambda link: link.reason),
    ("region", lambda link: link.gateway.project.region),
    ("gateway_name", lambda link: link.gateway.name),
    ("gateway_id", lambda link: link.gateway.cloud_id),
    ("peer_type", lambda link: link.peer_type),
    ("peer_gateway_id", lambda link: link.peer_gateway_id),
    ("peer_region", lambda link: link.peer_region),
    ("peer_project_id", lambda link: link.peer_project_id),
    ("link_id", lambda link: link.link_id),
    ("bandwidth_size", lambda link: link.bandwidth_size),
    ("create_owner", lambda link: link.create_owner),
    ("owner_team", lambda link: link.owner_team),
    ("ticket_ref", lambda link: link.ticket_ref),
    ("labels", lambda link: ";".join(link.labels or [])),
    ("cloud_created_at", lambda link: _iso(link.cloud_created_at)),
    ("cloud_updated_at", lambda link: _iso(link.cloud_updated_at)),
    ("synced_at", lambda link: _iso(link.synced_at)),
    ("gone_at", lambda link: _iso(link.gone_at)),
)


def _iso(value: object) -> str:
    return value.isoformat() if value else ""


def _cell(value: object) -> object:
    # A spreadsheet would run a cell starting with one of these as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(links: Iterator[PeerLink]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in EXPORT_COLUMNS])
    for link in links:
        yield writer.writerow([_cell(get(link)) for _, get in EXPORT_COLUMNS])


@permission_required_or_403(EXPORT)
def link_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered set (same filters and order as the table, all pages) as CSV, streamed."""
    filterset = PeerLinkFilter(request.GET, queryset=PeerLink.objects.for_list())
    response = StreamingHttpResponse(
        _csv_rows(filterset.qs.iterator(chunk_size=500)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="peer-links-{stamp}.csv"'
    return response


def _get_link(cloud_id: UUID) -> PeerLink:
    return get_object_or_404(PeerLink.objects.for_list(), cloud_id=str(cloud_id))


@permission_required_or_403(VIEW)
def link_detail(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """One peer link: every field, its status history, its ER attachment, local fields and its changes."""
    link = _get_link(cloud_id)
    return _render_detail(request, link, LocalFieldsForm.for_link(link))


def _render_detail(
    request: HttpRequest, link: PeerLink, form: LocalFieldsForm, status: int = 200
) -> HttpResponse:
    context = {
        "link": link,
        "story": build_link_story(link=link),
        "attachment": fetch_er_attachment_state(link=link),
        "form": form,
    }
    return render(request, "peerlinks/peerlink_detail.html", context, status=status)


@permission_required_or_403(VIEW)
def link_status(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """The status badge, polled by htmx while the link is pending; status 286 stops the polling."""
    link = _get_link(cloud_id)
    if not request.htmx:
        return redirect(link)
    html = render_to_string("peerlinks/_status_badge.html", {"link": link}, request=request)
    if link.is_pending and link.gone_at is None:
        return HttpResponse(html)
    return HttpResponseStopPolling(html)


@permission_required_or_403(SUBMIT)
@require_POST
def link_local_fields(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """Save the owner team, ticket reference and labels; htmx gets the panel back."""
    link = _get_link(cloud_id)
    form = LocalFieldsForm(request.POST)
    saved = form.is_valid()
    if saved:
        link = update_local_fields(link_id=link.pk, user=request.user, **form.cleaned_data)
        form = LocalFieldsForm.for_link(link)
    if not _fragment(request):
        if not saved:
            return _render_detail(request, link, form, status=400)
        messages.success(request, "Local fields saved.")
        return redirect(link)
    return render(request, "peerlinks/_local_fields.html", {"link": link, "form": form, "saved": saved})

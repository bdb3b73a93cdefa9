"""Every `/links/…` URL: the filtered table and its CSV export, asking for a new link (with its peer
select), one link's page with its live status badge and local fields, and asking to rename or delete it."""

import csv
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from peerlinks import paging
from peerlinks.data_version import drawn_part, filled, hole
from peerlinks.filters import PEER_LINK_SORTS, PeerLinkFilter
from peerlinks.forms import LocalFieldsForm, PeerLinkCreateForm, PeerLinkDeleteForm, PeerLinkEditForm
from peerlinks.htmx import leave_to, render_htmx, vary_on_htmx, wants_fragment
from peerlinks.models import Gateway, PeerLink
from peerlinks.permissions import EXPORT, SUBMIT, VIEW, as_key, permission_required_or_403, readable_accounts
from peerlinks.presentation import links as drawn
from peerlinks.presentation.times import iso_time
from peerlinks.services import approvals, changes, lifecycle, links

PAGE_SIZE = 50


@permission_required_or_403(VIEW)
@require_GET
def link_list(request: HttpRequest) -> HttpResponse:
    """Every peer link, filtered, sorted and paged; htmx gets just the table. The table and the filters
    are each drawn once per version of the data, query string, reader's accounts, choosing or not,
    language and zone (`drawn_part`); the bulk-delete form, with the request's CSRF token, is drawn per
    request. A request whose parts are kept reads no link and builds no filter."""
    # Checkboxes to choose links to delete together (batches.batch_delete).
    choosing = request.user.has_perm(SUBMIT)
    query = tuple(sorted(request.GET.lists()))
    shape = (query, PAGE_SIZE, as_key(readable_accounts(request.user)), choosing)

    @functools.cache
    def filterset() -> PeerLinkFilter:
        visible = PeerLink.objects.visible_to(request.user)
        return PeerLinkFilter(request.GET, queryset=visible, request=request, counted=True)

    def draw_table() -> tuple[str, bool]:
        found = filterset()
        links = PeerLink.objects.visible_to(request.user).for_list().with_peer_name().with_waiting_for()
        found.is_valid()  # validated first, as FilterSet.qs does: an invalid value is left out
        page = _link_page(request, found.filter_queryset(links))
        sort = (found.form.cleaned_data.get("sort") or [""])[0]
        context = {
            "filter": found,
            "page": page,
            "sort": sort,
            "columns": _sort_columns(sort),
            "choosing": choosing,
            "bulk_delete": hole("bulk-delete"),
        }
        html = render_to_string("peerlinks/_peerlink_table.html", context, request)
        # Whether a row's badge is followed by the page's poll (the rows' template tag says so).
        return html, getattr(request, "live_follows", False)

    html, follows = drawn_part("link table", shape, draw_table)
    if follows:
        request.live_follows = True
    if choosing:
        form = render_to_string("peerlinks/_bulk_delete_form.html", {}, request)
        html = filled(html, "bulk-delete", form)
    context = {"drawn": html}
    if not wants_fragment(request):
        context["filters"] = drawn_part(
            "link filters",
            shape,
            lambda: render_to_string("peerlinks/_peerlink_filters.html", {"filter": filterset()}, request),
        )
    return render_htmx(request, "peerlinks/peerlink_list.html", context, fragment="peerlinks/_drawn.html")


@dataclass(frozen=True)
class LinkPage:
    """One page of the table: its rows, where it stands (for the page links) and how many links match."""

    window: paging.Window
    count: int
    # The page asked for could not be shown (an old or altered page link): the first one is instead.
    restarted: bool = False

    @property
    def object_list(self) -> list[PeerLink]:
        return self.window.rows


def _link_page(request: HttpRequest, rows: QuerySet) -> LinkPage:
    """The page the request's page link names (`after` or `before` a row, or `last`), read by seeking in the
    table's order rather than counting through the rows before it; past the end, the last page."""
    asked = {
        "after": request.GET.get("after") or None,
        "before": request.GET.get("before") or None,
        "last": "last" in request.GET,
    }
    count = rows.count()
    try:
        window = paging.window(rows, size=PAGE_SIZE, **asked)
    except paging.InvalidToken:
        return LinkPage(paging.window(rows, size=PAGE_SIZE), count, restarted=True)
    if not window.rows and (asked["after"] or asked["before"]):
        window = paging.window(rows, size=PAGE_SIZE, last=True)
    return LinkPage(window, count)


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
    ("status", lambda link: link.shown_status),
    ("reason", lambda link: link.reason),
    ("account", lambda link: link.gateway.project.account.name),
    ("region", lambda link: link.gateway.project.region),
    ("gateway_name", lambda link: link.gateway.name),
    ("gateway_id", lambda link: link.gateway.cloud_id),
    ("peer_type", lambda link: link.peer_type),
    ("peer_gateway_id", lambda link: link.peer_gateway_id),
    ("peer_name", lambda link: link.peer_name),
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
    ("synced_at", lambda link: _iso(link.last_synced_at)),
    ("gone_at", lambda link: _iso(link.gone_at)),
)


def _iso(value: datetime | None) -> str:
    return iso_time(value)


# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Where else a spreadsheet may start a cell inside a value: Excel in locales such as German splits lines
# on ";" and, reading so, does not honour the quotes this file puts around a value with a line break.
_CELL_BREAK = re.compile(r"(;|\r\n|\r|\n)")


def _cell(value: object) -> object:
    """The value with a ' before each of its parts (its start, and after each ";" or line break) that a
    spreadsheet could run as a formula; leading spaces and quotes are looked past."""
    if not isinstance(value, str):
        return value
    parts = _CELL_BREAK.split(value)  # text, break, text, break, …, text
    return "".join(
        "'" + part if index % 2 == 0 and part.lstrip(' "').startswith(_FORMULA_START) else part
        for index, part in enumerate(parts)
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


# A byte order mark first: without it Excel reads the file in the machine's legacy code page and
# garbles names in Chinese (or any non-Latin script).
_BOM = "\ufeff"


def _csv_rows(rows: Iterator[PeerLink], *, zone: tzinfo) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield _BOM
    yield writer.writerow([name for name, _ in EXPORT_COLUMNS])
    for link in rows:
        # Rows are written while the response streams, after the request's zone is no longer active.
        with timezone.override(zone):
            cells = [_cell(get(link)) for _, get in EXPORT_COLUMNS]
        yield writer.writerow(cells)


@permission_required_or_403(EXPORT)
@require_GET
def link_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered set (same filters and order as the table, all pages) as CSV, streamed."""
    links = PeerLink.objects.visible_to(request.user).for_list().with_peer_name()
    filterset = PeerLinkFilter(request.GET, queryset=links, request=request)
    response = StreamingHttpResponse(
        _csv_rows(filterset.qs.iterator(chunk_size=500), zone=timezone.get_current_timezone()),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="peer-links-{stamp}.csv"'
    return response


def _get_link(request: HttpRequest, cloud_id: UUID) -> PeerLink:
    """The link, if `request`'s user may read its account (else 404, as for a link that does not exist)."""
    link = links.readable_link(user=request.user, cloud_id=str(cloud_id))
    if link is None:
        raise Http404
    return link


@permission_required_or_403(VIEW)
@require_GET
def link_detail(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """One peer link: every field, its status history, its ER attachment, local fields and its changes."""
    link = _get_link(request, cloud_id)
    return _detail(request, link, LocalFieldsForm.for_link(link))


def _detail(request: HttpRequest, link: PeerLink, form: LocalFieldsForm, status: int = 200) -> HttpResponse:
    context = {
        "link": link,
        "story": links.build_link_story(link=link),
        "attachment": links.fetch_er_attachment_state(link=link),
        "sides": links.link_sides(link=link),
        "form": form,
    }
    return render_htmx(request, "peerlinks/peerlink_detail.html", context, status=status)


@permission_required_or_403(VIEW)
@require_GET
def link_status(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """The status badge, polled by htmx while the link is pending; status 286 stops the polling."""
    link = _get_link(request, cloud_id)
    if not wants_fragment(request):
        return vary_on_htmx(redirect(link))
    html = drawn.status_badge(link, follow=drawn.followed(link))
    final = not link.is_pending or link.gone_at is not None
    return vary_on_htmx(HttpResponseStopPolling(html) if final else HttpResponse(html))


@permission_required_or_403(SUBMIT)
@require_POST
def link_local_fields(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """Save the owner team, ticket reference and labels; htmx gets the panel back."""
    link = _get_link(request, cloud_id)
    lifecycle.check_engineer_in(request.user, link.gateway.account)
    form = LocalFieldsForm(request.POST)
    saved = form.is_valid()
    if saved:
        try:
            link = links.update_local_fields(link_id=link.pk, user=request.user, **form.cleaned_data)
        except links.LinkGone as exc:
            messages.error(request, str(exc))
            return leave_to(request, link.get_absolute_url())
        form = LocalFieldsForm.for_link(link)
    if wants_fragment(request):
        context = {"link": link, "form": form, "saved": saved}
        return render_htmx(request, "peerlinks/_local_fields.html", context)
    if not saved:
        return _detail(request, link, form, status=400)
    messages.success(request, gettext("Local fields saved."))
    return vary_on_htmx(redirect(link))


# --- Asking for changes ---------------------------------------------------------------------------


def _posted(request: HttpRequest) -> Any:
    """The submitted data of a POST (even an empty one, which is then invalid), else None."""
    return request.POST if request.method == "POST" else None


def _submit(request: HttpRequest, form: Any, **change: Any) -> HttpResponse | None:
    """Ask for the change a valid form describes: off to its page, or None with the refusal on the form."""
    try:
        submitted = changes.submit_change(user=request.user, **change)
    except changes.ChangeForbidden:
        raise  # the 403 page: not theirs to ask for
    except changes.ChangeRefused as exc:
        form.add_error(None, str(exc))
        return None
    warning = approvals.submission_warning(submitted)
    if warning:
        messages.warning(request, warning)
    return leave_to(request, submitted.get_absolute_url())


def _form_status(form: Any, refusal: str = "", refusal_status: int = 409) -> int:
    if refusal:
        return refusal_status
    return 400 if form.is_bound and form.errors else 200


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_create(request: HttpRequest) -> HttpResponse:
    """Ask for a new peer link; the peer list follows the chosen gateway, type and region (without
    JavaScript, "Load peers" posts the form back to list them, keeping what was typed)."""
    if "load_peers" in request.POST:
        fields = PeerLinkCreateForm.base_fields
        initial = {name: request.POST.get(name, "") for name in fields}
        form = PeerLinkCreateForm(initial=initial, user=request.user)
    else:
        form = PeerLinkCreateForm(_posted(request), initial=request.GET.dict(), user=request.user)
    if form.is_bound and form.is_valid():
        gateway = Gateway.objects.get(cloud_id=form.cleaned_data["gateway"])
        submitted = _submit(request, form, kind="create", gateway=gateway, payload=form.payload())
        if submitted is not None:
            return submitted
    return render_htmx(
        request,
        "peerlinks/peerlink_form.html",
        {"form": form},
        fragment="peerlinks/_create_form.html",
        status=_form_status(form),
    )


@permission_required_or_403(SUBMIT)
@require_GET
def peer_options(request: HttpRequest) -> HttpResponse:
    """The peer select for the chosen gateway, type and region (loaded by htmx as choices change)."""
    if not wants_fragment(request):
        return vary_on_htmx(redirect(f"{reverse('peerlinks:link_create')}?{request.GET.urlencode()}"))
    form = PeerLinkCreateForm(initial=request.GET.dict(), user=request.user)
    return render_htmx(request, "peerlinks/_peer_options.html", {"form": form})


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_edit(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """Rename a link or change its description, through a change request."""
    link = _get_link(request, cloud_id)
    form = PeerLinkEditForm(_posted(request), link=link)
    return _ask_for_change_to(
        request,
        link,
        form,
        kind="update",
        payload=lambda: form.cleaned_data,
        page="peerlinks/peerlink_edit_form.html",
        fragment="peerlinks/_edit_form.html",
    )


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_delete(request: HttpRequest, cloud_id: UUID) -> HttpResponse:
    """Show what the link connects, and ask for a delete once its exact name is typed."""
    link = _get_link(request, cloud_id)
    return _ask_for_change_to(
        request,
        link,
        PeerLinkDeleteForm(_posted(request), link=link),
        kind="delete",
        payload=dict,
        page="peerlinks/peerlink_confirm_delete.html",
        fragment="peerlinks/_delete_form.html",
    )


def _ask_for_change_to(
    request: HttpRequest,
    link: PeerLink,
    form: Any,
    *,
    kind: str,
    payload: Callable[[], dict],
    page: str,
    fragment: str,
    **extra: Any,
) -> HttpResponse:
    """The form asking for a change to an existing link; once valid, the change request it makes."""
    lifecycle.check_engineer_in(request.user, link.gateway.account)
    refusal = changes.link_refusal(link)
    if request.method == "POST" and not refusal and form.is_valid():
        submitted = _submit(request, form, kind=kind, gateway=link.gateway, payload=payload(), peer_link=link)
        if submitted is not None:
            return submitted
    return render_htmx(
        request,
        page,
        {"form": form, "link": link, "refusal": refusal, **extra},
        fragment=fragment,
        status=_form_status(form, refusal, 403 if link.is_read_only else 409),
    )

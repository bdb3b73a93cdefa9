"""Asking for changes (create, rename/describe, delete a peer link) and following the change requests."""

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from peerlinks.forms import ChangeFilterForm, PeerLinkCreateForm, PeerLinkDeleteForm, PeerLinkEditForm
from peerlinks.models import ChangeRequest, Gateway, PeerLink
from peerlinks.permissions import SUBMIT, VIEW, permission_required_or_403
from peerlinks.services import changes


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx and not request.htmx.boosted)


def _render(
    request: HttpRequest, page: str, fragment: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """One view, two renderings; htmx only swaps 2xx, so a fragment always answers 200."""
    if _is_fragment(request):
        return render(request, fragment, context)
    return render(request, page, context, status=status)


def _posted(request: HttpRequest) -> Any:
    """The submitted data of a POST (even an empty one, which is then invalid), else None."""
    return request.POST if request.method == "POST" else None


def _form_status(form: Any, refusal: str = "", refusal_status: int = 409) -> int:
    if refusal:
        return refusal_status
    return 400 if form.is_bound and form.errors else 200


def _to_change(request: HttpRequest, change: ChangeRequest) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(change.get_absolute_url())
    return redirect(change)


def _editable_link(cloud_id: object) -> PeerLink:
    return get_object_or_404(PeerLink.objects.for_list(), cloud_id=str(cloud_id))


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_create(request: HttpRequest) -> HttpResponse:
    """Ask for a new peer link; the peer list follows the chosen gateway, type and region."""
    form = PeerLinkCreateForm(_posted(request), initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        gateway = Gateway.objects.get(cloud_id=form.cleaned_data["gateway"])
        try:
            change = changes.submit_change(
                user=request.user, kind="create", gateway=gateway, payload=form.payload()
            )
        except changes.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            return _to_change(request, change)
    page, fragment = "peerlinks/peerlink_form.html", "peerlinks/_create_form.html"
    return _render(request, page, fragment, {"form": form}, status=_form_status(form))


@permission_required_or_403(SUBMIT)
@require_GET
def peer_options(request: HttpRequest) -> HttpResponse:
    """The peer select for the chosen gateway, type and region (loaded by htmx as choices change)."""
    if not _is_fragment(request):
        return redirect(f"{reverse('peerlinks:link_create')}?{request.GET.urlencode()}")
    form = PeerLinkCreateForm(initial=request.GET.dict())
    return render(request, "peerlinks/_peer_options.html", {"form": form})


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_edit(request: HttpRequest, cloud_id: object) -> HttpResponse:
    """Rename a link or change its description, through a change request."""
    link = _editable_link(cloud_id)
    refusal = changes.link_refusal(link)
    form = PeerLinkEditForm(_posted(request), link=link)
    if request.method == "POST" and not refusal and form.is_valid():
        try:
            change = changes.submit_change(
                user=request.user,
                kind="update",
                gateway=link.gateway,
                payload=form.cleaned_data,
                peer_link=link,
            )
        except changes.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            return _to_change(request, change)
    context = {"form": form, "link": link, "refusal": refusal}
    status = _form_status(form, refusal, 403 if link.is_read_only else 409)
    return _render(
        request, "peerlinks/peerlink_edit_form.html", "peerlinks/_edit_form.html", context, status=status
    )


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def link_delete(request: HttpRequest, cloud_id: object) -> HttpResponse:
    """Show what the link connects, and ask for a delete once its exact name is typed."""
    link = _editable_link(cloud_id)
    refusal = changes.link_refusal(link)
    form = PeerLinkDeleteForm(_posted(request), link=link)
    if request.method == "POST" and not refusal and form.is_valid():
        try:
            change = changes.submit_change(
                user=request.user, kind="delete", gateway=link.gateway, payload={}, peer_link=link
            )
        except changes.ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            return _to_change(request, change)
    context = {"form": form, "link": link, "refusal": refusal, "peer_name": _peer_name(link)}
    status = _form_status(form, refusal, 403 if link.is_read_only else 409)
    page, fragment = "peerlinks/peerlink_confirm_delete.html", "peerlinks/_delete_form.html"
    return _render(request, page, fragment, context, status=status)


def _peer_name(link: PeerLink) -> str:
    """The cached name of the link's peer (router or gateway), or "" when not cached."""
    from peerlinks.models import EnterpriseRouter

    model = EnterpriseRouter if link.peer_type == PeerLink.PeerType.ER else Gateway
    return model.objects.filter(cloud_id=link.peer_gateway_id).values_list("name", flat=True).first() or ""


@permission_required_or_403(VIEW)
@require_GET
def change_list(request: HttpRequest) -> HttpResponse:
    """Change requests, newest first, filtered by state, kind and whose."""
    form = ChangeFilterForm(request.GET or None)
    queryset = ChangeRequest.objects.select_related("requested_by", "gateway", "peer_link")
    page = Paginator(form.filter(queryset, user=request.user), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return _render(request, "peerlinks/change_list.html", "peerlinks/_change_rows.html", context)


def _change_context(change: ChangeRequest, **extra: Any) -> dict[str, Any]:
    events = change.audit_events.order_by("at", "id")
    return {"change": change, "events": events, **extra}


def change_page_context(change: ChangeRequest, user: Any) -> dict[str, Any]:
    """Everything the change page shows: its state, the decision panel and the comments."""
    from peerlinks.views.approvals import CommentForm, decision_context

    return {
        **decision_context(change, user),
        **_change_context(change, can_cancel=change.can_be_cancelled_by(user)),
        "comments": change.comments.select_related("author"),
        "comment_form": CommentForm(),
    }


@permission_required_or_403(VIEW)
@require_GET
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """What a change request asks for, where it stands (polled live until final), and its audit trail."""
    queryset = ChangeRequest.objects.select_related("requested_by", "gateway__project", "peer_link")
    change = get_object_or_404(queryset, pk=pk)
    if _is_fragment(request):
        response = render(request, "peerlinks/_change_live.html", change_page_context(change, request.user))
        return HttpResponseStopPolling(response.content) if change.is_terminal else response
    return render(request, "peerlinks/change_detail.html", change_page_context(change, request.user))


@permission_required_or_403(SUBMIT)
@require_POST
def change_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw one's own request while it waits for approval or execution."""
    change = get_object_or_404(ChangeRequest, pk=pk)
    try:
        change = changes.cancel_change(change_id=change.pk, user=request.user)
    except changes.ChangeRefused as exc:
        status = 403 if isinstance(exc, changes.ChangeForbidden) else 409
        change.refresh_from_db()
        if _is_fragment(request):
            context = _change_context(change, can_cancel=False, action_error=str(exc))
            return render(request, "peerlinks/_change_state.html", context)
        context = {**change_page_context(change, request.user), "action_error": str(exc)}
        return render(request, "peerlinks/change_detail.html", context, status=status)
    if _is_fragment(request):
        return render(request, "peerlinks/_change_state.html", _change_context(change, can_cancel=False))
    return redirect(change)

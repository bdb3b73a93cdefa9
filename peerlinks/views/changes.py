"""Every `/changes/…` URL: the list of change requests, one request's page (followed live until final), and
what people do on it: cancel, edit, approve, reject, run now (before the change window), retry, comment.

What each person may do is asked of the lifecycle (`actions` in the page's context), the same guard the
services enforce, so a button is shown exactly when pressing it would succeed.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from peerlinks.forms import ChangeEditForm, ChangeFilterForm, CommentForm, DecisionForm, RunNowForm
from peerlinks.htmx import leave_to, render_htmx, render_whole_page, vary_on_htmx, wants_fragment
from peerlinks.models import ChangeRequest
from peerlinks.permissions import APPROVE, RETRY, SUBMIT, VIEW, permission_required_or_403
from peerlinks.presentation.changes import change_page
from peerlinks.services import approvals, changes, lifecycle
from peerlinks.services.lifecycle import ChangeForbidden, ChangeOutdated, ChangeRefused

PAGE = "peerlinks/change_detail.html"


@permission_required_or_403(VIEW)
@require_GET
def change_list(request: HttpRequest) -> HttpResponse:
    """Change requests, newest first, filtered by account, state, kind and whose."""
    form = ChangeFilterForm(request.GET or None, user=request.user)
    queryset = ChangeRequest.objects.visible_to(request.user).select_related(
        "requested_by", "gateway__project__account", "peer_link", "peer_account"
    )
    page = Paginator(form.filter(queryset, user=request.user), 50).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    return render_htmx(request, "peerlinks/change_list.html", context, fragment="peerlinks/_change_rows.html")


def _change(request: HttpRequest, pk: int) -> ChangeRequest:
    """The change request, if `request`'s user may read one of its accounts (else 404)."""
    return get_object_or_404(changes.visible_changes(request.user), pk=pk)


def _answer(
    request: HttpRequest, change: ChangeRequest, *, fragment: str, status: int = 200, **extra: Any
) -> HttpResponse:
    """After an action: htmx gets the panel it acted on; a plain post goes back to the page (PRG), or
    sees the page with the problem when the action was refused."""
    change = _change(request, change.pk)  # as it is now, with what its version is made of
    if not wants_fragment(request) and status == 200:
        return vary_on_htmx(redirect(change))
    return render_htmx(
        request, PAGE, change_page(change, request.user, **extra), fragment=fragment, status=status
    )


def _refused(
    request: HttpRequest, change: ChangeRequest, exc: ChangeRefused, *, fragment: str
) -> HttpResponse:
    """A refused action: a 403 page for someone who may not do it at all, else the reason where they acted."""
    if isinstance(exc, ChangeForbidden) and not wants_fragment(request):
        raise PermissionDenied(str(exc)) from exc
    status = 403 if isinstance(exc, ChangeForbidden) else 409
    return _answer(request, change, fragment=fragment, status=status, action_error=str(exc))


@permission_required_or_403(VIEW)
@require_GET
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """What a change request asks for, where it stands (followed by the page's one poll until final:
    dashboard.live), and its audit trail."""
    return render_htmx(request, PAGE, change_page(_change(request, pk), request.user))


@permission_required_or_403(SUBMIT)
@require_POST
def change_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw one's own request while it waits for approval or execution."""
    change = _change(request, pk)
    try:
        changes.cancel_change(change_id=change.pk, user=request.user)
    except ChangeRefused as exc:
        return _refused(request, change, exc, fragment="peerlinks/_change_state.html")
    return _answer(request, change, fragment="peerlinks/_change_state.html")


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def change_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester changes a pending request's name/description; earlier approvals stop counting."""
    change = _change(request, pk)
    problem = lifecycle.refusal(change, "edit", user=request.user)
    if isinstance(problem, ChangeForbidden):
        raise PermissionDenied(str(problem))
    initial = {"name": change.payload.get("name", ""), "description": change.payload.get("description", "")}
    form = ChangeEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and problem is None and form.is_valid():
        try:
            approvals.edit_change(change_id=change.pk, user=request.user, **form.cleaned_data)
        except ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            return leave_to(request, change.get_absolute_url())
    status = 409 if problem else 400 if form.errors else 200
    context = {"change": change, "form": form, "refusal": str(problem or "")}
    template = "peerlinks/change_edit_form.html"
    return render_htmx(request, template, context, fragment=template, status=status)


@permission_required_or_403(APPROVE)
@require_POST
def change_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Add this approver's approval; the panel comes back re-rendered (or the page, without htmx)."""
    return _decide(request, pk, decide=approvals.approve_change)


@permission_required_or_403(APPROVE)
@require_POST
def change_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject with a comment (required): the request ends as rejected."""
    return _decide(request, pk, decide=approvals.reject_change, rejecting=True)


def _decide(
    request: HttpRequest, pk: int, *, decide: Callable[..., Any], rejecting: bool = False
) -> HttpResponse:
    """An approver's decision with its comment: the panel again, or why it was refused."""
    change = _change(request, pk)
    panel = "peerlinks/_change_decision.html"
    form = DecisionForm(request.POST, rejecting=rejecting)
    if not form.is_valid():
        return _answer(request, change, fragment=panel, status=400, decision_form=form)
    try:
        decide(change_id=change.pk, user=request.user, **form.cleaned_data)
    except approvals.ApprovalAlreadyCounts as exc:
        if not wants_fragment(request):
            messages.info(request, str(exc))
        return _answer(request, change, fragment=panel, action_note=str(exc))
    except ChangeOutdated as exc:
        return _outdated(request, change, exc, comment=form.cleaned_data["comment"])
    except ChangeRefused as exc:
        return _refused(request, change, exc, fragment=panel)
    return _answer(request, change, fragment=panel)


def _outdated(
    request: HttpRequest, change: ChangeRequest, exc: ChangeOutdated, *, comment: str
) -> HttpResponse:
    """A decision on a version edited since: the whole page again (409), showing the new version, with the
    approver's comment kept and a form that decides on the new version; htmx scrolls to the new version,
    right above the approvals panel that says why."""
    change = _change(request, change.pk)
    form = DecisionForm.for_change(change, comment=comment)
    context = change_page(change, request.user, decision_form=form, outdated=str(exc))
    return render_whole_page(request, PAGE, context, status=409, show="#change-preview:top")


@permission_required_or_403(APPROVE)
@require_POST
def change_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    """An emergency: run an approved change waiting for the change window now, with a reason (required)."""
    change = _change(request, pk)
    panel = "peerlinks/_change_decision.html"
    form = RunNowForm(request.POST)
    if not form.is_valid():
        return _answer(request, change, fragment=panel, status=400, run_now_form=form)
    try:
        approvals.run_change_now(change_id=change.pk, user=request.user, reason=form.cleaned_data["reason"])
    except ChangeRefused as exc:
        return _refused(request, change, exc, fragment=panel)
    return _answer(request, change, fragment=panel)


@permission_required_or_403(RETRY)
@require_POST
def change_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask again for a failed change: a new linked request, which goes through approval again."""
    change = _change(request, pk)
    try:
        new = approvals.retry_change(change_id=change.pk, user=request.user)
    except ChangeRefused as exc:
        return _refused(request, change, exc, fragment="peerlinks/_change_decision.html")
    warning = approvals.submission_warning(new)
    if warning:
        messages.warning(request, warning)
    return leave_to(request, new.get_absolute_url())


@permission_required_or_403(SUBMIT)
@require_POST
def change_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add to the request's discussion; htmx gets the thread back with an empty form."""
    change = _change(request, pk)
    thread = "peerlinks/_change_comments.html"
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            approvals.add_comment(change_id=change.pk, user=request.user, body=form.cleaned_data["body"])
        except ChangeForbidden:
            raise  # the 403 page: the thread offers them no form to show it in
        except ChangeRefused as exc:
            form.add_error("body", str(exc))
        else:
            if not wants_fragment(request):
                return vary_on_htmx(redirect(f"{change.get_absolute_url()}#change-comments"))
            form = CommentForm()
    status = 400 if form.errors else 200
    return render_htmx(
        request, PAGE, change_page(change, request.user, comment_form=form), fragment=thread, status=status
    )

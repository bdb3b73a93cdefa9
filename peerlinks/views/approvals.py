"""Deciding change requests: the approvals queue, approve/reject inline, edit, retry, comments."""

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from peerlinks.forms import description_field, name_field
from peerlinks.models import ChangeRequest
from peerlinks.permissions import APPROVE, RETRY, SUBMIT, permission_required_or_403
from peerlinks.services import approvals
from peerlinks.services.changes import ChangeForbidden, ChangeRefused
from peerlinks.services.notifications import approvers_for

COMMENT_MAX = approvals.COMMENT_MAX


class DecisionForm(forms.Form):
    """An approver's comment: optional to approve, required to reject."""

    comment = forms.CharField(
        required=False, max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class CommentForm(forms.Form):
    body = forms.CharField(max_length=COMMENT_MAX, label="Comment", widget=forms.Textarea(attrs={"rows": 3}))


class ChangeEditForm(forms.Form):
    """The name and description of a pending create or rename."""

    name = name_field()
    description = description_field()


def _is_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx and not request.htmx.boosted)


def _change(pk: int) -> ChangeRequest:
    queryset = ChangeRequest.objects.select_related("requested_by", "gateway__project", "peer_link")
    return get_object_or_404(queryset, pk=pk)


def decision_context(change: ChangeRequest, user: Any, **extra: Any) -> dict[str, Any]:
    """What the decision panel shows: approvals needed and counted, who may approve, what this user may do."""
    counted = approvals.valid_approvals(change)
    counted_ids = {a.pk for a in counted}
    decisions = [(a, a.pk in counted_ids) for a in change.approvals.select_related("approver")]
    return {
        "change": change,
        "decisions": decisions,
        "received": len(counted),
        "dropped": any(a.payload_digest != change.payload_digest for a, _ in decisions),
        "approvers": approvers_for(change=change),
        "can_decide": change.can_be_decided_by(user),
        "is_own": change.requested_by_id == user.pk,
        "can_edit": change.can_be_edited_by(user),
        "can_retry": change.can_be_retried_by(user),
        "decision_form": extra.pop("decision_form", None) or DecisionForm(),
        **extra,
    }


def _panel(request: HttpRequest, change: ChangeRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    """The decision panel for htmx (always 200: htmx swaps only 2xx), else the change page."""
    change.refresh_from_db()
    context = decision_context(change, request.user, **extra)
    if _is_fragment(request):
        return render(request, "peerlinks/_change_decision.html", context)
    if status == 200:
        return redirect(change)
    from peerlinks.views.changes import change_page_context

    context = {**change_page_context(change, request.user), **context}
    return render(request, "peerlinks/change_detail.html", context, status=status)


@permission_required_or_403(APPROVE)
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Requests waiting for a decision that others made, oldest first, with their age."""
    queryset = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING_APPROVAL)
    queryset = queryset.exclude(requested_by=request.user).select_related(
        "requested_by", "gateway", "peer_link"
    )
    pending = list(queryset.order_by("created_at", "id")[:200])
    context = {"pending": pending, "now": timezone.now()}
    return render(request, "peerlinks/approval_queue.html", context)


@permission_required_or_403(APPROVE)
@require_POST
def change_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Add this approver's approval; the panel comes back re-rendered (or the page, without htmx)."""
    change = _change(pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _panel(request, change, status=400, decision_form=form)
    try:
        approvals.approve_change(change_id=change.pk, user=request.user, comment=form.cleaned_data["comment"])
    except ChangeForbidden as exc:
        if not _is_fragment(request):
            raise PermissionDenied(str(exc)) from exc
        return _panel(request, change, action_error=str(exc))
    except ChangeRefused as exc:
        return _panel(request, change, status=409, action_error=str(exc))
    return _panel(request, change)


@permission_required_or_403(APPROVE)
@require_POST
def change_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject with a comment (required): the request ends as rejected."""
    change = _change(pk)
    form = DecisionForm(request.POST)
    if form.is_valid() and not form.cleaned_data["comment"].strip():
        form.add_error("comment", "Say why: a rejection needs a comment.")
    if not form.is_valid():
        return _panel(request, change, status=400, decision_form=form)
    try:
        approvals.reject_change(change_id=change.pk, user=request.user, comment=form.cleaned_data["comment"])
    except ChangeForbidden as exc:
        if not _is_fragment(request):
            raise PermissionDenied(str(exc)) from exc
        return _panel(request, change, action_error=str(exc))
    except ChangeRefused as exc:
        return _panel(request, change, status=409, action_error=str(exc))
    return _panel(request, change)


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def change_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester changes a pending request's name/description; earlier approvals stop counting."""
    change = _change(pk)
    if change.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the person who asked for this change can edit it.")
    initial = {"name": change.payload.get("name", ""), "description": change.payload.get("description", "")}
    form = ChangeEditForm(request.POST if request.method == "POST" else None, initial=initial)
    refusal = (
        "" if change.can_be_edited_by(request.user) else "Only a pending create or rename can be edited."
    )
    if request.method == "POST" and not refusal and form.is_valid():
        try:
            approvals.edit_change(change_id=change.pk, user=request.user, **form.cleaned_data)
        except ChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            return HttpResponseClientRedirect(change.get_absolute_url()) if request.htmx else redirect(change)
    status = 409 if refusal else 400 if form.errors else 200
    context = {"change": change, "form": form, "refusal": refusal}
    return render(
        request, "peerlinks/change_edit_form.html", context, status=200 if _is_fragment(request) else status
    )


@permission_required_or_403(RETRY)
@require_POST
def change_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask again for a failed change: a new linked request, which goes through approval again."""
    change = _change(pk)
    try:
        new = approvals.retry_change(change_id=change.pk, user=request.user)
    except ChangeRefused as exc:
        return _panel(request, change, status=409, action_error=str(exc))
    return HttpResponseClientRedirect(new.get_absolute_url()) if request.htmx else redirect(new)


@permission_required_or_403(SUBMIT)
@require_POST
def change_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add to the request's discussion; htmx gets the thread back with an empty form."""
    change = _change(pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            approvals.add_comment(change_id=change.pk, user=request.user, body=form.cleaned_data["body"])
        except ChangeRefused as exc:
            form.add_error("body", str(exc))
        else:
            form = CommentForm()
            if not _is_fragment(request):
                return redirect(f"{change.get_absolute_url()}#change-comments")
    context = {"change": change, "comments": change.comments.select_related("author"), "comment_form": form}
    if _is_fragment(request):
        return render(request, "peerlinks/_change_comments.html", context)
    from peerlinks.views.changes import change_page_context

    context = {**change_page_context(change, request.user), **context}
    return render(request, "peerlinks/change_detail.html", context, status=400)

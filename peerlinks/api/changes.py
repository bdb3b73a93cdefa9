"""`/api/v1/changes`: change requests with their approvals and comments, and what people do on them:
edit, cancel, approve and reject (bound to the payload digest the caller saw), run now, retry, comment.
Each goes through the service the change page uses, under the same lifecycle and four-eyes rules."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from peerlinks.api.access import Input, drawn, get_or_404, invalid_filters, require
from peerlinks.api.idempotency import once
from peerlinks.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from peerlinks.forms import ChangeFilterForm
from peerlinks.models import ChangeRequest
from peerlinks.permissions import APPROVE, RETRY, SUBMIT, VIEW
from peerlinks.services import approvals, changes, lifecycle
from peerlinks.services.changes import DESCRIPTION_MAX, NAME_RE

router = Router(tags=["changes"])

COMMENT_MAX = approvals.COMMENT_MAX


class ApprovalOut(Schema):
    approver: str = Field(alias="approver.username")
    decision: str
    comment: str
    payload_digest: str = Field(description="The version decided on; only the current one's approvals count")
    decided_at: datetime


class CommentOut(Schema):
    id: int
    author: str = Field(alias="author.username")
    body: str
    created_at: datetime


class ChangeOut(Schema):
    """A change request, where it stands, and what the caller may do to it now (`actions`)."""

    id: int
    kind: str
    state: str
    account: str = Field(alias="gateway.project.account.name")
    peer_account: str | None = Field(None, description="The other account a cross-account link reaches")
    gateway_id: str = Field(alias="gateway.cloud_id")
    link_id: str | None = None
    payload: dict[str, Any]
    payload_digest: str = Field(description="Send it back to approve or reject this version")
    requested_by: str = Field(alias="requested_by.username")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    approvals_required: int
    expires_at: datetime | None
    not_before: datetime | None
    attempts: int
    error_code: str
    error_msg: str
    cloud_request_ids: list[str]
    retry_of: int | None = Field(alias="retry_of_id")
    reverts_drift: int | None = Field(alias="reverts_drift_id")
    approvals: list[ApprovalOut]
    comments: list[CommentOut]
    actions: list[str] = Field(description="What the caller may do now: cancel, edit, approve, reject, …")

    @staticmethod
    def resolve_peer_account(obj: ChangeRequest) -> str | None:
        return obj.peer_account.name if obj.peer_account_id else None

    @staticmethod
    def resolve_link_id(obj: ChangeRequest) -> str | None:
        return obj.peer_link.cloud_id if obj.peer_link_id else None

    @staticmethod
    def resolve_approvals(obj: ChangeRequest) -> list:
        return list(obj.approvals.all())

    @staticmethod
    def resolve_comments(obj: ChangeRequest) -> list:
        return list(obj.comments.all())

    @staticmethod
    def resolve_actions(obj: ChangeRequest, context: dict) -> list[str]:
        return sorted(lifecycle.allowed(obj, context["request"].user))


class ChangePage(Schema):
    items: list[ChangeOut]
    next: str | None


class ChangeQuery(Input):
    account: str | None = Field(None, max_length=40, description="A cloud account's name")
    state: Literal[tuple(ChangeRequest.State.values)] | None = None
    kind: Literal[tuple(ChangeRequest.Kind.values)] | None = None
    mine: bool = False
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _changes(request: HttpRequest):
    """The change requests the caller may read (peerlinks.permissions.readable_accounts)."""
    return (
        ChangeRequest.objects.visible_to(request.user)
        .select_related("requested_by", "gateway__project__account", "peer_link", "peer_account")
        .prefetch_related("approvals__approver", "comments__author")
    )


@router.get("/changes", response=ChangePage, summary="List change requests")
def list_changes(request: HttpRequest, filters: Query[ChangeQuery]) -> dict:
    """Change requests, newest first, by account, state, kind and whose (as on the list page)."""
    require(request, VIEW)
    data = {name: value for name, value in filters.model_dump(exclude={"cursor", "limit"}).items() if value}
    form = ChangeFilterForm(data, user=request.user)
    if not form.is_valid():
        raise invalid_filters(form.errors)
    queryset = form.filter(_changes(request), user=request.user)
    page = paginate(request, queryset, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next": page.next}


@router.get("/changes/{change_id}", response=ChangeOut, summary="Get a change request")
def get_change(request: HttpRequest, change_id: int) -> ChangeRequest:
    require(request, VIEW)
    return get_or_404(_changes(request), pk=change_id)


class EditIn(Input):
    name: str = Field(pattern=NAME_RE.pattern)
    description: str = Field("", max_length=DESCRIPTION_MAX)


class DecisionIn(Input):
    payload_digest: str = Field(min_length=64, max_length=64, description="The digest of the version seen")
    comment: str = Field("", max_length=COMMENT_MAX)


class RejectIn(Input):
    payload_digest: str = Field(min_length=64, max_length=64, description="The digest of the version seen")
    comment: str = Field(min_length=1, max_length=COMMENT_MAX, description="Why: a rejection needs one")


class ReasonIn(Input):
    reason: str = Field(min_length=1, max_length=COMMENT_MAX)


class CommentIn(Input):
    body: str = Field(min_length=1, max_length=COMMENT_MAX)


def _acting_on(request: HttpRequest, change_id: int, perm: str) -> ChangeRequest:
    """The change, once the caller is known to hold `perm` in an account it touches (the gateway's, or the
    peer's for a cross-account link); 404 if there is none."""
    require(request, perm)
    change = get_or_404(_changes(request), pk=change_id)
    if not any(request.user.has_perm(perm, account) for account in change.accounts):
        require(request, perm, change)
    return change


def _fresh(request: HttpRequest, change_id: int, *, status: int = 200) -> HttpResponse:
    change = _changes(request).get(pk=change_id)
    return drawn(request, ChangeOut, change, status=status, location=f"/api/v1/changes/{change.pk}")


@router.post("/changes/{change_id}/edit", response=ChangeOut, summary="Edit one's own pending request")
def edit_change(request: HttpRequest, change_id: int, body: EditIn) -> HttpResponse:
    """Change the name/description of one's own pending create or rename; earlier approvals stop counting."""
    change = _acting_on(request, change_id, SUBMIT)

    def act() -> HttpResponse:
        approvals.edit_change(
            change_id=change.pk, user=request.user, name=body.name, description=body.description
        )
        return _fresh(request, change.pk)

    return once(request, act)


@router.post("/changes/{change_id}/cancel", response=ChangeOut, summary="Cancel one's own request")
def cancel_change(request: HttpRequest, change_id: int) -> HttpResponse:
    change = _acting_on(request, change_id, SUBMIT)

    def act() -> HttpResponse:
        changes.cancel_change(change_id=change.pk, user=request.user)
        return _fresh(request, change.pk)

    return once(request, act)


@router.post("/changes/{change_id}/approve", response=ChangeOut, summary="Approve a request")
def approve_change(request: HttpRequest, change_id: int, body: DecisionIn) -> HttpResponse:
    """Approve the version whose `payload_digest` the caller saw (409 if it was edited since)."""
    change = _acting_on(request, change_id, APPROVE)

    def act() -> HttpResponse:
        approvals.approve_change(
            change_id=change.pk, user=request.user, payload_digest=body.payload_digest, comment=body.comment
        )
        return _fresh(request, change.pk)

    return once(request, act)


@router.post("/changes/{change_id}/reject", response=ChangeOut, summary="Reject a request")
def reject_change(request: HttpRequest, change_id: int, body: RejectIn) -> HttpResponse:
    """Reject the version whose `payload_digest` the caller saw, saying why."""
    change = _acting_on(request, change_id, APPROVE)

    def act() -> HttpResponse:
        approvals.reject_change(
            change_id=change.pk, user=request.user, payload_digest=body.payload_digest, comment=body.comment
        )
        return _fresh(request, change.pk)

    return once(request, act)


@router.post("/changes/{change_id}/run-now", response=ChangeOut, summary="Run before the change window")
def run_change_now(request: HttpRequest, change_id: int, body: ReasonIn) -> HttpResponse:
    """An emergency: run an approved change waiting for the change window now, saying why."""
    change = _acting_on(request, change_id, APPROVE)

    def act() -> HttpResponse:
        approvals.run_change_now(change_id=change.pk, user=request.user, reason=body.reason)
        return _fresh(request, change.pk)

    return once(request, act)


@router.post("/changes/{change_id}/retry", response={201: ChangeOut}, summary="Retry a failed request")
def retry_change(request: HttpRequest, change_id: int) -> HttpResponse:
    """Ask again for what a failed request asked: a new request, which needs approval again."""
    change = _acting_on(request, change_id, RETRY)

    def act() -> HttpResponse:
        new = approvals.retry_change(change_id=change.pk, user=request.user)
        return _fresh(request, new.pk, status=201)

    return once(request, act)


@router.post("/changes/{change_id}/comments", response={201: CommentOut}, summary="Comment on a request")
def comment_change(request: HttpRequest, change_id: int, body: CommentIn) -> HttpResponse:
    change = _acting_on(request, change_id, SUBMIT)

    def act() -> HttpResponse:
        comment = approvals.add_comment(change_id=change.pk, user=request.user, body=body.body)
        return drawn(request, CommentOut, comment, status=201)

    return once(request, act)

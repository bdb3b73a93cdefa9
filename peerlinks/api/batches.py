"""`/api/v1/batches`: many links to create (rows as JSON, or a CSV or YAML text) or to delete, previewed row
by row, asked for as one batch, decided with one approval (bound to the batch's digest), cancelled, and its
failed rows asked for again. Each goes through services.bulk, as the bulk pages do."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from pydantic import model_validator

from peerlinks.api.access import Input, drawn, get_or_404, require
from peerlinks.api.changes import COMMENT_MAX, ChangeOut, _changes
from peerlinks.api.idempotency import once
from peerlinks.api.problems import ApiProblem
from peerlinks.models import ChangeBatch, ChangeRequest
from peerlinks.permissions import APPROVE, RETRY, SUBMIT, VIEW
from peerlinks.services import bulk

router = Router(tags=["batches"])


class RowIn(Input):
    """One link to create: the gateway and the peer (router or gateway) by ID or name."""

    gateway: str = Field(min_length=1, max_length=64)
    peer: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=255)
    owner: str = Field("", max_length=255)
    ticket: str = Field("", max_length=255)


class BatchIn(Input):
    """What to ask for: `rows` or `text` (CSV or YAML, as the upload page reads it) for creates, `link_ids`
    for deletes."""

    kind: Literal["create", "delete"] = "create"
    rows: list[RowIn] | None = Field(None, max_length=bulk.MAX_ROWS)
    text: str | None = Field(None, max_length=bulk.MAX_BYTES, description="A CSV or YAML upload's text")
    format: Literal["", "csv", "yaml"] = Field("", description="The text's format; recognised when empty")
    link_ids: list[str] | None = Field(None, max_length=bulk.MAX_ROWS)
    leave_out_refused: bool = Field(
        False, description="Ask for the rows that may be, leaving out the refused"
    )

    @model_validator(mode="after")
    def one_source(self) -> "BatchIn":
        given = [name for name in ("rows", "text", "link_ids") if getattr(self, name) is not None]
        wanted = ("link_ids",) if self.kind == "delete" else ("rows", "text")
        if len(given) != 1 or given[0] not in wanted:
            raise ValueError(_("Send link_ids to delete links; rows or text (not both) to create them."))
        return self


class RowOut(Schema):
    number: int
    ok: bool
    problem: str
    values: dict[str, str]


class QuotaOut(Schema):
    gateway_id: str = Field(alias="gateway.cloud_id")
    gateway: str = Field(alias="gateway.name")
    used: int
    quota: int
    open_creates: int
    this_upload: int
    freed: int
    after: int


class PreviewOut(Schema):
    kind: str
    accepted: int
    refused: int
    rows: list[RowOut]
    quotas: list[QuotaOut]


class NotRetriedOut(Schema):
    id: int
    problem: str


class BatchOut(Schema):
    """A batch, its rows (each a change request), and the digest to decide on this version of it."""

    id: int
    kind: str
    requested_by: str = Field(alias="requested_by.username")
    created_at: datetime
    retry_of: int | None = Field(alias="retry_of_id")
    batch_digest: str = Field(description="Send it back to approve or reject this version of the batch")
    states: dict[str, int] = Field(description="How many rows are in each state")
    final: bool = Field(description="Whether every row has finished")
    rows: list[ChangeOut]
    not_retried: list[NotRetriedOut] = Field([], description="Failed rows a retry could not ask for again")

    @staticmethod
    def resolve_batch_digest(obj: ChangeBatch) -> str:
        return bulk.batch_digest(obj)

    @staticmethod
    def resolve_states(obj: ChangeBatch) -> dict[str, int]:
        return bulk.summary(list(obj.rows.all())).by_state

    @staticmethod
    def resolve_final(obj: ChangeBatch) -> bool:
        return bulk.summary(list(obj.rows.all())).is_final

    @staticmethod
    def resolve_rows(obj: ChangeBatch, context: dict) -> list[ChangeRequest]:
        return list(_changes(context["request"]).filter(batch=obj).order_by("pk"))

    @staticmethod
    def resolve_not_retried(obj: ChangeBatch) -> list[dict]:
        return [{"id": row.pk, "problem": why} for row, why in getattr(obj, "not_retried", [])]


def _preview(request: HttpRequest, body: BatchIn) -> bulk.Preview:
    """The preview of what `body` asks for; an upload that cannot be read is a 422 naming the field."""
    try:
        if body.kind == "delete":
            return bulk.preview_deletes(user=request.user, link_ids=body.link_ids)
        return bulk.preview_creates(user=request.user, records=_records(body))
    except bulk.UploadRefused as exc:
        field = "link_ids" if body.kind == "delete" else ("text" if body.text is not None else "rows")
        raise ApiProblem(
            422, str(exc), kind="invalid-upload", errors=[{"loc": ["body", field], "msg": str(exc)}]
        ) from None


def _records(body: BatchIn) -> list[dict[str, str]]:
    if body.text is not None:
        return bulk.parse(body.text, format=body.format)
    if not body.rows:
        raise bulk.UploadRefused(_("No rows: the file has no link to create."))
    return [row.model_dump() for row in body.rows]


def _preview_out(preview: bulk.Preview) -> dict:
    return {
        "kind": preview.kind,
        "accepted": len(preview.accepted),
        "refused": len(preview.refused),
        "rows": [
            {"number": row.number, "ok": row.ok, "problem": row.problem, "values": row.values}
            for row in preview.rows
        ],
        "quotas": preview.quotas,
    }


@router.post("/batches/preview", response=PreviewOut, summary="Check rows before asking for them")
def preview_batch(request: HttpRequest, body: BatchIn) -> dict:
    """Each row's verdict (would be asked for, or refused and why) and each gateway's quota, with the open
    creates and the rows before it; nothing is asked for."""
    require(request, SUBMIT)
    return _preview_out(_preview(request, body))


@router.post("/batches", response={201: BatchOut}, summary="Ask for many changes as one batch")
def submit_batch(request: HttpRequest, body: BatchIn) -> HttpResponse:
    """Ask for every row as one batch needing one approval: refused (409, each refused row named in
    `errors`) while any row is, unless `leave_out_refused`."""
    require(request, SUBMIT)
    _preview(request, body)  # an upload that cannot be read: 422 before anything else

    def act() -> HttpResponse:
        try:
            if body.kind == "delete":
                batch = bulk.submit_deletes(
                    user=request.user, link_ids=body.link_ids, leave_out_refused=body.leave_out_refused
                )
            else:
                batch = bulk.submit_creates(
                    user=request.user, records=_records(body), leave_out_refused=body.leave_out_refused
                )
        except bulk.BatchRefused as exc:
            raise ApiProblem(
                409,
                str(exc),
                kind="batch-refused",
                errors=[
                    {"loc": ["body", "rows", row.number - 1], "msg": row.problem}
                    for row in exc.preview.refused
                ],
            ) from None
        return _drawn(request, batch, status=201)

    return once(request, act)


def _drawn(request: HttpRequest, batch: ChangeBatch, *, status: int = 200) -> HttpResponse:
    return drawn(request, BatchOut, batch, status=status, location=f"/api/v1/batches/{batch.pk}")


def _batch(request: HttpRequest, batch_id: int, perm: str) -> ChangeBatch:
    """The batch, if the caller may read one of its rows (else 404) and holds `perm`."""
    require(request, perm)
    readable = ChangeRequest.objects.visible_to(request.user).filter(batch=batch_id)
    return get_or_404(ChangeBatch.objects.filter(rows__in=readable).distinct(), pk=batch_id)


@router.get("/batches/{batch_id}", response=BatchOut, summary="Get a batch with its rows")
def get_batch(request: HttpRequest, batch_id: int) -> ChangeBatch:
    return _batch(request, batch_id, VIEW)


class BatchDecisionIn(Input):
    batch_digest: str = Field(min_length=64, max_length=64, description="The digest of the version seen")
    comment: str = Field("", max_length=COMMENT_MAX)


class BatchRejectIn(Input):
    batch_digest: str = Field(min_length=64, max_length=64, description="The digest of the version seen")
    comment: str = Field(min_length=1, max_length=COMMENT_MAX, description="Why: a rejection needs one")


@router.post("/batches/{batch_id}/approve", response=BatchOut, summary="Approve every pending row")
def approve_batch(request: HttpRequest, batch_id: int, body: BatchDecisionIn) -> HttpResponse:
    """Approve every pending row of the version whose `batch_digest` the caller saw (409 if a row changed
    since, or if one row may not be approved: then none is)."""
    batch = _batch(request, batch_id, APPROVE)

    def act() -> HttpResponse:
        bulk.approve_batch(
            batch_id=batch.pk, user=request.user, batch_digest=body.batch_digest, comment=body.comment
        )
        return _drawn(request, batch)

    return once(request, act)


@router.post("/batches/{batch_id}/reject", response=BatchOut, summary="Reject every pending row")
def reject_batch(request: HttpRequest, batch_id: int, body: BatchRejectIn) -> HttpResponse:
    batch = _batch(request, batch_id, APPROVE)

    def act() -> HttpResponse:
        bulk.reject_batch(
            batch_id=batch.pk, user=request.user, batch_digest=body.batch_digest, comment=body.comment
        )
        return _drawn(request, batch)

    return once(request, act)


@router.post("/batches/{batch_id}/cancel", response=BatchOut, summary="Cancel one's own batch")
def cancel_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Withdraw every row of one's own batch that has not started running."""
    batch = _batch(request, batch_id, SUBMIT)

    def act() -> HttpResponse:
        bulk.cancel_batch(batch_id=batch.pk, user=request.user)
        return _drawn(request, batch)

    return once(request, act)


@router.post("/batches/{batch_id}/retry-failed", response={201: BatchOut}, summary="Retry the failed rows")
def retry_failed_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Ask again for the failed rows, as a new batch that needs approval again; `not_retried` names the
    rows refused now."""
    batch = _batch(request, batch_id, RETRY)

    def act() -> HttpResponse:
        retried = bulk.retry_failed(batch_id=batch.pk, user=request.user)
        retried.batch.not_retried = retried.refused
        return _drawn(request, retried.batch, status=201)

    return once(request, act)

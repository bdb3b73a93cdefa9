"""Every `/batches/…` URL: an upload of links to create, or links chosen in the list to delete, previewed row
by row and then asked for as one batch; a batch's page with its rows' states (followed by the page's one poll
until every row is final), and deciding, cancelling and retrying it as one (services.bulk)."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from peerlinks.forms import BulkDeleteForm, BulkUploadForm, DecisionForm
from peerlinks.htmx import leave_to, render_htmx, render_whole_page
from peerlinks.models import ChangeBatch
from peerlinks.permissions import APPROVE, RETRY, SUBMIT, VIEW, permission_required_or_403
from peerlinks.services import bulk
from peerlinks.services.lifecycle import ChangeForbidden, ChangeOutdated, ChangeRefused

SAMPLE = "gateway,peer,name,description,owner,ticket\ngdgw-core,er-prod,to-er-prod,,team-a,CHG-1\n"


@permission_required_or_403(SUBMIT)
@require_http_methods(["GET", "POST"])
def batch_new(request: HttpRequest) -> HttpResponse:
    """Upload or paste links to create: the preview first (each row's verdict, each gateway's quota), then,
    with "Ask for these links", one batch."""
    form = BulkUploadForm(request.POST or None, request.FILES or None)
    preview, status = None, 200
    if form.is_bound and form.is_valid():
        records = form.cleaned_data["records"]
        preview = bulk.preview_creates(user=request.user, records=records)
        if "submit" in request.POST:
            leave_out = form.cleaned_data["leave_out_refused"]
            answer = _submitted(
                request,
                lambda: bulk.submit_creates(user=request.user, records=records, leave_out_refused=leave_out),
            )
            if isinstance(answer, HttpResponse):
                return answer
            preview, status = answer or preview, 409
        # The preview's form sends back exactly the rows it shows.
        form = BulkUploadForm(
            initial={"text": form.cleaned_data["text"], "format": form.cleaned_data["format"]}
        )
    elif form.is_bound:
        status = 400
    context = {"form": form, "preview": preview, "sample": SAMPLE, "max_rows": bulk.MAX_ROWS}
    return render_htmx(request, "peerlinks/batch_new.html", context, status=status)


@permission_required_or_403(SUBMIT)
@require_POST
def batch_delete(request: HttpRequest) -> HttpResponse:
    """The links chosen in the list, previewed for deleting; with their number typed, one batch."""
    form = BulkDeleteForm(request.POST)
    form.is_valid()
    link_ids = form.cleaned_data.get("link") or []
    try:
        preview = bulk.preview_deletes(user=request.user, link_ids=link_ids)
    except bulk.UploadRefused as exc:
        messages.error(request, str(exc))
        return leave_to(request, _back_to_list(request))
    status = 200
    if "submit" in request.POST:
        leave_out = form.cleaned_data.get("leave_out_refused", False)
        count = len(preview.accepted) if leave_out else len(preview.rows)
        if form.check_count(count):
            answer = _submitted(
                request,
                lambda: bulk.submit_deletes(
                    user=request.user, link_ids=link_ids, leave_out_refused=leave_out
                ),
            )
            if isinstance(answer, HttpResponse):
                return answer
            preview = answer or preview
        status = 400 if form.errors else 409
    context = {"form": form, "preview": preview}
    return render_htmx(request, "peerlinks/batch_delete.html", context, status=status)


def _back_to_list(request: HttpRequest) -> str:
    """The list the links were chosen in (its filters kept), if `next` is an address of this site."""
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure()):
        return wanted
    return reverse("peerlinks:link_list")


def _submitted(request: HttpRequest, submit: Any) -> HttpResponse | bulk.Preview | None:
    """Ask for the batch: off to its page; else the message, and the fresh preview when rows are refused."""
    try:
        batch = submit()
    except bulk.BatchRefused as exc:
        messages.error(request, str(exc))
        return exc.preview
    except ChangeForbidden:
        raise
    except ChangeRefused as exc:
        messages.error(request, str(exc))
        return None
    messages.success(
        request,
        ngettext(
            "Asked for {count} change as one batch.",
            "Asked for {count} changes as one batch.",
            batch.rows.count(),
        ).format(count=batch.rows.count()),
    )
    return leave_to(request, batch.get_absolute_url())


def _batch(request: HttpRequest, pk: int) -> ChangeBatch:
    """The batch, if `request`'s user may read one of its rows (else 404)."""
    return get_object_or_404(bulk.visible_batches(request.user), pk=pk)


def _context(request: HttpRequest, batch: ChangeBatch, **extra: Any) -> dict[str, Any]:
    return {
        "batch": batch,
        "progress": bulk.batch_progress(batch, user=request.user),
        "decision_form": DecisionForm(initial={"payload_digest": bulk.batch_digest(batch)}),
        "retries": list(batch.retries.all()),
        **extra,
    }


@permission_required_or_403(VIEW)
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A batch: what it asks for, each row's state (followed by the page's one poll while any is unfinished:
    dashboard.live), and what to do now."""
    batch = _batch(request, pk)
    return render_htmx(request, "peerlinks/batch_detail.html", _context(request, batch))


def _as_it_is_now(request: HttpRequest, batch: ChangeBatch) -> HttpResponse:
    """A step refused: the batch's page as it is now, with why (a 409), scrolled to its head."""
    return render_whole_page(
        request, "peerlinks/batch_detail.html", _context(request, batch), status=409, show="#batch-head:top"
    )


def _act(request: HttpRequest, pk: int, act: Any, done: str) -> HttpResponse:
    """Take a step on the whole batch: back to its page with what was done, or with why not (a 409 with
    the page as it is now; a 403 for a step that is not the person's to take)."""
    batch = _batch(request, pk)
    try:
        act(batch)
    except ChangeOutdated as exc:
        messages.error(request, str(exc))
        return _as_it_is_now(request, batch)
    except ChangeForbidden:
        raise
    except ChangeRefused as exc:
        messages.warning(request, str(exc))
        return _as_it_is_now(request, batch)
    messages.success(request, done)
    return leave_to(request, batch.get_absolute_url())


def _decide(request: HttpRequest, pk: int, decide: Callable[..., object], done: str) -> HttpResponse:
    """Approve or reject every pending row of the version the approver saw (its digest), with a comment."""
    form = DecisionForm(request.POST)
    form.is_valid()
    return _act(
        request,
        pk,
        lambda batch: decide(
            batch_id=batch.pk,
            user=request.user,
            batch_digest=form.cleaned_data.get("payload_digest", ""),
            comment=form.cleaned_data.get("comment", ""),
        ),
        done,
    )


@permission_required_or_403(APPROVE)
@require_POST
def batch_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, bulk.approve_batch, gettext("You approved every pending row of this batch."))


@permission_required_or_403(APPROVE)
@require_POST
def batch_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, bulk.reject_batch, gettext("You rejected every pending row of this batch."))


@permission_required_or_403(SUBMIT)
@require_POST
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda batch: bulk.cancel_batch(batch_id=batch.pk, user=request.user),
        gettext("Cancelled every row of this batch that had not started."),
    )


@permission_required_or_403(RETRY)
@require_POST
def batch_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask again for the failed rows, as a new batch needing approval: off to its page."""
    batch = _batch(request, pk)
    try:
        retried = bulk.retry_failed(batch_id=batch.pk, user=request.user)
    except ChangeForbidden:
        raise
    except ChangeRefused as exc:
        messages.warning(request, str(exc))
        return _as_it_is_now(request, batch)
    for row, why in retried.refused:
        messages.warning(
            request, gettext("Row #{id} was not asked for again: {why}").format(id=row.pk, why=why)
        )
    messages.success(
        request, gettext("The failed rows were asked for again as this batch; it needs approval.")
    )
    return leave_to(request, retried.batch.get_absolute_url())

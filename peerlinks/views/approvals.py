"""`/approvals/`: the requests waiting for this approver's decision (others' pending ones in the accounts
they approve for), oldest first, with whether each can still get its approvals and what it does to its
gateway's quota."""

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from peerlinks.htmx import render_htmx
from peerlinks.permissions import APPROVE, holders, permission_required_or_403
from peerlinks.services import approvals, attachments, bulk, changes
from peerlinks.services.dashboard import nav_counts

LISTED = 200


@permission_required_or_403(APPROVE)
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Requests waiting for a decision that this approver may take (others' requests in the accounts they
    approve for), oldest first, with their age."""
    # A batch's rows are decided together: the queue lists the batch once, not each of its rows.
    queryset = (
        approvals.awaiting_decision(request.user)
        .filter(batch__isnull=True)
        .with_cross_account_rule()
        .select_related("requested_by", "gateway__project__account", "peer_account", "peer_link")
    )
    pending = list(changes.with_open_creates(queryset).prefetch_related("approvals")[:LISTED])
    outlooks = approvals.approval_outlooks(pending, approvers=holders(APPROVE))
    creates = {change.gateway_id: change.open_creates for change in pending}
    rows = [
        (change, outlooks[change.pk], changes.quota_outlook(change, open_creates=creates))
        for change in pending
    ]
    context = {
        "rows": rows,
        "now": timezone.now(),
        "attachments": attachments.waiting_for_user(user=request.user),
        # Read only when the navigation's count (read with the page's frame) says some wait.
        "batches": bulk.awaiting_decision(request.user).select_related("requested_by")[:LISTED]
        if nav_counts(request.user).batches_waiting
        else [],
    }
    return render_htmx(request, "peerlinks/approval_queue.html", context)

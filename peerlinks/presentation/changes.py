"""What a change request's page shows in its panels, read in one place for the page (views.changes) and for
the page's one poll, which brings the panels again while the change is open (views.dashboard.live)."""

from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from peerlinks.forms import CommentForm, DecisionForm, RunNowForm
from peerlinks.models import Approval, ChangeRequest
from peerlinks.services import approvals, changes, lifecycle, links
from peerlinks.services.lifecycle import ChangeForbidden


def change_page(change: ChangeRequest, user: Any, **extra: Any) -> dict[str, Any]:
    """Everything the change page and its panels show, and what `user` may do on it now; `change` read
    through `changes.visible_changes` (its version is made of what that read)."""
    # Its decisions read once, for the counts, the outlook and the panels alike.
    prefetch_related_objects([change], Prefetch("approvals", Approval.objects.select_related("approver")))
    counted = approvals.valid_approvals(change)
    counted_ids = {approval.pk for approval in counted}
    decisions = [(a, a.pk in counted_ids) for a in change.approvals.all()]
    undecidable = lifecycle.refusal(change, "approve", user=user)
    pending = change.state == ChangeRequest.State.PENDING_APPROVAL
    return {
        "change": change,
        "change_version": changes.change_version(change),
        "actions": lifecycle.allowed(change, user),
        # Why nobody can decide a pending request now (it expired), whoever is looking.
        "decision_closed": "" if isinstance(undecidable, ChangeForbidden) else str(undecidable or ""),
        "is_own": change.requested_by_id == user.pk,
        "decisions": decisions,
        "received": len(counted),
        "dropped": any(a.payload_digest != change.payload_digest for a, _ in decisions),
        "outlook": approvals.approval_outlook(change) if pending else None,
        # The gateway's open creates were counted with the change (visible_changes).
        "quota": changes.quota_outlook(change, open_creates={change.gateway_id: change.other_creates})
        if not change.is_terminal
        else None,
        "decision_form": DecisionForm.for_change(change),
        "run_now_form": RunNowForm(),
        "events": change.audit_events.order_by("at", "id"),
        "retries": list(change.retries.all()) if change.is_terminal else [],  # only a final change has any
        "comments": change.comments.select_related("author"),
        "comment_form": CommentForm(),
        "sides": _sides(change) if change.peer_account_id and change.peer_link else None,
        **extra,
    }


def _sides(change: ChangeRequest) -> links.LinkSides | None:
    """Both sides of the link a cross-account change made or changes, from what was read with the change:
    the link's gateway is the change's, and its peer (name and account) the change's when the same."""
    link = change.peer_link
    if link.gateway_id == change.gateway_id:
        link.gateway = change.gateway
    same_peer = link.peer_gateway_id == change.peer_fields.get("peer_gateway_id")
    if same_peer and hasattr(change, "peer_account_name"):
        link.peer_name, link.peer_account_name = change.peer_name, change.peer_account_name
    return links.link_sides(link=link)

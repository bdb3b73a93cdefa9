"""Accepting or rejecting an attachment another account asked for on a managed router: POST only, from the
link's page or the approvals page, back to where the approver came from with what happened."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from peerlinks import cloud
from peerlinks.htmx import leave_to
from peerlinks.models import SharedAttachment
from peerlinks.permissions import APPROVE, permission_required_or_403
from peerlinks.presentation.text import describe_cloud_error
from peerlinks.services import attachments


@permission_required_or_403(APPROVE)
@require_POST
def attachment_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept a waiting attachment (an approver of the router's account only)."""
    return _decide(request, pk, decide=attachments.accept_attachment)


@permission_required_or_403(APPROVE)
@require_POST
def attachment_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject a waiting attachment (an approver of the router's account only)."""
    return _decide(request, pk, decide=attachments.reject_attachment)


def _decide(request: HttpRequest, pk: int, *, decide: Callable[..., Any]) -> HttpResponse:
    """PermissionDenied from the service becomes the 403 page; anything else is a message on the way back."""
    attachment = get_object_or_404(SharedAttachment.objects.select_related("router"), pk=pk)
    try:
        decision = decide(attachment_id=attachment.pk, user=request.user)
    except attachments.AttachmentNotWaiting as exc:
        messages.info(request, str(exc))
    except cloud.CloudError as exc:
        messages.error(request, describe_cloud_error(exc))
    else:
        accepted = decision.attachment.state != "rejected"
        text = _("Accepted the attachment to router {router}.") if accepted else None
        text = text or _("Rejected the attachment to router {router}: the link ends in error.")
        messages.success(request, text.format(router=attachment.router.name))
    return leave_to(request, _back(request, attachment))


def _back(request: HttpRequest, attachment: SharedAttachment) -> str:
    """Where the form came from (`next`, on this site only), else the link's page or the approvals page."""
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure()):
        return wanted
    link = attachment.peer_link()
    return link.get_absolute_url() if link is not None else reverse("peerlinks:approval_queue")

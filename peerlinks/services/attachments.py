"""Attachments another account asked for on a managed enterprise router (cross-account peer links): what
waits for a decision, and the router account's approver accepting or rejecting it.

The decision is the router's account's: only someone who may approve changes in that account takes it.
It is sent with that account's credentials, audited in that account, told to the requester of the link,
and the link is looked at again at once, so it turns ACTIVE (or ERROR) without waiting for a full sync.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from peerlinks import cloud, permissions
from peerlinks.models import CloudAccount, PeerLink, SharedAttachment
from peerlinks.services import dispatch, sync
from peerlinks.services.audit import record_audit

logger = logging.getLogger(__name__)


class AttachmentNotWaiting(Exception):
    """The attachment no longer waits for a decision (decided meanwhile, by a double click or elsewhere)."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state

    def __str__(self) -> str:
        if not self.state:
            return _("This attachment no longer exists in the cloud: there is nothing left to decide.")
        return _("This attachment no longer waits for a decision: it is {state}.").format(state=self.state)


def can_decide(*, user: AbstractBaseUser, attachment: SharedAttachment) -> bool:
    """Whether `user` may accept or reject this attachment now: it waits, and they approve in its account."""
    return attachment.is_waiting and user.has_perm(permissions.APPROVE, attachment.account)


def waiting_for_user(*, user: AbstractBaseUser) -> list[SharedAttachment]:
    """The attachments waiting in the accounts where `user` approves, oldest first."""
    accounts = permissions.accounts_with_perm(user, permissions.APPROVE)
    waiting = SharedAttachment.objects.waiting()
    if accounts is not None:
        waiting = waiting.filter(router__project__account_id__in=accounts)
    return list(waiting)


@dataclass
class Decision:
    """An attachment decided: its row as now stored, and the link it belongs to (as re-checked)."""

    attachment: SharedAttachment
    link: PeerLink | None


def accept_attachment(*, attachment_id: int, user: AbstractBaseUser) -> Decision:
    """Accept a waiting attachment in the router's account; the link then goes on to ACTIVE."""
    return _decide(attachment_id=attachment_id, user=user, accept=True)


def reject_attachment(*, attachment_id: int, user: AbstractBaseUser) -> Decision:
    """Reject a waiting attachment in the router's account; the link then ends in ERROR."""
    return _decide(attachment_id=attachment_id, user=user, accept=False)


def _decide(*, attachment_id: int, user: AbstractBaseUser, accept: bool) -> Decision:
    """Raises PermissionDenied (not an approver of the router's account), AttachmentNotWaiting, or the
    cloud's error (nothing changed then)."""
    no_longer: str | None = None
    with transaction.atomic():
        row = (
            SharedAttachment.objects.select_for_update(of=("self",))
            .select_related("router__project__account")
            .get(pk=attachment_id)
        )
        account = row.account
        if not user.has_perm(permissions.APPROVE, account):
            raise PermissionDenied(
                _("Only an approver of account {account} may decide on this attachment.").format(
                    account=account.name
                )
            )
        if not row.is_waiting:
            raise AttachmentNotWaiting("" if row.gone_at else row.state)
        send = cloud.accept_er_attachment if accept else cloud.reject_er_attachment
        try:
            result = send(
                region=row.router.region,
                er_id=row.router.cloud_id,
                attachment_id=row.cloud_id,
                config=account.cloud_config(),
            )
        except (cloud.Conflict, cloud.NotFound):
            # Decided (or withdrawn) in the cloud meanwhile: note what it is now, and say so.
            no_longer = _note_current_state(row, account=account)
        else:
            now = timezone.now()
            before = {"attachment_state": row.state}
            row.state = str(result.attachment.state or "")
            row.decided_at, row.decided_by, row.synced_at = now, user, now
            row.save(update_fields=["state", "decided_at", "decided_by", "synced_at"])
            record_audit(
                action="attachment.accepted" if accept else "attachment.rejected",
                actor=user,
                obj=row,
                before=before,
                after={
                    "attachment_state": row.state,
                    "router_name": row.router.name,
                    "gateway_id": row.resource_id,
                    "found_by_lookup": result.recovered,
                },
                cloud_request_id=result.request_id,
                change=row.creating_change(),
                account_id=account.pk,
            )
            dispatch.notify_attachment("accepted" if accept else "rejected", attachment_id=row.pk)
    if no_longer is not None:
        raise AttachmentNotWaiting(no_longer)
    return Decision(attachment=row, link=recheck_link(attachment=row))


def _note_current_state(row: SharedAttachment, *, account: CloudAccount) -> str:
    """Store the attachment's state as the cloud has it now ("" once gone); what it is."""
    now = timezone.now()
    try:
        current = cloud.show_er_attachment(
            region=row.router.region,
            er_id=row.router.cloud_id,
            attachment_id=row.cloud_id,
            config=account.cloud_config(),
        )
    except cloud.NotFound:
        row.gone_at = now
        row.save(update_fields=["gone_at"])
        return ""
    except cloud.CloudError as exc:
        logger.info("attachment %s: its state after a refused decision is unknown: %s", row.cloud_id, exc)
        return row.state
    row.state, row.synced_at = str(current.state or ""), now
    row.decided_at = row.decided_at or now
    row.save(update_fields=["state", "synced_at", "decided_at"])
    return row.state


def recheck_link(*, attachment: SharedAttachment) -> PeerLink | None:
    """Fetch the links of the gateway that asked for the attachment (in the gateway's account) so its new
    status shows at once; a failure is logged and left to the scheduler's next re-check."""
    link = attachment.peer_link()
    if link is None:
        return None
    gateway = link.gateway
    try:
        sync.sync_region(
            region=gateway.region, account=gateway.project.account, gateway_ids=[gateway.cloud_id]
        )
    except cloud.CloudError as exc:
        logger.info("link %s not re-checked after its attachment was decided: %s", link.cloud_id, exc)
    link.refresh_from_db()
    return link

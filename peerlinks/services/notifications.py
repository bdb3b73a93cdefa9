"""Telling people what happened to a change request: an email and an in-app notice per person.

Run by the task worker (`notify`, queued by `dispatch.notify` after the change's transaction commits), so
a slow mail server never holds a web request. Notifying is best effort: a mail server that is down or a
bad address is logged and never undoes or breaks the change that triggered it.
"""

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from peerlinks.models import (
    Approval,
    ChangeRequest,
    CloudAccount,
    Comment,
    Notice,
    SharedAttachment,
)
from peerlinks.permissions import APPROVE, holders
from peerlinks.presentation.reasons import translated
from peerlinks.presentation.text import one_line
from peerlinks.services import webhooks
from peerlinks.services.lifecycle import may_approve
from peerlinks.services.preferences import preferences_by_user, speaking_to

logger = logging.getLogger(__name__)

NOTICE_LIMIT = Notice._meta.get_field("message").max_length


def _best_effort(func: Callable[..., None]) -> Callable[..., None]:
    """A notification that fails is logged; the change that triggered it has already happened."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            change = kwargs.get("change")
            logger.exception("%s for change #%s failed", func.__name__, getattr(change, "pk", "?"))

    return wrapper


@_best_effort
def notify_submitted(*, change: ChangeRequest) -> None:
    """Ask everyone who may approve the request (never its requester) to look at it."""
    approvers = list(approvers_for(change=change))
    if not approvers:
        logger.warning("change #%s waits for approval but nobody active may approve it", change.pk)
    context = {"change": change, "url": absolute_url(change.get_absolute_url())}
    _notify(
        users=approvers,
        change=change,
        subject=lambda: _("{change} needs your approval").format(change=change_label(change)),
        template="peerlinks/email/change_submitted.txt",
        context=context,
        notice=("submitted", {"requester": change.requested_by.get_username()}),
        event="submitted",
    )


@_best_effort
def notify_batch_submitted(*, change: ChangeRequest) -> None:
    """A batch's rows are submitted together and decided together: its approvers are asked once, when its
    first row is notified (each row's webhooks are still published), with the batch's page to open."""
    batch = change.batch
    rows = list(batch.rows.select_related("gateway__project__account", "peer_account").order_by("pk"))
    if change.pk != rows[0].pk:
        return
    holding = holders(APPROVE)
    pending = [row for row in rows if row.state == ChangeRequest.State.PENDING_APPROVAL]
    approvers = {h.user.pk: h.user for h in holding if any(may_approve(h, row) for row in pending)}
    params = {"batch": batch.pk, "count": len(rows), "requester": change.requested_by.get_username()}
    _notify(
        users=approvers.values(),
        change=change,
        subject=lambda: notice_text("batch_submitted", params),
        template="peerlinks/email/batch_submitted.txt",
        context={
            "batch": batch,
            "count": len(rows),
            "change": change,
            "url": absolute_url(batch.get_absolute_url()),
        },
        notice=("batch_submitted", params),
        event="submitted",
    )


@_best_effort
def notify_decided(*, change: ChangeRequest, approval: Approval) -> None:
    """Tell the requester that an approver approved or rejected their request, with the comment."""
    verb = "rejected" if approval.decision == Approval.Decision.REJECT else "approved"
    who = approval.approver.get_username()
    _notify(
        users=[change.requested_by],
        change=change,
        subject=lambda: notice_text(verb, {**_label_params(change), "who": who}),
        template="peerlinks/email/change_decided.txt",
        context={
            "change": change,
            "approval": approval,
            "verb": verb,
            "waiting": change.state == ChangeRequest.State.PENDING_APPROVAL,
            "url": absolute_url(change.get_absolute_url()),
        },
        notice=(verb, {"who": who, "comment": approval.comment}),
        event="decided",
    )


@_best_effort
def notify_finished(*, change: ChangeRequest) -> None:
    """Tell the requester how the execution ended: done, or failed with the cloud's error."""
    failed = change.state != ChangeRequest.State.DONE
    outcome = {"code": change.error_code or "ERROR"} if failed else {}
    _notify(
        users=[change.requested_by],
        change=change,
        subject=lambda: notice_text("failed" if failed else "done", {**_label_params(change), **outcome}),
        template="peerlinks/email/change_finished.txt",
        context={"change": change, "failed": failed, "url": absolute_url(change.get_absolute_url())},
        notice=("failed", {**outcome, "reason": change.error_msg}) if failed else ("done", {}),
        event="finished",
    )


@_best_effort
def notify_expired(*, change: ChangeRequest) -> None:
    """Tell the requester that nobody decided in time and the request expired."""
    _notify(
        users=[change.requested_by],
        change=change,
        subject=lambda: _("{change} expired").format(change=change_label(change)),
        template="peerlinks/email/change_expired.txt",
        context={"change": change, "url": absolute_url(change.get_absolute_url())},
        notice=("expired", {}),
        event="expired",
    )


@_best_effort
def notify_run_now(*, change: ChangeRequest) -> None:
    """Tell the requester that someone ran their approved change before the change window, and why."""
    event = change.audit_events.filter(action="change.run_now").order_by("-at", "-id").first()
    who = event.actor_name if event is not None else ""
    reason = (event.after or {}).get("reason", "") if event is not None else ""
    _notify(
        users=[change.requested_by],
        change=change,
        subject=lambda: _("{change} run now by {who}, before the change window").format(
            change=change_label(change), who=who or _("an approver")
        ),
        template="peerlinks/email/change_run_now.txt",
        context={
            "change": change,
            "who": who or gettext_lazy("an approver"),  # in each recipient's language
            "reason": reason,
            "url": absolute_url(change.get_absolute_url()),
        },
        notice=("run_now", {"who": who, "reason": reason}),
        event="run_now",
    )


@_best_effort
def notify_commented(*, change: ChangeRequest, comment: Comment) -> None:
    """Tell the people in a change's discussion about a new comment: the requester, those who approved or
    rejected it, and earlier commenters; never the comment's author."""
    people = {change.requested_by_id: change.requested_by}
    for approval in change.approvals.select_related("approver"):
        people.setdefault(approval.approver_id, approval.approver)
    for earlier in change.comments.filter(pk__lt=comment.pk).select_related("author"):
        people.setdefault(earlier.author_id, earlier.author)
    people.pop(comment.author_id, None)
    who = comment.author.get_username()
    _notify(
        users=sorted(people.values(), key=lambda user: user.get_username()),
        change=change,
        subject=lambda: _("{change}: comment from {who}").format(change=change_label(change), who=who),
        template="peerlinks/email/change_commented.txt",
        context={"change": change, "comment": comment, "url": absolute_url(change.get_absolute_url())},
        notice=("commented", {"who": who, "comment": comment.body}),
        event="commented",
    )


def notify(
    event: str,
    *,
    change_id: int,
    approval_id: int | None = None,
    comment_id: int | None = None,
    people: bool = True,
) -> None:
    """Tell the people `event` ("submitted", "decided", "commented", "run_now", "finished", "expired")
    concerns about a change, and the webhooks subscribed to it (only those with `people` False: a batch's
    decision tells its requester once, `notify_batch`)."""
    change = (
        ChangeRequest.objects.select_related("requested_by", "gateway", "batch").filter(pk=change_id).first()
    )
    if change is None:
        logger.warning("no change #%s to notify about (%s)", change_id, event)
        return
    approval = None
    if event == "decided":
        approval = Approval.objects.select_related("approver").get(pk=approval_id)
    if people:
        _tell_people(event, change=change, approval=approval, comment_id=comment_id)
    _publish(event, change=change, approval=approval)


def _tell_people(
    event: str, *, change: ChangeRequest, approval: Approval | None, comment_id: int | None
) -> None:
    if event == "decided":
        notify_decided(change=change, approval=approval)
    elif event == "commented":
        comment = Comment.objects.select_related("author").get(pk=comment_id)
        notify_commented(change=change, comment=comment)
    elif event == "submitted" and change.batch_id:
        notify_batch_submitted(change=change)
    else:
        EVENTS[event](change=change)


def notify_batch(event: str, *, batch_id: int, approval_ids: list[int]) -> None:
    """Tell a batch's requester about one decision on its rows ("decided": the approvals it recorded, all
    by one approver, one way): one notice and one mail, with the batch's page."""
    related = ("approver", "change_request__requested_by", "change_request__batch__requested_by")
    recorded = list(Approval.objects.filter(pk__in=approval_ids).select_related(*related))
    if not recorded:
        return
    first = min(recorded, key=lambda approval: approval.change_request_id)
    change, batch = first.change_request, first.change_request.batch
    verb = "batch_rejected" if first.decision == Approval.Decision.REJECT else "batch_approved"
    params = {"batch": batch.pk, "count": len(recorded), "who": first.approver.get_username()}
    params["comment"] = first.comment
    _notify(
        users=[batch.requested_by],
        change=change,
        subject=lambda: notice_text(verb, params),
        template="peerlinks/email/batch_decided.txt",
        context={
            "batch": batch,
            "approval": first,
            "count": len(recorded),
            "verb": verb,
            "url": absolute_url(batch.get_absolute_url()),
        },
        notice=(verb, params),
        event=event,
    )


@_best_effort
def _publish(event: str, *, change: ChangeRequest, approval: Approval | None) -> None:
    """The same event for the webhooks and chat rooms subscribed to it (peerlinks.services.webhooks)."""
    webhooks.publish_change(event, change=change, title=change_label(change), approval=approval)


EVENTS: dict[str, Callable[..., None]] = {
    "submitted": notify_submitted,
    "run_now": notify_run_now,
    "finished": notify_finished,
    "expired": notify_expired,
}


def notify_attachment(event: str, *, attachment_id: int) -> None:
    """Tell people about an attachment another account asked for on a managed router: its account's
    approvers when it starts "waiting", the link's requester when it is "accepted" or "rejected"."""
    related = SharedAttachment.objects.select_related("router__project__account", "decided_by")
    attachment = related.filter(pk=attachment_id).first()
    if attachment is None:
        logger.warning("no attachment #%s to notify about (%s)", attachment_id, event)
        return
    change = attachment.creating_change()
    if change is None:
        # A link made outside dcportal: nobody here asked for it; the approvals page still lists it.
        logger.info("attachment %s %s: no change request of ours made its link", attachment.cloud_id, event)
        return
    _notify_attachment(event, attachment=attachment, change=change)


@_best_effort
def _notify_attachment(event: str, *, attachment: SharedAttachment, change: ChangeRequest) -> None:
    account = attachment.account
    params = {"router": attachment.router.name, "account": account.name}
    if event == "waiting":
        users = list(approvers_of_account(account))
    else:
        users = [change.requested_by]
        params["who"] = attachment.decided_by.get_username() if attachment.decided_by else ""
    kind = f"attachment_{event}"
    _notify(
        users=users,
        change=change,
        subject=lambda: notice_text(kind, {**_label_params(change), **params}),
        template="peerlinks/email/attachment.txt",
        context={
            "change": change,
            "attachment": attachment,
            "event": event,
            "account": account.name,
            "url": absolute_url(
                change.peer_link.get_absolute_url() if change.peer_link else change.get_absolute_url()
            ),
        },
        notice=(kind, params),
        event=kind,
    )


def approvers_of_account(account: CloudAccount) -> list[AbstractBaseUser]:
    """Active users who may approve in `account`: approvers of every account and of that one, by name."""
    return [approver.user for approver in holders(APPROVE) if approver.holds_for(account.pk)]


def approvers_for(*, change: ChangeRequest) -> list[AbstractBaseUser]:
    """Active users who may approve `change` (lifecycle.may_approve), by name: never its requester; for a
    link between two accounts, the approvers of either account."""
    return [approver.user for approver in holders(APPROVE) if may_approve(approver, change)]


def unread_notices(user: AbstractBaseUser) -> QuerySet[Notice]:
    """The user's notices still unread."""
    return Notice.objects.filter(user=user, read_at__isnull=True)


def mark_notices_read(*, user: AbstractBaseUser, notice_id: int | None = None) -> int:
    """Mark one of the user's notices, or all of them, as read; how many were unread before."""
    notices = unread_notices(user)
    if notice_id is not None:
        notices = notices.filter(pk=notice_id)
    return notices.update(read_at=timezone.now())


def change_label(change: ChangeRequest) -> str:
    """'#12 create pl-x': short enough for a subject line, on one line whatever the payload holds."""
    return _label(_label_params(change))


def _label_params(change: ChangeRequest) -> dict[str, Any]:
    """The change's number, kind and name; with several accounts, the names of the accounts it touches."""
    name = change.payload.get("name") if change.kind == ChangeRequest.Kind.CREATE else None
    name = name or change.payload.get("link_name") or change.payload.get("name") or ""
    params = {"number": change.pk, "kind": change.kind, "name": name}
    if CloudAccount.objects.several():
        params["accounts"] = [account.name for account in change.accounts]
    return params


_KIND_WORDS = {
    "create": lambda: pgettext("change kind, in a notice", "create"),
    "update": lambda: pgettext("change kind, in a notice", "update"),
    "delete": lambda: pgettext("change kind, in a notice", "delete"),
}


def _label(params: dict[str, Any]) -> str:
    kind = params.get("kind", "")
    word = _KIND_WORDS[kind]() if kind in _KIND_WORDS else kind
    label = f"#{params.get('number', '?')} {word} {params.get('name', '')}"
    if params.get("accounts"):
        label += f" [{' → '.join(params['accounts'])}]"
    return one_line(label)


def notice_text(kind: str, params: dict[str, Any]) -> str:
    """A notice (or a mail's subject) in the active language, from what happened: `kind` and its `params`
    (the change's number, kind and name; who; a comment, reason or error code)."""
    change = _label(params)
    who = params.get("who", "")
    comment = params.get("comment", "")
    if kind == "batch_submitted":
        return _("Batch {batch} of {count} changes by {requester} needs your approval").format(
            batch=params.get("batch", "?"),
            count=params.get("count", "?"),
            requester=params.get("requester", ""),
        )
    if kind in ("batch_approved", "batch_rejected"):
        batch, count = params.get("batch", "?"), params.get("count", "?")
        if kind == "batch_rejected":
            return _("Batch {batch}: {who} rejected its {count} pending changes: {comment}").format(
                batch=batch, who=who, count=count, comment=comment
            )
        if comment:
            return _("Batch {batch}: {who} approved its {count} pending changes: {comment}").format(
                batch=batch, who=who, count=count, comment=comment
            )
        return _("Batch {batch}: {who} approved its {count} pending changes").format(
            batch=batch, who=who, count=count
        )
    if kind == "submitted":
        return _("{change} by {requester} needs your approval").format(
            change=change, requester=params.get("requester", "")
        )
    if kind == "approved":
        if comment:
            return _("{change} approved by {who}: {comment}").format(change=change, who=who, comment=comment)
        return _("{change} approved by {who}").format(change=change, who=who)
    if kind == "rejected":
        if comment:
            return _("{change} rejected by {who}: {comment}").format(change=change, who=who, comment=comment)
        return _("{change} rejected by {who}").format(change=change, who=who)
    if kind == "done":
        return _("{change} done").format(change=change)
    if kind == "failed":
        code = params.get("code") or "ERROR"
        if params.get("reason"):
            return _("{change} failed: {code} ({reason})").format(
                change=change, code=code, reason=translated(params["reason"])
            )
        return _("{change} failed: {code}").format(change=change, code=code)
    if kind == "expired":
        return _("{change} expired without a decision").format(change=change)
    if kind == "run_now":
        return _("{change} run now by {who}, before the change window: {reason}").format(
            change=change, who=who or _("an approver"), reason=params.get("reason", "")
        )
    if kind == "commented":
        return _("{change}: {who} commented: {comment}").format(change=change, who=who, comment=comment)
    router, account = params.get("router", ""), params.get("account", "")
    if kind == "attachment_waiting":
        return _("{change}: the attachment to router {router} waits for {account} to accept it").format(
            change=change, router=router, account=account
        )
    if kind == "attachment_accepted":
        return _("{change}: {who} accepted the attachment to router {router} for {account}").format(
            change=change, who=who, router=router, account=account
        )
    if kind == "attachment_rejected":
        return _("{change}: {who} rejected the attachment to router {router} for {account}").format(
            change=change, who=who, router=router, account=account
        )
    return change


def shown_notice(notice: Notice) -> str:
    """A notice as its reader reads it: in their language when it says what happened, else its message."""
    if not notice.kind:
        return notice.message
    return _truncate(notice_text(notice.kind, notice.params), NOTICE_LIMIT)


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _notify(
    *,
    users: Iterable[AbstractBaseUser],
    change: ChangeRequest,
    subject: Callable[[], str],
    template: str,
    context: dict[str, Any],
    notice: tuple[str, dict[str, Any]],
    event: str,
) -> None:
    """`subject` is called in each recipient's language and zone; `notice` is what happened (notice_text's
    kind, and its params beside the change's label)."""
    users = [user for user in users if user.is_active]
    kind, params = notice[0], {**_label_params(change), **notice[1]}
    with translation.override("en"):
        message = _truncate(notice_text(kind, params), NOTICE_LIMIT)
    Notice.objects.bulk_create(
        [
            Notice(user=user, change_request=change, message=message, kind=kind, params=params)
            for user in users
        ]
    )
    messages = []
    mailed = [user for user in users if user.email]
    saved = preferences_by_user(mailed)
    context = {**context, "site_url": settings.SITE_URL, "several_accounts": bool(params.get("accounts"))}
    for user in mailed:
        # Each recipient reads it in their own language, with times in their own zone.
        with speaking_to(saved.get(user.pk)):
            body = render_to_string(template, {**context, "user": user})
            messages.append(
                EmailMessage(
                    subject=_truncate(f"[dcportal] {subject()}", 150),
                    body=body,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[user.email],
                )
            )
    _send(messages, change=change, event=event)


def _send(messages: list[EmailMessage], *, change: ChangeRequest, event: str) -> None:
    """Send each mail on one connection; a failure is logged (error type and text, no settings)."""
    if not messages:
        return
    connection = get_connection()
    try:
        connection.open()
    except Exception as exc:
        _log_failure(exc, change=change, event=event, count=len(messages))
        return
    try:
        for message in messages:
            try:
                connection.send_messages([message])
            except Exception as exc:
                _log_failure(exc, change=change, event=event, count=1)
    finally:
        try:
            connection.close()
        except Exception:
            logger.debug("closing the mail connection failed", exc_info=True)


def _log_failure(exc: Exception, *, change: ChangeRequest, event: str, count: int) -> None:
    logger.warning(
        "mail about change #%s (%s) not sent to %d recipient(s): %s: %s",
        change.pk,
        event,
        count,
        type(exc).__name__,
        _truncate(str(exc), 200),
    )


def _truncate(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

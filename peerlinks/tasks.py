"""Background tasks (Django's Tasks API). Each one is a thin call into a service; services queue them
through `peerlinks.services.dispatch`, by these names."""

from django_tasks import task

from peerlinks.services import approvals, execution, notifications, sync, webhooks


@task()
def sync_all_regions() -> list[dict]:
    """Full sync of every managed region."""
    return [vars(result) for result in sync.sync_all()]


@task()
def recheck_pending_links() -> int:
    """Re-fetch the peer links of gateways that have a link still pending; returns how many gateways."""
    return sync.recheck_pending()


@task()
def execute_change_task(change_id: int) -> str:
    """Carry out one approved change request."""
    return execution.execute_change(change_id=change_id).state


@task()
def follow_change_task(change_id: int) -> str:
    """Look again at the link a change is waiting for."""
    return execution.follow_change(change_id=change_id).state


@task()
def expire_changes_task() -> int:
    """End pending change requests nobody decided in time as expired."""
    return approvals.expire_due_changes()


@task()
def release_changes_task() -> int:
    """Queue approved change requests whose change window has opened."""
    return approvals.release_due_changes()


@task()
def notify_task(
    event: str,
    change_id: int,
    approval_id: int | None = None,
    comment_id: int | None = None,
    people: bool = True,
) -> None:
    """Mail and notify the people a change request's event concerns (and its webhooks)."""
    notifications.notify(
        event, change_id=change_id, approval_id=approval_id, comment_id=comment_id, people=people
    )


@task()
def notify_batch_task(event: str, batch_id: int, approval_ids: list[int]) -> None:
    """Mail and notify a batch's requester about one decision on its rows."""
    notifications.notify_batch(event, batch_id=batch_id, approval_ids=approval_ids)


@task()
def notify_attachment_task(event: str, attachment_id: int) -> None:
    """Mail and notify the people an attachment waiting for acceptance concerns."""
    notifications.notify_attachment(event, attachment_id=attachment_id)


@task()
def deliver_webhook_task(delivery_id: int) -> str:
    """Send one webhook delivery: one attempt, then done, failed, or queued again after a backoff."""
    return webhooks.deliver(delivery_id)

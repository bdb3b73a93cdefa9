"""Background tasks (Django's Tasks API). Each one is a thin call into a service."""

from django.conf import settings
from django_tasks import task

from peerlinks.services import sync


@task()
def sync_all_regions() -> list[dict]:
    """Full sync of every managed region."""
    return [vars(result) for result in sync.sync_all(regions=settings.CLOUD_REGIONS)]


@task()
def recheck_pending_links() -> int:
    """Re-fetch the peer links of gateways that have a link still pending; returns how many gateways."""
    return sync.recheck_pending()


@task()
def execute_change_task(change_id: int) -> str:
    """Carry out one approved change request."""
    from peerlinks.services.execution import execute_change

    return execute_change(change_id=change_id).state


@task()
def follow_change_task(change_id: int) -> str:
    """Look again at the link a change is waiting for."""
    from peerlinks.services.execution import follow_change

    return follow_change(change_id=change_id).state


@task()
def expire_changes_task() -> int:
    """End pending change requests nobody decided in time as expired."""
    from peerlinks.services.approvals import expire_due_changes

    return expire_due_changes()


@task()
def release_changes_task() -> int:
    """Queue approved change requests whose change window has opened."""
    from peerlinks.services.approvals import release_due_changes

    return release_due_changes()

"""Races between people and the scheduler: exactly one outcome and at most one execution.

Real threads, each with its own database connection, released together by a barrier. On PostgreSQL the
row lock (select_for_update) orders them; on SQLite the write lock does (IMMEDIATE transactions).
"""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from peerlinks.models import Approval, ChangeRequest
from peerlinks.services import approvals, changes, execution
from tests.conftest import make_peer_link, set_policy

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTE_TASK = "peerlinks.tasks.execute_change_task"


def race(*actions: Callable[[], object]) -> list[object]:
    """Run the actions at once in threads; returns each one's result or the exception it raised."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def executions(change: ChangeRequest) -> int:
    return DBTaskResult.objects.filter(task_path=EXECUTE_TASK, args_kwargs__args=[change.pk]).count()


@pytest.fixture
def pending(engineer, settings):
    """A rename waiting for one approval."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    set_policy(approvals_update=1)
    link = make_peer_link(name="racy")
    return changes.submit_change(
        user=engineer, kind="update", gateway=link.gateway, payload={"name": "raced"}, peer_link=link
    )


def test_two_approvers_at_once_approve_once_and_execute_once(pending, approver, second_approver):
    results = race(
        lambda: approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        ),
        lambda: approvals.approve_change(
            change_id=pending.pk, user=second_approver, payload_digest=pending.payload_digest
        ),
    )
    pending.refresh_from_db()
    assert pending.state == ChangeRequest.State.APPROVED
    assert Approval.objects.filter(change_request=pending).count() == 1
    assert sum(isinstance(r, changes.ChangeRefused) for r in results) == 1
    assert executions(pending) == 1


def test_approve_against_cancel_has_one_outcome(pending, approver, engineer):
    results = race(
        lambda: approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        ),
        lambda: changes.cancel_change(change_id=pending.pk, user=engineer),
    )
    assert not any(isinstance(r, Exception) and not isinstance(r, changes.ChangeRefused) for r in results)
    pending.refresh_from_db()
    # A cancel wins from pending and from approved; an approval that came first queued an execution
    # that finds the change cancelled and sends nothing.
    assert pending.state == ChangeRequest.State.CANCELLED
    assert executions(pending) <= 1
    assert execution.execute_change(change_id=pending.pk).state == ChangeRequest.State.CANCELLED
    pending.refresh_from_db()
    assert pending.started_at is None


def test_approve_against_expire_has_one_outcome(pending, approver):
    soon = timezone.now() + timedelta(milliseconds=50)
    ChangeRequest.objects.filter(pk=pending.pk).update(expires_at=soon)

    def expire_when_due() -> int:
        while timezone.now() < soon:
            pass
        return approvals.expire_due_changes()

    def approve_when_due() -> object:
        while timezone.now() < soon:
            pass
        return approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        )

    results = race(approve_when_due, expire_when_due)
    pending.refresh_from_db()
    assert pending.state in (ChangeRequest.State.APPROVED, ChangeRequest.State.EXPIRED)
    if pending.state == ChangeRequest.State.EXPIRED:
        assert isinstance(results[0], changes.ChangeRefused)
        assert executions(pending) == 0
        assert not Approval.objects.filter(change_request=pending).exists()
    else:
        assert results[1] == 0
        assert executions(pending) == 1


def test_approve_against_expire_when_expiry_runs_first(pending, approver):
    ChangeRequest.objects.filter(pk=pending.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    results = race(
        lambda: approvals.expire_due_changes(),
        lambda: approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        ),
    )
    pending.refresh_from_db()
    assert pending.state == ChangeRequest.State.EXPIRED
    assert isinstance(results[1], changes.ChangeRefused)
    assert executions(pending) == 0


def test_a_double_clicked_approve_makes_one_approval_and_one_execution(pending, approver):
    results = race(
        lambda: approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        ),
        lambda: approvals.approve_change(
            change_id=pending.pk, user=approver, payload_digest=pending.payload_digest
        ),
    )
    # The second click is told the first approval already counts, and records nothing.
    told = [r for r in results if isinstance(r, approvals.ApprovalAlreadyCounts)]
    assert len(told) == 1, results
    assert not any(isinstance(r, Exception) and r not in told for r in results), results
    pending.refresh_from_db()
    assert pending.state == ChangeRequest.State.APPROVED
    assert Approval.objects.filter(change_request=pending, approver=approver).count() == 1
    assert executions(pending) == 1


def test_a_double_clicked_retry_makes_one_new_request(pending, engineer):
    ChangeRequest.objects.filter(pk=pending.pk).update(state=ChangeRequest.State.FAILED)
    race(
        lambda: approvals.retry_change(change_id=pending.pk, user=engineer),
        lambda: approvals.retry_change(change_id=pending.pk, user=engineer),
    )
    assert ChangeRequest.objects.filter(retry_of=pending).count() == 1


def test_the_database_is_shared_by_the_threads():
    assert connection.vendor in ("sqlite", "postgresql")

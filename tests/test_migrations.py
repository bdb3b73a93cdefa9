"""Migrations that change data: what an install that already has rows finds after upgrading."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_ONE_APPROVAL_DEFAULT = [("peerlinks", "0006_policy_window_defaults")]
ONE_APPROVAL_DEFAULT = [("peerlinks", "0007_policy_one_approval_default")]


def _migrate(targets: list[tuple[str, str]]):
    """Migrate the test database to `targets`; returns the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("renames_before", "renames_after"), [(0, 1), (2, 2)])
def test_upgrading_makes_renames_need_an_approval_unless_they_need_more(renames_before, renames_after):
    apps = _migrate(BEFORE_ONE_APPROVAL_DEFAULT)
    try:
        apps.get_model("peerlinks", "Policy").objects.update_or_create(
            pk=1, defaults={"approvals_create": 2, "approvals_update": renames_before, "approvals_delete": 0}
        )
        policy = _migrate(ONE_APPROVAL_DEFAULT).get_model("peerlinks", "Policy").objects.get()
        assert (policy.approvals_create, policy.approvals_update, policy.approvals_delete) == (
            2,
            renames_after,
            0,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

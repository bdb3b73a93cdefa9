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


@pytest.fixture
def migrate():
    """`migrate(targets)` takes the test database back (or on) to `targets` and returns the models as they
    are there; after the test the database is at the newest migrations again, whatever the test did."""
    yield _migrate
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


# What each install had for renames before 0007, and what it has after: (0, 1) and (2, 2).
RENAMES_BEFORE_AND_AFTER = [(0, 1), (2, 2)]


@pytest.mark.django_db(transaction=True)
def test_upgrading_makes_renames_need_an_approval_unless_they_need_more(migrate):
    """Both installs in one trip down the migrations and back: between the cases only 0007 is undone and
    done again, not the whole history (several seconds each way on PostgreSQL)."""
    for renames_before, renames_after in RENAMES_BEFORE_AND_AFTER:
        apps = migrate(BEFORE_ONE_APPROVAL_DEFAULT)
        apps.get_model("peerlinks", "Policy").objects.update_or_create(
            pk=1,
            defaults={"approvals_create": 2, "approvals_update": renames_before, "approvals_delete": 0},
        )
        policy = migrate(ONE_APPROVAL_DEFAULT).get_model("peerlinks", "Policy").objects.get()
        assert (policy.approvals_create, policy.approvals_update, policy.approvals_delete) == (
            2,
            renames_after,
            0,
        ), f"renames needing {renames_before} approvals before the upgrade"


BEFORE_ACCOUNTS = [("peerlinks", "0015_user_preferences")]
FIRST_ACCOUNT_REQUIRED = [("peerlinks", "0018_project_account_required")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_attaches_what_was_cached_to_the_first_account_named_by_the_setting(migrate, settings):
    settings.CLOUD_ACCOUNT_NAME = "legacy-prod"
    apps = migrate(BEFORE_ACCOUNTS)
    project = apps.get_model("peerlinks", "CloudProject").objects.create(
        region="cn-north-4", project_id="0" * 32
    )
    gateway = apps.get_model("peerlinks", "Gateway").objects.create(
        project=project,
        cloud_id="11111111-1111-4111-8111-111111111111",
        name="gdgw-old",
        status="ACTIVE",
        bgp_asn=64512,
    )
    router = apps.get_model("peerlinks", "EnterpriseRouter").objects.create(
        project=project, cloud_id="22222222-2222-4222-8222-222222222222", name="er-old", asn=64513
    )
    link = apps.get_model("peerlinks", "PeerLink").objects.create(
        gateway=gateway,
        cloud_id="33333333-3333-4333-8333-333333333333",
        name="pl-old",
        status="ACTIVE",
        peer_type="ER",
        peer_gateway_id=router.cloud_id,
    )
    audit = apps.get_model("peerlinks", "AuditEvent")
    about_link = audit.objects.create(action="sync.created", object_type="peer_link", object_id=link.cloud_id)
    about_policy = audit.objects.create(action="policy.changed", object_type="policy", object_id="1")

    apps = migrate(FIRST_ACCOUNT_REQUIRED)
    account_model = apps.get_model("peerlinks", "CloudAccount")
    [first] = account_model.objects.all()
    assert (first.name, first.from_environment) == ("legacy-prod", True)
    moved = apps.get_model("peerlinks", "CloudProject").objects.get(pk=project.pk)
    assert moved.account_id == first.pk and moved.region == "cn-north-4"
    gateway_model = apps.get_model("peerlinks", "Gateway")
    assert gateway_model.objects.get(pk=gateway.pk).project.account_id == first.pk
    assert apps.get_model("peerlinks", "PeerLink").objects.get(pk=link.pk).gateway_id == gateway.pk
    events = apps.get_model("peerlinks", "AuditEvent").objects
    assert events.get(pk=about_link.pk).account_id == first.pk
    assert events.get(pk=about_policy.pk).account_id is None  # belongs to no account


ACCOUNTS_REQUIRED = [("peerlinks", "0020_policy_cross_account_approval")]
ADMIN_MANAGES_ACCOUNTS = [("peerlinks", "0021_admin_manages_accounts")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_lets_an_existing_admin_group_manage_cloud_accounts(migrate):
    apps = migrate(ACCOUNTS_REQUIRED)
    group_model = apps.get_model("auth", "Group")
    group_model.objects.filter(name="Admin").delete()
    group_model.objects.create(name="Admin")  # as made before accounts existed: none of their permissions
    apps = migrate(ADMIN_MANAGES_ACCOUNTS)
    admin = apps.get_model("auth", "Group").objects.get(name="Admin")
    codenames = set(admin.permissions.values_list("codename", flat=True))
    assert {
        "add_cloudaccount",
        "change_cloudaccount",
        "view_cloudaccount",
        "change_accountrole",
    } <= codenames


BEFORE_DIGESTS = [("peerlinks", "0025_peerlink_search_index")]
DIGESTS = [("peerlinks", "0026_peerlink_cloud_digest")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_gives_cached_links_the_digest_a_sync_compares_and_keeps_them_searchable(migrate):
    from datetime import UTC, datetime

    from peerlinks import search_index
    from peerlinks.models import PeerLink
    from peerlinks.services.mirror import LINK_FIELDS, link_digest

    apps = migrate(BEFORE_DIGESTS)
    account = apps.get_model("peerlinks", "CloudAccount").objects.create(name="prod")
    project = apps.get_model("peerlinks", "CloudProject").objects.create(
        account=account, region="cn-north-4", project_id="0" * 32
    )
    gateway = apps.get_model("peerlinks", "Gateway").objects.create(
        project=project, cloud_id="11111111-1111-4111-8111-111111111111", name="gdgw-old"
    )
    link = apps.get_model("peerlinks", "PeerLink").objects.create(
        gateway=gateway,
        cloud_id="33333333-3333-4333-8333-333333333333",
        name="pl-old",
        status="ACTIVE",
        peer_type="ER",
        peer_gateway_id="22222222-2222-4222-8222-222222222222",
        bandwidth_size=10,
        cloud_created_at=datetime(2025, 1, 1, 0, 0, 5, 123000, tzinfo=UTC),
    )
    migrate(DIGESTS)
    row = PeerLink.objects.get(pk=link.pk)
    assert row.cloud_digest == link_digest({name: getattr(row, name) for name in LINK_FIELDS})
    added = PeerLink.objects.create(
        gateway_id=gateway.pk,
        cloud_id="44444444-4444-4444-8444-444444444444",
        name="pl-new",
        status="ACTIVE",
        peer_type="ER",
        peer_gateway_id="22222222-2222-4222-8222-222222222222",
    )
    for name, pk in (("pl-old", link.pk), ("pl-new", added.pk)):  # indexed before, and since
        found = search_index.narrowed(PeerLink.objects.all(), [name])
        assert list(found.values_list("pk", flat=True)) == [pk]

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_demo_users_are_created_with_the_documented_password(settings):
    settings.DEBUG = True
    call_command("create_demo_users")
    user = get_user_model().objects.get(username="engineer")
    assert user.check_password("dcportal-demo")


@pytest.mark.django_db
def test_demo_users_are_not_created_with_debug_off(settings):
    settings.DEBUG = False
    call_command("create_demo_users")
    assert not get_user_model().objects.filter(username="engineer").exists()


@pytest.mark.django_db
def test_creating_demo_users_twice_keeps_one_of_each(settings):
    settings.DEBUG = True
    call_command("create_demo_users")
    call_command("create_demo_users")
    assert get_user_model().objects.filter(username="engineer").count() == 1


@pytest.mark.django_db
def test_there_is_one_demo_user_per_role(settings):
    settings.DEBUG = True
    call_command("create_demo_users")
    users = get_user_model().objects.prefetch_related("groups")
    roles = {user.username: [group.name for group in user.groups.all()] for user in users}
    assert roles == {
        "viewer": ["Viewer"],
        "engineer": ["Engineer"],
        "lead": ["Approver"],
        "admin": ["Admin"],
    }
    admin = users.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert users.get(username="lead").has_perm("peerlinks.approve_change")


@pytest.mark.django_db
def test_demo_users_have_an_address_so_make_run_shows_their_mail(settings):
    settings.DEBUG = True
    get_user_model().objects.create_user("lead")  # made by an earlier version, with no address
    call_command("create_demo_users")
    addresses = dict(get_user_model().objects.values_list("username", "email"))
    assert addresses == {name: f"{name}@dcportal.example" for name in ("viewer", "engineer", "lead", "admin")}


@pytest.mark.django_db
def test_with_the_simulator_the_demo_has_team_b_and_a_login_per_role_for_it_alone(settings):
    import dcsim
    from peerlinks.models import AccountRole, CloudAccount, Gateway

    settings.DEBUG = True
    call_command("create_demo_users", "--simulator-account")
    call_command("create_demo_users", "--simulator-account")  # again: nothing more, nothing changed
    team_b = CloudAccount.objects.get(name="team-b")
    assert (team_b.access_key, team_b.secret_key) == (dcsim.TEAM_B_AK, dcsim.TEAM_B_SK)
    assert team_b.managed_regions == ["cn-north-4"] and not team_b.from_environment
    roles = {(r.user.username, r.role) for r in AccountRole.objects.filter(account=team_b)}
    assert roles == {("engineer-b", "Engineer"), ("approver-b", "Approver")}
    approver_b = get_user_model().objects.get(username="approver-b")
    assert approver_b.check_password("dcportal-demo") and approver_b.email == "approver-b@dcportal.example"
    assert not approver_b.groups.exists()  # no role for every account
    first = CloudAccount.objects.environment()
    assert approver_b.has_perm("peerlinks.approve_change", team_b)
    assert not approver_b.has_perm("peerlinks.approve_change", first)
    assert CloudAccount.objects.count() == 2 and not Gateway.objects.exists()


@pytest.mark.django_db
def test_without_the_simulator_no_demo_account_is_added(settings):
    from peerlinks.models import CloudAccount

    settings.DEBUG = True
    call_command("create_demo_users")
    assert not CloudAccount.objects.filter(name="team-b").exists()
    assert not get_user_model().objects.filter(username="engineer-b").exists()

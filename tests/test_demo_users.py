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

"""Rows read into instances without Model.__init__ (peerlinks.models.ReadQuickly): the same instances as
Django builds, deferred fields still loaded on use, and Django's own way whenever something listens for
the instance signals."""

import pytest
from django.db import models
from django.db.models.signals import post_init

from peerlinks.models import CloudAccount, PeerLink, ReadQuickly
from tests.conftest import make_peer_link

pytestmark = pytest.mark.django_db


def _as_django_builds(monkeypatch, queryset) -> list:
    with monkeypatch.context() as patched:
        patched.setattr(
            ReadQuickly, "from_db", classmethod(lambda cls, *args: models.Model.from_db.__func__(cls, *args))
        )
        return list(queryset.all())  # read again, not from the first reading's cache


def _state(obj: models.Model) -> tuple:
    values = {key: value for key, value in vars(obj).items() if key != "_state"}
    return values, obj._state.adding, obj._state.db, dict(obj._state.fields_cache)


def test_a_link_with_its_gateway_project_and_account_reads_as_django_builds_it(monkeypatch):
    make_peer_link(name="quick", labels=["prod"], owner_team="noc")
    queryset = PeerLink.objects.for_list().with_peer_name()
    quick, django = list(queryset), _as_django_builds(monkeypatch, queryset)
    assert type(quick[0]) is PeerLink
    for a, b in zip(quick, django, strict=True):
        assert _state(a) == _state(b)
        assert _state(a.gateway) == _state(b.gateway)
        assert _state(a.gateway.project) == _state(b.gateway.project)
        assert _state(a.gateway.project.account) == _state(b.gateway.project.account)
    link = quick[0]
    assert (link.name, link.labels, link.shown_status, link.peer_name) == ("quick", ["prod"], "ACTIVE", "")
    link.name = "renamed"
    link.save()
    assert PeerLink.objects.get(pk=link.pk).name == "renamed"


def test_a_deferred_field_is_read_when_used(django_assert_num_queries):
    make_peer_link(name="deferred", description="read later")
    link = PeerLink.objects.defer("description").get(name="deferred")
    assert "description" not in vars(link)
    with django_assert_num_queries(1):
        assert link.description == "read later"
    secret = CloudAccount.objects.get().secret_key
    row = PeerLink.objects.for_list().get(name="deferred")
    with django_assert_num_queries(1):  # the account's credentials are left out of lists
        assert row.gateway.project.account.secret_key == secret


def test_with_a_post_init_receiver_instances_are_built_by_django():
    make_peer_link(name="signalled")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=PeerLink)
    try:
        link = PeerLink.objects.get(name="signalled")
    finally:
        post_init.disconnect(receiver, sender=PeerLink)
    assert seen == [link]

"""Notification mail goes out from the task worker after the change commits, never inside the web request:
a mail server that accepts the connection and then says nothing cannot hold a submit."""

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.urls import reverse

from peerlinks.models import Notice
from tests.conftest import _user, make_peer_link, smtp_settings

pytestmark = pytest.mark.django_db(transaction=True)


class StallingSmtpServer:
    """Accepts connections and never sends a byte (not even the greeting), until stopped."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def stop(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def stalling_smtp(settings) -> Iterator[StallingSmtpServer]:
    server = StallingSmtpServer()
    smtp_settings(settings, server.port)
    yield server
    server.stop()


@pytest.fixture
def requester_client(client):
    client.force_login(_user("alice", "Engineer", email="alice@example.net"))
    return client


@pytest.fixture
def approver_with_mail():
    return _user("bob", "Approver", email="bob@example.net")


def _ask_to_delete(client) -> tuple[float, object]:
    link = make_peer_link(name="pl-doomed")
    started = time.monotonic()
    response = client.post(
        reverse("peerlinks:link_delete", args=[link.cloud_id]), {"confirm_name": "pl-doomed"}
    )
    return time.monotonic() - started, response


def _run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def test_a_submit_answers_at_once_when_the_mail_server_accepts_and_never_replies(
    requester_client, approver_with_mail, stalling_smtp, settings, caplog
):
    settings.EMAIL_TIMEOUT = 3.0
    elapsed, response = _ask_to_delete(requester_client)
    assert response.status_code == 302 and "/changes/" in response["Location"]
    assert stalling_smtp.connections == []  # the request did not even try to send
    assert elapsed < settings.EMAIL_TIMEOUT  # sending in the request would have waited for the timeout

    settings.EMAIL_TIMEOUT = 0.5
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="peerlinks.services.notifications"):
        _run_worker()
    # The worker waited for the silent server only as long as EMAIL_TIMEOUT, logged it and went on.
    assert time.monotonic() - started < 5
    assert len(stalling_smtp.connections) == 1
    assert "not sent to 1 recipient(s)" in caplog.text
    assert Notice.objects.filter(user=approver_with_mail, message__contains="needs your approval").exists()


def test_the_worker_delivers_the_approval_request_to_a_real_mail_server(
    requester_client, approver_with_mail, smtp_inbox
):
    _, response = _ask_to_delete(requester_client)
    assert response.status_code == 302
    assert smtp_inbox.messages == []  # nothing sent by the web request
    _run_worker()
    [(sender, recipients, content)] = smtp_inbox.messages
    assert recipients == ["bob@example.net"]
    assert "pl-doomed needs your approval" in content
    assert "https://dcportal.example.net/changes/" in content


def test_a_comment_reaches_the_requester_and_deciders_but_not_its_author(
    requester_client, approver_with_mail, smtp_inbox
):
    from peerlinks.models import ChangeRequest
    from peerlinks.services import approvals

    _ask_to_delete(requester_client)
    change = ChangeRequest.objects.get()
    carol = _user("carol", "Approver", email="carol@example.net")
    approvals.add_comment(change_id=change.pk, user=carol, body="Which ticket is this for?")
    _run_worker()
    smtp_inbox.messages.clear()  # the approval requests
    response = requester_client.post(
        reverse("peerlinks:change_comment", args=[change.pk]), {"body": "Ticket NET-1234."}
    )
    assert response.status_code == 302
    _run_worker()
    [(_, recipients, content)] = smtp_inbox.messages
    assert recipients == ["carol@example.net"]  # the earlier commenter; bob never took part; alice wrote it
    assert "alice commented" in content and "Ticket NET-1234." in content
    assert Notice.objects.filter(user__username="carol", message__contains="alice commented").exists()
    assert not Notice.objects.filter(user__username="alice", message__contains="alice commented").exists()
    assert Notice.objects.filter(user__username="alice", message__contains="carol commented").exists()

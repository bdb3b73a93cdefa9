"""The bulk pages: upload → preview → one batch → its page; the approval queue lists a batch once; links
chosen in the list are deleted as one batch. Plain form posts: all of it works without JavaScript."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from peerlinks.models import ChangeBatch, ChangeRequest
from peerlinks.services import bulk
from tests.conftest import followed_panel, live_version, make_gateway, make_peer_link, make_router

State = ChangeRequest.State
CSV = "gateway,peer,name,description,owner,ticket\n" + "".join(
    f"gw-core,er-{n},to-er-{n},,team-a,CHG-1\n" for n in range(3)
)


@pytest.fixture
def place(db):
    make_gateway(name="gw-core", available_peer_link_count=5)
    for n in range(4):
        make_router(name=f"er-{n}")


def test_upload_preview_then_one_batch_then_its_page(place, engineer_client):
    url = reverse("peerlinks:batch_new")
    upload = SimpleUploadedFile("links.csv", CSV.encode("utf-8-sig"), content_type="text/csv")
    preview = engineer_client.post(url, {"file": upload})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert html.count("would be created") == 3
    assert "Ask for 3 links" in html
    assert not ChangeBatch.objects.exists()  # a preview asks for nothing

    answer = engineer_client.post(url, {"text": CSV, "format": "csv", "submit": "1"})
    batch = ChangeBatch.objects.get()
    assert answer.status_code == 302 and answer["Location"] == batch.get_absolute_url()
    page = engineer_client.get(batch.get_absolute_url()).content.decode()
    assert f"Batch {batch.pk}: create 3 links" in page
    assert "Pending approval: 3" in page
    assert 'id="batch-approve"' not in page  # not theirs to decide


def test_bad_upload_is_a_form_error_and_refused_rows_are_named(place, engineer_client):
    url = reverse("peerlinks:batch_new")
    bad = engineer_client.post(url, {"file": SimpleUploadedFile("x.csv", "name\ncafé\n".encode("latin-1"))})
    assert bad.status_code == 400
    assert "not UTF-8" in bad.content.decode()
    text = CSV + "gw-core,er-0,dup,,,\n"
    refused = engineer_client.post(url, {"text": text, "submit": "1"})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "The same gateway and peer as row 1." in body and "1 row is refused" in body
    assert not ChangeBatch.objects.exists()
    left_out = engineer_client.post(url, {"text": text, "submit": "1", "leave_out_refused": "on"})
    assert left_out.status_code == 302
    assert ChangeBatch.objects.get().rows.count() == 3


def test_the_queue_lists_a_batch_once_and_one_click_approves_it(place, engineer, approver, client):
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))
    client.force_login(approver)
    queue = client.get(reverse("peerlinks:approval_queue")).content.decode()
    assert f'id="waiting-batch-{batch.pk}"' in queue
    assert "to-er-1" not in queue  # its rows are not listed one by one
    page = client.get(batch.get_absolute_url()).content.decode()
    assert 'id="batch-approve"' in page
    digest = bulk.batch_digest(batch)
    answer = client.post(reverse("peerlinks:batch_approve", args=[batch.pk]), {"payload_digest": digest})
    assert answer.status_code == 302
    assert {row.state for row in batch.rows.all()} == {State.APPROVED}


def test_an_outdated_decision_is_a_409_with_the_batch_anew(place, engineer, approver, client):
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))
    client.force_login(approver)
    answer = client.post(reverse("peerlinks:batch_approve", args=[batch.pk]), {"payload_digest": "0" * 64})
    assert answer.status_code == 409
    assert "changed after you opened it" in answer.content.decode()
    assert {row.state for row in batch.rows.all()} == {State.PENDING_APPROVAL}


def test_the_pages_one_poll_follows_the_rows_until_every_row_is_final(place, engineer, engineer_client):
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))
    page = engineer_client.get(batch.get_absolute_url()).content.decode()
    shown = followed_panel(page, "batch")
    assert shown.startswith(f"{batch.pk}:")
    assert 'hx-get="/live/?fast=1"' in page and 'hx-trigger="every 1000ms"' in page  # one poll, fast
    assert 'id="batch-rows">' in page and page.count("hx-trigger=") == 1  # the rows do not poll themselves

    live = {"batch": shown, "fast": "1", "v": live_version(page)}
    assert engineer_client.get("/live/", live, HTTP_HX_REQUEST="true").status_code == 204  # nothing moved

    bulk.cancel_batch(batch_id=batch.pk, user=engineer)
    answer = engineer_client.get("/live/", live, HTTP_HX_REQUEST="true")
    body = answer.content.decode()
    assert answer.status_code == 200
    assert '<div id="batch-rows" hx-swap-oob="true">' in body
    assert "Cancelled: 3" in body and "Pending approval" not in body
    assert 'id="batch-cancel"' not in body  # nothing left to cancel: the button goes
    assert followed_panel(body, "batch") == ""  # every row is final: the rows no longer ask to be followed
    assert 'hx-get="/live/"' in body and 'hx-trigger="every 2000ms"' in body  # the poll slows down

    page = engineer_client.get(batch.get_absolute_url()).content.decode()  # a reload shows the same
    assert "Cancelled: 3" in page and followed_panel(page, "batch") == ""
    assert 'hx-trigger="every 2000ms"' in page


def test_the_rows_come_again_only_when_what_they_show_changed(place, engineer, approver, engineer_client):
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))
    page = engineer_client.get(batch.get_absolute_url()).content.decode()
    live = {"batch": followed_panel(page, "batch"), "fast": "1", "v": live_version(page)}
    assert 'id="batch-cancel"' in page
    bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch))
    body = engineer_client.get("/live/", live, HTTP_HX_REQUEST="true").content.decode()
    assert "Approved: 3" in body and followed_panel(body, "batch") not in ("", live["batch"])
    assert 'hx-get="/live/?fast=1"' in body  # rows still to run: the poll stays fast
    live["batch"] = followed_panel(body, "batch")
    assert engineer_client.get("/live/", live, HTTP_HX_REQUEST="true").status_code == 204


def test_the_poll_ignores_a_batch_the_person_may_not_read_and_a_malformed_one(
    place, engineer, engineer_client, outsider, client
):
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))
    client.force_login(outsider)  # no role: reads nothing
    answer = client.get("/live/", {"batch": f"{batch.pk}:old"}, HTTP_HX_REQUEST="true").content.decode()
    assert "batch-rows" not in answer and 'hx-get="/live/"' in answer
    for shown in ("x:y", f"{batch.pk}", "9" * 40 + ":old", f"{batch.pk + 1}:old"):
        body = engineer_client.get("/live/", {"batch": shown}, HTTP_HX_REQUEST="true").content.decode()
        assert "batch-rows" not in body and 'hx-get="/live/"' in body, shown


def test_the_poll_reads_a_batch_in_two_queries_whatever_its_size(place, engineer, engineer_client):
    """Unchanged: the batch, then what its rows show (no rows built); changed: as many whatever the size."""
    one = bulk.submit_creates(user=engineer, records=bulk.parse("gateway,peer,name\ngw-core,er-3,alone\n"))
    three = bulk.submit_creates(user=engineer, records=bulk.parse(CSV))

    def queries(**shown: str) -> int:
        with CaptureQueriesContext(connection) as done:
            engineer_client.get("/live/", {**shown, "fast": "1"}, HTTP_HX_REQUEST="true")
        return len(done.captured_queries)

    shown = {
        batch: followed_panel(engineer_client.get(batch.get_absolute_url()).content.decode(), "batch")
        for batch in (one, three)
    }
    none = queries()
    assert queries(batch=shown[one]) == queries(batch=shown[three]) == none + 2
    assert queries(batch=f"{one.pk}:old") == queries(batch=f"{three.pk}:old")


def test_links_chosen_in_the_list_are_deleted_as_one_batch(engineer_client, db):
    gateway = make_gateway(name="gw-del")
    links = [make_peer_link(gateway=gateway, name=f"old-{n}") for n in range(2)]
    listing = engineer_client.get(reverse("peerlinks:link_list")).content.decode()
    assert 'form="bulk-delete"' in listing
    url = reverse("peerlinks:batch_delete")
    ids = [link.cloud_id for link in links]
    preview = engineer_client.post(url, {"link": ids})
    assert preview.status_code == 200 and "Ask to delete 2 links" in preview.content.decode()
    wrong = engineer_client.post(url, {"link": ids, "submit": "1", "confirm_count": "1"})
    assert wrong.status_code == 400 and "Type 2" in wrong.content.decode()
    done = engineer_client.post(url, {"link": ids, "submit": "1", "confirm_count": "2"})
    batch = ChangeBatch.objects.get()
    assert done["Location"] == batch.get_absolute_url()
    assert sorted(row.peer_link.name for row in batch.rows.all()) == ["old-0", "old-1"]


def test_a_viewer_cannot_reach_the_bulk_pages_and_another_reader_gets_404_for_none(client, viewer, db):
    client.force_login(viewer)
    assert client.get(reverse("peerlinks:batch_new")).status_code == 403
    assert client.get(reverse("peerlinks:batch_detail", args=[999])).status_code == 404


def test_choosing_no_link_goes_back_to_the_list_never_elsewhere(engineer_client, db):
    url = reverse("peerlinks:batch_delete")
    back = engineer_client.post(url, {"next": "/links/?owner=netops"})
    assert back.status_code == 302 and back["Location"] == "/links/?owner=netops"
    away = engineer_client.post(url, {"next": "https://elsewhere.example/"})
    assert away["Location"] == reverse("peerlinks:link_list")

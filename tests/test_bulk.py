"""Bulk changes: an upload's row-by-row preview, one batch asked for, one approval for all its rows, and
each row carried out on its own (a failed row undoes no other and is asked for again as a new batch)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from peerlinks.models import Approval, ChangeBatch, ChangeRequest, PeerLink
from peerlinks.permissions import ensure_role
from peerlinks.services import approvals, bulk, changes
from peerlinks.services.lifecycle import ChangeForbidden, ChangeOutdated, ChangeRefused
from tests.conftest import make_gateway, make_peer_link, make_router

State = ChangeRequest.State


def csv_of(*rows: str, header: str = "gateway,peer,name,description,owner,ticket") -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def place(db):
    """A gateway with room for 3 links (one already used by a pending create elsewhere: none) and routers."""
    gateway = make_gateway(name="gw-core", available_peer_link_count=3, current_peer_link_count=1)
    routers = [make_router(name=f"er-{n}") for n in range(5)]
    return gateway, routers


def test_preview_says_row_by_row_what_would_be_created_and_what_is_refused(place, engineer):
    gateway, routers = place
    text = csv_of(
        "gw-core,er-0,to-er-0,first,team-a,CHG-1",
        f"{gateway.cloud_id},{routers[1].cloud_id},to-er-1,,team-a,CHG-1",
        "gw-core,er-0,again,,,",  # the same gateway and peer as row 1
        "gw-core,er-9,to-nowhere,,,",
        "gw-core,er-2,bad name!,,,",
        "gw-missing,er-2,x,,,",
        ",er-3,,,,",
    )
    preview = bulk.preview_creates(user=engineer, records=bulk.parse(text))
    verdicts = [(row.number, row.problem) for row in preview.rows]
    assert verdicts[0] == (1, "")
    assert verdicts[1] == (2, "")
    assert verdicts[2] == (3, "The same gateway and peer as row 1.")
    assert verdicts[3] == (4, "No enterprise router or global DC gateway er-9.")
    assert "The name must be 1 to 64 letters" in verdicts[4][1]
    assert verdicts[5] == (6, "No global DC gateway gw-missing.")
    assert verdicts[6] == (7, "Missing gateway, name.")
    assert preview.rows[0].payload()["owner_team"] == "team-a"
    (quota,) = preview.quotas
    assert (quota.used, quota.quota, quota.this_upload, quota.after, quota.left) == (1, 4, 2, 3, 1)


def test_quota_counts_open_creates_and_the_rows_before_in_the_same_upload(place, engineer):
    gateway, routers = place
    # An open create elsewhere takes one of the three slots left.
    changes.submit_change(
        user=engineer,
        kind="create",
        gateway=gateway,
        payload={
            "name": "open",
            "peer_type": "ER",
            "peer_gateway_id": routers[4].cloud_id,
            "peer_region": "cn-north-4",
        },
    )
    text = csv_of(*(f"gw-core,er-{n},to-er-{n},,," for n in range(4)))
    preview = bulk.preview_creates(user=engineer, records=bulk.parse(text))
    assert [row.ok for row in preview.rows] == [True, True, False, False]
    assert preview.rows[2].problem == "No peer-link quota left on gw-core for this row (4 links)."
    (quota,) = preview.quotas
    assert (quota.open_creates, quota.this_upload, quota.left) == (1, 2, 0)


def test_yaml_reads_like_csv_and_bad_uploads_say_why(place, engineer):
    yaml_text = "links:\n  - gateway: gw-core\n    peer: er-0\n    name: to-er-0\n    owner: team-a\n"
    (record,) = bulk.parse(yaml_text)
    assert record["owner"] == "team-a" and record["ticket"] == ""
    with pytest.raises(bulk.UploadRefused, match="Unknown columns: colour"):
        bulk.parse("gateway,peer,name,colour\ngw,er,n,red\n")
    with pytest.raises(bulk.UploadRefused, match="Missing columns: peer"):
        bulk.parse("gateway,name\ngw,n\n")
    with pytest.raises(bulk.UploadRefused, match="not UTF-8"):
        bulk.decode("gateway,peer,name\ngw,er,caf\xe9\n".encode("latin-1"))
    with pytest.raises(bulk.UploadRefused, match=r"cannot be read \(line 3\)"):
        bulk.parse("- gateway: [\n  peer: x\n", format="yaml")
    with pytest.raises(bulk.UploadRefused, match="at most 500"):
        bulk.parse(csv_of(*(f"gw-core,er-0,n{n},,," for n in range(501))))
    with pytest.raises(bulk.UploadRefused, match="No rows"):
        bulk.parse("gateway,peer,name\n")


def test_a_batch_is_asked_for_only_when_every_row_may_be_or_the_refused_are_left_out(place, engineer):
    text = csv_of("gw-core,er-0,a,,,", "gw-core,er-0,b,,,")
    records = bulk.parse(text)
    with pytest.raises(bulk.BatchRefused, match="1 row is refused") as refused:
        bulk.submit_creates(user=engineer, records=records)
    assert refused.value.preview.rows[1].problem
    assert not ChangeRequest.objects.exists() and not ChangeBatch.objects.exists()
    batch = bulk.submit_creates(user=engineer, records=records, leave_out_refused=True)
    (row,) = batch.rows.all()
    assert (row.state, row.payload["name"], row.requested_by) == (State.PENDING_APPROVAL, "a", engineer)


def test_a_viewer_is_refused_row_by_row_and_cannot_submit(place, viewer):
    records = bulk.parse(csv_of("gw-core,er-0,a,,,"))
    preview = bulk.preview_creates(user=viewer, records=records)
    assert preview.rows[0].problem == "Only engineers can do this."
    with pytest.raises(bulk.BatchRefused):
        bulk.submit_creates(user=viewer, records=records, leave_out_refused=True)


@pytest.fixture
def batch(place, engineer):
    text = csv_of(*(f"gw-core,er-{n},to-er-{n},,team-a,CHG-{n}" for n in range(3)))
    return bulk.submit_creates(user=engineer, records=bulk.parse(text))


def test_one_approval_approves_every_row(batch, approver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch))
    assert [row.state for row in bulk.batch_rows(batch)] == [State.APPROVED] * 3
    assert Approval.objects.filter(change_request__batch=batch, approver=approver).count() == 3
    assert not bulk.awaiting_decision(approver).exists()


def test_four_eyes_the_requester_cannot_approve_their_batch_and_nothing_is_recorded(batch, engineer, place):
    engineer.groups.add(ensure_role("Approver"))
    with pytest.raises(ChangeForbidden):
        bulk.approve_batch(batch_id=batch.pk, user=engineer, batch_digest=bulk.batch_digest(batch))
    assert not Approval.objects.exists()


def test_an_approval_is_bound_to_the_version_of_the_batch_seen(batch, engineer, approver):
    seen = bulk.batch_digest(batch)
    first = bulk.batch_rows(batch).first()
    approvals.edit_change(change_id=first.pk, user=engineer, name="renamed", description="")
    with pytest.raises(ChangeOutdated, match="changed after you opened it"):
        bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=seen)
    assert not Approval.objects.exists()
    assert [row.state for row in bulk.batch_rows(batch)] == [State.PENDING_APPROVAL] * 3


def test_a_row_refused_leaves_every_row_undecided(batch, approver):
    last = bulk.batch_rows(batch).last()
    ChangeRequest.objects.filter(pk=last.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ChangeRefused, match=f"Row #{last.pk}"):
        bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch))
    assert not Approval.objects.exists()
    assert [row.state for row in bulk.batch_rows(batch)] == [State.PENDING_APPROVAL] * 3


def test_a_row_decided_on_its_own_is_left_as_it_is(batch, approver):
    # One row was decided on its own meanwhile by this approver: the batch's other rows still need theirs.
    first = bulk.batch_rows(batch).first()
    approvals.reject_change(
        change_id=first.pk, user=approver, payload_digest=first.payload_digest, comment="no"
    )
    bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch))
    assert [row.state for row in bulk.batch_rows(batch)] == [State.REJECTED, State.APPROVED, State.APPROVED]


def test_reject_and_cancel_take_every_pending_row(batch, engineer, approver):
    with pytest.raises(ChangeRefused, match="needs a comment"):
        bulk.reject_batch(
            batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch), comment=" "
        )
    bulk.reject_batch(
        batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch), comment="not now"
    )
    assert {row.state for row in bulk.batch_rows(batch)} == {State.REJECTED}
    with pytest.raises(ChangeRefused, match="Nothing in this batch can be cancelled"):
        bulk.cancel_batch(batch_id=batch.pk, user=engineer)


def test_only_the_requester_cancels_a_batch(batch, engineer, approver):
    with pytest.raises(ChangeForbidden):
        bulk.cancel_batch(batch_id=batch.pk, user=approver)
    bulk.cancel_batch(batch_id=batch.pk, user=engineer)
    assert {row.state for row in bulk.batch_rows(batch)} == {State.CANCELLED}


def test_deletes_preview_the_chosen_links_and_free_quota(engineer, db):
    gateway = make_gateway(name="gw-del", current_peer_link_count=2, available_peer_link_count=0)
    ok = make_peer_link(gateway=gateway, name="old-1")
    busy = make_peer_link(gateway=gateway, name="old-2", status="PENDING_UPDATE")
    preview = bulk.preview_deletes(user=engineer, link_ids=[ok.cloud_id, busy.cloud_id, "nope"])
    assert [row.ok for row in preview.rows] == [True, False, False]
    assert "wait until its status is final" in preview.rows[1].problem
    assert preview.rows[2].problem == "No such link."
    (quota,) = preview.quotas
    assert (quota.freed, quota.after) == (1, 1)
    batch = bulk.submit_deletes(user=engineer, link_ids=[ok.cloud_id], leave_out_refused=False)
    (row,) = batch.rows.all()
    assert (row.kind, row.peer_link) == ("delete", ok)


# --- Carried out against the simulator -------------------------------------------------------------

from tests.test_changes_service import REGION, sim  # noqa: E402,F401  (the simulator fixture)


def test_a_failed_row_undoes_no_other_and_is_asked_for_again(sim, engineer, approver):  # noqa: F811
    from peerlinks.models import EnterpriseRouter
    from peerlinks.services.sync import sync_region
    from tests.conftest import run_tasks_until

    text = csv_of(
        "gw-core,er-prod,to-prod,,team-a,CHG-7",
        "gw-core,er-dev,to-dev,,team-a,CHG-7",
    )
    batch = bulk.submit_creates(user=engineer, records=bulk.parse(text))
    dev = EnterpriseRouter.objects.get(name="er-dev")
    sim.control("PATCH", f"enterprise-routers/{dev.cloud_id}", state="failed")  # fails the row when it runs
    bulk.approve_batch(batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch))
    prod_row, dev_row = bulk.batch_rows(batch)
    run_tasks_until(dev_row, sim_clock=sim.clock)
    run_tasks_until(prod_row, sim_clock=sim.clock)
    assert (prod_row.state, dev_row.state) == (State.DONE, State.FAILED)
    link = PeerLink.objects.get(name="to-prod")
    assert (link.status, link.owner_team, link.ticket_ref) == ("ACTIVE", "team-a", "CHG-7")

    sim.control("PATCH", f"enterprise-routers/{dev.cloud_id}", state="available")
    assert sync_region(region=REGION).ok
    retried = bulk.retry_failed(batch_id=batch.pk, user=engineer)
    assert retried.refused == []
    (again,) = bulk.batch_rows(retried.batch)
    assert (again.state, again.retry_of, retried.batch.retry_of) == (State.PENDING_APPROVAL, dev_row, batch)
    with pytest.raises(ChangeRefused, match="already retried"):
        bulk.retry_failed(batch_id=batch.pk, user=engineer)  # retried once already
    bulk.approve_batch(
        batch_id=retried.batch.pk, user=approver, batch_digest=bulk.batch_digest(retried.batch)
    )
    again = run_tasks_until(again, sim_clock=sim.clock)
    assert again.state == State.DONE, again.error_msg
    assert PeerLink.objects.get(name="to-dev").status == "ACTIVE"


def test_approvers_are_asked_once_for_a_batch_with_its_page(batch, approver, second_approver, mailoutbox):
    from peerlinks.models import Notice
    from peerlinks.services import notifications

    approver.email, second_approver.email = "lead1@example.com", "lead2@example.com"
    approver.save(), second_approver.save()
    for row in bulk.batch_rows(batch):  # as the worker runs each row's "submitted"
        notifications.notify("submitted", change_id=row.pk)
    notices = Notice.objects.filter(user=approver)
    assert [notifications.shown_notice(n) for n in notices] == [
        f"Batch {batch.pk} of 3 changes by engineer1 needs your approval"
    ]
    assert sorted(mail.to[0] for mail in mailoutbox) == ["lead1@example.com", "lead2@example.com"]
    assert f"/batches/{batch.pk}/" in mailoutbox[0].body


def test_the_requester_hears_of_a_batch_decision_once_and_each_rows_webhook_still_fires(
    batch, engineer, approver, mailoutbox, monkeypatch
):
    from peerlinks.models import Notice
    from peerlinks.services import dispatch, notifications, webhooks

    engineer.email = "engineer1@example.com"
    engineer.save()
    queued = []  # what the worker would run, in order
    monkeypatch.setattr(dispatch, "_enqueue", lambda name, *args, **kw: queued.append((name, args)))
    published = []
    monkeypatch.setattr(webhooks, "publish_change", lambda event, change, **kw: published.append(change.pk))
    bulk.approve_batch(
        batch_id=batch.pk, user=approver, batch_digest=bulk.batch_digest(batch), comment="Go ahead."
    )
    for name, args in queued:
        if name == "notify_task":
            notifications.notify(args[0], change_id=args[1], approval_id=args[2], people=args[4])
        elif name == "notify_batch_task":
            notifications.notify_batch(args[0], batch_id=args[1], approval_ids=args[2])
    shown = [notifications.shown_notice(n) for n in Notice.objects.filter(user=engineer)]
    assert shown == [f"Batch {batch.pk}: lead1 approved its 3 pending changes: Go ahead."]
    assert [mail.to for mail in mailoutbox] == [["engineer1@example.com"]]
    assert f"/batches/{batch.pk}/" in mailoutbox[0].body
    assert sorted(published) == sorted(row.pk for row in bulk.batch_rows(batch))

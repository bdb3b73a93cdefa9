"""Every page of dcportal in Simplified Chinese, as a whole: a world with something in every state, each page
drawn for each kind of person (forms with their errors, htmx fragments too) to a browser asking for zh-CN,
and no English words left anywhere a person reads — the top bar, the page, titles, labels, placeholders,
pictures' descriptions and the choices of every list."""

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from peerlinks import cloud
from peerlinks.models import (
    Approval,
    AuditEvent,
    ChangeBatch,
    ChangeRequest,
    CloudAccount,
    CloudProject,
    Comment,
    Drift,
    Gateway,
    Notice,
    PeerLink,
    SharedAttachment,
    StatusChange,
)
from peerlinks.presentation.text import cloud_problem, gateways_problem
from peerlinks.services import bulk, notifications, tokens
from tests.conftest import _user, make_gateway, make_peer_link, make_project, make_router, set_policy

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
HTMX = {"HTTP_HX_REQUEST": "true"}

# A run of English: a word of two letters or more (after names, IDs and codes are taken out).
WORD = re.compile(r"[A-Za-z][A-Za-z']+")
# What is not language and stays as it is in any: names and IDs of things in this world, status and error
# codes, audit action codes, regions, field names of the cloud's API, units and product names.
NOT_LANGUAGE = [
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",  # cloud IDs
    r"\b[0-9a-f]{16,}\b",  # project IDs, request IDs, digests
    r"\b(?:pl|gw|gdgw|er|link)-[\w.-]*",  # names of links, gateways and routers
    r"\bacct-[\w-]+",  # names of cloud accounts
    r"\b(?:cn|ap|eu|la|af|me|tr|sa|na)-[a-z]+-\d+\b",  # regions
    r"\b[a-z_]+\.[a-z_.]+\b",  # audit action codes (peer_link.local_fields), settings
    r"\b[A-Z][A-Z0-9_]+\b",  # codes: ACTIVE, PENDING_CREATE, ER, GDGW, UTC, CSV, DC
    r"\b[A-Z]+\.\d+\b",  # Huawei's error codes (DC.1001)
    r"\b(?:engineer1|viewer1|lead1|lead2|lead3|admin1|outsider1)\b",  # people
    r"\b(?:netops|prod|edge|INC-\d+|CHG-\d+)\b",  # owners, labels, tickets of this world
    r"\b(?:main|team-b)\b",  # the names of this world's cloud accounts
    r"\bpl\b|\bzzz-[\w-]*",  # what the test searched for or typed
    r"\bdcportal\b",
    r"\b(?:main|team-b)\b",  # cloud accounts' names
    r"\bdcp_[\w-]+",  # the visible start of an API token
    r"\bUTC[+-]\d\d:\d\d\b",
    r"\b(?:Asia|Europe|America|Africa|Australia|Pacific|Atlantic|Indian|Antarctica|Arctic|Etc)/[\w/+-]+",
    r"https?://\S+",  # addresses, in mail
    r"\bMbit/s\b",
    r"\bWebhook\b|\bSlack\b|\bMicrosoft Teams\b",  # kept as Chinese consoles write them (Webhook 地址)
    r"\bCtrl\+C\b",  # a key
    r"\breason\b",  # a field of the audit log
    r"\b(?:cc|dc)\b",  # who made a link, as the cloud says it (create_owner)
    r"\bEnglish\b",  # the switcher names each language in itself
    r"\b(?:Viewer|Engineer|Approver|Admin)\b",  # roles: the names of their groups
    r"\b[a-z]+_[a-z_]+\b",  # field names and object types of the audit log (owner_team, peer_link)
    r"\b(?:available|pending)\b",  # states of an enterprise router, as the cloud gives them
    r"gateway, peer, name, description, owner, ticket",  # the columns of a bulk upload, as files name them
]
# Text of this world that people or the cloud wrote (comments, descriptions, reasons, the cloud's own
# messages): shown as written, in whatever language it was written in.
WORLD_TEXT = [
    "Fine by me.",
    "Needed soon.",
    "Any news?",
    "Not this week.",
    "Also fine.",
    "to the new router",
    "new words",
    "Outage on the old link",
    "The old link is down",
    "Peer not found",
    "The peer does not exist.",
    "An old notice, stored before notices had kinds.",
    "prod, finance, dc-a",  # an example in a placeholder
    "colour",  # a column a bulk upload named
]
NOT_LANGUAGE_RE = re.compile("|".join([*map(re.escape, WORLD_TEXT), *NOT_LANGUAGE]), flags=re.ASCII)
# Django's own admin pages: their few words Django's catalog has no Chinese for, and other apps' names.
NOT_OURS_IN_ADMIN = re.compile(
    "|".join(
        [
            r"\bDjango\b",
            r"\bModel name\b",
            r"\bAdd link\b",
            r"\bChange or view list link\b",
            r"\bSearch\b",  # the magnifier's alt text
            r"\bAxes\b",
            r"\bAccess (?:attempts|failures|logs)\b",
            r"\bTasks Database Backend\b",
            r"\bTask Results\b",
            r"\{\".*\}",  # a change's payload, as JSON
        ]
    )
)
# Attributes a person reads or hears: shown on hovering, read aloud, shown in an empty field, in place of a
# picture, in a confirmation, or by copy.js after a copy.
READ_ATTRIBUTES = re.compile(
    r"\s(?:title|aria-label|aria-description|aria-valuetext|placeholder|alt|hx-confirm|data-copied"
    r'|data-copy-failed)="([^"]*)"'
)


def _read(page: str) -> list[str]:
    """What a person reads on the page: its text (top bar and all), the attributes read aloud or shown on
    hovering, and the choices of every list."""
    title = re.findall(r"<title>(.*?)</title>", page.split("<body", 1)[0], flags=re.S)
    body = re.split(r"<body\b[^>]*>", page, maxsplit=1)[-1]
    body = re.sub(r"<(script|style|svg:style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"<input\b[^>]*type=\"hidden\"[^>]*>", " ", body)
    # what the user typed comes back in the form; it is theirs
    body = re.sub(r"<textarea\b[^>]*>.*?</textarea>", " ", body, flags=re.S)
    # technical detail, as the cloud client said it (behind the words a person reads)
    body = re.sub(r"<code\b[^>]*>.*?</code>", " ", body, flags=re.S)
    attributes = READ_ATTRIBUTES.findall(body) + [
        value
        for tag in re.findall(r"<input\b[^>]*>", body)
        if re.search(r'type="(?:submit|button|reset)"', tag)
        for value in re.findall(r'\svalue="([^"]*)"', tag)
    ]
    text = re.sub(r"<[^>]+>", "\n", body)
    parts = [*title, *text.split("\n"), *attributes]
    return [html.unescape(part) for part in parts if part.strip()]


def english_left(page: str, *, admin: bool = False) -> list[str]:
    found = []
    for part in _read(page):
        cleaned = NOT_LANGUAGE_RE.sub(" ", NOT_OURS_IN_ADMIN.sub(" ", part) if admin else part)
        if WORD.search(cleaned):
            found.append(part.strip()[:120])
    return sorted(set(found))


# --- The world -------------------------------------------------------------------------------------


@pytest.fixture
def world(engineer, viewer, approver, second_approver, admin, settings, mailoutbox):
    """Something in every state: links in each status, gone and Cloud Connect ones, every kind of drift,
    changes in every state with approvals, comments, failures and a run-now, notices from what happened,
    audit events, a region the cloud cannot be reached in and one dcportal does not manage."""
    settings.CLOUD_REGIONS = ["cn-north-4", "ap-southeast-1"]
    CloudAccount.objects.filter(pk=CloudAccount.objects.environment().pk).update(name="acct-main")
    # A rename needs more approvers than there are: its submission warns that it cannot complete.
    set_policy(approvals_create=2, approvals_update=5, approvals_delete=1, window_enabled=True)
    now = timezone.now()
    _user("lead3", "Engineer", "Approver")  # both roles: the lead view
    north = make_project("cn-north-4", synced_at=now - timedelta(minutes=3))
    south = make_project("ap-southeast-1", synced_at=now - timedelta(hours=2))
    south.sync_error = "ListProjects failed: cannot reach 127.0.0.1:9: [Errno 111]"
    south.sync_problem = cloud_problem(cloud.CloudUnreachable("cannot reach 127.0.0.1:9: [Errno 111]"))
    south.sync_failed_at = now - timedelta(minutes=20)
    south.save()
    north.sync_problem = gateways_problem([cloud.ServerError("boom", status=503)])
    north.sync_error = "gw-edge: ListPeerLinks failed: HTTP 503"
    north.sync_failed_at = now - timedelta(minutes=1)
    north.save()
    make_project("eu-west-101", unmanaged_gateways=2, unmanaged_looked_at=now)
    # A second account: pages then name each row's account (columns, filters, labels).
    other = CloudAccount.objects.create(name="acct-b", description="acct-b", regions=["cn-north-4"])
    other_north = CloudProject.objects.create(account=other, region="cn-north-4", synced_at=now)
    CloudProject.objects.create(
        account=other, region="eu-west-101", unmanaged_gateways=1, unmanaged_looked_at=now
    )

    gateway = make_gateway(project=north, name="gw-main", current_peer_link_count=5)
    gw_b = make_gateway(project=other_north, name="gw-b")
    full = make_gateway(project=north, name="gw-full", available_peer_link_count=0)
    make_gateway(project=south, name="gw-edge", status="ERROR")
    router = make_router(project=north, name="er-core")
    free_router = make_router(project=north, name="er-free")
    make_router(project=north, name="er-bulk")  # a peer the bulk upload may link to
    spare = make_gateway(project=north, name="gw-spare", available_peer_link_count=20)
    make_router(project=north, name="er-spare", state="pending")
    links = {
        status.lower(): make_peer_link(
            gateway=gateway,
            name=f"pl-{status.lower()}",
            status=status,
            peer_gateway_id=router.cloud_id,
            reason="Peer not found" if status == "ERROR" else "",
            owner_team="netops",
            ticket_ref="INC-42",
            labels=["prod", "edge"],
            cloud_created_at=now - timedelta(days=3),
            cloud_updated_at=now - timedelta(hours=1),
            synced_at=now,
        )
        for status in ("ACTIVE", "PENDING_CREATE", "PENDING_UPDATE", "ERROR")
    }
    links["gone"] = make_peer_link(
        gateway=gateway, name="pl-gone", gone_at=now - timedelta(hours=1), peer_gateway_id=router.cloud_id
    )
    links["other"] = make_peer_link(
        gateway=gw_b, name="pl-b", peer_gateway_id=router.cloud_id, labels=["prod"]
    )
    links["cc"] = make_peer_link(gateway=full, name="pl-cc", create_owner="cc", peer_type="GDGW")
    links["outside"] = make_peer_link(gateway=gateway, name="pl-outside")
    StatusChange.objects.create(peer_link=links["active"], from_status="PENDING_CREATE", to_status="ACTIVE")
    StatusChange.objects.create(peer_link=links["error"], to_status="ERROR", reason="Peer not found")
    drifts = {
        "created": Drift.objects.create(
            peer_link=links["outside"], kind=Drift.Kind.CREATED, detail={"name": "pl-outside"}
        ),
        "changed": Drift.objects.create(
            peer_link=links["active"],
            kind=Drift.Kind.CHANGED,
            detail={"name": {"before": "pl-old", "after": "pl-active"}},
        ),
        "deleted": Drift.objects.create(
            peer_link=links["gone"], kind=Drift.Kind.DELETED, detail={"name": "pl-gone"}
        ),
        "duplicate": Drift.objects.create(
            peer_link=links["error"],
            kind=Drift.Kind.DUPLICATE,
            detail={
                "name": "pl-error",
                "duplicate_of": links["active"].cloud_id,
                "duplicate_of_name": "pl-active",
            },
        ),
    }
    Drift.objects.create(
        peer_link=links["pending_update"],
        kind=Drift.Kind.CHANGED,
        detail={"description": {"before": "", "after": "x"}},
        acknowledged_at=now,
        acknowledged_by=approver,
    )

    payload = {
        "name": "pl-new",
        "description": "to the new router",
        "peer_type": "ER",
        "peer_gateway_id": router.cloud_id,
        "peer_region": "cn-north-4",
    }

    def change(state: str, kind: str = "create", **fields: object) -> ChangeRequest:
        values = {
            "kind": kind,
            "requested_by": engineer,
            "gateway": gateway,
            "payload": payload,
            "approvals_required": 2,
            "state": state,
            "expires_at": now + timedelta(days=2),
        }
        return ChangeRequest.objects.create(**{**values, **fields})

    changes = {
        "pending": change("pending_approval"),
        "stuck": change("pending_approval", approvals_required=5),  # more than there are approvers
        "quota": change("pending_approval", gateway=full, approvals_required=1),
        "retrying": change(
            "approved",
            attempts=1,
            error_msg="Huawei Cloud did not answer in time.",
            error_detail="CreatePeerLink: read timed out",
        ),
        "approved": change("approved", not_before=now + timedelta(hours=3)),
        "executing": change("executing", started_at=now, attempts=1),
        "done": change(
            "done",
            peer_link=links["active"],
            started_at=now - timedelta(minutes=5),
            finished_at=now,
            attempts=1,
            cloud_request_ids=["0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
        ),
        "failed": change(
            "failed",
            started_at=now,
            finished_at=now,
            attempts=2,
            error_code="DC.1001",
            error_msg="Huawei Cloud refused the request: The peer does not exist.",
            error_detail="CreatePeerLink failed: HTTP 400 DC.1001",
        ),
        "rejected": change("rejected", kind="delete", peer_link=links["error"], payload={}),
        "cancelled": change("cancelled", kind="update", peer_link=links["active"]),
        "expired": change("expired", expires_at=now - timedelta(days=1)),
        "update": change(
            "pending_approval",
            kind="update",
            peer_link=links["active"],
            payload={"name": "pl-renamed", "description": "new words"},
            approvals_required=1,
        ),
        "revert": change(
            "pending_approval",
            kind="update",
            peer_link=links["active"],
            payload={"name": "pl-old"},
            reverts_drift=drifts["changed"],
            approvals_required=1,
        ),
    }
    changes["retry"] = change("pending_approval", retry_of=changes["failed"])
    # Batches: one waiting for its approval, one with a row done and a row failed (to retry).
    batches = {
        "pending": ChangeBatch.objects.create(kind="create", requested_by=engineer),
        "failed": ChangeBatch.objects.create(kind="create", requested_by=engineer),
    }
    bulk_rows = [
        change("pending_approval", batch=batches["pending"], payload={**payload, "name": name})
        for name in ("pl-bulk-1", "pl-bulk-2")
    ]
    change(
        "done", batch=batches["failed"], payload={**payload, "owner_team": "netops", "ticket_ref": "INC-9"}
    )
    change("failed", batch=batches["failed"], error_msg="The peer does not exist.")
    changes["failed_alone"] = change(
        "failed",
        kind="delete",
        peer_link=links["error"],
        payload={},
        error_msg="Gave up after 3 attempts: Huawei Cloud did not answer in time.",
    )
    # A link to another account's router, its attachment waiting for that account (and one decided).
    team_b = CloudAccount.objects.create(name="team-b", regions=["cn-north-4"])
    b_north = CloudProject.objects.create(account=team_b, region="cn-north-4", project_id=uuid.uuid4().hex)
    shared = make_router(project=b_north, name="er-team-b-shared")
    links["cross"] = make_peer_link(
        gateway=gateway,
        name="pl-to-team-b",
        status="PENDING_CREATE",
        peer_gateway_id=shared.cloud_id,
        link_id=str(uuid.uuid4()),
    )
    attachments = {
        "waiting": SharedAttachment.objects.create(
            cloud_id=links["cross"].link_id,
            router=shared,
            name="gdgw-gw-main-pl-to-team-b",
            resource_id=gateway.cloud_id,
            state="pending_acceptance",
        ),
        "decided": SharedAttachment.objects.create(
            cloud_id=str(uuid.uuid4()),
            router=shared,
            resource_id=gateway.cloud_id,
            state="available",
            decided_at=now,
            decided_by=approver,
        ),
    }
    changes["cross"] = change(
        "done",
        peer_link=links["cross"],
        peer_account=team_b,
        payload={**payload, "name": "pl-to-team-b", "peer_gateway_id": shared.cloud_id},
    )
    approval = Approval.objects.create(
        change_request=changes["pending"],
        approver=approver,
        decision="approve",
        comment="Fine by me.",
        payload_digest=changes["pending"].payload_digest,
    )
    Approval.objects.create(
        change_request=changes["pending"],
        approver=second_approver,
        decision="approve",
        payload_digest="0" * 64,  # for the payload before an edit: no longer counts
    )
    Approval.objects.create(
        change_request=changes["approved"],
        approver=approver,
        decision="approve",
        payload_digest=changes["approved"].payload_digest,
    )
    rejection = Approval.objects.create(
        change_request=changes["rejected"],
        approver=approver,
        decision="reject",
        comment="Not this week.",
        payload_digest=changes["rejected"].payload_digest,
    )
    comment = Comment.objects.create(change_request=changes["pending"], author=engineer, body="Needed soon.")
    for action, target in [
        ("change.submit", changes["pending"]),
        ("change.approve", changes["pending"]),
        ("change.run_now", changes["done"]),
        ("change.execute", changes["done"]),
        ("change.fail", changes["failed"]),
        ("peer_link.local_fields", None),
        ("drift.adopted", None),
    ]:
        AuditEvent.objects.create(
            actor=approver,
            actor_name=approver.username,
            action=action,
            object_type="change_request" if target else "peer_link",
            object_id=str(target.pk) if target else links["active"].cloud_id,
            object_repr=str(target) if target else links["active"].name,
            change_request=target,
            before={"owner_team": ""},
            after={"owner_team": "netops", "reason": "Outage on the old link"},
            cloud_request_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        )
    AuditEvent.objects.create(actor_name="", action="sync.region", object_type="cloud_project")
    for who in (engineer, approver, admin):
        who.email = f"{who.username}@example.net"
        who.save(update_fields=["email"])
    notifications.notify_submitted(change=changes["pending"])
    notifications.notify_batch_submitted(change=bulk_rows[0])
    notifications.notify_decided(change=changes["pending"], approval=approval)
    notifications.notify_decided(change=changes["rejected"], approval=rejection)
    notifications.notify_finished(change=changes["done"])
    notifications.notify_finished(change=changes["failed"])
    notifications.notify_expired(change=changes["expired"])
    notifications.notify_run_now(change=changes["done"])
    notifications.notify_commented(change=changes["pending"], comment=comment)
    AuditEvent.objects.create(
        actor=approver,
        actor_name=approver.username,
        action="attachment.accepted",
        object_type="shared_attachment",
        object_id=attachments["decided"].cloud_id,
        object_repr="gdgw-gw-main-pl-to-team-b",
        before={"attachment_state": "pending_acceptance"},
        after={"attachment_state": "available", "router_name": "er-team-b-shared"},
        account=team_b,
    )
    notifications.notify_attachment("waiting", attachment_id=attachments["waiting"].pk)
    for event in ("accepted", "rejected"):
        notifications.notify_attachment(event, attachment_id=attachments["decided"].pk)
    Notice.objects.create(user=engineer, message="An old notice, stored before notices had kinds.")
    tokens.create_token(user=viewer, name="已吊销的令牌", scope="read_only", days=7)
    api_token = tokens.create_token(user=viewer, name="流水线", scope="read_write", days=30).token
    return {
        "attachments": attachments,
        "api_token": api_token,
        "links": links,
        "drifts": drifts,
        "changes": changes,
        "batches": batches,
        "gateway": gateway,
        "router": router,
        "free_router": free_router,
        "spare": spare,
    }


# --- The pages -------------------------------------------------------------------------------------


def pages(world: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(who, method, path, data, headers) of every page and fragment, in its interesting states."""
    links, drifts, changes = world["links"], world["drifts"], world["changes"]
    gateway = world["gateway"]

    def link(name: str, what: str = "detail") -> str:
        return reverse(f"peerlinks:{what}", args=[links[name].cloud_id])

    def chg(name: str, what: str = "change_detail") -> str:
        return reverse(f"peerlinks:{what}", args=[changes[name].pk])

    def attachment(name: str, what: str) -> str:
        return reverse(f"peerlinks:{what}", args=[world["attachments"][name].pk])

    batches = world["batches"]

    def batch(name: str, what: str = "batch_detail") -> str:
        return reverse(f"peerlinks:{what}", args=[batches[name].pk])

    pending_digest = bulk.batch_digest(batches["pending"])
    spare = world["spare"].name
    bulk_text = (
        "gateway,peer,name,description,owner,ticket\n"
        f"{spare},er-bulk,pl-bulk-new,,netops,INC-10\n"
        f"{spare},er-free,pl-bulk-twice,,,\n"
        f"{spare},er-none,pl-bulk-nowhere,,,\n"
        f"gw-full,er-free,pl-bulk-full,,,\n"
    )
    bulk_links = [links[name].cloud_id for name in ("active", "pending_update", "cc", "other")]
    get = []
    for who in ("viewer1", "engineer1", "lead1", "lead3", "admin1"):
        get += [
            (who, "GET", "/", {}, {}),
            (who, "GET", "/links/", {}, {}),
            (who, "GET", "/changes/", {}, {}),
            (who, "GET", link("active"), {}, {}),
            (who, "GET", chg("pending"), {}, {}),
            (who, "GET", chg("approved"), {}, {}),
            (who, "GET", "/notices/", {}, {}),
            (who, "GET", "/approvals/", {}, {}),
            (who, "GET", "/lead/", {}, {}),
            (who, "GET", "/gateways/", {}, {}),
            (who, "GET", "/topology/", {}, {}),
            (who, "GET", "/audit/", {}, {}),
            (who, "GET", "/search/", {"q": "pl-"}, {}),
            (who, "GET", "/links/new/", {}, {}),
        ]
    for name in links:
        get.append(("engineer1", "GET", link(name), {}, {}))
        get.append(("engineer1", "GET", link(name, "link_status"), {}, HTMX))
    for name in changes:
        get.append(("lead1", "GET", chg(name), {}, {}))
        get.append(("engineer1", "GET", chg(name), {}, {}))
    first = next(iter(changes.values())).pk
    return [
        ("anonymous", "GET", "/login/", {}, {}),
        ("anonymous", "POST", "/login/", {"username": "nobody", "password": "wrong"}, {}),
        ("viewer1", "GET", "/links/00000000-0000-4000-8000-000000000000/", {}, {}),
        *get,
        ("engineer1", "GET", "/links/", {"status": "NOPE", "sort": "-name", "q": "pl", "gone": "1"}, {}),
        ("engineer1", "GET", "/links/", {"q": "no-such-thing"}, {}),
        ("viewer1", "GET", "/account/api-tokens/", {}, {}),
        (
            "viewer1",
            "POST",
            "/account/api-tokens/",
            {"name": "夜间报表", "scope": "read_only", "days": "7"},
            {},
        ),
        ("viewer1", "POST", "/account/api-tokens/", {"name": "", "scope": "9"}, {}),
        ("viewer1", "POST", f"/account/api-tokens/{world['api_token'].pk}/revoke/", {}, {"follow": True}),
        ("engineer1", "GET", "/links/", {"owner": "netops", "label": "prod"}, HTMX),
        ("engineer1", "GET", "/links/", {"page": "99"}, {}),
        ("engineer1", "GET", "/links/new/", {}, {}),
        ("engineer1", "POST", "/links/new/", {}, {}),
        (
            "engineer1",
            "POST",
            "/links/new/",
            {
                "gateway": gateway.cloud_id,
                "peer_type": "ER",
                "peer_region": "cn-north-4",
                "peer": world["router"].cloud_id,
                "name": "pl-active",
            },
            {},
        ),
        ("engineer1", "GET", "/links/new/peers/", {"peer_type": "ER", "peer_region": "cn-north-4"}, HTMX),
        ("engineer1", "GET", "/links/new/peers/", {"peer_type": "GDGW", "peer_region": "eu-west-101"}, HTMX),
        ("engineer1", "GET", link("active", "link_edit"), {}, {}),
        ("engineer1", "POST", link("active", "link_edit"), {"name": ""}, {}),
        ("engineer1", "GET", link("pending_create", "link_edit"), {}, {}),
        ("engineer1", "GET", link("cc", "link_edit"), {}, {}),
        ("engineer1", "GET", link("active", "link_delete"), {}, {}),
        ("engineer1", "POST", link("active", "link_delete"), {"confirm_name": "nope"}, {}),
        ("engineer1", "GET", link("gone", "link_delete"), {}, {}),
        ("engineer1", "POST", link("active", "link_local"), {"labels": "a b" * 300}, {}),
        ("engineer1", "POST", link("active", "link_local"), {"labels": "a b" * 300}, HTMX),
        ("viewer1", "GET", "/links/new/", {}, {}),
        ("viewer1", "GET", "/approvals/", {}, {}),
        ("outsider1", "GET", "/", {}, {}),
        ("viewer1", "POST", chg("pending", "change_cancel"), {}, {}),
        ("lead1", "POST", chg("pending", "change_cancel"), {}, {}),
        ("engineer1", "GET", chg("pending", "change_edit"), {}, {}),
        ("engineer1", "POST", chg("pending", "change_edit"), {"name": ""}, {}),
        ("engineer1", "GET", chg("done", "change_edit"), {}, {}),
        ("lead1", "POST", chg("pending", "change_approve"), {"payload_digest": "0" * 64}, {}),
        ("lead1", "POST", chg("pending", "change_approve"), {}, HTMX),
        ("lead1", "POST", chg("pending", "change_reject"), {"comment": ""}, {}),
        ("lead1", "POST", chg("pending", "change_reject"), {"comment": ""}, HTMX),
        ("lead1", "POST", chg("done", "change_approve"), {"payload_digest": "x"}, {}),
        ("engineer1", "POST", chg("pending", "change_approve"), {}, {}),
        ("lead1", "POST", chg("approved", "change_run_now"), {"reason": ""}, {}),
        ("lead1", "POST", chg("approved", "change_run_now"), {"reason": ""}, HTMX),
        ("lead1", "POST", chg("pending", "change_run_now"), {"reason": "The old link is down"}, {}),
        ("engineer1", "POST", chg("done", "change_retry"), {}, {}),
        ("lead1", "GET", link("cross"), {}, {}),
        (
            "lead1",
            "POST",
            attachment("decided", "attachment_accept"),
            {"next": link("cross")},
            {"follow": True},
        ),
        ("lead1", "POST", attachment("decided", "attachment_reject"), {}, {"follow": True}),
        ("viewer1", "POST", attachment("waiting", "attachment_accept"), {}, {}),
        ("engineer1", "POST", chg("pending", "change_comment"), {"body": ""}, {}),
        ("engineer1", "POST", chg("pending", "change_comment"), {"body": ""}, HTMX),
        ("engineer1", "GET", "/changes/", {"state": "nope", "kind": "delete", "mine": "1"}, {}),
        ("engineer1", "GET", "/changes/", {"state": "failed"}, HTMX),
        *[
            (who, "GET", "/live/", {"change": f"{changes[name].pk}:shown-before"}, HTMX)
            for name in ("pending", "approved", "failed")
            for who in ("engineer1", "lead1")
        ],
        ("lead1", "GET", "/approvals/", {}, {}),
        ("lead1", "GET", "/approvals/", {}, HTMX),
        ("lead3", "GET", "/lead/", {}, {}),
        ("lead3", "GET", "/lead/", {"days": "7"}, HTMX),
        ("lead3", "GET", "/lead/", {"days": "nope"}, {}),
        ("engineer1", "GET", "/gateways/", {}, {}),
        *[
            ("engineer1", "GET", reverse("peerlinks:gateway_detail", args=[gw.cloud_id]), {}, {})
            for gw in Gateway.objects.all()
        ],
        ("viewer1", "GET", "/gateways/", {}, {}),
        ("engineer1", "GET", "/topology/", {"region": "ap-southeast-1"}, {}),
        ("viewer1", "GET", "/topology/", {}, {}),
        ("engineer1", "GET", "/links/", {"status": "ERROR", "peer_type": "GDGW", "sort": "status"}, {}),
        ("engineer1", "GET", "/links/", {"gateway": gateway.cloud_id, "status": "GONE"}, {}),
        ("engineer1", "GET", "/topology/", {}, {}),
        ("engineer1", "GET", "/topology/", {"region": "cn-north-4"}, HTMX),
        ("engineer1", "GET", "/audit/", {}, {}),
        ("engineer1", "GET", "/audit/", {"request_id": "0f1e2d3c", "action": "change.run_now"}, {}),
        ("engineer1", "GET", "/audit/", {"change": str(first), "page": "2"}, HTMX),
        (
            "engineer1",
            "GET",
            "/audit/",
            {"at_after": "zzz-date", "action": "zzz-act", "object_type": "zzz-type", "object_id": "9" * 80},
            {},
        ),
        ("engineer1", "GET", "/links/", {"sort": "zzz-sort", "gateway": "zzz-gateway", "page": "zzz"}, {}),
        (
            "engineer1",
            "POST",
            "/links/new/",
            {"gateway": "zzz-gateway", "peer_type": "XX", "peer_region": "zzz-region", "name": "x" * 80},
            {},
        ),
        ("engineer1", "GET", "/search/", {"q": "pl"}, {}),
        ("engineer1", "GET", "/search/", {"q": "INC-42"}, {}),
        ("engineer1", "GET", "/search/", {"q": "er-core"}, {}),
        ("engineer1", "GET", "/search/", {"q": "gw-main"}, {}),
        ("engineer1", "GET", "/search/", {"q": "prod"}, {}),
        ("engineer1", "GET", "/search/", {"q": "1"}, {}),
        ("engineer1", "GET", "/search/", {"q": world["router"].cloud_id}, {}),
        ("engineer1", "GET", "/search/", {"q": "zzz-nothing"}, {}),
        ("engineer1", "GET", "/search/", {"q": "acct-b"}, {}),
        ("engineer1", "GET", "/links/", {"account": "acct-b"}, {}),
        ("engineer1", "GET", "/links/", {"account": "zzz-account"}, {}),
        ("engineer1", "GET", "/changes/", {"account": "acct-main"}, {}),
        ("engineer1", "GET", "/audit/", {"account": "acct-main"}, {}),
        ("engineer1", "GET", "/topology/", {"account": "acct-b"}, {}),
        ("lead3", "GET", "/lead/", {"account": "acct-b"}, {}),
        ("lead3", "GET", "/lead/", {"account": "acct-b", "days": "7"}, HTMX),
        ("engineer1", "GET", "/search/", {"q": ""}, {}),
        ("engineer1", "GET", "/search/", {"q": "netops"}, HTMX),
        ("engineer1", "GET", "/notices/", {}, HTMX),
        ("engineer1", "GET", "/live/", {"page": "dashboard"}, HTMX),
        ("engineer1", "GET", "/live/", {"page": "gateways"}, HTMX),
        ("engineer1", "GET", "/live/", {}, HTMX),
        ("engineer1", "GET", reverse("peerlinks:drift_adopt", args=[drifts["created"].pk]), {}, {}),
        (
            "engineer1",
            "POST",
            reverse("peerlinks:drift_adopt", args=[drifts["created"].pk]),
            {"owner_team": "", "ticket_ref": ""},
            {},
        ),
        ("engineer1", "GET", reverse("peerlinks:drift_revert", args=[drifts["changed"].pk]), {}, {}),
        ("engineer1", "GET", reverse("peerlinks:drift_revert", args=[drifts["deleted"].pk]), {}, {}),
        ("engineer1", "GET", reverse("peerlinks:drift_adopt", args=[drifts["duplicate"].pk]), {}, {}),
        # The actions that change things, last: their answers, their messages and what they leave behind.
        (
            "engineer1",
            "POST",
            "/links/new/",
            {
                "gateway": world["spare"].cloud_id,
                "peer_type": "ER",
                "peer_region": "cn-north-4",
                "peer": world["free_router"].cloud_id,
                "name": "pl-fresh",
            },
            {"follow": True},
        ),
        ("engineer1", "POST", link("error", "link_edit"), {"name": "pl-fixed"}, {"follow": True}),
        (
            "engineer1",
            "POST",
            link("outside", "link_delete"),
            {"confirm_name": "pl-outside"},
            {"follow": True},
        ),
        (
            "engineer1",
            "POST",
            link("active", "link_local"),
            {"owner_team": "netops", "ticket_ref": "INC-7", "labels": "prod"},
            {"follow": True},
        ),
        (
            "engineer1",
            "POST",
            reverse("peerlinks:drift_adopt", args=[drifts["created"].pk]),
            {"owner_team": "netops", "ticket_ref": "INC-8"},
            {"follow": True},
        ),
        (
            "engineer1",
            "POST",
            reverse("peerlinks:drift_revert", args=[drifts["changed"].pk]),
            {},
            {"follow": True},
        ),
        (
            "lead2",
            "POST",
            chg("pending", "change_approve"),
            {"payload_digest": None, "comment": "Also fine."},
            {"follow": True},
        ),
        (
            "lead2",
            "POST",
            chg("quota", "change_reject"),
            {"payload_digest": None, "comment": "Not this week."},
            {"follow": True},
        ),
        ("engineer1", "POST", "/refresh/", {}, HTMX),
        ("lead1", "POST", reverse("peerlinks:drift_acknowledge", args=[drifts["duplicate"].pk]), {}, HTMX),
        ("lead1", "POST", reverse("peerlinks:drift_acknowledge", args=[drifts["duplicate"].pk]), {}, {}),
        ("lead1", "POST", chg("update", "change_approve"), {"payload_digest": None}, HTMX),
        ("engineer1", "POST", chg("pending", "change_comment"), {"body": "Any news?"}, HTMX),
        ("lead1", "POST", chg("approved", "change_run_now"), {"reason": "Outage on the old link"}, HTMX),
        ("engineer1", "POST", chg("failed", "change_retry"), {}, {"follow": True}),
        ("engineer1", "POST", chg("failed_alone", "change_retry"), {}, {"follow": True}),
        ("engineer1", "POST", chg("stuck", "change_cancel"), {}, {"follow": True}),
        ("engineer1", "GET", "/batches/new/", {}, {}),
        ("engineer1", "POST", "/batches/new/", {"text": "gateway,colour\nx,y\n"}, {}),
        ("engineer1", "POST", "/batches/new/", {"text": bulk_text}, {}),
        ("engineer1", "POST", "/batches/new/", {"text": bulk_text, "submit": "1"}, {}),
        ("engineer1", "POST", "/batches/delete/", {"link": bulk_links}, {}),
        (
            "engineer1",
            "POST",
            "/batches/delete/",
            {"link": bulk_links, "submit": "1", "confirm_count": "9"},
            {},
        ),
        ("engineer1", "POST", "/batches/delete/", {}, {"follow": True}),
        *[(who, "GET", batch(name), {}, {}) for name in batches for who in ("engineer1", "lead1", "viewer1")],
        ("engineer1", "GET", "/live/", {"batch": f"{batches['pending'].pk}:shown-before"}, HTMX),
        ("lead1", "POST", batch("pending", "batch_approve"), {"payload_digest": "0" * 64}, {}),
        ("engineer1", "POST", batch("failed", "batch_cancel"), {}, {}),
        ("engineer1", "POST", batch("failed", "batch_retry"), {}, {"follow": True}),
        (
            "lead1",
            "POST",
            batch("pending", "batch_reject"),
            {"payload_digest": pending_digest, "comment": "否"},
            {"follow": True},
        ),
        (
            "engineer1",
            "POST",
            "/batches/new/",
            {"text": bulk_text, "submit": "1", "leave_out_refused": "on"},
            {"follow": True},
        ),
        ("lead1", "GET", "/approvals/", {}, {}),
        ("engineer1", "POST", "/notices/read/", {}, {"follow": True}),
        ("engineer1", "POST", "/notices/read/", {}, HTMX),
        ("engineer1", "POST", "/preferences/timezone/", {"timezone": "Asia/Shanghai", "next": "/"}, {}),
        ("engineer1", "POST", "/refresh/", {"next": "/gateways/"}, {"follow": True}),
        # What the actions left: links with a change on the way, a decided queue, a busier lead view.
        *[("engineer1", "GET", link(name), {}, {}) for name in links],
        ("lead1", "GET", "/approvals/", {}, {}),
        ("lead3", "GET", "/lead/", {}, {}),
        ("engineer1", "GET", "/changes/", {}, {}),
        ("engineer1", "GET", "/", {}, {}),
        ("lead1", "GET", "/", {}, {}),
        ("lead1", "POST", "/logout/", {}, {"follow": True}),
    ]


# What no person reads as a page: health probes (JSON for machines), the CSV (its columns are named by code,
# for scripts), the language switch and the identity provider's round trip (redirects).
NOT_PAGES = {
    "healthz",
    "readyz",
    "readyz_work",
    "peerlinks:link_export",
    "set_language",
    "oidc_authentication_init",
    "oidc_authentication_callback",
}


def test_the_check_visits_every_page_of_the_product(world):
    """A page added later is added to `pages` too: every URL name of dcportal is visited (the admin apart)."""
    from django.urls import URLResolver, get_resolver, resolve

    def names(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                # The admin has its own test; the HTTP API answers JSON for scripts, not pages.
                if pattern.namespace not in ("admin", "api"):
                    yield from names(
                        pattern.url_patterns, f"{pattern.namespace}:" if pattern.namespace else ""
                    )
            elif pattern.name:
                yield prefix + pattern.name

    every = set(names(get_resolver().url_patterns))
    visited = {resolve(path).view_name for _, _, path, _, _ in pages(world)}
    assert every - NOT_PAGES - visited == set()


ADMIN_PAGES = [
    "/admin/",
    "/admin/peerlinks/",
    "/admin/peerlinks/peerlink/",
    "/admin/peerlinks/policy/",
    "/admin/peerlinks/changerequest/",
    "/admin/peerlinks/auditevent/",
    "/admin/peerlinks/comment/",
    "/admin/peerlinks/notice/",
    "/admin/peerlinks/cloudaccount/",
    "/admin/peerlinks/cloudaccount/add/",
    "/admin/peerlinks/webhooksubscription/",
    "/admin/peerlinks/webhooksubscription/add/",
    "/admin/peerlinks/webhookdelivery/",
]


@pytest.mark.django_db
def test_every_page_reads_in_chinese_with_no_english_left(client, world, outsider, monkeypatch):
    from peerlinks.views import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_WAIT", 0.0)  # no worker runs the sync: do not wait for it
    from django.contrib.auth import get_user_model

    people = {user.username: user for user in get_user_model().objects.all()}
    changes = world["changes"]
    found: dict[str, list[str]] = {}
    answers: dict[str, int] = {}
    for who, method, path, data, headers in pages(world):
        client.logout()
        if who != "anonymous":
            client.force_login(people[who])
        headers = {**ZH, **headers}
        follow = headers.pop("follow", False)
        if data.get("payload_digest", "") is None:  # the digest of the change acted on, as the page has it
            number = int(path.split("/")[2])
            data = {**data, "payload_digest": ChangeRequest.objects.get(pk=number).payload_digest}
        call = client.get if method == "GET" else client.post
        response = call(path, data, follow=follow, **headers)
        what = f"{who} {method} {path} {data or ''}{' (htmx)' if 'HTTP_HX_REQUEST' in headers else ''}"
        answers[what] = response.status_code
        if response.status_code >= 500:
            found[what] = [f"answered {response.status_code}"]
            continue
        if response.status_code in (204, 301, 302) or not response.content:
            continue
        page = response.content.decode()
        if "<html" in page and '<html lang="zh-hans"' not in page:
            found[what] = ["not drawn in Chinese"]
        elif left := english_left(page):
            found[what] = left

    admin = people["admin1"]
    client.force_login(admin)
    link = world["links"]["active"]
    for path in [
        *ADMIN_PAGES,
        f"/admin/peerlinks/peerlink/{link.pk}/change/",
        f"/admin/peerlinks/peerlink/{world['links']['gone'].pk}/change/",
        f"/admin/peerlinks/changerequest/{changes['done'].pk}/change/",
        f"/admin/peerlinks/changerequest/{changes['pending'].pk}/change/",
        "/admin/peerlinks/policy/1/change/",
        *[
            f"/admin/peerlinks/auditevent/{event.pk}/change/"
            for event in AuditEvent.objects.filter(action__in=["change.submit", "sync.region"])
        ],
        f"/admin/peerlinks/comment/{Comment.objects.first().pk}/change/",
        f"/admin/peerlinks/notice/{Notice.objects.exclude(kind='').first().pk}/change/",
        "/admin/peerlinks/changerequest/?state__exact=failed",
        "/admin/peerlinks/peerlink/?q=nothing-like-this",
    ]:
        response = client.get(path, **ZH)
        assert response.status_code == 200, path
        if left := english_left(response.content.decode(), admin=True):
            found[f"admin GET {path}"] = left

    assert len(answers) > 140
    assert not found, "English left in Chinese pages:\n" + "\n".join(
        f"{what}:\n    " + "\n    ".join(lines) for what, lines in found.items()
    )


@pytest.mark.django_db
def test_cloud_account_admin_pages_read_in_chinese(client, admin, settings):
    """An account's admin pages: the first one's, an added one's with its errors, and its regions page
    (IAM unreachable, then a bad region asked)."""
    from peerlinks.models import CloudAccount
    from peerlinks.services.accounts import save_account

    settings.CLOUD_ENDPOINT = "http://127.0.0.1:9"
    settings.CLOUD_MAX_RETRIES = 0
    first = CloudAccount.objects.environment()
    added = save_account(CloudAccount(name="team-b", access_key="AK-zzz", secret_key="SK-zzz"), user=admin)
    client.force_login(admin)
    change = f"/admin/peerlinks/cloudaccount/{added.pk}/change/"
    found = {}
    for method, path, data in [
        ("GET", f"/admin/peerlinks/cloudaccount/{first.pk}/change/", {}),
        ("GET", change, {}),
        ("POST", change, {"name": "team-b", "auth": "token", "clear_secret_key": "on", "endpoints": "x"}),
        ("POST", "/admin/peerlinks/cloudaccount/add/", {"name": "", "auth": "aksk"}),
        ("GET", f"/admin/peerlinks/cloudaccount/{added.pk}/regions/", {}),
        ("GET", f"/admin/peerlinks/cloudaccount/{added.pk}/regions/", {"region": "ZZZ"}),
        ("POST", f"/admin/peerlinks/cloudaccount/{added.pk}/regions/", {"regions": ["ZZZ"]}),
        ("GET", f"/admin/peerlinks/cloudaccount/{first.pk}/regions/", {}),
        ("POST", f"/admin/peerlinks/cloudaccount/{added.pk}/regions/", {"regions": ["cn-north-4"]}),
    ]:
        call = client.get if method == "GET" else client.post
        response = call(path, data, follow=True, **ZH)
        assert response.status_code == 200, path
        if left := english_left(response.content.decode(), admin=True):
            found[f"{method} {path} {data}"] = left
    assert not found, "\n".join(f"{what}:\n    " + "\n    ".join(lines) for what, lines in found.items())


def test_the_check_finds_english_and_lets_names_codes_and_ids_through():
    assert english_left("<body><main><p>Peer links</p></main></body>") == ["Peer links"]
    assert english_left('<body><button title="Refresh now">刷新</button></body>') == ["Refresh now"]
    assert english_left("<body><select><option>Any state</option></select></body>") == ["Any state"]
    assert english_left('<body><img alt="Topology map"></body>') == ["Topology map"]
    assert english_left('<body><button data-copied="Copied">复制</button></body>') == ["Copied"]
    assert english_left('<title>Log in</title><body><input type="submit" value="Go on"></body>') == [
        "Go on",
        "Log in",
    ]
    names = f"<body><td>pl-main</td><td>ACTIVE</td><td>{uuid.uuid4()}</td><td>peer_link.local_fields</td>"
    assert english_left(names + "<td>cn-north-4</td><td>DC.1001</td><td>dcportal</td></body>") == []


@pytest.mark.django_db
def test_empty_pages_read_in_chinese(client, engineer, approver):
    """Before the first sync: every list says it has nothing, in Chinese."""
    found = {}
    for who, path in [
        (engineer, "/"),
        (engineer, "/links/"),
        (engineer, "/changes/"),
        (engineer, "/gateways/"),
        (engineer, "/topology/"),
        (engineer, "/audit/"),
        (engineer, "/notices/"),
        (engineer, "/search/?q=zzz-nothing"),
        (engineer, "/links/new/"),
        (approver, "/approvals/"),
        (approver, "/lead/"),
    ]:
        client.force_login(who)
        response = client.get(path, **ZH)
        assert response.status_code == 200, path
        if left := english_left(response.content.decode()):
            found[path] = left
    assert not found, found


def test_every_mail_reads_in_chinese(world, mailoutbox):
    """Each mail dcportal sends, to people who chose Chinese: subject and body (names, codes and addresses
    aside)."""
    from django.contrib.auth import get_user_model

    from peerlinks.models import Preferences

    for person in get_user_model().objects.all():
        Preferences.objects.update_or_create(user=person, defaults={"language": "zh-hans"})
    changes = world["changes"]
    pending = changes["pending"]
    mailoutbox.clear()
    notifications.notify_submitted(change=pending)
    for approval in [*pending.approvals.all(), *changes["rejected"].approvals.all()]:
        notifications.notify_decided(change=approval.change_request, approval=approval)
    for name in ("done", "failed", "failed_alone"):
        notifications.notify_finished(change=changes[name])
    notifications.notify_expired(change=changes["expired"])
    notifications.notify_run_now(change=changes["done"])
    notifications.notify_commented(change=pending, comment=pending.comments.first())
    assert len(mailoutbox) >= 8
    found = {}
    for mail in mailoutbox:
        body = mail.body
        for change in changes.values():  # the technical detail, as the cloud client said it
            body = body.replace(change.error_detail, " ") if change.error_detail else body
        if left := english_left(f"<body>{html.escape(mail.subject)}\n{html.escape(body)}</body>"):
            found[mail.subject] = left
    assert not found, found


def test_pages_drawn_without_a_view_read_in_chinese(rf):
    """The database-unavailable page (drawn without the database) and the locked-out login page."""
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("zh-hans"):
        assert english_left(render_to_string("503.html")) == []
        assert english_left(render_to_string("registration/locked_out.html", request=rf.get("/login/"))) == []


def test_a_peer_link_has_every_status_in_the_world(world):
    shown = {link.shown_status for link in world["links"].values()}
    assert shown >= {*PeerLink.Status.values, PeerLink.GONE}
    assert {c.state for c in world["changes"].values()} >= set(ChangeRequest.State.values)

"""The client against a scripted loopback HTTP stub: exact bytes sent, retries, token refresh, logging."""

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from peerlinks import cloud
from peerlinks.cloud import iam, sending

PROJECT = "b197c48159d44a66b32c538c3f8da89a"
GATEWAY = "1c6edc27-5fdb-4dae-ac77-72d47c70ed83"
PEER = "70e29908-12f8-4d5d-9adf-4da5465b91b2"
LINK = "d6ea4641-9575-4675-ac4f-906884e37f28"
REGION = "cn-southwest-242"
AK = "STUBAKVALUE000000001"
SK = "StubSecretKeyValue0000000000000000000001"
PASSWORD = "Stub-IAM-Password-42"
TOKEN = "MIIstubtokenvalue-abcdef-0123456789"
SEED_REQUEST = """{
  "peer_link" : {
    "name" : "dgw-peer-link-94dc",
    "peer_site" : {
      "gateway_id" : "70e29908-12f8-4d5d-9adf-4da5465b91b2",
      "project_id" : "b197c48159d44a66b32c538c3f8da89a",
      "region_id" : "cn-southwest-242"
    }
  }
}"""


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    base_url: str
    received: list[Received] = field(default_factory=list)
    # Each call pops the next scripted reply, the last one repeats: (status, headers, body) or "drop".
    replies: list[object] = field(default_factory=list)
    responder: Callable[[Received], object] | None = None

    def reply_for(self, request: Received) -> object:
        if self.responder is not None:
            return self.responder(request)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _link(status: str = "PENDING_CREATE", link_id: str = LINK, name: str = "dgw-peer-link-94dc") -> dict:
    return {
        "name": name,
        "id": link_id,
        "tenant_id": PROJECT,
        "description": None,
        "status": status,
        "reason": None,
        "created_time": "2024-12-12T00:16:40.000Z",
        "global_dc_gateway_id": GATEWAY,
        "bandwidth_info": {"bandwidth_size": 0, "gcb_id": None},
        "peer_site": {
            "gateway_id": PEER,
            "link_id": None,
            "region_id": REGION,
            "site_code": REGION,
            "project_id": PROJECT,
            "type": "ER",
        },
        "instance_id": None,
    }


def ok(body: dict | None, status: int = 200, **headers: str) -> tuple:
    return (
        status,
        {"X-Request-Id": "f" * 32, **headers},
        json.dumps(body).encode() if body is not None else b"",
    )


def error(status: int, code: str, msg: str, **headers: str) -> tuple:
    body = {"error_msg": msg, "error_code": code, "request_id": "e" * 32}
    return (status, {"X-Request-Id": "e" * 32, **headers}, json.dumps(body).encode())


@pytest.fixture
def stub():
    state: dict[str, Stub] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
            server_stub = state["stub"]
            server_stub.received.append(request)
            reply = server_stub.reply_for(request)
            if reply == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, body = reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["stub"] = Stub(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    iam.clear_caches()
    yield state["stub"]
    server.shutdown()
    server.server_close()
    iam.clear_caches()


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(sending, "sleep", recorded.append)
    return recorded


def config_for(stub: Stub, **overrides) -> cloud.CloudConfig:
    values = {
        "endpoint": stub.base_url,
        "ak": AK,
        "sk": SK,
        "project_ids": {REGION: PROJECT},
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_retries": 2,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        **overrides,
    }
    return cloud.CloudConfig(**values)


def create_seed_link(config: cloud.CloudConfig) -> cloud.PeerLinkResult:
    return cloud.create_peer_link(
        region=REGION,
        gateway_id=GATEWAY,
        name="dgw-peer-link-94dc",
        peer_gateway_id=PEER,
        peer_region=REGION,
        peer_project_id=PROJECT,
        config=config,
    )


def test_create_sends_exactly_the_seed_request_body_and_signs_it(stub):
    stub.replies = [ok({"peer_link": _link(), "request_id": "1" * 32}, status=201)]
    result = create_seed_link(config_for(stub))
    (sent,) = stub.received
    assert sent.method == "POST"
    assert sent.path == f"/v3/{PROJECT}/dcaas/global-dc-gateways/{GATEWAY}/peer-links"
    body = json.loads(sent.body)
    assert body == json.loads(SEED_REQUEST)
    assert json.dumps(body) == json.dumps(json.loads(SEED_REQUEST))  # same key order
    assert b"null" not in sent.body
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Project-Id"] == PROJECT
    assert sent.headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")
    assert "content-type;host;" in sent.headers["Authorization"]
    assert result.request_id == "1" * 32
    assert result.peer_link.id == LINK
    assert not result.recovered


def test_create_with_description_puts_it_between_name_and_peer_site(stub):
    stub.replies = [ok({"peer_link": _link(), "request_id": "1" * 32}, status=201)]
    cloud.create_peer_link(
        region=REGION,
        gateway_id=GATEWAY,
        name="pl-1",
        description="",
        peer_gateway_id=PEER,
        peer_region=REGION,
        peer_project_id=PROJECT,
        config=config_for(stub),
    )
    assert list(json.loads(stub.received[0].body)["peer_link"]) == ["name", "description", "peer_site"]


def test_query_is_sent_byte_identical_to_the_canonical_form(stub):
    stub.replies = [ok({"peer_links": [], "page_info": {"current_count": 0}, "request_id": "2" * 32})]
    links = cloud.list_peer_links(
        region=REGION, gateway_id=GATEWAY, names=["b-1", "a.0"], config=config_for(stub)
    )
    assert list(links) == []
    assert stub.received[0].path.endswith("/peer-links?limit=500&name=a.0&name=b-1")


def test_get_retries_503_then_succeeds_with_backoff(stub, sleeps):
    stub.replies = [error(503, "APIGW.0202", "backend unavailable"), ok({"peer_link": _link("ACTIVE")})]
    result = cloud.show_peer_link(
        region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub)
    )
    assert result.peer_link.status == cloud.PeerLinkStatus.ACTIVE
    assert len(stub.received) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.01
    assert result.request_id == "f" * 32  # from the header when the body has none


def test_429_waits_for_retry_after_capped(stub, sleeps):
    stub.replies = [
        error(429, "APIGW.0308", "throttled", **{"Retry-After": "90"}),
        ok({"peer_link": _link()}),
    ]
    cloud.show_peer_link(
        region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub, retry_after_cap=7.0)
    )
    assert sleeps == [7.0]


def test_retries_exhausted_raise_the_last_error(stub, sleeps):
    stub.replies = [error(500, "DC.0003", "System error.")]
    with pytest.raises(cloud.ServerError) as info:
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub))
    assert len(stub.received) == 3  # one try plus max_retries=2
    assert info.value.error_code == "DC.0003"
    assert info.value.request_id == "e" * 32
    assert info.value.operation == "ShowPeerLink"


def test_client_errors_are_not_retried(stub, sleeps):
    stub.replies = [error(400, "DC.0001", "Request parameter error.")]
    with pytest.raises(cloud.BadRequest):
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub))
    assert len(stub.received) == 1
    assert sleeps == []


def test_create_500_with_no_link_afterwards_raises_and_is_not_reposted(stub, sleeps):
    def respond(request: Received) -> tuple:
        if request.method == "POST":
            return error(500, "DC.0003", "System error.")
        return ok({"peer_links": [], "request_id": "3" * 32})

    stub.responder = respond
    with pytest.raises(cloud.ServerError):
        create_seed_link(config_for(stub))
    assert [r.method for r in stub.received] == ["POST", "GET"]


def test_create_with_dropped_connection_recovers_the_link_by_name_and_peer(stub, sleeps):
    other = _link(link_id="00000000-0000-4000-8000-000000000000")
    other["peer_site"]["gateway_id"] = "99999999-9999-4999-8999-999999999999"

    def respond(request: Received) -> object:
        if request.method == "POST":
            return "drop"
        return ok({"peer_links": [other, _link()], "request_id": "4" * 32})

    stub.responder = respond
    result = create_seed_link(config_for(stub))
    assert result.recovered
    assert result.peer_link.id == LINK
    assert result.request_id == "4" * 32
    assert [r.method for r in stub.received] == ["POST", "GET"]
    assert "name=dgw-peer-link-94dc" in stub.received[1].path


def test_delete_whose_first_response_was_lost_then_404_counts_as_deleted(stub, sleeps):
    stub.replies = ["drop", error(404, "DC.0002", "The resource to be operated or queried does not exist.")]
    cloud.delete_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub))
    assert [r.method for r in stub.received] == ["DELETE", "DELETE"]


def test_delete_of_a_missing_link_on_first_try_raises_not_found(stub):
    stub.replies = [error(404, "DC.0002", "The resource to be operated or queried does not exist.")]
    with pytest.raises(cloud.NotFound):
        cloud.delete_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub))


def test_success_body_that_does_not_parse_is_invalid_response(stub):
    stub.replies = [ok({"peer_link": {"id": LINK}})]
    with pytest.raises(cloud.InvalidResponse) as info:
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config_for(stub))
    assert info.value.status == 200
    assert "peer_link" in str(info.value)


def token_reply(project_id: str = PROJECT, value: str = TOKEN) -> tuple:
    body = {
        "token": {
            "expires_at": "2999-01-01T00:00:00.000000Z",
            "issued_at": "2025-01-01T00:00:00.000000Z",
            "methods": ["password"],
            "project": {"id": project_id, "name": REGION, "domain": {"name": "acct"}},
        }
    }
    return (201, {"X-Subject-Token": value, "X-Request-Id": "7" * 32}, json.dumps(body).encode())


def test_token_mode_fetches_token_once_and_refreshes_once_on_401(stub):
    shows = iter(
        [
            ok({"peer_link": _link()}),
            error(401, "APIGW.0301", "Incorrect IAM authentication information: token expires"),
            ok({"peer_link": _link("ACTIVE")}),
        ]
    )

    def respond(request: Received) -> tuple:
        if request.path == "/v3/auth/tokens":
            return token_reply()
        return next(shows)

    stub.responder = respond
    config = config_for(
        stub, auth="token", iam_user="ops", iam_password=PASSWORD, iam_domain="acct", project_ids={}
    )
    for _ in range(2):
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
    paths = [r.path.split("?")[0] for r in stub.received]
    assert paths.count("/v3/auth/tokens") == 2
    token_request = json.loads(stub.received[0].body)
    assert token_request["auth"]["identity"]["password"]["user"] == {
        "name": "ops",
        "password": PASSWORD,
        "domain": {"name": "acct"},
    }
    assert token_request["auth"]["scope"] == {"project": {"name": REGION}}
    show_requests = [r for r in stub.received if "peer-links" in r.path]
    assert all(r.headers["X-Auth-Token"] == TOKEN for r in show_requests)
    assert all("Authorization" not in r.headers for r in show_requests)
    # The project ID came from the token itself: no /v3/projects call.
    assert "/v3/projects" not in paths


def test_project_id_is_discovered_once_through_iam(stub):
    def respond(request: Received) -> tuple:
        if request.path.startswith("/v3/projects"):
            return ok({"projects": [{"id": PROJECT, "name": REGION, "domain_id": "d" * 32, "enabled": True}]})
        return ok({"peer_link": _link()})

    stub.responder = respond
    config = config_for(stub, project_ids={})
    assert cloud.get_project_id(region=REGION, config=config) == PROJECT
    for _ in range(3):
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
    paths = [r.path for r in stub.received]
    assert paths.count(f"/v3/projects?name={REGION}") == 1
    assert "X-Project-Id" not in stub.received[0].headers


def test_logs_never_contain_secrets_across_a_lifecycle(stub, sleeps, caplog):
    state = {"show": 0}

    def respond(request: Received) -> object:
        if request.path == "/v3/auth/tokens":
            return token_reply()
        if request.path.startswith("/v3/projects"):
            return ok({"projects": [{"id": PROJECT, "name": REGION}]})
        if request.method == "POST":
            return "drop"
        if request.method == "PUT":
            return error(409, "DC.0001", "resource is busy")
        if request.method == "DELETE":
            return ok(None, status=204)
        if "name=" in request.path:
            return ok({"peer_links": [_link()], "request_id": "5" * 32})
        state["show"] += 1
        if state["show"] == 1:
            return error(401, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail")
        if state["show"] == 2:
            return error(429, "APIGW.0308", "throttled", **{"Retry-After": "0"})
        return ok({"peer_link": _link("ACTIVE")})

    stub.responder = respond
    aksk = config_for(stub, project_ids={})
    token = config_for(
        stub, auth="token", iam_user="ops", iam_password=PASSWORD, iam_domain="acct", project_ids={}
    )
    signatures: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for config in (aksk, token):
            # The 401 (a stale token) only makes sense in token mode; AK/SK starts at the 429.
            state["show"] = 1 if config.auth == "aksk" else 0
            create_seed_link(config)
            cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
            with pytest.raises(cloud.Conflict):
                cloud.update_peer_link(
                    region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, name="x", config=config
                )
            cloud.delete_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
        signatures = [
            r.headers["Authorization"].rsplit("=", 1)[1]
            for r in stub.received
            if "Authorization" in r.headers
        ]
    text = caplog.text
    assert "CreatePeerLink POST" in text and "attempt=" in text and "elapsed_ms=" in text
    for secret in (AK, SK, PASSWORD, TOKEN, "Authorization", "X-Auth-Token", "SDK-HMAC-SHA256", *signatures):
        assert secret not in text
    assert signatures


def test_endpoint_template_routes_each_service_to_its_own_base_url(stub):
    def respond(request: Received) -> tuple:
        if "/v3/projects" in request.path:
            return ok({"projects": [{"id": PROJECT, "name": REGION}]})
        return ok({"peer_link": _link()})

    stub.responder = respond
    config = config_for(stub, endpoint=f"{stub.base_url}/{{service}}/{{region}}", project_ids={})
    cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
    assert [r.path.split("?")[0] for r in stub.received] == [
        f"/iam/{REGION}/v3/projects",
        f"/dcaas/{REGION}/v3/{PROJECT}/dcaas/global-dc-gateways/{GATEWAY}/peer-links/{LINK}",
    ]


def test_read_timeout_message_names_host_and_limit(stub, sleeps):
    def respond(request: Received) -> tuple:
        threading.Event().wait(0.5)
        return ok({"peer_link": _link()})

    stub.responder = respond
    config = config_for(stub, read_timeout=0.1, max_retries=0)
    with pytest.raises(cloud.CloudTimeout) as info:
        cloud.show_peer_link(region=REGION, gateway_id=GATEWAY, peer_link_id=LINK, config=config)
    assert str(info.value) == f"ShowPeerLink failed: no response from {stub.base_url[7:]} within 0.1 s"

"""The simulator as a WSGI app: DC, ER and IAM routes on one port, plus control routes under /_dcsim/."""

import copy
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dcsim import DEMO_AK, DEMO_DOMAIN, DEMO_IAM_PASSWORD, DEMO_IAM_USER, DEMO_SK, REGIONS, project_id_for
from dcsim import seed as seeds
from dcsim.auth import TOKEN_LIFETIME_SECONDS, TokenIssuer, iam_error, verify_aksk
from dcsim.errors import SYSTEM_ERROR, ApiError, DropConnection, bad_parameter
from dcsim.faults import FaultConfigError, Faults
from dcsim.store import (
    ATTACHMENT_STATES,
    GATEWAY_STATUSES,
    PEER_LINK_STATUSES,
    QUOTA_TYPES,
    ROUTER_STATES,
    Gateway,
    Router,
    SimConfig,
    Store,
    new_id,
)
from dcsim.validation import (
    BODY_PROJECT_RE,
    NAME_RE,
    NO_ANGLE_BRACKETS_RE,
    UUID_RE,
    Query,
    check_path_project,
    check_uuid,
    object_field,
    parse_body,
    string_field,
)

MAX_BODY_BYTES = 12 * 1024 * 1024
MAX_URI_BYTES = 32 * 1024
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_DC_SORT_KEYS = ("id", "name", "created_time", "updated_time", "status")
_ER_SORT_KEYS = ("id", "name", "state")
_ER_FILTER_MAX = 100
_ATTACHMENT_RESOURCE_TYPES = ("vpc", "vpn", "dgw", "vgw", "peering", "can", "ecn", "gdgw", "connect", "cfw")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# (method, path pattern, handler name, error-code family). Literal segments are tried before placeholders.
_ROUTES: list[tuple[str, str, str, str]] = [
    ("POST", "/v3/auth/tokens", "create_token", "IAM"),
    ("GET", "/v3/projects", "list_projects", "IAM"),
    ("GET", "/v3/{project}/dcaas/quotas", "show_quotas", "DC"),
    ("GET", "/v3/{project}/dcaas/global-dc-gateways", "list_gateways", "DC"),
    ("POST", "/v3/{project}/dcaas/global-dc-gateways", "create_gateway", "DC"),
    ("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", "show_gateway", "DC"),
    ("PUT", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", "update_gateway", "DC"),
    ("DELETE", "/v3/{project}/dcaas/global-dc-gateways/{gateway}", "delete_gateway", "DC"),
    ("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links", "list_peer_links", "DC"),
    ("POST", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links", "create_peer_link", "DC"),
    ("GET", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}", "show_peer_link", "DC"),
    ("PUT", "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}", "update_peer_link", "DC"),
    (
        "DELETE",
        "/v3/{project}/dcaas/global-dc-gateways/{gateway}/peer-links/{link}",
        "delete_peer_link",
        "DC",
    ),
    ("GET", "/v3/{project}/enterprise-router/instances", "list_routers", "ER"),
    ("GET", "/v3/{project}/enterprise-router/instances/{router}", "show_router", "ER"),
    ("GET", "/v3/{project}/enterprise-router/{router}/attachments", "list_attachments", "ER"),
    ("GET", "/v3/{project}/enterprise-router/{router}/attachments/{attachment}", "show_attachment", "ER"),
]
_CONTROL_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/_dcsim/faults", "get_faults"),
    ("PUT", "/_dcsim/faults", "put_faults"),
    ("DELETE", "/_dcsim/faults", "delete_faults"),
    ("POST", "/_dcsim/faults/next", "post_fault_next"),
    ("POST", "/_dcsim/reset", "post_reset"),
    ("GET", "/_dcsim/config", "get_config"),
    ("PUT", "/_dcsim/config", "put_config"),
    ("GET", "/_dcsim/state", "get_state"),
    ("POST", "/_dcsim/global-dc-gateways", "post_gateway"),
    ("PATCH", "/_dcsim/global-dc-gateways/{id}", "patch_gateway"),
    ("POST", "/_dcsim/enterprise-routers", "post_router"),
    ("PATCH", "/_dcsim/enterprise-routers/{id}", "patch_router"),
    ("PATCH", "/_dcsim/peer-links/{id}", "patch_peer_link"),
]


def _match(pattern: str, path: str) -> dict[str, str] | None:
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params = {}
    for expected, actual in zip(want, got, strict=True):
        if expected.startswith("{"):
            if not actual:
                return None
            params[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return params


def _route(routes: Iterable[tuple], method: str, path: str) -> tuple[tuple, dict[str, str]] | None:
    """The route for a method and path, literal segments winning over placeholders."""
    candidates = []
    for route in routes:
        params = _match(route[1], path)
        if params is not None and route[0] == method:
            candidates.append((len(params), route, params))
    if not candidates:
        return None
    _, route, params = min(candidates, key=lambda item: item[0])
    return route, params


def _control_error(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "DCSIM.0001" if status == 400 else "DCSIM.0002", message)


@dataclass
class Request:
    """One incoming request, with the raw path and query the signature covers."""

    method: str
    raw_path: str
    raw_query: str
    path: str
    headers: dict[str, str]
    environ: dict
    request_id: str
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    family: str = "DC"

    @property
    def query(self) -> Query:
        return Query(self.raw_query, code="ER.0001" if self.family == "ER" else "DC.0001")


def _headers_of(environ: dict) -> dict[str, str]:
    raw = environ.get("dcsim.headers")
    if raw is not None:
        headers: dict[str, str] = {}
        for name, value in raw:
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        return headers
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


class Simulator:
    """The in-process fake cloud: state, faults and config, callable as a WSGI application."""

    def __init__(
        self,
        *,
        seed: str = "empty",
        transition_delay: float = 3.0,
        delete_delay: float | None = None,
        peer_link_quota: int = 3,
        clock: Callable[[], float] = time.time,
        log: bool = True,
        fault_seed: int | None = None,
        **fault_settings: object,
    ) -> None:
        self._start_config = SimConfig(transition_delay, delete_delay, peer_link_quota)
        self.config = copy.copy(self._start_config)
        self.clock = clock
        self.log = log
        self.faults = Faults(seed=fault_seed, **fault_settings)
        self.projects = {project_id_for(region): region for region in REGIONS}
        self.domain_id = project_id_for("domain")
        self.user_id = project_id_for(f"user:{DEMO_IAM_USER}")
        self.credentials = {DEMO_AK: DEMO_SK}
        env_ak, env_sk = os.environ.get("CLOUD_SDK_AK"), os.environ.get("CLOUD_SDK_SK")
        if env_ak and env_sk:
            self.credentials[env_ak] = env_sk
        self.tokens = TokenIssuer()
        self.store = Store(
            projects=self.projects,
            config=self.config,
            clock=lambda: self.clock(),
            fail_activation=self.faults.activation_fails,
        )
        self.seed = seed
        seeds.load(self.store, seed, now=self.clock())

    # Python control API (the same operations as the /_dcsim/ routes)

    def reset(self, seed: str = "empty") -> dict:
        """Wipe all state, clear faults and restore the start config, then load a seed."""
        if seed not in seeds.SEEDS:
            raise _control_error(f"seed must be one of {', '.join(seeds.SEEDS)}")
        self.faults.clear()
        for key, value in vars(self._start_config).items():
            setattr(self.config, key, value)
        self.store.clear()
        self.seed = seed
        seeds.load(self.store, seed, now=self.clock())
        return self.state()

    def get_faults(self) -> dict:
        return self.faults.snapshot()

    def set_faults(self, **settings: object) -> dict:
        """Merge fault settings (rates, retry_after, latency_ms, seed)."""
        try:
            self.faults.update(**settings)
        except FaultConfigError as exc:
            raise _control_error(str(exc)) from None
        return self.faults.snapshot()

    def clear_faults(self) -> dict:
        self.faults.clear()
        return self.faults.snapshot()

    def queue_fault(
        self,
        fault: str,
        *,
        count: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        latency_ms: int | None = None,
    ) -> dict:
        """Queue one-shot faults for the next matching API requests."""
        try:
            self.faults.queue(
                fault, count=count, method=method, path_contains=path_contains, latency_ms=latency_ms
            )
        except FaultConfigError as exc:
            raise _control_error(str(exc)) from None
        return self.faults.snapshot()

    def get_config(self) -> dict:
        return self.config.as_dict()

    def set_config(
        self,
        *,
        transition_delay: float | None = None,
        delete_delay: float | None = None,
        peer_link_quota: int | None = None,
    ) -> dict:
        """Change timings or the default per-gateway peer-link quota."""
        for key, value in (("transition_delay", transition_delay), ("delete_delay", delete_delay)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise _control_error(f"{key} must be a non-negative number")
                setattr(self.config, key, float(value))
        if peer_link_quota is not None:
            if (
                isinstance(peer_link_quota, bool)
                or not isinstance(peer_link_quota, int)
                or peer_link_quota < 0
            ):
                raise _control_error("peer_link_quota must be a non-negative integer")
            self.config.peer_link_quota = peer_link_quota
        return self.config.as_dict()

    def add_gateway(
        self,
        *,
        name: str,
        region: str = "cn-north-4",
        bgp_asn: int = 64512,
        status: str = "ACTIVE",
        quota: int | None = None,
        description: str = "",
        id: str | None = None,
        address_family: str = "ipv4",
    ) -> dict:
        """Add a global DC gateway to the account (ACTIVE by default, already in its region)."""
        self._check_region(region)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _control_error("name must be 1-64 letters, digits, CJK, '-', '_' or '.'")
        if status not in GATEWAY_STATUSES:
            raise _control_error(f"status must be one of {', '.join(GATEWAY_STATUSES)}")
        self._check_quota(quota)
        gateway_id = self._check_new_id(id)
        self.store.insert(
            Gateway(
                id=gateway_id,
                project_id=project_id_for(region),
                name=name,
                created_at=self.clock(),
                description=description,
                bgp_asn=int(bgp_asn),
                region_id=region,
                status=status,
                quota=quota,
                address_family=address_family,
            )
        )
        return self.store.gateway_wire(gateway_id)

    def patch_gateway(self, gateway_id: str, **changes: object) -> dict:
        """Change a gateway's ``status``, ``quota`` or ``name`` behind the API's back."""
        unknown = set(changes) - {"status", "quota", "name", "reason"}
        if unknown:
            raise _control_error(f"cannot change {', '.join(sorted(unknown))}")
        if "status" in changes and changes["status"] not in GATEWAY_STATUSES:
            raise _control_error(f"status must be one of {', '.join(GATEWAY_STATUSES)}")
        if "quota" in changes:
            self._check_quota(changes["quota"])
        return self.store.patch_gateway(gateway_id, changes)

    def add_router(
        self,
        *,
        name: str,
        region: str = "cn-north-4",
        asn: int = 64513,
        state: str = "available",
        description: str = "",
        id: str | None = None,
    ) -> dict:
        """Add an enterprise router in a region (a possible peer-link target)."""
        self._check_region(region)
        if state not in ROUTER_STATES:
            raise _control_error(f"state must be one of {', '.join(ROUTER_STATES)}")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise _control_error("name must be a string of 1-64 characters")
        router_id = self._check_new_id(id)
        self.store.insert(
            Router(
                id=router_id,
                project_id=project_id_for(region),
                region_id=region,
                name=name,
                created_at=self.clock(),
                state=state,
                asn=int(asn),
                description=description,
            )
        )
        return self.store.router_wire(router_id)

    def patch_router(self, router_id: str, **changes: object) -> dict:
        """Change an enterprise router's ``state`` (e.g. to ``failed``) or ``name``."""
        unknown = set(changes) - {"state", "name"}
        if unknown:
            raise _control_error(f"cannot change {', '.join(sorted(unknown))}")
        if "state" in changes and changes["state"] not in ROUTER_STATES:
            raise _control_error(f"state must be one of {', '.join(ROUTER_STATES)}")
        return self.store.patch_router(router_id, changes)

    def set_router_state(self, router_id: str, state: str) -> dict:
        return self.patch_router(router_id, state=state)

    def force_peer_link(self, link_id: str, **changes: object) -> dict:
        """Overwrite a link's status, reason, name or description, as if changed outside the portal."""
        unknown = set(changes) - {"status", "reason", "name", "description"}
        if unknown:
            raise _control_error(f"cannot change {', '.join(sorted(unknown))}")
        if "status" in changes and changes["status"] not in PEER_LINK_STATUSES:
            raise _control_error(f"status must be one of {', '.join(PEER_LINK_STATUSES)}")
        return self.store.force_peer_link(link_id, changes)

    def state(self) -> dict:
        """Counts per kind of resource."""
        return self.store.counts() | {"seed": self.seed}

    def issue_token(self, region: str = "cn-north-4", *, lifetime: float = TOKEN_LIFETIME_SECONDS) -> str:
        """A demo-user IAM token scoped to a region's project (a negative lifetime gives an expired one)."""
        token, _ = self.tokens.issue(
            project_id=project_id_for(region), user_id=self.user_id, issued_at=self.clock(), lifetime=lifetime
        )
        return token

    def _check_region(self, region: object) -> None:
        if region not in REGIONS:
            raise _control_error(f"unknown region '{region}'")

    @staticmethod
    def _check_quota(quota: object) -> None:
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
            raise _control_error("quota must be a non-negative integer or null")

    def _check_new_id(self, value: object) -> str:
        if value is None:
            return new_id()
        if not isinstance(value, str) or not UUID_RE.match(value):
            raise _control_error("id must be a UUID")
        value = value.lower()
        if value in self.store.gateways or value in self.store.routers:
            raise _control_error(f"id {value} already exists")
        return value

    # WSGI

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        request_id = uuid.uuid4().hex
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_uri = environ.get("dcsim.raw_uri") or environ.get("PATH_INFO", "/") + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
        )
        raw_path, _, raw_query = raw_uri.partition("?")
        request = Request(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            path=environ.get("PATH_INFO", raw_path),
            headers=_headers_of(environ),
            environ=environ,
            request_id=request_id,
        )
        drop_after = False
        try:
            if len(raw_uri.encode("latin-1", "replace")) > MAX_URI_BYTES:
                raise ApiError(414, "APIGW.0201", "Request-URI Too Large")
            if request.path.startswith("/_dcsim/") or request.path == "/_dcsim":
                status, body, headers = self._control(request)
            else:
                status, body, headers, drop_after = self._api(request)
        except DropConnection:
            self._log(request, "dropped")
            raise
        except ApiError as exc:
            status, headers = exc.status, dict(exc.headers)
            body = exc.body or {"error_msg": exc.message, "error_code": exc.code, "request_id": request_id}
        except Exception:
            traceback.print_exc(file=sys.stderr)
            status, headers = 500, {}
            body = {"error_msg": SYSTEM_ERROR, "error_code": "DC.0003", "request_id": request_id}
        if drop_after:
            self._log(request, f"{status} committed, response dropped")
            raise DropConnection
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        response_headers = [("X-Request-Id", request_id)]
        if body is not None:
            response_headers.append(("Content-Type", "application/json"))
        response_headers.append(("Content-Length", str(len(payload))))
        response_headers.extend(headers.items())
        start_response(f"{status} {_STATUS_TEXT.get(status, 'Unknown')}", response_headers)
        self._log(request, str(status))
        return [payload]

    def _log(self, request: Request, outcome: str) -> None:
        if self.log:
            print(
                f"dcsim: {request.method} {request.raw_path} {outcome} {request.request_id}", file=sys.stderr
            )

    def _read_body(self, request: Request) -> None:
        length_header = request.headers.get("content-length") or "0"
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, "APIGW.0201", "Bad Request: invalid Content-Length") from None
        stream = request.environ["wsgi.input"]
        if length > MAX_BODY_BYTES:
            # Drain (within reason) so the client gets to read the 413 instead of a reset.
            remaining = min(length, _MAX_DRAIN_BYTES)
            while remaining > 0:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise ApiError(413, "APIGW.0201", "Request Entity Too Large")
        request.body = stream.read(length) if length > 0 else b""

    def _api(self, request: Request) -> tuple[int, dict | None, dict, bool]:
        found = _route(_ROUTES, request.method, request.path)
        if found is None:
            raise ApiError(
                404, "APIGW.0101", "The API does not exist or has not been published in the environment"
            )
        (_, _, handler_name, family), params = found
        request.params, request.family = params, family
        self._read_body(request)
        drop_after = False
        for fault in self.faults.pick(
            request.method, request.path, is_create=handler_name == "create_peer_link"
        ):
            if fault.kind in ("latency", "timeout"):
                time.sleep(fault.latency_ms / 1000)
            elif fault.kind == "drop":
                raise DropConnection
            elif fault.kind == "drop_create_response":
                drop_after = True
            elif fault.kind == "429":
                retry_after = str(self.faults.retry_after)
                raise ApiError(
                    429,
                    "APIGW.0308",
                    "The throttling threshold has been reached: policy user over ratelimit",
                    headers={"Retry-After": retry_after},
                )
            elif fault.kind == "503":
                raise ApiError(503, "APIGW.0202", "The backend service is unavailable.")
            else:
                raise ApiError(500, "DC.0003", SYSTEM_ERROR)
        if handler_name != "create_token":
            self._authenticate(request, params.get("project"))
        status, body, headers = getattr(self, f"_api_{handler_name}")(request)
        if body is not None and family in ("DC", "ER") and handler_name != "show_quotas":
            body["request_id"] = request.request_id
        return status, body, headers, drop_after

    def _authenticate(self, request: Request, project_id: str | None) -> None:
        """Token or AK/SK, then the project in the path must be one of the account's (403 otherwise)."""
        now = self.clock()
        headers = request.headers
        scoped_project = None
        if "x-auth-token" in headers:
            scoped_project = self.tokens.verify(headers["x-auth-token"], now=now)["project_id"]
        elif "authorization" in headers:
            verify_aksk(
                method=request.method,
                raw_path=request.raw_path,
                raw_query=request.raw_query,
                headers=headers,
                body=request.body,
                secret_for=self.credentials.get,
                now=now,
            )
        else:
            raise iam_error("x-auth-token not found")
        if project_id is None:
            return
        check_path_project(project_id, code="ER.0001" if request.family == "ER" else "DC.0001")
        forbidden = "The IAM user is not authorized to access the API: "
        if project_id.lower() not in self.projects:
            raise ApiError(
                403, "APIGW.0302", forbidden + f"project {project_id} does not belong to this account"
            )
        if scoped_project is not None and scoped_project != project_id.lower():
            raise ApiError(403, "APIGW.0302", forbidden + "the token is scoped to another project")
        header_project = headers.get("x-project-id")
        if header_project is not None and header_project.strip().lower() != project_id.lower():
            raise ApiError(
                403, "APIGW.0302", forbidden + "X-Project-Id does not match the project in the URL"
            )

    # IAM

    def _api_create_token(self, request: Request) -> tuple[int, dict, dict]:
        def keystone_error(status: int, title: str, message: str) -> ApiError:
            return ApiError(
                status,
                str(status),
                message,
                body={"error": {"code": status, "message": message, "title": title}},
            )

        try:
            data = json.loads(request.body.decode("utf-8"))
            identity = data["auth"]["identity"]
            methods = identity["methods"]
            user = identity["password"]["user"]
            project_scope = data["auth"]["scope"]["project"]
            domain = user.get("domain") or {}
            if not isinstance(methods, list) or not isinstance(project_scope, dict):
                raise TypeError
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            raise keystone_error(
                400,
                "Bad Request",
                "The request body is invalid: password auth with a project scope is required.",
            ) from None
        credentials_ok = (
            "password" in methods
            and user.get("name") == DEMO_IAM_USER
            and user.get("password") == DEMO_IAM_PASSWORD
            and (domain.get("name") == DEMO_DOMAIN or domain.get("id") == self.domain_id)
        )
        if not credentials_ok:
            raise keystone_error(401, "Unauthorized", "The username or password is wrong.")
        project_id = project_scope.get("id")
        if project_id is None:
            name = project_scope.get("name")
            project_id = project_id_for(name) if name in REGIONS else None
        if project_id not in self.projects:
            raise keystone_error(
                401, "Unauthorized", "The project does not exist or does not belong to the account."
            )
        now = self.clock()
        token, expires_at = self.tokens.issue(
            project_id=project_id, user_id=self.user_id, issued_at=now, lifetime=TOKEN_LIFETIME_SECONDS
        )
        domain_ref = {"id": self.domain_id, "name": DEMO_DOMAIN}
        body = {
            "token": {
                "expires_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(expires_at)),
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now)),
                "methods": ["password"],
                "project": {"id": project_id, "name": self.projects[project_id], "domain": domain_ref},
                "user": {
                    "id": self.user_id,
                    "name": DEMO_IAM_USER,
                    "domain": domain_ref,
                    "password_expires_at": "",
                },
                "roles": [{"id": project_id_for("role:te_admin"), "name": "te_admin"}],
                "catalog": [],
            }
        }
        return 201, body, {"X-Subject-Token": token}

    def _api_list_projects(self, request: Request) -> tuple[int, dict, dict]:
        base = f"http://{request.headers.get('host', 'localhost')}/v3/projects"
        names = request.query.many("name", max_items=_ER_FILTER_MAX)
        projects = [
            {
                "id": project_id,
                "name": region,
                "domain_id": self.domain_id,
                "enabled": True,
                "description": "",
                "parent_id": self.domain_id,
                "is_domain": False,
                "links": {"self": f"{base}/{project_id}"},
            }
            for project_id, region in sorted(self.projects.items(), key=lambda item: item[1])
            if names is None or region in names
        ]
        return 200, {"projects": projects, "links": {"self": base, "previous": None, "next": None}}, {}

    # DC: global DC gateways and quotas

    def _gateway_id(self, request: Request) -> str:
        return check_uuid(request.params["gateway"], "global_dc_gateway_id")

    def _api_list_gateways(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        items = self.store.list_gateways(request.params["project"].lower())
        items = _filter(items, "id", query.many("id", split_commas=True), lower=True)
        items = _filter(items, "name", query.many("name", split_commas=True, pattern=NAME_RE))
        items = _filter(
            items,
            "enterprise_project_id",
            query.many("enterprise_project_id", split_commas=True, max_items=10),
        )
        items = _filter(items, "status", query.many("status", split_commas=True, choices=GATEWAY_STATUSES))
        items = _filter(items, "global_center_network_id", query.many("global_center_network_id"))
        for ignored in ("site_network_id", "cloud_connection_id"):
            query.many(ignored)
        page, page_info = _paginate_dc(items, query)
        return 200, {"global_dc_gateways": _restrict(page, query), "page_info": page_info}, {}

    def _api_show_gateway(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        query.many("ext_fields")
        query.many("enterprise_project_id", max_items=10)
        query.integer("limit", low=1, high=2000)
        gateway = self.store.show_gateway(request.params["project"].lower(), self._gateway_id(request))
        return 200, {"global_dc_gateway": _restrict([gateway], query)[0]}, {}

    def _api_create_gateway(self, request: Request) -> tuple[int, dict, dict]:
        body = parse_body(request.body, "global_dc_gateway")
        where = "global_dc_gateway"
        values: dict = {"name": _name(body, where, required=True)}
        description = string_field(
            body, "description", where=where, max_length=255, pattern=NO_ANGLE_BRACKETS_RE
        )
        if description is not None:
            values["description"] = description
        if body.get("bgp_asn") is not None:
            values["bgp_asn"] = _bgp_asn(body["bgp_asn"])
        eps = string_field(body, "enterprise_project_id", where=where, max_length=36)
        if eps is not None:
            if eps != "0" and not UUID_RE.match(eps):
                raise bad_parameter(f"{where}.enterprise_project_id must be '0' or a UUID")
            values["enterprise_project_id"] = eps
        family = string_field(body, "address_family", where=where)
        if family is not None:
            values["address_family"] = _choice(family, ("ipv4", "dual"), f"{where}.address_family")
        if body.get("tags") is not None:
            values["tags"] = _tags(body["tags"])
        string_field(body, "tenant_id", where=where, max_length=36, pattern=BODY_PROJECT_RE)
        gateway = self.store.create_gateway(request.params["project"].lower(), **values)
        return 201, {"global_dc_gateway": gateway}, {}

    def _api_update_gateway(self, request: Request) -> tuple[int, dict, dict]:
        gateway_id = self._gateway_id(request)
        body = parse_body(request.body, "global_dc_gateway")
        where = "global_dc_gateway"
        changes: dict = {}
        name = _name(body, where, required=False)
        if name is not None:
            changes["name"] = name
        description = string_field(
            body, "description", where=where, max_length=255, pattern=NO_ANGLE_BRACKETS_RE
        )
        if description is not None:
            changes["description"] = description
        family = string_field(body, "address_family", where=where, max_length=36)
        if family is not None:
            changes["address_family"] = _choice(family, ("ipv4", "dual"), f"{where}.address_family")
        gateway = self.store.update_gateway(request.params["project"].lower(), gateway_id, changes)
        return 200, {"global_dc_gateway": gateway}, {}

    def _api_delete_gateway(self, request: Request) -> tuple[int, None, dict]:
        self.store.delete_gateway(request.params["project"].lower(), self._gateway_id(request))
        return 204, None, {}

    def _api_show_quotas(self, request: Request) -> tuple[int, dict, dict]:
        types = request.query.many("type", max_items=len(QUOTA_TYPES), choices=QUOTA_TYPES)
        resources = self.store.quotas(request.params["project"].lower())
        if types is not None:
            resources = [item for item in resources if item["type"] in types]
        return 201, {"quotas": {"resources": resources}}, {}

    # DC: peer links

    def _link_ids(self, request: Request) -> tuple[str, str]:
        return self._gateway_id(request), check_uuid(request.params["link"], "peer_link_id")

    def _api_list_peer_links(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        gateway_id = self._gateway_id(request)
        items = self.store.list_peer_links(request.params["project"].lower(), gateway_id)
        items = _filter(items, "id", query.many("id", split_commas=True), lower=True)
        items = _filter(items, "name", query.many("name", split_commas=True, pattern=NAME_RE))
        query.many("ext_fields")
        query.integer("offset", low=1, high=1000)
        page, page_info = _paginate_dc(items, query)
        return 200, {"peer_links": _restrict(page, query), "page_info": page_info}, {}

    def _api_show_peer_link(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        query.many("ext_fields")
        gateway_id, link_id = self._link_ids(request)
        link = self.store.show_peer_link(request.params["project"].lower(), gateway_id, link_id)
        return 200, {"peer_link": _restrict([link], query)[0]}, {}

    def _api_create_peer_link(self, request: Request) -> tuple[int, dict, dict]:
        gateway_id = self._gateway_id(request)
        body = parse_body(request.body, "peer_link")
        name = _name(body, "peer_link", required=True)
        description = string_field(body, "description", where="peer_link", max_length=128)
        site = object_field(body, "peer_site", where="peer_link")
        where = "peer_link.peer_site"
        peer_gateway_id = string_field(site, "gateway_id", where=where, required=True, max_length=36)
        check_uuid(peer_gateway_id, f"{where}.gateway_id")
        peer_project_id = string_field(
            site, "project_id", where=where, required=True, max_length=36, pattern=BODY_PROJECT_RE
        )
        peer_region_id = string_field(site, "region_id", where=where, required=True, max_length=36)
        if not peer_region_id:
            raise bad_parameter(f"{where}.region_id must not be empty")
        link = self.store.create_peer_link(
            request.params["project"].lower(),
            gateway_id,
            name=name,
            description=description,
            peer_gateway_id=peer_gateway_id,
            peer_project_id=peer_project_id,
            peer_region_id=peer_region_id,
        )
        return 201, {"peer_link": link}, {}

    def _api_update_peer_link(self, request: Request) -> tuple[int, dict, dict]:
        gateway_id, link_id = self._link_ids(request)
        body = parse_body(request.body, "peer_link")
        changes = {}
        name = _name(body, "peer_link", required=False)
        if name is not None:
            changes["name"] = name
        description = string_field(body, "description", where="peer_link", max_length=128)
        if description is not None:
            changes["description"] = description
        link = self.store.update_peer_link(request.params["project"].lower(), gateway_id, link_id, changes)
        return 200, {"peer_link": link}, {}

    def _api_delete_peer_link(self, request: Request) -> tuple[int, None, dict]:
        gateway_id, link_id = self._link_ids(request)
        self.store.delete_peer_link(request.params["project"].lower(), gateway_id, link_id)
        return 204, None, {}

    # ER

    def _router_id(self, request: Request) -> str:
        return check_uuid(request.params["router"], "er_id", code="ER.0001")

    def _api_list_routers(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        items = self.store.list_routers(request.params["project"].lower())
        items = _filter(
            items, "id", query.many("id", split_commas=True, max_items=_ER_FILTER_MAX), lower=True
        )
        items = _filter(items, "state", query.many("state", max_items=_ER_FILTER_MAX, choices=ROUTER_STATES))
        eps = query.many("enterprise_project_id", max_items=_ER_FILTER_MAX)
        if eps is not None and "all_granted_eps" not in eps:
            items = _filter(items, "enterprise_project_id", eps)
        resource_ids = query.many("resource_id", max_items=_ER_FILTER_MAX)
        if resource_ids is not None:
            attached = self.store.router_ids_attached_to([value.lower() for value in resource_ids])
            items = [item for item in items if item["id"] in attached]
        query.boolean("owned_by_self")
        page, page_info = _paginate_er(items, query)
        return 200, {"instances": page, "page_info": page_info}, {}

    def _api_show_router(self, request: Request) -> tuple[int, dict, dict]:
        router = self.store.show_router(request.params["project"].lower(), self._router_id(request))
        return 200, {"instance": router}, {}

    def _api_list_attachments(self, request: Request) -> tuple[int, dict, dict]:
        query = request.query
        items = self.store.list_attachments(request.params["project"].lower(), self._router_id(request))
        items = _filter(
            items, "state", query.many("state", max_items=_ER_FILTER_MAX, choices=ATTACHMENT_STATES)
        )
        items = _filter(
            items,
            "resource_type",
            query.many("resource_type", max_items=_ER_FILTER_MAX, choices=_ATTACHMENT_RESOURCE_TYPES),
        )
        items = _filter(items, "resource_id", query.many("resource_id", max_items=_ER_FILTER_MAX), lower=True)
        page, page_info = _paginate_er(items, query)
        return 200, {"attachments": page, "page_info": page_info}, {}

    def _api_show_attachment(self, request: Request) -> tuple[int, dict, dict]:
        router_id = self._router_id(request)
        attachment_id = check_uuid(request.params["attachment"], "attachment_id", code="ER.0001")
        attachment = self.store.show_attachment(request.params["project"].lower(), router_id, attachment_id)
        return 200, {"attachment": attachment}, {}

    # Control routes

    def _control(self, request: Request) -> tuple[int, dict | None, dict]:
        found = _route(_CONTROL_ROUTES, request.method, request.path)
        if found is None:
            raise _control_error(f"no control route {request.method} {request.path}", status=404)
        (_, _, handler_name, *_), params = found
        request.params = params
        self._read_body(request)
        data: dict = {}
        if request.body:
            try:
                data = json.loads(request.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise _control_error("body is not valid JSON") from None
            if not isinstance(data, dict):
                raise _control_error("body must be a JSON object")
        try:
            return getattr(self, f"_control_{handler_name}")(data, params)
        except TypeError as exc:
            raise _control_error(f"bad arguments: {exc}") from None

    def _control_get_faults(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.get_faults(), {}

    def _control_put_faults(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.set_faults(**data), {}

    def _control_delete_faults(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.clear_faults(), {}

    def _control_post_fault_next(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        data = dict(data)
        fault = data.pop("fault", None)
        return 201, self.queue_fault(fault, **data), {}

    def _control_post_reset(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.reset(data.get("seed", "empty")), {}

    def _control_get_config(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.get_config(), {}

    def _control_put_config(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.set_config(**data), {}

    def _control_get_state(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.state(), {}

    def _control_post_gateway(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 201, self.add_gateway(**data), {}

    def _control_patch_gateway(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.patch_gateway(params["id"].lower(), **data), {}

    def _control_post_router(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 201, self.add_router(**data), {}

    def _control_patch_router(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.patch_router(params["id"].lower(), **data), {}

    def _control_patch_peer_link(self, data: dict, params: dict) -> tuple[int, dict, dict]:
        return 200, self.force_peer_link(params["id"].lower(), **data), {}


def _name(body: dict, where: str, *, required: bool) -> str | None:
    name = string_field(body, "name", where=where, required=required, max_length=64)
    if name is not None and not NAME_RE.match(name):
        raise bad_parameter(f"{where}.name must be 1-64 letters, digits, CJK characters, '-', '_' or '.'")
    return name


def _choice(value: str, choices: tuple[str, ...], label: str) -> str:
    if value not in choices:
        raise bad_parameter(f"{label} must be one of {', '.join(choices)}")
    return value


def _bgp_asn(value: object) -> int:
    # The doc example sends the ASN as a string ("64512"); accept both.
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967295:
        raise bad_parameter("global_dc_gateway.bgp_asn must be an integer between 1 and 4294967295")
    return value


def _tags(value: object) -> list[dict]:
    if not isinstance(value, list) or len(value) > 10:
        raise bad_parameter("global_dc_gateway.tags must be a list of at most 10 tags")
    tags = []
    for tag in value:
        if not isinstance(tag, dict):
            raise bad_parameter("global_dc_gateway.tags items must be objects")
        key = string_field(tag, "key", where="tag", required=True, max_length=128)
        if not key:
            raise bad_parameter("tag.key must not be empty")
        tags.append({"key": key, "value": string_field(tag, "value", where="tag", max_length=255) or ""})
    return tags


def _filter(items: list[dict], key: str, values: list[str] | None, *, lower: bool = False) -> list[dict]:
    if values is None:
        return items
    wanted = {value.lower() for value in values} if lower else set(values)
    return [item for item in items if item.get(key) in wanted]


def _restrict(items: list[dict], query: Query) -> list[dict]:
    """Keep only the keys named by ``fields`` (all of them when it is absent)."""
    fields = query.many("fields")
    if fields is None:
        return items
    for value in fields:
        if not value or len(value) > 100:
            raise bad_parameter("fields values must be 1-100 characters", code=query.code)
    return [{key: value for key, value in item.items() if key in fields} for item in items]


def _sorted(items: list[dict], sort_key: str, descending: bool) -> list[dict]:
    def key(item: dict) -> tuple:
        value = item.get(sort_key)
        return (value is None, "" if value is None else str(value), item["id"])

    return sorted(items, key=key, reverse=descending)


def _page(items: list[dict], marker: str | None, limit: int, code: str) -> tuple[list[dict], bool]:
    start = 0
    if marker:
        ids = [item["id"] for item in items]
        if marker.lower() not in ids:
            raise bad_parameter(f"marker {marker} does not match any record", code=code)
        start = ids.index(marker.lower()) + 1
    page = items[start : start + limit]
    return page, start + limit < len(items)


def _paginate_dc(items: list[dict], query: Query) -> tuple[list[dict], dict]:
    """DC paging: sort_key/sort_dir, then marker and limit; page_reverse walks the same order backwards."""
    sort_key = query.one("sort_key", max_length=36) or "id"
    if sort_key not in _DC_SORT_KEYS:
        raise bad_parameter(f"sort_key must be one of {', '.join(_DC_SORT_KEYS)}")
    sort_dir = (query.many("sort_dir", choices=("asc", "desc")) or ["asc"])[0]
    limit = query.integer("limit", low=1, high=2000) or 2000
    marker = query.one("marker", max_length=36)
    descending = (sort_dir == "desc") != bool(query.boolean("page_reverse"))
    page, more = _page(_sorted(items, sort_key, descending), marker, limit, "DC.0001")
    page_info: dict = {"current_count": len(page)}
    if page:
        page_info["previous_marker"] = page[0]["id"]
    if more:
        page_info["next_marker"] = page[-1]["id"]
    return page, page_info


def _paginate_er(items: list[dict], query: Query) -> tuple[list[dict], dict]:
    """ER paging: like DC but limit 0-2000 (0 means the default), and no previous_marker."""
    sort_key = (query.many("sort_key", max_items=_ER_FILTER_MAX, choices=_ER_SORT_KEYS) or ["id"])[0]
    sort_dir = (query.many("sort_dir", max_items=_ER_FILTER_MAX, choices=("asc", "desc")) or ["asc"])[0]
    limit = query.integer("limit", low=0, high=2000) or 2000
    marker = query.one("marker", max_length=128)
    page, more = _page(_sorted(items, sort_key, sort_dir == "desc"), marker, limit, "ER.0001")
    page_info: dict = {"current_count": len(page)}
    if more:
        page_info["next_marker"] = page[-1]["id"]
    return page, page_info

"""The simulator: one account's state, faults and config, served as a WSGI app that sends IAM, DC and ER
calls to their API modules and /_dcsim/ calls to the control API; its methods are the Python control API."""

import copy
import sys
import time
import traceback
from collections.abc import Callable

from dcsim import DEMO_DOMAIN, control, dc, er, iam, project_id_for
from dcsim import seed as seeds
from dcsim.accounts import default_accounts
from dcsim.auth import TOKEN_LIFETIME_SECONDS, TokenIssuer
from dcsim.errors import SYSTEM_ERROR, ApiError, DropConnection
from dcsim.faults import Faults
from dcsim.routing import Request, Response, error_reply, find_route, frame
from dcsim.store import SimConfig, Store

# Table order breaks ties between patterns that fit the same path (see er.ROUTES).
_API_ROUTES = [*iam.ROUTES, *dc.ROUTES, *er.ROUTES]


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
        # The accounts (dcsim.accounts): the first is the demo account, whose projects, domain, user and AK/SK
        # pairs are also this object's own attributes (iam.Account).
        self.accounts = default_accounts()
        first = self.accounts[0]
        self.projects, self.domain_id, self.user_id = first.projects, first.domain_id, first.user_id
        self.credentials = first.credentials
        self.tokens = TokenIssuer()
        self.store = Store(
            projects={pid: region for account in self.accounts for pid, region in account.projects.items()},
            owners={pid: account.name for account in self.accounts for pid in account.projects},
            config=self.config,
            clock=lambda: self.clock(),
            fail_activation=self.faults.activation_fails,
        )
        self.seed = seed
        seeds.load(self.store, seed, now=self.clock())

    # Python control API (the /_dcsim/ routes call these; the checks live in dcsim.control)

    def reset(self, seed: str = "empty") -> dict:
        """Wipe all state, clear faults and restore the start config, then load a seed."""
        control.check_seed(seed)
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
        return control.set_faults(self.faults, settings)

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
        return control.queue_fault(
            self.faults, fault, count=count, method=method, path_contains=path_contains, latency_ms=latency_ms
        )

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
        return control.set_config(
            self.config,
            transition_delay=transition_delay,
            delete_delay=delete_delay,
            peer_link_quota=peer_link_quota,
        )

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
        account: str = DEMO_DOMAIN,
    ) -> dict:
        """Add a global DC gateway to an account (ACTIVE by default, already in its region)."""
        return control.add_gateway(
            self.store,
            name=name,
            region=region,
            bgp_asn=bgp_asn,
            status=status,
            quota=quota,
            description=description,
            id=id,
            address_family=address_family,
            account=account,
        )

    def patch_gateway(self, gateway_id: str, **changes: object) -> dict:
        """Change a gateway's ``status``, ``quota`` or ``name`` behind the API's back."""
        return control.patch_gateway(self.store, gateway_id, changes)

    def add_router(
        self,
        *,
        name: str,
        region: str = "cn-north-4",
        asn: int = 64513,
        state: str = "available",
        description: str = "",
        id: str | None = None,
        account: str = DEMO_DOMAIN,
        auto_accept_shared_attachments: bool = False,
    ) -> dict:
        """Add an enterprise router to an account in a region (a possible peer-link target)."""
        return control.add_router(
            self.store,
            name=name,
            region=region,
            asn=asn,
            state=state,
            description=description,
            id=id,
            account=account,
            auto_accept_shared_attachments=auto_accept_shared_attachments,
        )

    def patch_router(self, router_id: str, **changes: object) -> dict:
        """Change an enterprise router's ``state`` (e.g. to ``failed``), ``name`` or
        ``auto_accept_shared_attachments``."""
        return control.patch_router(self.store, router_id, changes)

    def set_router_state(self, router_id: str, state: str) -> dict:
        return self.patch_router(router_id, state=state)

    def force_peer_link(self, link_id: str, **changes: object) -> dict:
        """Overwrite a link's status, reason, name or description, as if changed outside the portal."""
        return control.force_peer_link(self.store, link_id, changes)

    def state(self) -> dict:
        """Counts per kind of resource."""
        return self.store.counts() | {"seed": self.seed}

    def issue_token(
        self,
        region: str = "cn-north-4",
        *,
        lifetime: float = TOKEN_LIFETIME_SECONDS,
        account: str = DEMO_DOMAIN,
    ) -> str:
        """An account's IAM-user token scoped to its project in a region (a negative lifetime gives an
        expired one)."""
        user_id = next(a.user_id for a in self.accounts if a.name == account)
        project_id = project_id_for(region, account)
        token, _ = self.tokens.issue(
            project_id=project_id, user_id=user_id, issued_at=self.clock(), lifetime=lifetime
        )
        return token

    # WSGI

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        request = Request.from_environ(environ)
        drop_after = False
        try:
            request.check_uri_length()
            if request.path.startswith("/_dcsim/") or request.path == "/_dcsim":
                status, body, headers = control.handle(self, request)
            else:
                (status, body, headers), drop_after = self._api(request)
        except DropConnection:
            self._log(request, "dropped")
            raise
        except ApiError as exc:
            status, body, headers = error_reply(exc, request.request_id)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            status, body, headers = error_reply(ApiError(500, "DC.0003", SYSTEM_ERROR), request.request_id)
        if drop_after:
            self._log(request, f"{status} committed, response dropped")
            raise DropConnection
        status_line, response_headers, payload = frame(status, body, headers, request.request_id)
        start_response(status_line, response_headers)
        self._log(request, str(status))
        return [payload]

    def _log(self, request: Request, outcome: str) -> None:
        if self.log:
            print(
                f"dcsim: {request.method} {request.raw_path} {outcome} {request.request_id}", file=sys.stderr
            )

    def _api(self, request: Request) -> tuple[Response, bool]:
        """Route, read the body, inject faults, authenticate, run the handler; True: drop the reply."""
        found = find_route(_API_ROUTES, request.method, request.path)
        if found is None:
            raise ApiError(
                404, "APIGW.0101", "The API does not exist or has not been published in the environment"
            )
        route, params = found
        request.params, request.family = params, route.family
        request.read_body()
        drop_after = self._inject_faults(request, is_create=route.handler is dc.create_peer_link)
        if route.handler is not iam.create_token:
            iam.authenticate(self, request, params.get("project"))
        status, body, headers = route.handler(self if route.family == "IAM" else self.store, request)
        if body is not None and route.family in ("DC", "ER") and route.handler is not dc.show_quotas:
            body["request_id"] = request.request_id
        return (status, body, headers), drop_after

    def _inject_faults(self, request: Request, *, is_create: bool) -> bool:
        """Apply this request's faults: delay, drop or fail it; True: run it but drop the response."""
        drop_after = False
        for fault in self.faults.pick(request.method, request.path, is_create=is_create):
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
        return drop_after

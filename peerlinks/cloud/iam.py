"""IAM: project IDs per region (discovered once per process) and project-scoped tokens (cached)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from peerlinks.cloud import transport
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.errors import InvalidRequest, InvalidResponse, NotFound
from peerlinks.cloud.models import ProjectList, Token, TokenResult
from peerlinks.cloud.validation import check_region

# Renew this long before expiry, so a token never runs out in the middle of a sync.
TOKEN_RENEW_BEFORE = timedelta(minutes=5)

_project_ids: dict[tuple[str, ...], str] = {}
_project_lock = threading.Lock()
_tokens: dict[tuple[CloudConfig, str], Token] = {}
_token_lock = threading.Lock()
# One lock per (config, region), so threads that all find the token expired fetch it only once.
_token_fetch_locks: dict[tuple[CloudConfig, str], threading.Lock] = {}


def _identity(config: CloudConfig) -> tuple[str, ...]:
    return (config.endpoint, config.auth, config.ak, config.iam_domain, config.iam_user)


def get_project_id(*, region: str, config: CloudConfig | None = None) -> str:
    """The project ID of the account in `region`: from settings, else from IAM (cached per process)."""
    operation = "ListProjects"
    config = resolve(config)
    check_region(operation, "region", region)
    if region in config.project_ids:
        return config.project_ids[region]
    key = (*_identity(config), region)
    with _project_lock:
        cached = _project_ids.get(key)
    if cached:
        return cached
    if config.auth == "token":
        # A project-scoped token names its project, so no extra call is needed.
        token = token_for(region=region, config=config)
        project_id = token.project.id if token.project else None
        if not project_id:
            raise InvalidResponse(
                "the IAM token names no project", error_code="InvalidResponse", operation=operation
            )
    else:
        reply = transport.request(
            operation,
            "GET",
            config=config,
            service="iam",
            region=region,
            path="/v3/projects",
            query={"name": region},
        )
        projects = [p for p in reply.parse(ProjectList, operation).projects if p.name == region]
        if not projects:
            raise NotFound(
                f"no IAM project named {region!r} for this account",
                error_code="ProjectNotFound",
                request_id=reply.request_id,
                operation=operation,
            )
        project_id = projects[0].id
    with _project_lock:
        _project_ids[key] = project_id
    return project_id


def create_token(*, region: str, config: CloudConfig | None = None) -> Token:
    """Obtain a new project-scoped IAM token with the configured user's password (never cached here)."""
    operation = "KeystoneCreateUserTokenByPassword"
    config = resolve(config)
    check_region(operation, "region", region)
    if not (config.iam_user and config.iam_password and config.iam_domain):
        raise InvalidRequest(
            "token authentication needs CLOUD_IAM_USER, CLOUD_IAM_PASSWORD and CLOUD_IAM_DOMAIN",
            error_code="InvalidRequest",
            operation=operation,
        )
    project = {"id": config.project_ids[region]} if region in config.project_ids else {"name": region}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": config.iam_user,
                        "password": config.iam_password,
                        "domain": {"name": config.iam_domain},
                    }
                },
            },
            "scope": {"project": project},
        }
    }
    reply = transport.request(
        operation,
        "POST",
        config=config,
        service="iam",
        region=region,
        path="/v3/auth/tokens",
        body=body,
        authenticate=False,
        # Asking for another token has no side effect, so this POST may be repeated.
        retry=True,
    )
    value = reply.headers.get("X-Subject-Token")
    if not value:
        raise InvalidResponse(
            "IAM returned no X-Subject-Token header",
            status=reply.status,
            error_code="InvalidResponse",
            request_id=reply.request_id,
            operation=operation,
        )
    token = reply.parse(TokenResult, operation).token
    token.value = value
    return token


def token_for(*, region: str, config: CloudConfig) -> Token:
    """A cached token for `region`, renewed shortly before it expires."""
    key = (config, region)
    with _token_lock:
        fetch_lock = _token_fetch_locks.setdefault(key, threading.Lock())
    with fetch_lock:
        with _token_lock:
            token = _tokens.get(key)
        if token is not None and datetime.now(UTC) < token.expires_at - TOKEN_RENEW_BEFORE:
            return token
        token = create_token(region=region, config=config)
        with _token_lock:
            _tokens[key] = token
        return token


def forget_token(*, region: str, config: CloudConfig) -> None:
    """Drop the cached token for `region`, after the service rejected it."""
    with _token_lock:
        _tokens.pop((config, region), None)


def clear_caches() -> None:
    """Forget every discovered project ID and cached token (tests, or after a credentials change)."""
    with _project_lock:
        _project_ids.clear()
    with _token_lock:
        _tokens.clear()
        _token_fetch_locks.clear()

"""IAM tokens: project-scoped, from the configured user's password, cached until shortly before expiry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from peerlinks.cloud import sending
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.errors import InvalidRequest, InvalidResponse
from peerlinks.cloud.models import Token, TokenResult
from peerlinks.cloud.validation import check_region

# Renew this long before expiry, so a token never runs out in the middle of a sync.
TOKEN_RENEW_BEFORE = timedelta(minutes=5)

_tokens: dict[tuple[CloudConfig, str], Token] = {}
_token_lock = threading.Lock()
# One lock per (config, region), so threads that all find the token expired fetch it only once.
_token_fetch_locks: dict[tuple[CloudConfig, str], threading.Lock] = {}


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
    # The password in the body is the credential, so the call itself carries none.
    reply = sending.send(
        operation,
        "POST",
        config=config,
        service="iam",
        region=region,
        path="/v3/auth/tokens",
        body=body,
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


def forget_tokens() -> None:
    """Drop every cached token (tests, or after a credentials change)."""
    with _token_lock:
        _tokens.clear()
        _token_fetch_locks.clear()

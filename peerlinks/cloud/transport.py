"""Authenticated API calls: each one signed with the AK/SK (SDK-HMAC-SHA256) or carrying an IAM token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peerlinks.cloud import sending, tokens
from peerlinks.cloud.config import CloudConfig
from peerlinks.cloud.sending import HeadersFor, Reply
from peerlinks.cloud.signing import QueryValue, sign_request

__all__ = ["Reply", "request"]


def _credentials(config: CloudConfig, *, region: str, project_id: str | None) -> HeadersFor:
    """The headers that prove who calls: an AK/SK signature naming the project, or the cached token."""

    def headers_for(
        *, method: str, url: str, headers: dict[str, str], data: bytes | None, refresh: bool
    ) -> dict[str, str]:
        if config.auth == "token":
            if refresh:
                tokens.forget_token(region=region, config=config)
            return {**headers, "X-Auth-Token": tokens.token_for(region=region, config=config).value}
        if project_id:
            headers = {**headers, "X-Project-Id": project_id}
        return sign_request(method=method, url=url, headers=headers, body=data, ak=config.ak, sk=config.sk)

    return headers_for


def request(
    operation: str,
    method: str,
    *,
    config: CloudConfig,
    service: str,
    region: str,
    path: str,
    query: Mapping[str, QueryValue] | None = None,
    body: Any = None,
    project_id: str | None = None,
    authenticate: bool = True,
    retry: bool | None = None,
) -> Reply:
    """Send one API call and return its 2xx reply, retrying transient failures; raise a CloudError otherwise.

    POST is not retried unless `retry=True` (a create must never be blindly repeated). A rejected token
    is renewed once; an AK/SK signature is not (a new one would be refused just the same).
    """
    return sending.send(
        operation,
        method,
        config=config,
        service=service,
        region=region,
        path=path,
        query=query,
        body=body,
        retry=retry,
        headers_for=_credentials(config, region=region, project_id=project_id) if authenticate else None,
        refresh_on_401=authenticate and config.auth == "token",
    )

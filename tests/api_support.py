"""Helpers of the HTTP API tests: a token for a person, calls with it, and a gateway that may get a link."""

import json
from typing import Any

from django.test import Client

from tests.conftest import make_gateway, make_router


def token_for(user: Any, *, scope: str = "read_write", days: int = 30) -> str:
    """A new API token of `user` (its secret)."""
    from peerlinks.services import tokens

    return tokens.create_token(user=user, name=f"{user.username}-{scope}", scope=scope, days=days).secret


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def get(client: Client, path: str, secret: str | None = None, **query: Any):
    return client.get(path, query, **(bearer(secret) if secret else {}))


def post(
    client: Client, path: str, body: dict | None = None, secret: str | None = None, key: str | None = None
):
    headers = bearer(secret) if secret else {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, json.dumps(body or {}), content_type="application/json", **headers)


def linkable(**gateway: Any) -> dict[str, str]:
    """A gateway with quota and an available router in cn-north-4: the body of a create request."""
    gw = make_gateway(**gateway)
    router = make_router(project=gw.project)
    return {
        "gateway_id": gw.cloud_id,
        "peer_type": "ER",
        "peer_id": router.cloud_id,
        "peer_region": "cn-north-4",
        "name": "link-from-api",
        "description": "asked for by a script",
    }

"""The one place that sends HTTP: timeouts, retries, error mapping, logging; the caller brings credentials."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError

from peerlinks.cloud.config import CloudConfig
from peerlinks.cloud.errors import (
    CloudError,
    CloudTimeout,
    CloudUnreachable,
    InvalidResponse,
    Throttled,
    error_from_response,
)
from peerlinks.cloud.signing import QueryValue, canonical_query

logger = logging.getLogger("peerlinks.cloud")
M = TypeVar("M", bound=BaseModel)

USER_AGENT = "dcportal-cloud/1.0"
RETRYABLE_METHODS = frozenset({"GET", "PUT", "DELETE"})
MAX_CACHED_SESSIONS = 8

# Indirection so tests can observe or skip the waits without patching the time module.
sleep = time.sleep
_local = threading.local()


class HeadersFor(Protocol):
    """Adds credentials to one attempt's headers; `refresh` after the service refused the last ones."""

    def __call__(
        self, *, method: str, url: str, headers: dict[str, str], data: bytes | None, refresh: bool
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class Reply:
    """A successful (2xx) response: status, headers, raw body, request id from the header, attempts used."""

    status: int
    body: bytes
    request_id: str | None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    attempts: int = 1

    def parse(self, model: type[M], operation: str) -> M:
        """The body as `model`, or InvalidResponse when it does not fit."""
        try:
            return model.model_validate_json(self.body or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise InvalidResponse(
                f"unexpected response body ({problems})",
                status=self.status,
                error_code="InvalidResponse",
                request_id=self.request_id,
                operation=operation,
            ) from None


def backoff_delay(attempt: int, *, base: float, cap: float, rand: float | None = None) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1 for the first retry)."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling * (random.random() if rand is None else rand)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; HTTP-date values and garbage give None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def session_for(config: CloudConfig) -> requests.Session:
    """A requests.Session per thread and per config, for connection reuse."""
    sessions: dict[CloudConfig, requests.Session] | None = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    session = sessions.get(config)
    if session is None:
        if len(sessions) >= MAX_CACHED_SESSIONS:
            for old in sessions.values():
                old.close()
            sessions.clear()
        session = sessions[config] = requests.Session()
    return session


def _describe(exc: requests.RequestException) -> str:
    reason: object = exc
    inner = exc.args[0] if exc.args else None
    if getattr(inner, "reason", None) is not None:
        reason = inner.reason  # type: ignore[union-attr]
    text = str(reason) or type(reason).__name__
    # urllib3 prefixes its reasons with the connection object's repr, which helps nobody.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return text[:300]


def _log(
    level: int,
    operation: str,
    method: str,
    path: str,
    outcome: object,
    request_id: str | None,
    attempt: int,
    started: float,
    note: str = "",
) -> None:
    elapsed_ms = int((time.monotonic() - started) * 1000)
    logger.log(
        level,
        "%s %s %s -> %s request_id=%s attempt=%d elapsed_ms=%d%s",
        operation,
        method,
        path,
        outcome,
        request_id or "-",
        attempt,
        elapsed_ms,
        f" {note}" if note else "",
    )


def send(
    operation: str,
    method: str,
    *,
    config: CloudConfig,
    service: str,
    region: str,
    path: str,
    query: Mapping[str, QueryValue] | None = None,
    body: Any = None,
    retry: bool | None = None,
    headers_for: HeadersFor | None = None,
    refresh_on_401: bool = False,
) -> Reply:
    """Send one API call and return its 2xx reply, retrying transient failures; raise a CloudError otherwise.

    POST is not retried unless `retry=True` (a create must never be blindly repeated). Every attempt
    carries the headers `headers_for` gives (none: unauthenticated); with `refresh_on_401` a 401 is
    retried once, asking `headers_for` to refresh its credentials.
    """
    method = method.upper()
    query_string = canonical_query(query or {})
    url = config.base_url(service, region) + path + (f"?{query_string}" if query_string else "")
    data = json.dumps(body).encode("utf-8") if body is not None else None
    may_retry = method in RETRYABLE_METHODS if retry is None else retry
    host = urlsplit(url).netloc
    attempt = 0
    refreshed = refreshing = False
    while True:
        attempt += 1
        started = time.monotonic()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if headers_for is not None:
            headers = headers_for(method=method, url=url, headers=headers, data=data, refresh=refreshing)
        refreshing = False
        error: CloudError
        try:
            response = session_for(config).request(
                method, url, data=data, headers=headers, timeout=config.timeout, allow_redirects=False
            )
        except requests.ConnectTimeout as exc:
            error = CloudTimeout(
                f"cannot connect to {host} within {config.connect_timeout:g} s", operation=operation
            )
            error.__cause__ = exc
            outcome: object = "timeout"
            request_id = None
        except requests.Timeout as exc:
            error = CloudTimeout(
                f"no response from {host} within {config.read_timeout:g} s", operation=operation
            )
            error.__cause__ = exc
            outcome = "timeout"
            request_id = None
        except requests.RequestException as exc:
            error = CloudUnreachable(f"cannot reach {host}: {_describe(exc)}", operation=operation)
            error.__cause__ = exc
            outcome = "unreachable"
            request_id = None
        else:
            status = response.status_code
            request_id = response.headers.get("X-Request-Id") or None
            if 200 <= status < 300:
                _log(logging.INFO, operation, method, path, status, request_id, attempt, started)
                return Reply(
                    status=status,
                    body=response.content,
                    request_id=request_id,
                    headers=response.headers,
                    attempts=attempt,
                )
            if status == 401 and refresh_on_401 and not refreshed:
                _log(
                    logging.INFO,
                    operation,
                    method,
                    path,
                    status,
                    request_id,
                    attempt,
                    started,
                    "token refresh",
                )
                refreshed = refreshing = True
                attempt -= 1
                continue
            if status == 404 and method == "DELETE" and attempt > 1:
                # An earlier attempt's response was lost: the resource is gone, which is what we wanted.
                _log(
                    logging.INFO,
                    operation,
                    method,
                    path,
                    status,
                    request_id,
                    attempt,
                    started,
                    "already gone",
                )
                return Reply(status=204, body=b"", request_id=request_id, attempts=attempt)
            outcome = status
            if status < 400:
                error = InvalidResponse(
                    f"unexpected HTTP {status}", status=status, request_id=request_id, operation=operation
                )
            else:
                error = error_from_response(
                    operation=operation,
                    status=status,
                    body=response.content,
                    header_request_id=request_id,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    secrets=config.secrets,
                )
                request_id = error.request_id
        if may_retry and error.is_transient and attempt <= config.max_retries:
            if isinstance(error, Throttled) and error.retry_after is not None:
                delay = min(error.retry_after, config.retry_after_cap)
            else:
                delay = backoff_delay(attempt, base=config.backoff_base, cap=config.backoff_cap)
            _log(
                logging.WARNING,
                operation,
                method,
                path,
                outcome,
                request_id,
                attempt,
                started,
                f"retrying in {delay:.2f}s",
            )
            sleep(delay)
            continue
        _log(logging.WARNING, operation, method, path, outcome, request_id, attempt, started)
        raise error

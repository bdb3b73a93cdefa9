"""From HTTP to handlers and back: what a route is and which one a path takes, the request with its raw
path, query and body (size limits included), and the response's status line, headers and JSON payload."""

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from dcsim.errors import ApiError
from dcsim.validation import Query

MAX_BODY_BYTES = 12 * 1024 * 1024
MAX_URI_BYTES = 32 * 1024
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
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

# What a handler answers: HTTP status, JSON body (None: no body at all) and extra response headers.
Response = tuple[int, dict | None, dict[str, str]]


class Route(NamedTuple):
    """One cloud operation. ``{name}`` in the pattern matches one path segment.

    IAM handlers are called with the account (``iam.Account``), DC and ER handlers with the ``Store``;
    both get the ``Request`` second."""

    method: str
    pattern: str
    handler: Callable[..., Response]
    family: str  # "IAM", "DC" or "ER": which error codes the operation answers with


_RouteT = TypeVar("_RouteT", bound=tuple)


def match(pattern: str, path: str) -> dict[str, str] | None:
    """The placeholder values if ``path`` fits ``pattern`` segment by segment, else None."""
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


def find_route(routes: Iterable[_RouteT], method: str, path: str) -> tuple[_RouteT, dict[str, str]] | None:
    """The route for a method and path, literal segments winning over placeholders (then table order).

    Routes are ``(method, pattern, ...)`` tuples."""
    candidates = []
    for route in routes:
        params = match(route[1], path)
        if params is not None and route[0] == method:
            candidates.append((len(params), route, params))
    if not candidates:
        return None
    _, route, params = min(candidates, key=lambda item: item[0])
    return route, params


@dataclass
class Request:
    """One incoming request, with the raw path and query the signature covers."""

    method: str
    raw_uri: str
    raw_path: str
    raw_query: str
    path: str
    headers: dict[str, str]
    environ: dict
    request_id: str
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    family: str = "DC"
    account: Any = None  # the dcsim.accounts.SimAccount its credentials belong to, once authenticated

    @classmethod
    def from_environ(cls, environ: dict) -> "Request":
        """The request as the WSGI server hands it over, under a fresh request ID."""
        request_id = uuid.uuid4().hex
        raw_uri = environ.get("dcsim.raw_uri") or environ.get("PATH_INFO", "/") + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""
        )
        raw_path, _, raw_query = raw_uri.partition("?")
        return cls(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            raw_uri=raw_uri,
            raw_path=raw_path,
            raw_query=raw_query,
            path=environ.get("PATH_INFO", raw_path),
            headers=_headers_of(environ),
            environ=environ,
            request_id=request_id,
        )

    @property
    def query(self) -> Query:
        return Query(self.raw_query, code="ER.0001" if self.family == "ER" else "DC.0001")

    def check_uri_length(self) -> None:
        """414 when the request target is longer than the API gateway accepts."""
        if len(self.raw_uri.encode("latin-1", "replace")) > MAX_URI_BYTES:
            raise ApiError(414, "APIGW.0201", "Request-URI Too Large")

    def read_body(self) -> None:
        """Read the body into ``self.body``: 400 for a bad Content-Length, 413 above the gateway's limit."""
        length_header = self.headers.get("content-length") or "0"
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, "APIGW.0201", "Bad Request: invalid Content-Length") from None
        stream = self.environ["wsgi.input"]
        if length > MAX_BODY_BYTES:
            # Drain (within reason) so the client gets to read the 413 instead of a reset.
            remaining = min(length, _MAX_DRAIN_BYTES)
            while remaining > 0:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise ApiError(413, "APIGW.0201", "Request Entity Too Large")
        self.body = stream.read(length) if length > 0 else b""


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


def error_reply(exc: ApiError, request_id: str) -> Response:
    """A failed call as the cloud answers it: Huawei's error shape, unless the error brings its own body."""
    body = exc.body or {"error_msg": exc.message, "error_code": exc.code, "request_id": request_id}
    return exc.status, body, dict(exc.headers)


def frame(
    status: int, body: dict | None, headers: dict[str, str], request_id: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, header list and payload bytes for a response."""
    payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    response_headers = [("X-Request-Id", request_id)]
    if body is not None:
        response_headers.append(("Content-Type", "application/json"))
    response_headers.append(("Content-Length", str(len(payload))))
    response_headers.extend(headers.items())
    return f"{status} {_STATUS_TEXT.get(status, 'Unknown')}", response_headers, payload

"""One error family for everything that can go wrong talking to Huawei Cloud."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any


class CloudError(Exception):
    """A failed cloud call: HTTP status (None when no response), Huawei error code and message, request id."""

    def __init__(
        self,
        error_msg: str,
        *,
        status: int | None = None,
        error_code: str = "",
        request_id: str | None = None,
        operation: str = "",
    ) -> None:
        super().__init__(error_msg)
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        self.operation = operation

    @property
    def is_transient(self) -> bool:
        """True when the same call may succeed if tried again later."""
        return False

    def __str__(self) -> str:
        parts = [self.operation or "cloud call", "failed:"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code and self.error_code != str(self.status):
            parts.append(self.error_code)
        text = " ".join(parts)
        if self.error_msg:
            text += f" {self.error_msg}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status={self.status!r}, "
            f"error_code={self.error_code!r}, error_msg={self.error_msg!r}, request_id={self.request_id!r})"
        )


class InvalidRequest(CloudError, ValueError):
    """Rejected before sending: an argument breaks the API's documented constraints."""


class BadRequest(CloudError):
    """HTTP 400: the service refused the parameters (DC.0000, DC.0001, DC.0002 for a missing peer target…)."""


class AuthenticationFailed(CloudError):
    """HTTP 401: wrong AK/SK, bad signature, clock skew, or an expired or invalid token."""


class Forbidden(CloudError):
    """HTTP 403: the IAM identity may not call this API."""


class NotFound(CloudError):
    """HTTP 404: the resource (or the API route) does not exist."""


class Conflict(CloudError):
    """HTTP 409: the resource is busy, for example a peer link still pending."""


class Throttled(CloudError):
    """HTTP 429: the API gateway's rate limit was reached."""

    def __init__(self, error_msg: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(error_msg, **kwargs)
        self.retry_after = retry_after

    @property
    def is_transient(self) -> bool:
        return True


class ServerError(CloudError):
    """HTTP 5xx: the service or its gateway failed."""

    @property
    def is_transient(self) -> bool:
        return True


class CloudUnreachable(CloudError):
    """No HTTP response at all: DNS failure, refused or dropped connection."""

    @property
    def is_transient(self) -> bool:
        return True


class CloudTimeout(CloudUnreachable):
    """No response within the connect or read timeout; the request may still have been processed."""


class InvalidResponse(CloudError):
    """A success status whose body is not what the API documents."""


_BY_STATUS: dict[int, type[CloudError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: Throttled,
}

_CODE_MESSAGE_KEYS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))


# Huawei's API gateway quotes the access key it was given ("Get secretKey failed,ak:XXXX,err:ak not exist");
# other answers may echo "Access=…" or "access_key_id": "…". Error text is stored, shown and logged: keys
# never are.
_QUOTED_KEY = re.compile(
    r"\b(access_?key(?:_?id)?|secret_?(?:access_?)?key|access|ak|sk)([\"']?\s*[:=]\s*[\"']?)[^\s,;&\"']+",
    re.IGNORECASE,
)
REDACTED = "***"


def redact_keys(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` and any `ak:…`/`ak=…`-style value replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _QUOTED_KEY.sub(rf"\1\2{REDACTED}", text)


def error_class_for(status: int) -> type[CloudError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, CloudError)


def _find_code_and_message(data: Any, depth: int = 0) -> tuple[str, str] | None:
    if not isinstance(data, dict) or depth > 4:
        return None
    for code_key, msg_key in _CODE_MESSAGE_KEYS:
        if code_key in data or msg_key in data:
            code, msg = data.get(code_key), data.get(msg_key)
            return ("" if code is None else str(code), "" if msg is None else str(msg))
    for value in data.values():
        found = _find_code_and_message(value, depth + 1)
        if found:
            return found
    return None


def parse_error_body(status: int, body: bytes | str) -> tuple[str, str, str | None]:
    """Error code, message and body request id from an error response, as leniently as the SDK."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    body_request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(body_request_id, str):
        body_request_id = None
    found = _find_code_and_message(data)
    if found is None:
        return str(status), text.strip()[:500], body_request_id
    code, msg = found
    return code or str(status), msg, body_request_id


def error_from_response(
    *,
    operation: str,
    status: int,
    body: bytes | str,
    header_request_id: str | None,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> CloudError:
    """Build the typed error for an HTTP error response; its message never holds a key (or `secrets`)."""
    code, msg, body_request_id = parse_error_body(status, body)
    msg = redact_keys(msg, secrets)
    cls = error_class_for(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "error_code": code,
        "request_id": header_request_id or body_request_id,
        "operation": operation,
    }
    if cls is Throttled:
        kwargs["retry_after"] = retry_after
    return cls(msg, **kwargs)

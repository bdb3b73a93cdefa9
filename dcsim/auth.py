"""AK/SK signature verification (SDK-HMAC-SHA256) and IAM tokens, as Huawei's API gateway checks them."""

import base64
import calendar
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, unquote

from dcsim.errors import ApiError

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_BODY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_CLOCK_SKEW_SECONDS = 15 * 60
TOKEN_LIFETIME_SECONDS = 24 * 3600
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_TOKEN_PREFIX = "MIIDcsim"


def iam_error(detail: str) -> ApiError:
    """401 APIGW.0301 with the gateway's wording."""
    return ApiError(401, "APIGW.0301", f"Incorrect IAM authentication information: {detail}")


def _encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_uri(raw_path: str) -> str:
    """Percent-decode, re-encode each segment, end with a slash (the SDK's rule, even if the URL has none)."""
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    """Decode every name=value pair, sort by name then value, re-encode (spaces as %20)."""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def canonical_request(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    """The six-part canonical request; ``headers`` is keyed by lower-case name."""
    header_block = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    if not body:
        payload_hash = EMPTY_BODY_HASH
    else:
        payload_hash = headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            header_block,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    """Algorithm, date and the hex SHA-256 of the canonical request, one per line."""
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(secret_key: str, to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 keyed directly with the SK."""
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> dict[str, str]:
    """Split ``SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`` into its parts."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise iam_error("verify aksk signature fail, unsupported signing algorithm")
    parts = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    if not all(parts.get(key) for key in ("Access", "SignedHeaders", "Signature")):
        raise iam_error("verify aksk signature fail, malformed Authorization header")
    return parts


def verify_aksk(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: float,
) -> str:
    """Check an AK/SK-signed request and return its AK, or raise 401 APIGW.0301."""
    parts = parse_authorization(headers.get("authorization", ""))
    access_key = parts["Access"]
    secret_key = secret_for(access_key)
    if secret_key is None:
        raise iam_error(f"Get secretKey failed,ak:{access_key},err:ak not exist")
    signed_headers = parts["SignedHeaders"].lower().split(";")
    if "host" not in signed_headers or "x-sdk-date" not in signed_headers:
        raise iam_error("verify aksk signature fail, host and x-sdk-date must be signed")
    sdk_date = headers.get("x-sdk-date", "").strip()
    try:
        signed_at = calendar.timegm(time.strptime(sdk_date, _DATE_FORMAT))
    except ValueError:
        raise iam_error("verify aksk signature fail, invalid X-Sdk-Date") from None
    if abs(now - signed_at) > MAX_CLOCK_SKEW_SECONDS:
        server_time = time.strftime(_DATE_FORMAT, time.gmtime(now))
        raise iam_error(
            "verify aksk signature fail, signature expired, "
            f"signature time:{sdk_date},server time:{server_time}"
        )
    canonical = canonical_request(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        signed_headers=signed_headers,
        body=body,
    )
    expected = signature(secret_key, string_to_sign(sdk_date, canonical))
    if not hmac.compare_digest(expected.encode(), parts["Signature"].lower().encode()):
        raise iam_error("verify aksk signature fail")
    return access_key


class TokenIssuer:
    """Self-contained IAM tokens: a signed, base64 payload, so they outlive a simulator reset."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def issue(self, *, project_id: str, user_id: str, issued_at: float, lifetime: float) -> tuple[str, float]:
        """A token scoped to one project, and its expiry as an epoch time."""
        expires_at = issued_at + lifetime
        payload = json.dumps(
            {"p": project_id, "u": user_id, "e": expires_at, "n": secrets.token_hex(8)}, separators=(",", ":")
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{_TOKEN_PREFIX}{body}.{mac}", expires_at

    def verify(self, token: str, *, now: float) -> dict:
        """The token's claims (``project_id``, ``user_id``, ``expires_at``), or 401 APIGW.0301."""
        if not token:
            raise iam_error("x-auth-token not found")
        body, _, mac = token.removeprefix(_TOKEN_PREFIX).rpartition(".")
        expected = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        if not token.startswith(_TOKEN_PREFIX) or not hmac.compare_digest(expected.encode(), mac.encode()):
            raise iam_error("decrypt token fail")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if claims["e"] <= now:
            expired = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(claims["e"]))
            raise iam_error(f"token expires, expires_at: {expired}Z")
        return {"project_id": claims["p"], "user_id": claims["u"], "expires_at": claims["e"]}


def sign_headers(
    *,
    method: str,
    host: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    access_key: str,
    secret_key: str,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """Headers that sign a request the way the SDK does (for curl-style callers and tests)."""
    sdk_date = time.strftime(_DATE_FORMAT, time.gmtime(time.time() if now is None else now))
    signed = {"content-type": "application/json", "host": host, "x-sdk-date": sdk_date}
    signed |= {name.lower(): value for name, value in (headers or {}).items()}
    names = sorted(name for name in signed if "_" not in name)
    canonical = canonical_request(
        method=method, raw_path=path, raw_query=query, headers=signed, signed_headers=names, body=body
    )
    to_sign = string_to_sign(sdk_date, canonical)
    authorization = (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature(secret_key, to_sign)}"
    )
    return signed | {"authorization": authorization}

"""AK/SK request signing, SDK-HMAC-SHA256, exactly as the official SDK's Signer does it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

QueryValue = str | int | bool | Sequence[str | int | bool] | None


def encode(value: str) -> str:
    """Percent-encode everything but the unreserved set A-Z a-z 0-9 - _ . ~ (space is %20, never +)."""
    return quote(value, safe="~")


def _query_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_pairs(params: Mapping[str, QueryValue]) -> list[tuple[str, str]]:
    """Flatten parameters into (name, value) pairs, one per value of a list; None is dropped."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        values: Iterable[str | int | bool] = (
            value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        )
        pairs.extend((name, _query_text(v)) for v in values)
    return pairs


def canonical_query(params: Mapping[str, QueryValue] | Iterable[tuple[str, str]]) -> str:
    """The canonical query string: pairs sorted by raw name then raw value, both encoded, joined with &."""
    pairs = query_pairs(params) if isinstance(params, Mapping) else list(params)
    return "&".join(f"{encode(name)}={encode(value)}" for name, value in sorted(pairs))


def canonical_query_from_string(raw: str) -> str:
    """Canonicalise a query string as received (percent-decoded with unquote, not unquote_plus)."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return canonical_query(pairs)


def canonical_uri(path: str) -> str:
    """Each decoded path segment re-encoded, with a trailing slash the sent URL does not have."""
    uri = "/".join(encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    # The SDK signs every header it set itself, except names containing an underscore.
    return sorted(name.lower() for name in headers if "_" not in name)


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None
) -> str:
    """The six-part canonical request text; `query` is the raw query string of the URL."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = signed_header_names(headers)
    header_block = "".join(f"{name}:{lowered[name].strip()}\n" for name in names)
    payload_hash = lowered.get("x-sdk-content-sha256") or hashlib.sha256(body or b"").hexdigest()
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query_from_string(query),
            header_block,
            ";".join(names),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(sk: str, text_to_sign: str) -> str:
    return hmac.new(sk.encode("utf-8"), text_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    ak: str,
    sk: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the headers to send: the given ones plus X-Sdk-Date and Host (when absent) and Authorization."""
    signed = dict(headers)
    lowered = {name.lower() for name in signed}
    if "x-sdk-date" not in lowered:
        signed["X-Sdk-Date"] = (now or datetime.now(UTC)).strftime(DATE_FORMAT)
    parts = urlsplit(url)
    if "host" not in lowered:
        signed["Host"] = parts.netloc
    sdk_date = next(value for name, value in signed.items() if name.lower() == "x-sdk-date")
    canonical = canonical_request(method, parts.path, parts.query, signed, body)
    sig = signature(sk, string_to_sign(canonical, sdk_date))
    names = ";".join(signed_header_names(signed))
    signed["Authorization"] = f"{ALGORITHM} Access={ak}, SignedHeaders={names}, Signature={sig}"
    return signed

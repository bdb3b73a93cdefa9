"""The simulator's AK/SK verifier against the reference's four test vectors, and its refusals."""

import calendar

import pytest

from dcsim import auth
from dcsim.errors import ApiError

AK = "FAKEAKEXAMPLE0000000"
SK = "FakeSecretKeyForTestVectorsOnly0000000000"
SIGNED = "content-type;host;user-agent;x-project-id;x-sdk-date"
VECTOR_TIME = calendar.timegm((2025, 1, 1, 0, 0, 0))
PROJECT = "0123456789abcdef0123456789abcdef"
LINKS = f"/v3/{PROJECT}/dcaas/global-dc-gateways/11111111-2222-4333-8444-555555555555/peer-links"
LINK = LINKS + "/66666666-7777-4888-9999-aaaaaaaaaaaa"
CREATE_BODY = (
    b'{"peer_link": {"name": "pl-to-er-01", "description": "test vector", "peer_site": '
    b'{"gateway_id": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff", '
    b'"project_id": "0123456789abcdef0123456789abcdef", '
    b'"region_id": "cn-north-4"}}}'
)
LIST_QUERY = (
    "fields=id&fields=name&fields=status&limit=2&name=pl%20b&name=pl-a"
    "&page_reverse=false&sort_dir=desc&sort_key=name"
)
VECTORS = {
    "1-create": (
        "POST",
        LINKS,
        "",
        CREATE_BODY,
        "d43de31f5b0f05abcb6f226951abe33b933d185f0149781a2fd3c9137a4cea59",
    ),
    "2-list": (
        "GET",
        LINKS,
        LIST_QUERY,
        b"",
        "4f673195c4b0fdcec2ed3dce06f28fc78cae3da1f0d6ef9e0f4e454908416ca0",
    ),
    "3-delete": ("DELETE", LINK, "", b"", "2c49f7ca57c5907029b4485f1aef33ebbf4e1765cf23f87e00fd0858f2e298e0"),
    "4-update": (
        "PUT",
        LINK,
        "",
        b'{"peer_link": {"name": "pl-renamed", "description": ""}}',
        "54568c3fa2e7033505cd268139b0177cd1f46c32cb2ff687fe72a6ec0635bc7f",
    ),
}


def _headers(signature: str, **overrides: str) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "user-agent": "huaweicloud-usdk-python/3.0",
        "x-sdk-date": "20250101T000000Z",
        "x-project-id": "0123456789abcdef0123456789abcdef",
        "host": "dcaas.cn-north-4.myhuaweicloud.com",
        "authorization": f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED}, Signature={signature}",
    }
    return headers | overrides


def _verify(
    method: str, path: str, query: str, body: bytes, headers: dict, *, now: float = VECTOR_TIME
) -> str:
    return auth.verify_aksk(
        method=method,
        raw_path=path,
        raw_query=query,
        headers=headers,
        body=body,
        secret_for={AK: SK}.get,
        now=now,
    )


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_reference_vectors_verify_byte_for_byte(name: str) -> None:
    method, path, query, body, signature = VECTORS[name]
    assert _verify(method, path, query, body, _headers(signature)) == AK


def test_vector_one_canonical_request_hash_matches_the_reference() -> None:
    method, path, query, body, _ = VECTORS["1-create"]
    canonical = auth.canonical_request(
        method=method,
        raw_path=path,
        raw_query=query,
        headers=_headers(""),
        signed_headers=SIGNED.split(";"),
        body=body,
    )
    assert canonical.endswith("0cffccb3239392450d7217905d9bcbc9f78047b5318c7dd07b50834f655dca2f")
    assert auth.string_to_sign("20250101T000000Z", canonical).endswith(
        "8e63c227c820e34760c4657f62c06ac56f8a337ad9ad316ab92ffaa9a5b4767c"
    )


def test_query_in_any_order_verifies_because_it_is_canonicalised() -> None:
    method, path, _, body, signature = VECTORS["2-list"]
    shuffled = (
        "sort_key=name&name=pl-a&fields=status&limit=2&fields=id"
        "&name=pl%20b&page_reverse=false&sort_dir=desc&fields=name"
    )
    assert _verify(method, path, shuffled, body, _headers(signature)) == AK


def test_tampered_body_fails_with_the_gateway_message() -> None:
    method, path, query, body, signature = VECTORS["1-create"]
    with pytest.raises(ApiError) as caught:
        _verify(method, path, query, body.replace(b"pl-to-er-01", b"pl-to-er-02"), _headers(signature))
    assert (caught.value.status, caught.value.code) == (401, "APIGW.0301")
    assert caught.value.message == "Incorrect IAM authentication information: verify aksk signature fail"


def test_unknown_access_key_is_refused() -> None:
    method, path, query, body, signature = VECTORS["3-delete"]
    headers = _headers(
        signature, authorization=f"SDK-HMAC-SHA256 Access=NOPE, SignedHeaders={SIGNED}, Signature=00"
    )
    with pytest.raises(ApiError) as caught:
        _verify(method, path, query, body, headers)
    assert "ak:NOPE,err:ak not exist" in caught.value.message


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60])
def test_date_more_than_fifteen_minutes_off_is_refused(skew: int) -> None:
    method, path, query, body, signature = VECTORS["3-delete"]
    with pytest.raises(ApiError) as caught:
        _verify(method, path, query, body, _headers(signature), now=VECTOR_TIME + skew)
    assert "signature expired" in caught.value.message


def test_date_within_fifteen_minutes_is_accepted() -> None:
    method, path, query, body, signature = VECTORS["3-delete"]
    assert _verify(method, path, query, body, _headers(signature), now=VECTOR_TIME + 14 * 60) == AK


def test_host_and_date_must_be_signed() -> None:
    method, path, query, body, _ = VECTORS["3-delete"]
    headers = _headers(
        "", authorization=f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type, Signature=00"
    )
    with pytest.raises(ApiError) as caught:
        _verify(method, path, query, body, headers)
    assert "must be signed" in caught.value.message


def test_expired_token_names_its_expiry() -> None:
    issuer = auth.TokenIssuer()
    token, _ = issuer.issue(
        project_id="p" * 32, user_id="u", issued_at=VECTOR_TIME - 2 * 86400, lifetime=86400
    )
    with pytest.raises(ApiError) as caught:
        issuer.verify(token, now=VECTOR_TIME)
    assert caught.value.message.startswith(
        "Incorrect IAM authentication information: token expires, expires_at:"
    )


def test_forged_token_fails_to_decrypt() -> None:
    issuer = auth.TokenIssuer()
    token, _ = auth.TokenIssuer().issue(project_id="p" * 32, user_id="u", issued_at=VECTOR_TIME, lifetime=60)
    with pytest.raises(ApiError) as caught:
        issuer.verify(token, now=VECTOR_TIME)
    assert caught.value.message.endswith("decrypt token fail")

"""SDK-HMAC-SHA256 signing reproduces the reference's four test vectors byte for byte."""

import hashlib
from urllib.parse import urlsplit

from peerlinks.cloud.signing import (
    canonical_query,
    canonical_request,
    canonical_uri,
    sign_request,
    string_to_sign,
)

AK = "FAKEAKEXAMPLE0000000"
SK = "FakeSecretKeyForTestVectorsOnly0000000000"
PROJECT = "0123456789abcdef0123456789abcdef"
HOST = "dcaas.cn-north-4.myhuaweicloud.com"
BASE = f"https://{HOST}/v3/{PROJECT}/dcaas/global-dc-gateways/11111111-2222-4333-8444-555555555555/peer-links"
LINK_URL = f"{BASE}/66666666-7777-4888-9999-aaaaaaaaaaaa"
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "huaweicloud-usdk-python/3.0",
    "X-Sdk-Date": "20250101T000000Z",
    "X-Project-Id": PROJECT,
    "Host": HOST,
}
SIGNED = "content-type;host;user-agent;x-project-id;x-sdk-date"
HEADER_BLOCK = (
    "content-type:application/json\n"
    f"host:{HOST}\n"
    "user-agent:huaweicloud-usdk-python/3.0\n"
    f"x-project-id:{PROJECT}\n"
    "x-sdk-date:20250101T000000Z\n"
)
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

VECTOR1_BODY = (
    b'{"peer_link": {"name": "pl-to-er-01", "description": "test vector", "peer_site": '
    b'{"gateway_id": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff", '
    b'"project_id": "0123456789abcdef0123456789abcdef", '
    b'"region_id": "cn-north-4"}}}'
)
VECTOR2_QUERY = (
    "fields=id&fields=name&fields=status&limit=2&name=pl%20b&name=pl-a"
    "&page_reverse=false&sort_dir=desc&sort_key=name"
)
VECTOR4_BODY = b'{"peer_link": {"name": "pl-renamed", "description": ""}}'


def _canonical(method: str, url: str, body: bytes | None) -> str:
    parts = urlsplit(url)
    return canonical_request(method, parts.path, parts.query, HEADERS, body)


def _authorization(signature: str) -> str:
    return f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED}, Signature={signature}"


def test_vector1_create_canonical_request_string_to_sign_and_authorization():
    canonical = _canonical("POST", BASE, VECTOR1_BODY)
    assert canonical == (
        "POST\n"
        f"{urlsplit(BASE).path}/\n"
        "\n"
        f"{HEADER_BLOCK}\n"
        f"{SIGNED}\n"
        "0cffccb3239392450d7217905d9bcbc9f78047b5318c7dd07b50834f655dca2f"
    )
    assert string_to_sign(canonical, "20250101T000000Z") == (
        "SDK-HMAC-SHA256\n20250101T000000Z\n8e63c227c820e34760c4657f62c06ac56f8a337ad9ad316ab92ffaa9a5b4767c"
    )
    headers = sign_request(method="POST", url=BASE, headers=HEADERS, body=VECTOR1_BODY, ak=AK, sk=SK)
    assert headers["Authorization"] == _authorization(
        "d43de31f5b0f05abcb6f226951abe33b933d185f0149781a2fd3c9137a4cea59"
    )


def test_vector2_list_query_is_sorted_and_space_encoded_as_percent20():
    query = canonical_query(
        {
            "limit": 2,
            "fields": ["status", "id", "name"],
            "sort_key": "name",
            "sort_dir": ["desc"],
            "name": ["pl b", "pl-a"],
            "page_reverse": False,
        }
    )
    assert query == VECTOR2_QUERY
    url = f"{BASE}?{query}"
    canonical = _canonical("GET", url, None)
    assert canonical == (
        f"GET\n{urlsplit(BASE).path}/\n{VECTOR2_QUERY}\n{HEADER_BLOCK}\n{SIGNED}\n{EMPTY_HASH}"
    )
    assert string_to_sign(canonical, "20250101T000000Z") == (
        "SDK-HMAC-SHA256\n20250101T000000Z\nf7f5e7407d842b5ea273a72f100e0e50393bd56622d82b872738bdf51b54af0c"
    )
    headers = sign_request(method="GET", url=url, headers=HEADERS, body=None, ak=AK, sk=SK)
    assert headers["Authorization"] == _authorization(
        "4f673195c4b0fdcec2ed3dce06f28fc78cae3da1f0d6ef9e0f4e454908416ca0"
    )


def test_vector3_delete_without_body_hashes_the_empty_payload():
    canonical = _canonical("DELETE", LINK_URL, None)
    assert canonical == f"DELETE\n{urlsplit(LINK_URL).path}/\n\n{HEADER_BLOCK}\n{SIGNED}\n{EMPTY_HASH}"
    assert string_to_sign(canonical, "20250101T000000Z") == (
        "SDK-HMAC-SHA256\n20250101T000000Z\n6a0fbe8d352530f67f521cf7a691cb23054121698b08a9675e7a9b0c7a5c6f28"
    )
    headers = sign_request(method="DELETE", url=LINK_URL, headers=HEADERS, body=b"", ak=AK, sk=SK)
    assert headers["Authorization"] == _authorization(
        "2c49f7ca57c5907029b4485f1aef33ebbf4e1765cf23f87e00fd0858f2e298e0"
    )


def test_vector4_update_payload_hash_canonical_hash_and_signature():
    assert hashlib.sha256(VECTOR4_BODY).hexdigest() == (
        "d06353ea2714f502c543a5a4d9339c0a2585b1ef4bf0820e3758b67ee14014b2"
    )
    canonical = _canonical("PUT", LINK_URL, VECTOR4_BODY)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "cfda0771ab3fe8063a334a07dddd681d1fcf8073f2677b5dd72467efaccd73e2"
    )
    headers = sign_request(method="PUT", url=LINK_URL, headers=HEADERS, body=VECTOR4_BODY, ak=AK, sk=SK)
    assert headers["Authorization"] == _authorization(
        "54568c3fa2e7033505cd268139b0177cd1f46c32cb2ff687fe72a6ec0635bc7f"
    )


def test_signing_adds_host_with_port_and_a_current_sdk_date():
    headers = sign_request(
        method="GET",
        url="http://127.0.0.1:8790/v3/projects?name=cn-north-4",
        headers={"Content-Type": "application/json"},
        body=None,
        ak=AK,
        sk=SK,
    )
    assert headers["Host"] == "127.0.0.1:8790"
    assert len(headers["X-Sdk-Date"]) == 16 and headers["X-Sdk-Date"].endswith("Z")
    assert "SignedHeaders=content-type;host;x-sdk-date," in headers["Authorization"]


def test_canonical_uri_reencodes_segments_and_appends_slash():
    assert canonical_uri("/v3/a%20b/c~d") == "/v3/a%20b/c~d/"
    assert canonical_uri("/v3/x/") == "/v3/x/"


def test_canonical_query_encodes_cjk_and_drops_none():
    assert canonical_query({"name": "链路", "marker": None, "b": True}) == "b=true&name=%E9%93%BE%E8%B7%AF"

"""Error bodies parse as leniently as the SDK, into one typed family with a readable message."""

import pickle

import pytest

from peerlinks import cloud
from peerlinks.cloud.errors import error_from_response, parse_error_body

RID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.mark.parametrize(
    ("status", "body", "code", "msg"),
    [
        (
            400,
            '{"error_code": "DC.0001", "error_msg": "Request parameter error.", "request_id": "x"}',
            "DC.0001",
            "Request parameter error.",
        ),
        (
            401,
            '{"error_msg": "Incorrect IAM authentication information: verify aksk signature fail", '
            '"error_code": "APIGW.0301"}',
            "APIGW.0301",
            "Incorrect IAM authentication information: verify aksk signature fail",
        ),
        (400, '{"errorCode": "E1", "errorMsg": "camel"}', "E1", "camel"),
        (404, '{"code": "APIGW.0101", "message": "not published"}', "APIGW.0101", "not published"),
        (403, '{"error": {"code": "IAM.0002", "message": "nested"}}', "IAM.0002", "nested"),
        (502, "<html>Bad Gateway</html>", "502", "<html>Bad Gateway</html>"),
        (503, "", "503", ""),
        (500, '{"unrelated": 1}', "500", '{"unrelated": 1}'),
        (400, '{"error_msg": "message only"}', "400", "message only"),
    ],
)
def test_error_body_parsing_table(status, body, code, msg):
    assert parse_error_body(status, body)[:2] == (code, msg)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, cloud.BadRequest),
        (401, cloud.AuthenticationFailed),
        (403, cloud.Forbidden),
        (404, cloud.NotFound),
        (409, cloud.Conflict),
        (429, cloud.Throttled),
        (500, cloud.ServerError),
        (503, cloud.ServerError),
        (405, cloud.CloudError),
    ],
)
def test_status_maps_to_error_class(status, cls):
    error = error_from_response(operation="ShowPeerLink", status=status, body=b"{}", header_request_id=RID)
    assert type(error) is cls
    assert error.status == status
    assert isinstance(error, cloud.CloudError)


def test_request_id_comes_from_header_then_body():
    body = b'{"error_code": "DC.0002", "error_msg": "gone", "request_id": "body-rid"}'
    with_header = error_from_response(operation="op", status=404, body=body, header_request_id=RID)
    without_header = error_from_response(operation="op", status=404, body=body, header_request_id=None)
    assert with_header.request_id == RID
    assert without_header.request_id == "body-rid"


def test_str_is_a_helpful_one_liner():
    error = error_from_response(
        operation="CreatePeerLink",
        status=400,
        body=b'{"error_code": "DC.0001", "error_msg": "Request parameter error. name too long"}',
        header_request_id=RID,
    )
    text = str(error)
    expected = "CreatePeerLink failed: HTTP 400 DC.0001 Request parameter error. name too long"
    assert text == f"{expected} (request id {RID})"
    assert "\n" not in text


def test_throttled_carries_retry_after_and_transience():
    error = error_from_response(operation="op", status=429, body=b"", header_request_id=None, retry_after=3.0)
    assert error.retry_after == 3.0
    assert error.is_transient
    assert cloud.ServerError("x", status=500).is_transient
    assert cloud.CloudTimeout("x").is_transient
    assert isinstance(cloud.CloudTimeout("x"), cloud.CloudUnreachable)
    assert not cloud.BadRequest("x", status=400).is_transient
    assert not cloud.NotFound("x", status=404).is_transient
    assert not cloud.InvalidResponse("x", status=200).is_transient


def test_invalid_request_is_also_a_value_error():
    assert issubclass(cloud.InvalidRequest, ValueError)
    assert issubclass(cloud.InvalidRequest, cloud.CloudError)
    assert cloud.InvalidRequest("bad").status is None


def test_errors_survive_pickling_with_their_attributes():
    error = error_from_response(
        operation="ShowPeerLink",
        status=429,
        body=b'{"error_code": "APIGW.0308"}',
        header_request_id=RID,
        retry_after=2,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cloud.Throttled
    assert (copy.status, copy.error_code, copy.request_id, copy.retry_after) == (429, "APIGW.0308", RID, 2)
    assert str(copy) == str(error)

"""The error every simulated API answers with: an HTTP status plus Huawei's error_code and error_msg."""

BODY_ABNORMAL = "The request body is abnormal."
PARAMETER_ERROR = "Request parameter error."
NOT_FOUND = "The resource to be operated or queried does not exist."
SYSTEM_ERROR = "System error."


class ApiError(Exception):
    """A failed API call, rendered as ``{"error_msg", "error_code", "request_id"}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.body = body  # replaces the standard shape (IAM answers Keystone-style)


class DropConnection(Exception):
    """Close the client's TCP connection without sending a single response byte."""


def bad_body(detail: str = "") -> ApiError:
    """400 DC.0000: the body is not JSON or lacks its wrapper object."""
    return ApiError(400, "DC.0000", f"{BODY_ABNORMAL} {detail}".strip())


def bad_parameter(detail: str, *, code: str = "DC.0001") -> ApiError:
    """400 DC.0001 with the offending parameter appended to Huawei's generic message."""
    return ApiError(400, code, f"{PARAMETER_ERROR} {detail}".strip())


def not_found(detail: str = "", *, status: int = 404, code: str = "DC.0002") -> ApiError:
    """DC.0002: the resource to operate on does not exist (404 on the path, 400 for a peer target)."""
    return ApiError(status, code, f"{NOT_FOUND} {detail}".strip())

"""Errors of the HTTP API as RFC 9457 problem details (`application/problem+json`): every refusal, from a
bad query to a broken rule or a cloud that said no, is one of these, never an HTML page or a 500.

`PROBLEMS` maps each exception the API meets to its status and type; `problem_response` draws one.
"""

import json
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from peerlinks import cloud
from peerlinks.presentation.text import describe_cloud_error
from peerlinks.services.approvals import ApprovalAlreadyCounts
from peerlinks.services.lifecycle import ChangeForbidden, ChangeOutdated, ChangeRefused

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:dcportal:problem:"


class CloudFacts(Schema):
    """What the cloud said when it refused: Huawei's error code and message, and its request id."""

    status: int | None = None
    code: str = ""
    message: str = ""
    request_id: str = ""


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[dict[str, Any]] | None = None
    cloud: CloudFacts | None = None


class ApiProblem(Exception):
    """A refusal the API itself decides (bad cursor, token scope, rate limit…): its status, type and words."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str = "",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    status: int,
    *,
    detail: str = "",
    kind: str = "",
    errors: list[dict[str, Any]] | None = None,
    cloud_facts: CloudFacts | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A problem-details response; `kind` names the problem type (the HTTP status's name when empty)."""
    phrase = HTTPStatus(status).phrase
    body = Problem(
        type=TYPE_BASE + (kind or phrase.lower().replace(" ", "-")),
        title=phrase,
        status=status,
        detail=detail,
        errors=errors,
        cloud=cloud_facts,
    ).model_dump(mode="json", exclude_none=True)
    response = HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def for_exception(exc: Exception) -> HttpResponse | None:
    """The problem response for an exception the API knows, or None (then it is a real server error)."""
    if isinstance(exc, ApiProblem):
        return problem_response(
            exc.status, detail=exc.detail, kind=exc.kind, errors=exc.errors, headers=exc.headers
        )
    if isinstance(exc, NinjaValidationError):
        return problem_response(
            422, detail=_("The request is not valid."), kind="invalid-request", errors=_plain(exc.errors)
        )
    if isinstance(exc, AuthenticationError):
        return problem_response(
            401,
            detail=_("Log in, or send a valid API token: Authorization: Bearer <token>."),
            headers={"WWW-Authenticate": 'Bearer realm="dcportal"'},
        )
    if isinstance(exc, ChangeForbidden | PermissionDenied | AuthorizationError):
        return problem_response(403, detail=str(exc) or _("You may not do this."), kind="forbidden")
    if isinstance(exc, ApprovalAlreadyCounts):
        return problem_response(409, detail=str(exc), kind="approval-already-counts")
    if isinstance(exc, ChangeOutdated):
        return problem_response(409, detail=str(exc), kind="change-outdated")
    if isinstance(exc, ChangeRefused):
        return problem_response(409, detail=str(exc), kind="change-refused")
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return problem_response(404, detail=_("There is nothing here."))
    if isinstance(exc, cloud.CloudError):
        facts = CloudFacts(
            status=exc.status, code=exc.error_code, message=exc.error_msg, request_id=exc.request_id or ""
        )
        return problem_response(
            502, detail=describe_cloud_error(exc), kind="cloud-refused", cloud_facts=facts
        )
    if isinstance(exc, HttpError):
        return problem_response(exc.status_code, detail=str(exc))
    return None


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as JSON can carry them: where, what and why (the input itself is left out)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]

"""The HTTP API, `/api/v1/` (django-ninja: pydantic types, like the cloud client, and the OpenAPI 3 schema
drawn from the same types): everything the pages read, and the changes people ask for, through the same
services and under the same rules. One module per resource; errors are problem details (`problems`).

Schema at /api/v1/openapi.json, interactive docs at /api/v1/docs (ninja's own static files, no CDN).
"""

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema

from peerlinks.api import audit, batches, changes, drift, gateways, links
from peerlinks.api.auth import AUTH
from peerlinks.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from peerlinks.api.idempotency import KEY_RE as IDEMPOTENCY_KEY_RE
from peerlinks.api.problems import CONTENT_TYPE, Problem, for_exception, problem_response
from peerlinks.api.views import method_not_allowed_as_problem

logger = logging.getLogger(__name__)

# What any operation may answer besides its own success: each a problem-details document.
PROBLEM_STATUSES = {
    "400": "Bad request (a cursor or header that is not valid)",
    "401": "Not logged in, or the token is not valid",
    "403": "Not allowed: role, account or token scope",
    "404": "No such object",
    "409": "Refused by a rule: state, four eyes, an edited version",
    "422": "The request's body, query or filters are not valid",
    "429": "Rate limit of the token reached (see Retry-After)",
    "502": "The cloud refused or did not answer",
}

# Stateful links between operations (what a response leads to), for clients and schemathesis.
CHANGE_LINKS = {
    name: {"operationId": name, "parameters": {"change_id": "$response.body#/id"}}
    for name in (
        "get_change",
        "approve_change",
        "reject_change",
        "cancel_change",
        "edit_change",
        "comment_change",
    )
}
BATCH_LINKS = {
    name: {"operationId": name, "parameters": {"batch_id": "$response.body#/id"}}
    for name in ("get_batch", "approve_batch", "reject_batch", "cancel_batch", "retry_failed_batch")
}
LINKS = {
    ("submit_batch", "201"): BATCH_LINKS,
    ("retry_failed_batch", "201"): BATCH_LINKS,
    ("create_link", "201"): CHANGE_LINKS,
    ("rename_link", "201"): CHANGE_LINKS,
    ("delete_link", "201"): CHANGE_LINKS,
    ("retry_change", "201"): CHANGE_LINKS,
    ("list_links", "200"): {
        name: {"operationId": name, "parameters": {"link_id": "$response.body#/items/0/id"}}
        for name in ("get_link", "rename_link", "delete_link")
    },
    ("list_changes", "200"): {
        name: {"operationId": name, "parameters": {"change_id": "$response.body#/items/0/id"}}
        for name in ("get_change", "cancel_change", "comment_change")
    },
    ("list_gateways", "200"): {
        "get_gateway": {
            "operationId": "get_gateway",
            "parameters": {"gateway_id": "$response.body#/items/0/id"},
        }
    },
    ("list_routers", "200"): {
        "get_router": {"operationId": "get_router", "parameters": {"router_id": "$response.body#/items/0/id"}}
    },
    ("list_drift", "200"): {
        name: {"operationId": name, "parameters": {"drift_id": "$response.body#/items/0/id"}}
        for name in ("get_drift", "acknowledge_drift")
    },
}


class PortalAPI(NinjaAPI):
    """NinjaAPI whose schema says what every operation may answer: problem details (as
    application/problem+json), the Idempotency-Key of every POST, and the links between operations; a
    method a path does not take is a problem too."""

    def _get_urls(self) -> list:
        patterns = super()._get_urls()
        for pattern in patterns:
            pattern.callback = method_not_allowed_as_problem(pattern.callback)
        return patterns

    def get_openapi_operation_id(self, operation: Any) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
        problem = {CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for methods in schema["paths"].values():
            for method, operation in methods.items():
                responses = operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
                for status, description in PROBLEM_STATUSES.items():
                    responses[status] = {"description": description, "content": problem}
                if method == "post":
                    operation.setdefault("parameters", []).append(_IDEMPOTENCY_PARAMETER)
                for (operation_id, status), links_ in LINKS.items():
                    if operation.get("operationId") == operation_id:
                        responses[status]["links"] = links_
        return schema


_IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "description": "Send the same key again with the same request: you get the first answer, nothing new "
    "is done. The same key with another request is a 422. Keys are kept for a day.",
    "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_RE.pattern}$"},
}

api = PortalAPI(
    title="dcportal",
    version="1",
    description=(
        "Peer links of global DC gateways, the change requests that create, rename and delete them (one by "
        "one, or many as one batch), their approvals, drift and the audit log. Authenticate with a personal "
        "API token (Authorization: Bearer <token>; make one under your name, API tokens) or the browser's "
        "session. Errors are RFC 9457 problem details."
    ),
    urls_namespace="api",
    auth=AUTH,
)


def problem_details(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Every error as problem details; one the API does not know is logged and answered as a plain 500."""
    response = for_exception(exc)
    if response is not None:
        return response
    logger.exception("API error on %s %s", request.method, request.path, exc_info=exc)
    return problem_response(500, detail="")


# Ninja's own handlers of its errors (validation, authentication, HttpError, 404) are replaced too.
for error in (Exception, NinjaValidationError, AuthenticationError, AuthorizationError, HttpError, Http404):
    api.add_exception_handler(error, problem_details)

for module in (links, changes, batches, gateways, drift, audit):
    api.add_router("", module.router)

"""IAM: password tokens (POST /v3/auth/tokens), the account's project list, and the token or AK/SK check
every DC and ER call passes before its handler runs."""

import json
import time
from collections.abc import Callable
from typing import Protocol

from dcsim import DEMO_DOMAIN, DEMO_IAM_PASSWORD, DEMO_IAM_USER, REGIONS, project_id_for
from dcsim.auth import TOKEN_LIFETIME_SECONDS, TokenIssuer, iam_error, verify_aksk
from dcsim.errors import ApiError
from dcsim.routing import Request, Response, Route
from dcsim.validation import check_path_project

_MAX_PROJECT_NAMES = 100
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000000Z"


class Account(Protocol):
    """The simulated account as IAM sees it (the Simulator is one)."""

    projects: dict[str, str]  # project ID -> region
    domain_id: str
    user_id: str
    credentials: dict[str, str]  # AK -> SK
    tokens: TokenIssuer
    clock: Callable[[], float]


def _keystone_error(status: int, title: str, message: str) -> ApiError:
    body = {"error": {"code": status, "message": message, "title": title}}
    return ApiError(status, str(status), message, body=body)


def create_token(account: Account, request: Request) -> Response:
    """A token for the demo user, scoped to one project (by ID, or by region name)."""
    try:
        data = json.loads(request.body.decode("utf-8"))
        identity = data["auth"]["identity"]
        methods = identity["methods"]
        user = identity["password"]["user"]
        project_scope = data["auth"]["scope"]["project"]
        domain = user.get("domain") or {}
        if not isinstance(methods, list) or not isinstance(project_scope, dict):
            raise TypeError
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise _keystone_error(
            400,
            "Bad Request",
            "The request body is invalid: password auth with a project scope is required.",
        ) from None
    credentials_ok = (
        "password" in methods
        and user.get("name") == DEMO_IAM_USER
        and user.get("password") == DEMO_IAM_PASSWORD
        and (domain.get("name") == DEMO_DOMAIN or domain.get("id") == account.domain_id)
    )
    if not credentials_ok:
        raise _keystone_error(401, "Unauthorized", "The username or password is wrong.")
    project_id = project_scope.get("id")
    if project_id is None:
        name = project_scope.get("name")
        project_id = project_id_for(name) if name in REGIONS else None
    if project_id not in account.projects:
        raise _keystone_error(
            401, "Unauthorized", "The project does not exist or does not belong to the account."
        )
    now = account.clock()
    token, expires_at = account.tokens.issue(
        project_id=project_id, user_id=account.user_id, issued_at=now, lifetime=TOKEN_LIFETIME_SECONDS
    )
    domain_ref = {"id": account.domain_id, "name": DEMO_DOMAIN}
    body = {
        "token": {
            "expires_at": time.strftime(_TIME_FORMAT, time.gmtime(expires_at)),
            "issued_at": time.strftime(_TIME_FORMAT, time.gmtime(now)),
            "methods": ["password"],
            "project": {"id": project_id, "name": account.projects[project_id], "domain": domain_ref},
            "user": {
                "id": account.user_id,
                "name": DEMO_IAM_USER,
                "domain": domain_ref,
                "password_expires_at": "",
            },
            "roles": [{"id": project_id_for("role:te_admin"), "name": "te_admin"}],
            "catalog": [],
        }
    }
    return 201, body, {"X-Subject-Token": token}


def list_projects(account: Account, request: Request) -> Response:
    """The account's projects, one per region, sorted by region; ``name`` filters by region."""
    base = f"http://{request.headers.get('host', 'localhost')}/v3/projects"
    names = request.query.many("name", max_items=_MAX_PROJECT_NAMES)
    projects = [
        {
            "id": project_id,
            "name": region,
            "domain_id": account.domain_id,
            "enabled": True,
            "description": "",
            "parent_id": account.domain_id,
            "is_domain": False,
            "links": {"self": f"{base}/{project_id}"},
        }
        for project_id, region in sorted(account.projects.items(), key=lambda item: item[1])
        if names is None or region in names
    ]
    return 200, {"projects": projects, "links": {"self": base, "previous": None, "next": None}}, {}


def authenticate(account: Account, request: Request, project_id: str | None) -> None:
    """Token or AK/SK, then the project in the path must be one of the account's (403 otherwise)."""
    now = account.clock()
    headers = request.headers
    scoped_project = None
    if "x-auth-token" in headers:
        scoped_project = account.tokens.verify(headers["x-auth-token"], now=now)["project_id"]
    elif "authorization" in headers:
        verify_aksk(
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=headers,
            body=request.body,
            secret_for=account.credentials.get,
            now=now,
        )
    else:
        raise iam_error("x-auth-token not found")
    if project_id is None:
        return
    check_path_project(project_id, code="ER.0001" if request.family == "ER" else "DC.0001")
    forbidden = "The IAM user is not authorized to access the API: "
    if project_id.lower() not in account.projects:
        raise ApiError(403, "APIGW.0302", forbidden + f"project {project_id} does not belong to this account")
    if scoped_project is not None and scoped_project != project_id.lower():
        raise ApiError(403, "APIGW.0302", forbidden + "the token is scoped to another project")
    header_project = headers.get("x-project-id")
    if header_project is not None and header_project.strip().lower() != project_id.lower():
        raise ApiError(403, "APIGW.0302", forbidden + "X-Project-Id does not match the project in the URL")


# Handlers take the Account; create_token is the one route that needs no authentication.
ROUTES: list[Route] = [
    Route("POST", "/v3/auth/tokens", create_token, "IAM"),
    Route("GET", "/v3/projects", list_projects, "IAM"),
]

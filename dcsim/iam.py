"""IAM: password tokens (POST /v3/auth/tokens), the account's project list, and the token or AK/SK check
every DC and ER call passes before its handler runs."""

import json
import time
from collections.abc import Callable
from typing import Protocol

from dcsim import REGIONS, project_id_for
from dcsim.accounts import SimAccount
from dcsim.auth import TOKEN_LIFETIME_SECONDS, TokenIssuer, iam_error, verify_aksk
from dcsim.errors import ApiError
from dcsim.routing import Request, Response, Route
from dcsim.validation import check_path_project

_MAX_PROJECT_NAMES = 100
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000000Z"


class Account(Protocol):
    """The simulated cloud as IAM sees it (the Simulator is one): its accounts, token issuer and clock."""

    accounts: list[SimAccount]
    tokens: TokenIssuer
    clock: Callable[[], float]


def _keystone_error(status: int, title: str, message: str) -> ApiError:
    body = {"error": {"code": status, "message": message, "title": title}}
    return ApiError(status, str(status), message, body=body)


def create_token(cloud: Account, request: Request) -> Response:
    """A token for an account's IAM user, scoped to one of its projects (by ID, or by region name)."""
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
    account = next(
        (
            candidate
            for candidate in cloud.accounts
            if "password" in methods
            and user.get("name") == candidate.user_name
            and user.get("password") == candidate.password
            and (domain.get("name") == candidate.name or domain.get("id") == candidate.domain_id)
        ),
        None,
    )
    if account is None:
        raise _keystone_error(401, "Unauthorized", "The username or password is wrong.")
    project_id = project_scope.get("id")
    if project_id is None:
        name = project_scope.get("name")
        project_id = project_id_for(name, account.name) if name in REGIONS else None
    if project_id not in account.projects:
        raise _keystone_error(
            401, "Unauthorized", "The project does not exist or does not belong to the account."
        )
    now = cloud.clock()
    token, expires_at = cloud.tokens.issue(
        project_id=project_id, user_id=account.user_id, issued_at=now, lifetime=TOKEN_LIFETIME_SECONDS
    )
    domain_ref = {"id": account.domain_id, "name": account.name}
    body = {
        "token": {
            "expires_at": time.strftime(_TIME_FORMAT, time.gmtime(expires_at)),
            "issued_at": time.strftime(_TIME_FORMAT, time.gmtime(now)),
            "methods": ["password"],
            "project": {"id": project_id, "name": account.projects[project_id], "domain": domain_ref},
            "user": {
                "id": account.user_id,
                "name": account.user_name,
                "domain": domain_ref,
                "password_expires_at": "",
            },
            "roles": [{"id": project_id_for("role:te_admin"), "name": "te_admin"}],
            "catalog": [],
        }
    }
    return 201, body, {"X-Subject-Token": token}


def list_projects(cloud: Account, request: Request) -> Response:
    """The caller's account's projects, one per region, sorted by region; ``name`` filters by region."""
    account = request.account
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


def _account_with_key(cloud: Account, access_key: str) -> SimAccount | None:
    return next((account for account in cloud.accounts if access_key in account.credentials), None)


def authenticate(cloud: Account, request: Request, project_id: str | None) -> None:
    """Token or AK/SK names the caller's account (``request.account``); then the project in the path must
    be one of that account's (403 otherwise)."""
    now = cloud.clock()
    headers = request.headers
    scoped_project = None
    if "x-auth-token" in headers:
        claims = cloud.tokens.verify(headers["x-auth-token"], now=now)
        scoped_project = claims["project_id"]
        account = next((a for a in cloud.accounts if a.user_id == claims["user_id"]), None)
        if account is None:
            raise iam_error("decrypt token fail")
    elif "authorization" in headers:
        access_key = verify_aksk(
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=headers,
            body=request.body,
            secret_for=lambda ak: getattr(_account_with_key(cloud, ak), "credentials", {}).get(ak),
            now=now,
        )
        account = _account_with_key(cloud, access_key)
    else:
        raise iam_error("x-auth-token not found")
    request.account = account
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

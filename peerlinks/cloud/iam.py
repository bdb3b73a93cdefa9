"""IAM projects: the project ID of the account in each region, discovered once per process."""

from __future__ import annotations

import threading

from peerlinks.cloud import tokens, transport
from peerlinks.cloud.config import CloudConfig, resolve
from peerlinks.cloud.errors import InvalidResponse, NotFound
from peerlinks.cloud.models import Project, ProjectList
from peerlinks.cloud.validation import check_region

_project_ids: dict[tuple[str, ...], str] = {}
_project_lock = threading.Lock()


def _identity(config: CloudConfig) -> tuple[str, ...]:
    return (config.endpoint, config.auth, config.ak, config.iam_domain, config.iam_user)


def get_project_id(*, region: str, config: CloudConfig | None = None) -> str:
    """The project ID of the account in `region`: from settings, else from IAM (cached per process)."""
    operation = "ListProjects"
    config = resolve(config)
    check_region(operation, "region", region)
    if region in config.project_ids:
        return config.project_ids[region]
    # Keyed by the IAM host too: an override can point one region at another cloud.
    key = (*_identity(config), config.base_url("iam", region), region)
    with _project_lock:
        cached = _project_ids.get(key)
    if cached:
        return cached
    if config.auth == "token":
        # A project-scoped token names its project, so no extra call is needed.
        token = tokens.token_for(region=region, config=config)
        project_id = token.project.id if token.project else None
        if not project_id:
            raise InvalidResponse(
                "the IAM token names no project", error_code="InvalidResponse", operation=operation
            )
    else:
        reply = transport.request(
            operation,
            "GET",
            config=config,
            service="iam",
            region=region,
            path="/v3/projects",
            query={"name": region},
        )
        projects = [p for p in reply.parse(ProjectList, operation).projects if p.name == region]
        if not projects:
            raise NotFound(
                f"no IAM project named {region!r} for this account",
                error_code="ProjectNotFound",
                request_id=reply.request_id,
                operation=operation,
            )
        project_id = projects[0].id
    with _project_lock:
        _project_ids[key] = project_id
    return project_id


def list_projects(*, region: str, config: CloudConfig | None = None) -> list[Project]:
    """Every IAM project of the account (one per region it has, named after the region), asked of the IAM
    endpoint of `region`."""
    operation = "ListProjects"
    config = resolve(config)
    check_region(operation, "region", region)
    reply = transport.request(
        operation, "GET", config=config, service="iam", region=region, path="/v3/projects"
    )
    return reply.parse(ProjectList, operation).projects


def clear_caches() -> None:
    """Forget every discovered project ID and cached token (tests, or after a credentials change)."""
    with _project_lock:
        _project_ids.clear()
    tokens.forget_tokens()

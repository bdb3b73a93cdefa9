"""System checks for settings that are valid one by one but unsafe together."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from peerlinks.encryption import MAKE_KEY, EncryptedTextField


@register()
def check_execution_lease(**kwargs: object) -> list[Warning]:
    """A change resumed while its first create may still be in flight could not find that link yet."""
    in_flight = settings.CLOUD_CONNECT_TIMEOUT + settings.CLOUD_READ_TIMEOUT
    if in_flight < settings.CHANGE_EXECUTION_LEASE:
        return []
    return [
        Warning(
            f"CHANGE_EXECUTION_LEASE ({settings.CHANGE_EXECUTION_LEASE:g} s) is not longer than a cloud call "
            f"can take (CLOUD_CONNECT_TIMEOUT + CLOUD_READ_TIMEOUT = {in_flight:g} s).",
            hint="A change resumed after its worker died could then send a second create. Raise the lease.",
            id="peerlinks.W001",
        )
    ]


@register(Tags.security)
def check_debug_against_the_cloud(**kwargs: object) -> list[Warning]:
    """DEBUG shows anyone who causes an error the traceback, request and settings: never with a real cloud."""
    if not settings.DEBUG:
        return []
    urls = {"CLOUD_ENDPOINT": settings.CLOUD_ENDPOINT}
    urls |= {f"CLOUD_ENDPOINTS {key}": url for key, url in settings.CLOUD_ENDPOINTS.items()}
    remote = [(name, url) for name, url in urls.items() if not _is_local(url)]
    if not remote:
        return []
    name, endpoint = remote[0]
    return [
        Warning(
            f"DEBUG is on and {name} ({endpoint}) is not the local simulator.",
            hint="Turn DEBUG off (DEBUG=0) before pointing dcportal at a real cloud account.",
            id="peerlinks.W002",
        )
    ]


def _is_local(url: str) -> bool:
    host = urlsplit(url.replace("{service}", "dc").replace("{region}", "r")).hostname or ""
    return host == "localhost" or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@register()
def check_worker_lost_after(**kwargs: object) -> list[Warning]:
    """A worker must be able to miss a heartbeat (a slow write, a busy database) without its task being
    marked lost."""
    if settings.TASK_WORKER_LOST_AFTER >= 2 * settings.TASK_HEARTBEAT_INTERVAL:
        return []
    return [
        Warning(
            f"TASK_WORKER_LOST_AFTER ({settings.TASK_WORKER_LOST_AFTER:g} s) is less than two heartbeats "
            f"(TASK_HEARTBEAT_INTERVAL = {settings.TASK_HEARTBEAT_INTERVAL:g} s).",
            hint="A running task of a live worker could be marked failed. Raise TASK_WORKER_LOST_AFTER.",
            id="peerlinks.W003",
        )
    ]


@register()
def check_role_groups(**kwargs: object) -> list[Error]:
    """Every role OIDC_ROLE_GROUPS names must be one of dcportal's roles."""
    from peerlinks.services.sso import role_mapping_problems

    problems = role_mapping_problems(settings.OIDC_ROLE_GROUPS)
    return [Error(problem, id="dcportal.E010") for problem in problems]


@register(Tags.security)
def check_field_encryption_keys(**kwargs: object) -> list[Warning]:
    """With DEBUG off there is no development key: credentials could not be stored or read."""
    if settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "FIELD_ENCRYPTION_KEYS is not set: dcportal cannot store or read cloud credentials.",
            hint=f"Set FIELD_ENCRYPTION_KEYS to a key made with: {MAKE_KEY}",
            id="peerlinks.W004",
        )
    ]


@register(Tags.admin)
def check_encrypted_fields_out_of_admin_lists(**kwargs: object) -> list[Error]:
    """The admin would show an encrypted field's plain text in a list or a read-only field."""
    from django.contrib import admin

    errors = []
    for model, model_admin in admin.site._registry.items():
        encrypted = {f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)}
        named = [*model_admin.list_display, *model_admin.readonly_fields, *model_admin.search_fields]
        shown = sorted(encrypted & {name.lstrip("^=@") for name in named if isinstance(name, str)})
        if shown:
            errors.append(
                Error(
                    f"{model._meta.label}'s admin shows the encrypted field(s) {', '.join(shown)}.",
                    hint="Take them out of list_display, readonly_fields and search_fields: "
                    "credentials are write-only.",
                    id="peerlinks.E005",
                )
            )
    return errors

"""Who may do what: one decorator for views, naming the permission a role must hold.

Roles are groups (Viewer, Engineer, Approver, Admin, made by migration 0003) holding these permissions:

- `peerlinks.view_peerlink`: read every page (Viewer and up).
- `peerlinks.export_peerlink`: download the peer-link CSV (Viewer and up).
- `peerlinks.submit_change`: ask for, edit, cancel and comment on changes; edit local fields; queue a
  refresh; acknowledge drift (Engineer and up). Refresh and drift are actions, so reading is not enough.
- `peerlinks.approve_change`: approve or reject others' requests, see the approvals queue (Approver, Admin).
- `peerlinks.retry_change`: retry a failed request as a new one (Engineer and up).

Anonymous visitors are sent to the login page; a logged-in user without the permission gets the 403 page,
which tells them to ask an admin for a role. The Django admin is for staff only (Django's own rule).
"""

from collections.abc import Callable

from django.contrib.auth.decorators import login_required, permission_required

VIEW = "peerlinks.view_peerlink"
EXPORT = "peerlinks.export_peerlink"
SUBMIT = "peerlinks.submit_change"
APPROVE = "peerlinks.approve_change"
RETRY = "peerlinks.retry_change"


def permission_required_or_403(perm: str) -> Callable[[Callable], Callable]:
    """Log in first (redirect), then hold `perm` or get a 403 page that explains."""

    def decorator(view: Callable) -> Callable:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorator


def ensure_role(name: str) -> object:
    """The group of a role with its permissions, made again if missing (a flushed test database)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name=name)
    if created:
        roles = importlib.import_module("peerlinks.migrations.0003_roles")
        if name == "Admin":
            perms = Permission.objects.filter(content_type__app_label__in=["peerlinks", "auth"]).exclude(
                codename__in=["add_auditevent", "change_auditevent", "delete_auditevent"]
            )
        else:
            perms = Permission.objects.filter(
                content_type__app_label="peerlinks", codename__in=roles.ROLES[name]
            )
        group.permissions.set(perms)
    return group

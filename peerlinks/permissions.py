"""Who may do what: one decorator for views, naming the permission a role must hold.

Roles are groups (Viewer, Engineer, Approver, Admin; `ROLES` below, made after every migrate) holding these
permissions:

- `peerlinks.view_peerlink`: read every page (Viewer and up).
- `peerlinks.export_peerlink`: download the peer-link CSV (Viewer and up).
- `peerlinks.submit_change`: ask for, edit, cancel and comment on changes; edit local fields; queue a
  refresh; acknowledge drift (Engineer and up). Refresh and drift are actions, so reading is not enough.
- `peerlinks.approve_change`: approve or reject others' requests, see the approvals queue (Approver, Admin).
- `peerlinks.retry_change`: retry a failed request as a new one (Engineer and up).
- `peerlinks.change_policy`: edit the approval policy and its change window (Admin), and so also run an
  approved change before the window opens (approvers may too, on others' requests).

Anonymous visitors are sent to the login page; a logged-in user without the permission gets the 403 page,
which tells them to ask an admin for a role. The Django admin is for staff only (Django's own rule).
"""

from collections.abc import Callable

from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet

VIEW = "peerlinks.view_peerlink"
EXPORT = "peerlinks.export_peerlink"
SUBMIT = "peerlinks.submit_change"
APPROVE = "peerlinks.approve_change"
RETRY = "peerlinks.retry_change"
# Who may change the window may also step outside it.
OVERRIDE_WINDOW = "peerlinks.change_policy"


def permission_required_or_403(perm: str) -> Callable[[Callable], Callable]:
    """Log in first (redirect), then hold `perm` or get a 403 page that explains."""

    def decorator(view: Callable) -> Callable:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorator


VIEWER = [
    f"view_{model}"
    for model in (
        "cloudproject",
        "gateway",
        "enterpriserouter",
        "peerlink",
        "statuschange",
        "drift",
        "changerequest",
        "auditevent",
        "approval",
        "comment",
    )
] + ["export_peerlink"]
ENGINEER = [*VIEWER, "submit_change", "retry_change"]
APPROVER = [*ENGINEER, "approve_change"]
# Each role's peerlinks permissions (codenames); Admin holds every peerlinks and auth permission except
# those that would rewrite the append-only audit log.
ROLES: dict[str, list[str]] = {"Viewer": VIEWER, "Engineer": ENGINEER, "Approver": APPROVER}
ADMIN = "Admin"
AUDIT_REWRITES = ["add_auditevent", "change_auditevent", "delete_auditevent"]


def role_permissions(name: str) -> "QuerySet[Permission]":
    """The permissions role `name` holds."""
    if name == ADMIN:
        return Permission.objects.filter(content_type__app_label__in=["peerlinks", "auth"]).exclude(
            codename__in=AUDIT_REWRITES
        )
    return Permission.objects.filter(content_type__app_label="peerlinks", codename__in=ROLES[name])


def ensure_role(name: str) -> Group:
    """The group of role `name`, made with its permissions if missing (an existing one is left as is)."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        group.permissions.set(role_permissions(name))
    return group


def ensure_roles(**kwargs: object) -> None:
    """Make every missing role (run after each migrate, once the permissions exist, and after a flush)."""
    for name in [*ROLES, ADMIN]:
        ensure_role(name)

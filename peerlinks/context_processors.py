"""Template context for every page: the counts shown as badges in the navigation, and how often live
elements poll.

The values are callables, which templates call only when they show them: a fragment that has no
navigation costs no query.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from peerlinks.services.dashboard import CloudOutage, approvals_waiting, cloud_outage, live_version
from peerlinks.services.notifications import unread_notice_count


def nav_counts(request: HttpRequest) -> dict[str, Callable[[], int]]:
    """Requests waiting for this approver (others' pending ones) and the user's unread notices."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    return {
        "approvals_waiting": lambda: approvals_waiting(user),
        "notices_unread": lambda: unread_notice_count(user),
    }


def live_updates(request: HttpRequest) -> dict[str, object]:
    """`poll_ms`: the interval of every polling element (hx-trigger="every {{ poll_ms }}ms"); `live_poll`:
    the version of what the page's live parts show, for the one poll every page makes (base.html)."""
    context: dict[str, object] = {"poll_ms": round(settings.POLL_INTERVAL * 1000)}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        match = getattr(request, "resolver_match", None)
        dashboard = bool(match and match.view_name == "peerlinks:home")
        context["live_poll"] = lambda: {
            "dashboard": dashboard,
            "version": live_version(user=user, dashboard=dashboard),
        }
    return context


def cloud_status(request: HttpRequest) -> dict[str, Callable[[], CloudOutage | None]]:
    """`cloud_outage`: why the cloud does not answer, for the banner on every page (None while it does)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"cloud_outage": cloud_outage}

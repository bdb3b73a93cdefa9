"""Template context for every page: the counts shown as badges in the navigation, the cloud banner, and
the time zones the zone menu offers.

The values are callables, which templates call only when they show them: a fragment that has no
navigation costs no query.
"""

import functools
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from peerlinks.presentation.times import COMMON_ZONES, zone_name
from peerlinks.services import dashboard
from peerlinks.services.dashboard import CloudOutage, cloud_outage


def nav_counts(request: HttpRequest) -> dict[str, Callable[[], int]]:
    """Requests waiting for this approver (others' pending ones) and the user's unread notices."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    # Read in one query, once: the navigation and the page's live poll (templatetag live_poll) show them;
    # on the dashboard with its links per status (the same query as the page's own).
    match = request.resolver_match
    statuses = match is not None and match.view_name == "peerlinks:home"
    counts = functools.cache(lambda: dashboard.nav_counts(user, statuses=statuses))
    return {
        "approvals_waiting": lambda: counts().approvals_waiting,
        "notices_unread": lambda: counts().notices_unread,
        "sync_queued": lambda: counts().sync_queued,
    }


def cloud_status(request: HttpRequest) -> dict[str, Callable[[], CloudOutage | None]]:
    """`cloud_outage`: why the cloud does not answer, for the banner on every page (None while it does)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"cloud_outage": functools.cache(lambda: cloud_outage(user=user))}


def time_zones(request: HttpRequest) -> dict[str, object]:
    """The zone menu: the zone chosen ("" to follow the browser), the browser's own, and the zones offered
    (the common ones, with the chosen and the browser's zone when they are others)."""
    chosen = getattr(request, "time_zone_chosen", None)
    detected = getattr(request, "time_zone_detected", None)

    def choices() -> list[str]:
        extra = [
            zone_name(zone) for zone in (chosen, detected) if zone and zone_name(zone) not in COMMON_ZONES
        ]
        return [*dict.fromkeys(extra), *COMMON_ZONES]

    return {
        "time_zone_chosen": zone_name(chosen) if chosen else "",
        "time_zone_detected": zone_name(detected) if detected else "",
        "time_zone_default": settings.TIME_ZONE,
        "time_zone_choices": choices,
    }


def accounts(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    """`several_accounts`: whether pages name each row's cloud account (a column, a filter). One rule for
    every page: only when the install has more than one account, so a single-account install looks as
    it always did."""
    from peerlinks.models import CloudAccount

    return {"several_accounts": functools.cache(CloudAccount.objects.several)}

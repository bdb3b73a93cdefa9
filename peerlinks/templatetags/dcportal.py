"""Template filters of the site."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from peerlinks import permissions
from peerlinks.models import (
    AccountRole,
    ChangeRequest,
    CloudAccount,
    Drift,
    Notice,
    PeerLink,
    SharedAttachment,
)
from peerlinks.presentation import links as drawn
from peerlinks.presentation.charts import format_duration
from peerlinks.presentation.reasons import translated
from peerlinks.presentation.text import one_line
from peerlinks.presentation.times import format_time
from peerlinks.presentation.topology import Topology, draw_map
from peerlinks.services import attachments
from peerlinks.services import drift as drift_actions
from peerlinks.services.dashboard import LiveFacts
from peerlinks.services.links import peer_name
from peerlinks.services.notifications import shown_notice

register = template.Library()


@register.filter
def duration(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) as a person reads them: '55 s', '4.5 min', '2.1 h' ('–' for none)."""
    return format_duration(value.total_seconds() if isinstance(value, timedelta) else value)


@register.filter
def oneline(value: object) -> str:
    """The value on one line (mail bodies: a value from the cloud cannot fake a line of the mail)."""
    return one_line(value)


@register.filter
def lowerfirst(value: object) -> str:
    """The value with its first letter in lower case, to run on in a sentence: 'Global DC gateway' reads
    'global DC gateway' (`lower` would give 'global dc gateway')."""
    text = str(value)
    return text[:1].lower() + text[1:]


@register.filter
def when(value: datetime | None, detail: str = "") -> str:
    """A time in the viewer's zone with the zone named: '2026-12-02 15:04 UTC+08:00'; `when:"seconds"` adds
    the seconds, `when:"full"` the zone's name too (titles, mail): '… 15:04:05 UTC+08:00 (Asia/Shanghai)'."""
    return format_time(value, seconds=detail == "seconds", full=detail == "full")


# The navigation's sections: the URL names (peerlinks:…) whose pages each top-bar link leads to.
NAV_SECTIONS = {
    "home": ("home",),
    "links": ("link_list", "link_create", "detail", "link_edit", "link_delete"),
    "gateways": ("gateway_list", "gateway_detail"),
    "topology": ("topology",),
    "changes": ("change_list", "change_detail", "change_edit"),
    "approvals": ("approval_queue",),
    "lead": ("lead",),
    "audit": ("audit_list",),
    "notices": ("notice_list",),
}


@register.simple_tag(takes_context=True)
def nav_current(context: template.Context, section: str) -> SafeString:
    """` aria-current="page"` on the navigation link of the section the page belongs to, else nothing."""
    match = context.request.resolver_match  # None on a 404 page for an address no URL pattern matches
    if match and match.namespace == "peerlinks" and match.url_name in NAV_SECTIONS[section]:
        return mark_safe(' aria-current="page"')
    return mark_safe("")


@register.simple_tag
def peer(
    peer_type: str,
    peer_id: str,
    region: str = "",
    name: str | None = None,
    beside: CloudAccount | None = None,
    account: str | None = None,
) -> SafeString:
    """A link's peer as a person reads it (`presentation.links.peer`)."""
    return drawn.peer(peer_type, peer_id, region, name, beside, account=account)


@register.simple_tag
def change_peer(change: ChangeRequest, region: bool = True, beside: CloudAccount | None = None) -> SafeString:
    """A change's peer (`ChangeRequest.peer_fields`) as `peer` draws it, with its cached name and account as
    the change was read with them (`ChangeRequestQuerySet.with_peer`), else read here."""
    fields = change.peer_fields
    return drawn.peer(
        fields.get("peer_type", ""),
        fields.get("peer_gateway_id", ""),
        fields.get("peer_region", "") if region else "",
        getattr(change, "peer_name", None),
        beside,
        account=getattr(change, "peer_account_name", None),
    )


@register.simple_tag(takes_context=True)
def status_badge(
    context: template.Context, link: PeerLink, still: bool = False, oob: bool = False
) -> SafeString:
    """A link's status badge; unless `still` (a snapshot, such as a search result), a pending link's badge
    names itself to the page's one poll, whose answer swaps it out of band (`oob`) once its status moved on.
    The page then polls fast (base.html renders its poll after the content)."""
    follow = not still and drawn.followed(link)
    if follow:
        context.request.live_follows = True
    return drawn.status_badge(link, follow=follow, oob=oob)


def _flag(context: template.Context, name: str) -> bool:
    """A context value as `{% if name %}` reads it: a callable (`several_accounts`) is called."""
    value = context.get(name)
    return bool(value() if callable(value) else value)


@register.simple_tag(takes_context=True)
def topology_map(context: template.Context, topology: Topology) -> SafeString:
    """The topology map's SVG (`presentation.topology.draw_map`)."""
    return draw_map(topology, several_accounts=_flag(context, "several_accounts"))


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, column: dict[str, str], label: str, target: str) -> SafeString:
    """A sortable header of the link table (`presentation.links.sort_header`), keeping the page's filters."""
    return drawn.sort_header(context.request.GET, column, label, target)


@register.simple_tag(takes_context=True)
def link_pager(context: template.Context, page: object, pager_id: str, target: str) -> SafeString:
    """The link table's pager (`presentation.links.link_pager`), keeping the page's filters and order."""
    return drawn.link_pager(context.request.GET, page, pager_id, target)


@register.simple_tag(takes_context=True)
def error_rows(context: template.Context, links: Iterable[PeerLink]) -> SafeString:
    """The rows of the dashboard's "Links in error" table (`presentation.links.error_rows`)."""
    return drawn.error_rows(links, several_accounts=_flag(context, "several_accounts"))


@register.simple_tag(takes_context=True)
def link_rows(context: template.Context, links: Iterable[PeerLink]) -> SafeString:
    """The rows of a peer link table (the list page, a gateway's page), with the page's `choosing`,
    `hide_gateway` and `several_accounts`."""
    html, follows = drawn.link_rows(
        links,
        choosing=_flag(context, "choosing"),
        hide_gateway=_flag(context, "hide_gateway"),
        several_accounts=_flag(context, "several_accounts"),
    )
    if follows:
        context.request.live_follows = True
    return html


@register.filter
def attachment_decidable(attachment: SharedAttachment | None, user: object) -> bool:
    """Whether `user` may accept or reject the attachment now (the rule the service enforces)."""
    return attachment is not None and attachments.can_decide(user=user, attachment=attachment)


@register.simple_tag
def peer_text(peer_type: str, peer_id: str, region: str) -> str:
    """A peer on one line of a plain-text mail: its kind, cached name and ID, and its region."""
    kind = drawn.peer_kind(peer_type)
    values = {"type": one_line(kind), "id": one_line(peer_id), "region": one_line(region)}
    name = peer_name(peer_type=peer_type, peer_id=peer_id) if peer_id else ""
    if name:
        return _("%(type)s %(name)s (%(id)s) in %(region)s") % {**values, "name": one_line(name)}
    return _("%(type)s %(id)s in %(region)s") % values


@register.filter
def notice_text(notice: Notice) -> str:
    """A notice in the reader's language (services.notifications.shown_notice)."""
    return shown_notice(notice)


@register.filter
def roles_by_account(user: Any) -> list[tuple[str, str]]:
    """Where `user` holds a role for one account only: (account, its roles in the reader's language)."""
    separator = pgettext("list separator", ", ")
    return [
        (name, separator.join(str(AccountRole.Role(role).label) for role in roles))
        for name, roles in permissions.roles_by_account(user)
    ]


@register.filter
def engineer_in(user: Any, obj: object) -> bool:
    """Whether `user` is an engineer in the account of `obj` (a gateway, link or drift): the rule the
    services enforce on what is asked for or done there (lifecycle.check_engineer_in)."""
    return user.has_perm(permissions.SUBMIT, obj)


@register.filter
def drift_adoptable(drift: Drift) -> bool:
    """Whether the drift's link may be adopted (the rule the adopt action enforces)."""
    return drift_actions.can_adopt(drift)


@register.filter
def drift_revert(drift: Drift) -> "drift_actions.RevertPlan | None":
    """The change request that would undo the drift, or None (the rule the revert action enforces)."""
    return drift_actions.revert_plan(drift)


@register.simple_tag(takes_context=True)
def live_poll(context: template.Context) -> dict[str, object]:
    """What base.html's poll tells `/live/`: which page's live parts this page shows, and their version,
    from the values the page itself showed (no query of its own, but whether a sync is queued on the pages
    with the Refresh button)."""

    def shown(name: str) -> object:
        value = context.get(name)
        return value() if callable(value) else value

    match = context.request.resolver_match  # None on a 404 page for an address no URL pattern matches
    view = match.view_name if match else ""
    has_refresh = view in ("peerlinks:home", "peerlinks:gateway_list")
    facts = LiveFacts(
        approvals_waiting=shown("approvals_waiting") or 0,
        notices_unread=shown("notices_unread") or 0,
        outage=shown("cloud_outage"),
        dashboard=context.get("dash") if view == "peerlinks:home" else None,
        gateway_groups=context.get("groups") if view == "peerlinks:gateway_list" else None,
        sync_queued=bool(shown("sync_queued")) if has_refresh else None,
    )
    fast = getattr(context.request, "live_follows", False)  # a pending badge or a panel above named itself
    return live_state(page=facts.page, version=facts.version, fast=fast)


def live_state(*, page: str, version: str, fast: bool) -> dict[str, object]:
    """The poll's address and interval: every LIVE_FAST_POLL_INTERVAL while the page shows a pending link's
    badge (`fast`), else every POLL_INTERVAL (the navigation's counts and the banner only)."""
    query = urlencode({key: value for key, value in (("page", page), ("fast", "1" if fast else "")) if value})
    interval = settings.LIVE_FAST_POLL_INTERVAL if fast else settings.POLL_INTERVAL
    return {
        "page": page,
        "version": version,
        "fast": fast,
        "query": f"?{query}" if query else "",
        "poll_ms": round(interval * 1000),
    }


@register.simple_tag(takes_context=True)
def live_follow_panel(context: template.Context, name: str, pk: int, version: str) -> SafeString:
    """What a panel gives the page's one poll while what it shows may still change (a batch's rows, a change
    request's state): which one it is (`name`: `batch` or `change`, and its id) and the version of it the page
    shows (a hidden input, as a badge's). The page then polls fast; `/live/` sends the panel again, out of
    band, once its version changed."""
    context.request.live_follows = True
    return format_html(
        '<input type="hidden" class="live-panel" name="{}" value="{}:{}" form="live-poll">', name, pk, version
    )


@register.filter
def stored_text(value: object) -> str:
    """A sentence stored in English (why a change failed or waits) in the reader's language."""
    return translated(str(value or ""))

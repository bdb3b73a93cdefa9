"""Template filters of the site."""

from datetime import timedelta

from django import template

from peerlinks.presentation.charts import format_duration
from peerlinks.presentation.text import one_line
from peerlinks.services import dispatch
from peerlinks.services.dashboard import LiveFacts

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


@register.simple_tag(takes_context=True)
def live_poll(context: template.Context) -> dict[str, object]:
    """What base.html's poll tells `/live/`: which page's live parts this page shows, and their version,
    from the values the page itself showed (no query of its own, but whether a sync is queued on the pages
    with the Refresh button)."""

    def shown(name: str) -> object:
        value = context.get(name)
        return value() if callable(value) else value

    view = context.request.resolver_match.view_name
    has_refresh = view in ("peerlinks:home", "peerlinks:gateway_list")
    facts = LiveFacts(
        approvals_waiting=shown("approvals_waiting") or 0,
        notices_unread=shown("notices_unread") or 0,
        outage=shown("cloud_outage"),
        dashboard=context.get("dash") if view == "peerlinks:home" else None,
        gateway_groups=context.get("groups") if view == "peerlinks:gateway_list" else None,
        sync_queued=dispatch.is_queued("sync_all_regions") if has_refresh else None,
    )
    return {"page": facts.page, "version": facts.version}

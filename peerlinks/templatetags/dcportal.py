"""Template filters of the site."""

from datetime import timedelta

from django import template

from peerlinks.models import Drift
from peerlinks.presentation.charts import format_duration
from peerlinks.presentation.text import one_line
from peerlinks.services import drift as drift_actions

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
def drift_adoptable(drift: Drift) -> bool:
    """Whether the drift's link may be adopted (the rule the adopt action enforces)."""
    return drift_actions.can_adopt(drift)


@register.filter
def drift_revert(drift: Drift) -> "drift_actions.RevertPlan | None":
    """The change request that would undo the drift, or None (the rule the revert action enforces)."""
    return drift_actions.revert_plan(drift)

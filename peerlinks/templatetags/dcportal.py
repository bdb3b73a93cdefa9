"""Template filters of the site."""

from django import template

from peerlinks.presentation.charts import format_duration

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: '55 s', '4.5 min', '2.1 h' ('–' for none)."""
    return format_duration(seconds)

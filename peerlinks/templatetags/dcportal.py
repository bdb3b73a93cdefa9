"""Template filters of the site."""

from datetime import datetime, timedelta

from django import template

from peerlinks.presentation.charts import format_duration
from peerlinks.presentation.text import one_line
from peerlinks.presentation.times import format_time

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

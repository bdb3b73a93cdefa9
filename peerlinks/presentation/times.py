"""Times as people read them: in the viewer's time zone (the active one), always with the zone named.

Every page, export and mail shows a time through `format_time` (templates: the `when` filter), so a time
never appears without its zone. Which zone is active is `peerlinks.middleware.TimeZoneMiddleware`'s choice.
"""

import functools
import zoneinfo
from datetime import datetime, tzinfo

from django.utils import timezone

# The zones the time-zone menu offers (plus the browser's own, when it is another); any IANA name is accepted.
COMMON_ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Asia/Riyadh",
    "Europe/Moscow",
    "Europe/Istanbul",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/London",
    "Africa/Johannesburg",
    "Africa/Cairo",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Pacific/Auckland",
]


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def zone_from_name(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone with this IANA name, or None for anything else (the name comes from a cookie or a form)."""
    if not name or name not in _known_zones():
        return None
    return zoneinfo.ZoneInfo(name)


def zone_name(zone: tzinfo | None = None) -> str:
    """The IANA name of `zone` (the active zone by default): 'Asia/Shanghai', 'UTC'."""
    zone = zone or timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)


def utc_offset(value: datetime) -> str:
    """'UTC' or 'UTC+08:00', 'UTC-05:30': the offset of an aware local time, unambiguous in any language."""
    offset = value.utcoffset()
    if not offset:
        return "UTC"
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def format_time(
    value: datetime | None, *, seconds: bool = False, full: bool = False, zone: tzinfo | None = None
) -> str:
    """'2026-12-02 15:04 UTC+08:00' in the active zone (or `zone`); `full` adds seconds and the zone's
    name: '2026-12-02 15:04:05 UTC+08:00 (Asia/Shanghai)'. '' for no time."""
    if value is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, zoneinfo.ZoneInfo("UTC"))
    zone = zone or timezone.get_current_timezone()
    local = value.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds or full else "%Y-%m-%d %H:%M")
    offset = utc_offset(local)
    name = zone_name(zone)
    if full and name != offset:
        return f"{text} {offset} ({name})"
    return f"{text} {offset}"


def iso_time(value: datetime | None) -> str:
    """ISO 8601 in the active zone, with its offset: for machines (the CSV export)."""
    if value is None:
        return ""
    return timezone.localtime(value).isoformat()

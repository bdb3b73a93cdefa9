"""A signed-in person's language and time zone: saved when they choose them, applied on any browser they
sign in from, and used for the mail they are sent.

Anonymous visitors have none saved: their language and zone come from their browser and cookies only.
"""

import contextlib
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import tzinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone, translation

from peerlinks.models import Preferences
from peerlinks.presentation.times import zone_from_name

FIELDS = ("language", "time_zone", "browser_time_zone")


# The user's side of Preferences.user: where a user read with their preferences holds them.
_SAVED_WITH_USER = Preferences._meta.get_field("user").remote_field


def preferences_of(user: AbstractBaseUser) -> Preferences | None:
    """The user's saved preferences, or None when they have saved none (read with the user when the session
    loaded them: permissions.user_with_preferences)."""
    if _SAVED_WITH_USER.is_cached(user):
        return _SAVED_WITH_USER.get_cached_value(user)
    return Preferences.objects.filter(user=user).first()


def save_preferences(*, user: AbstractBaseUser, **values: str) -> Preferences:
    """Save some of the user's preferences (`language`, `time_zone`, `browser_time_zone`), keeping the rest.
    An unknown language or zone is refused with a ValidationError."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a preference: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        preferences, _ = Preferences.objects.select_for_update().get_or_create(user=user)
        changed = [field for field, value in values.items() if getattr(preferences, field) != value]
        for field in changed:
            setattr(preferences, field, values[field])
        if changed:
            preferences.full_clean(exclude=["user"])
            preferences.save(update_fields=changed)
    _SAVED_WITH_USER.set_cached_value(user, preferences)  # the rest of this request reads what was saved
    return preferences


def chosen_language(preferences: Preferences | None) -> str:
    """The language the person chose, if it is still offered; "" when they chose none."""
    language = preferences.language if preferences is not None else ""
    return language if language in dict(settings.LANGUAGES) else ""


def chosen_zone(preferences: Preferences | None) -> zoneinfo.ZoneInfo | None:
    """The zone the person chose in the time-zone menu; None when they follow their browser."""
    return zone_from_name(preferences.time_zone) if preferences is not None else None


def mail_language_and_zone(preferences: Preferences | None) -> tuple[str, tzinfo]:
    """What a person's mail is written in: their chosen language, else settings.LANGUAGE_CODE; their
    chosen zone, else their browser's last known zone, else settings.TIME_ZONE."""
    zone = chosen_zone(preferences)
    if zone is None and preferences is not None:
        zone = zone_from_name(preferences.browser_time_zone)
    return (
        chosen_language(preferences) or settings.LANGUAGE_CODE,
        zone or zoneinfo.ZoneInfo(settings.TIME_ZONE),
    )


def preferences_by_user(users: Iterable[AbstractBaseUser]) -> dict[int, Preferences]:
    """The saved preferences of these users, by user id (in one query)."""
    return Preferences.objects.in_bulk([user.pk for user in users])


@contextlib.contextmanager
def speaking_to(preferences: Preferences | None) -> Iterator[None]:
    """Within the block, text is translated into the person's language and times are in their zone."""
    language, zone = mail_language_and_zone(preferences)
    with translation.override(language), timezone.override(zone):
        yield

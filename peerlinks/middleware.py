"""Request id: taken from the proxy's X-Request-ID (when it looks sane) or made up, logged and echoed back.
Logged-in pages: never cached. A database outage: a plain 503 page instead of a 500. Times: in the zone
the viewer chose, else their browser's. A signed-in person's saved language and zone: on any browser.
Password login switched off: sessions opened with a password end."""

import contextlib
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control

from dcportal.logging import request_id
from peerlinks.authentication import IDP_BACKEND
from peerlinks.presentation.times import zone_from_name
from peerlinks.services.preferences import chosen_language, chosen_zone, preferences_of, save_preferences
from peerlinks.services.processes import DATABASE_ERRORS, drop_database_connections

logger = logging.getLogger(__name__)

_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# The zone a person chose in the time-zone menu, and the one their browser reports (static/js/timezone.js).
TIME_ZONE_COOKIE = "dcportal_tz"
DETECTED_TIME_ZONE_COOKIE = "dcportal_tz_detected"


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SANE.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class DatabaseUnavailableMiddleware:
    """A view that fails because the database does not answer gets "Database unavailable" (503, with
    Retry-After), drawn from a template that needs nothing but itself: no user, no context processors."""

    RETRY_AFTER_SECONDS = 10

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.warning("Database unavailable (%s) for %s", exception.__class__.__name__, request.path)
        # The next request opens a fresh connection, whatever CONN_MAX_AGE and the server's own clean-up.
        drop_database_connections()
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response


class PrivatePagesMiddleware:
    """What a logged-in person sees (pages, fragments, exports, API answers to a token) stays out of shared
    and browser caches: `Cache-Control: private, no-store`. Static files never get here (whitenoise answers
    them first).

    Decided by the session cookie or the Authorization header, not `request.user`: asking who the user is
    reads the database, which
    may be what just failed (the 503 page passes through here too).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.SESSION_COOKIE_NAME in request.COOKIES or "Authorization" in request.headers:
            patch_cache_control(response, private=True, no_store=True)
        return response


class PasswordSessionsEndMiddleware:
    """While LOCAL_LOGIN is off, a session opened with a password (before it was switched off) ends at its
    next request, which then goes on as nobody's (the login page, or the IdP's, is next). Sessions opened
    through the identity provider go on. After AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.LOCAL_LOGIN and self._opened_by_password(request):
            logger.info("a session opened with a password ended: password login is switched off")
            logout(request)
        return self.get_response(request)

    @staticmethod
    def _opened_by_password(request: HttpRequest) -> bool:
        session = request.session
        return bool(session.get(SESSION_KEY)) and session.get(BACKEND_SESSION_KEY) != IDP_BACKEND


class TimeZoneMiddleware:
    """Activates the viewer's time zone for the request: the one chosen (cookie set by the time-zone menu),
    else the browser's own (cookie set by static/js/timezone.js), else settings.TIME_ZONE. Read from cookies,
    not the database: the login page follows it too, and it costs no query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = zone_from_name(request.COOKIES.get(TIME_ZONE_COOKIE))
        detected = zone_from_name(request.COOKIES.get(DETECTED_TIME_ZONE_COOKIE))
        request.time_zone_chosen = chosen
        request.time_zone_detected = detected
        zone = chosen or detected
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class UserPreferencesMiddleware:
    """For a signed-in person, the language and zone they saved (services.preferences) win over the
    browser's language, the switcher's cookie and the zone cookies, on whatever browser they use; the zone
    their browser reports is saved for their mail, and so is a language picked before signing in.
    Placed after AuthenticationMiddleware, inside LocaleMiddleware and TimeZoneMiddleware (which chose
    from the browser alone). Anonymous visitors (the login page) keep the browser's choice, and nothing
    is saved for them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            # On an outage the view meets it too, and answers "Database unavailable".
            with contextlib.suppress(*DATABASE_ERRORS):
                self._apply(request)
        return self.get_response(request)

    def _apply(self, request: HttpRequest) -> None:
        if not request.user.is_authenticated:
            return
        preferences = preferences_of(request.user)
        unsaved = {}
        detected = request.time_zone_detected
        if detected and (preferences is None or preferences.browser_time_zone != detected.key):
            unsaved["browser_time_zone"] = detected.key
        # A language picked in the switcher before signing in (the login page) is kept as their choice.
        picked = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if not chosen_language(preferences) and picked in dict(settings.LANGUAGES):
            unsaved["language"] = picked
        if unsaved:
            preferences = save_preferences(user=request.user, **unsaved)
        language = chosen_language(preferences)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        zone = chosen_zone(preferences)
        if zone:
            request.time_zone_chosen = zone
            timezone.activate(zone)

"""The language and time-zone menus: a cookie for this browser and, for a signed-in person, a saved
preference that follows them to other browsers and into their mail."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_POST

from peerlinks.forms import TimeZoneForm
from peerlinks.middleware import TIME_ZONE_COOKIE
from peerlinks.services.preferences import save_preferences


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's `set_language` (the language cookie, back to the page); the language it accepted is also
    saved for a signed-in person."""
    response = i18n.set_language(request)
    cookie = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
    # Django accepts any language it has a catalog for; dcportal offers only settings.LANGUAGES.
    offered = cookie is not None and cookie.value in dict(settings.LANGUAGES)
    if offered and request.user.is_authenticated:
        save_preferences(user=request.user, language=cookie.value)
    return response


@require_POST
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Remember the chosen zone in a cookie (none: follow the browser), and for a signed-in person in their
    preferences too, and go back to the page it was chosen on. Open to everyone: the login page offers it."""
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Unknown time zone."))
    next_url = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    zone = form.cleaned_data["timezone"]
    if request.user.is_authenticated:
        save_preferences(user=request.user, time_zone=zone)
    if zone:
        response.set_cookie(
            TIME_ZONE_COOKIE,
            zone,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(TIME_ZONE_COOKIE, samesite="Lax")
    return response

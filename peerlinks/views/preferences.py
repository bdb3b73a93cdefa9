"""Every `/preferences/…` URL: the time zone times are shown in (the language is Django's `set_language`)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from peerlinks.forms import TimeZoneForm
from peerlinks.middleware import TIME_ZONE_COOKIE


@require_POST
def set_time_zone(request: HttpRequest) -> HttpResponse:
    """Remember the chosen zone in a cookie (none: follow the browser) and go back to the page it was chosen
    on. Open to everyone: the login page offers it too."""
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Unknown time zone."))
    next_url = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    zone = form.cleaned_data["timezone"]
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

"""Who is calling the API: a personal token (`Authorization: Bearer <token>`) or the browser's session
(with its CSRF token on writes). Either way the request acts as that person, with the roles they hold now.

A token is refused on writes unless it is read-write, and past API_RATE_LIMIT requests a minute (429).
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from peerlinks.api.problems import ApiProblem
from peerlinks.services import tokens

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    """A personal API token: it acts as its owner, never with more than the owner holds now."""

    def __call__(self, request: HttpRequest) -> Any:
        # Ninja's own parsing logs a header of another scheme whole (with DEBUG on): a token must never be.
        scheme, _space, value = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme:
            return None
        return self.authenticate(request, value)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = tokens.find_token(token.strip())
        if found is None:
            # A bearer token was sent and is not (or no longer) valid: say so, whatever the session says.
            raise AuthenticationError()
        if request.method not in SAFE_METHODS and not found.can_write:
            raise ApiProblem(
                403, _("This token is read-only: it cannot change anything."), kind="read-only-token"
            )
        wait = tokens.count_request(found)
        if wait is not None:
            raise ApiProblem(
                429,
                _("Too many requests with this token: at most {count} a minute.").format(
                    count=settings.API_RATE_LIMIT
                ),
                kind="rate-limited",
                headers={"Retry-After": str(int(wait + 0.999))},
            )
        request.user = found.owner
        request.api_token = found
        return found.owner


class SessionAuth(APIKeyCookie):
    """The browser's login session (the interactive docs use it); writes need the CSRF token too."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise ApiProblem(403, _("CSRF check failed: send the X-CSRFToken header."), kind="csrf-failed")
        return request.user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return request.user if request.user.is_authenticated else None


AUTH = [TokenAuth(), SessionAuth()]

"""How people log in: with a password (the break-glass admin, while LOCAL_LOGIN is on) or through an
OpenID Connect identity provider (mozilla-django-oidc).

For the IdP the library runs the authorization code flow with PKCE and checks the ID token; this module
says who the person is in dcportal (`OIDC_USERNAME_CLAIM`), hands the claims to `services.sso` for their
roles, and builds the IdP's logout address so logging out of dcportal ends the IdP session too.
"""

import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from peerlinks.permissions import user_with_preferences
from peerlinks.services.sso import apply_sso_login

logger = logging.getLogger(__name__)


def sso_enabled() -> bool:
    """Whether an identity provider is set up (its client ID and authorization endpoint)."""
    return bool(settings.OIDC_RP_CLIENT_ID and settings.OIDC_OP_AUTHORIZATION_ENDPOINT)


class LocalLoginSwitch:
    """Stops every password check while LOCAL_LOGIN is off (the login page's and the admin's alike), before
    Django's password backend, which stays listed: sessions and permissions go through it. It has no
    `get_user`, so Django never picks it to hold a session."""

    def authenticate(self, request: object, password: str | None = None, **kwargs: object) -> None:
        if password is not None and not settings.LOCAL_LOGIN:
            raise PermissionDenied("Password login is switched off.")
        return None


class IdentityProviderBackend(OIDCAuthenticationBackend):
    """Finds or creates the person named by `OIDC_USERNAME_CLAIM` and applies their IdP groups."""

    def authenticate(self, request: HttpRequest | None, **kwargs: object) -> object:
        if not sso_enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            # The IdP down, slow or refusing the code: the login page says single sign-on did not complete.
            status = getattr(exc.response, "status_code", None)
            logger.warning(
                "single sign-on failed talking to the identity provider: %s (HTTP %s)",
                type(exc).__name__,
                status,
            )
            return None

    def get_user(self, user_id: object) -> object:
        return user_with_preferences(user_id)

    def username_from_claims(self, claims: dict) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or "")[:150]

    def verify_claims(self, claims: dict) -> bool:
        return bool(self.username_from_claims(claims))

    def filter_users_by_claims(self, claims: dict) -> QuerySet:
        return get_user_model().objects.filter(username=self.username_from_claims(claims))

    def create_user(self, claims: dict) -> object:
        user = get_user_model()(username=self.username_from_claims(claims))
        return apply_sso_login(user=user, claims=claims)

    def update_user(self, user: object, claims: dict) -> object:
        # A local account (one with a password, such as the break-glass admin) is never taken over by an IdP
        # identity of the same name; the login fails. An admin moves a person to single sign-on by turning
        # off their password in the admin.
        if user.has_usable_password():
            raise SuspiciousOperation(f"{user.get_username()!r} has a local password: no login by the IdP")
        return apply_sso_login(user=user, claims=claims)


# How Django names the IdP's backend in a session it opened (django.contrib.auth.BACKEND_SESSION_KEY).
IDP_BACKEND = f"{IdentityProviderBackend.__module__}.{IdentityProviderBackend.__qualname__}"


def end_session_url(request: HttpRequest) -> str:
    """Where logging out sends the browser: the IdP's end-session endpoint (RP-initiated logout) when the
    person logged in through it and it has one, back to the login page after; the login page otherwise."""
    after = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not (sso_enabled() and settings.OIDC_OP_LOGOUT_ENDPOINT and id_token):
        return after
    query = {
        "id_token_hint": id_token,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
    }
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{urlencode(query)}"


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """Sends the browser to the IdP (with the PKCE challenge); not found when no IdP is set up."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not set up.")
        return super().get(request)

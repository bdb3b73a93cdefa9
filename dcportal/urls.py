from django.contrib import admin
from django.urls import include, path, re_path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCLogoutView

from peerlinks.api import api
from peerlinks.api.views import not_found
from peerlinks.authentication import AuthenticationRequestView
from peerlinks.views import health, login, preferences

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/work", health.readyz_work, name="readyz_work"),
    path("login/", login.LoginView.as_view(), name="login"),
    # Out of dcportal, and out of the identity provider too when the person came through it.
    path("logout/", OIDCLogoutView.as_view(), name="logout"),
    # The identity provider's round trip: /oidc/authenticate/ sends the browser there, /oidc/callback/ back.
    path("oidc/authenticate/", AuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", OIDCAuthenticationCallbackView.as_view(), name="oidc_authentication_callback"),
    # Django's set_language, saving a signed-in person's choice as well.
    path("i18n/setlang/", preferences.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    # The HTTP API (peerlinks/api); any other path under it answers a problem-details 404, not a page.
    path("api/v1/", api.urls),
    re_path(r"^api/", not_found),
    path("", include("peerlinks.urls")),
]

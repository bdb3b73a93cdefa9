"""Logging in and out: single sign-on first when an identity provider is set up, a password for the
break-glass admin while LOCAL_LOGIN is on; logging out ends the IdP session too (peerlinks.authentication)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from peerlinks.authentication import sso_enabled


class LoginView(auth_views.LoginView):
    """Django's login page, offering the IdP's button first; with LOCAL_LOGIN off a password is refused
    (403) and the form is not shown."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not settings.LOCAL_LOGIN:
            refused = _("Password login is switched off: log in with single sign-on.")
            context = self.get_context_data(refused=refused)
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def get_form(self, form_class: type | None = None) -> object:
        form = super().get_form(form_class)
        if sso_enabled():  # the IdP's button comes first, so the cursor does not start in the password form
            form.fields["username"].widget.attrs.pop("autofocus", None)
        return form

    def get_context_data(self, **kwargs: object) -> dict:
        return super().get_context_data(
            sso=sso_enabled(),
            sso_name=settings.OIDC_PROVIDER_NAME,
            sso_failed="sso" in self.request.GET,
            local_login=settings.LOCAL_LOGIN,
            **kwargs,
        )

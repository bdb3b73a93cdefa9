"""What Django's error pages (DEBUG on) and error reports may show: never a credential."""

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# A URL carrying a password, such as DATABASE_URL=postgres://user:password@host/db.
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")
# A posted credential shorter than this is not looked for in other variables (it would hide everything).
_SHORTEST_SECRET = 6


class CredentialsHiddenFilter(SafeExceptionReporterFilter):
    """Hides, in settings and in request.META (where runserver puts the whole environment), what Django's
    filter hides (names with KEY, SECRET, PASS, TOKEN…) and also the cloud's access key pair (CLOUD_SDK_AK,
    CLOUD_SDK_SK), anything named like a credential or a database URL, the Authorization header (an API
    token), and any URL with a password.

    With DEBUG on too (Django's own filter only acts with it off): posted fields named like a credential
    (an account's access_key, secret_key, iam_password; a password), traceback variables named like one or
    holding a posted one, and every variable of code marked with `sensitive_variables` (decryption)."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern
        + r"|CREDENTIAL|PRIVATE|DSN|DATABASE_URL|AUTHORIZATION|(?:^|_)(?:AK|SK)(?:_|$)",
        flags=re.IGNORECASE,
    )

    def is_active(self, request: Any) -> bool:
        return True  # the technical page of DEBUG is read by whoever reproduces the error, too

    def cleanse_setting(self, key: object, value: object) -> object:
        if isinstance(value, str) and _URL_WITH_PASSWORD.search(str(value)):  # str(): lazy strings too
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

    def get_post_parameters(self, request: Any) -> Any:
        params = super().get_post_parameters(request)
        hidden = [key for key in params if self.hidden_settings.search(key)]
        if hidden:
            params = params.copy()
            for key in hidden:
                params[key] = self.cleansed_substitute
        return params

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        posted = self._posted_secrets(request)
        variables = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if value != self.cleansed_substitute and (
                self.hidden_settings.search(name) or self._holds(value, posted)
            ):
                value = self.cleansed_substitute
            variables.append((name, value))
        return variables

    def _posted_secrets(self, request: Any) -> list[str]:
        post = getattr(request, "POST", None) or {}
        return [
            value
            for key in post
            if self.hidden_settings.search(key)
            for value in post.getlist(key)
            if len(value) >= _SHORTEST_SECRET
        ]

    @staticmethod
    def _holds(value: object, secrets: list[str]) -> bool:
        if not secrets:
            return False
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:  # a broken repr: the page would not show it either
            return False
        return any(secret in text for secret in secrets)

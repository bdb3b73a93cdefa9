"""What Django's error pages (DEBUG on) and error reports may show: never a credential."""

import re

from django.views.debug import SafeExceptionReporterFilter

# A URL carrying a password, such as DATABASE_URL=postgres://user:password@host/db.
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")


class CredentialsHiddenFilter(SafeExceptionReporterFilter):
    """Hides, in settings and in request.META (where runserver puts the whole environment), what Django's
    filter hides (names with KEY, SECRET, PASS, TOKEN…) and also the cloud's access key pair (CLOUD_SDK_AK,
    CLOUD_SDK_SK), anything named like a credential or a database URL, the Authorization header (an API
    token), and any URL with a password."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern
        + r"|CREDENTIAL|PRIVATE|DSN|DATABASE_URL|AUTHORIZATION|(?:^|_)(?:AK|SK)(?:_|$)",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: object, value: object) -> object:
        if isinstance(value, str) and _URL_WITH_PASSWORD.search(str(value)):  # str(): lazy strings too
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

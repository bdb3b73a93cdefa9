from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from peerlinks.views import health, preferences

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/work", health.readyz_work, name="readyz_work"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's set_language, saving a signed-in person's choice as well.
    path("i18n/setlang/", preferences.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("", include("peerlinks.urls")),
]

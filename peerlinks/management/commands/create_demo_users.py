"""Create the documented demo logins (DEBUG only), so a first `make run` can be explored at once."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_PASSWORD = "dcportal-demo"
DEMO_USERS = {
    "engineer": {"is_staff": False, "is_superuser": False},
    "admin": {"is_staff": True, "is_superuser": True},
}


class Command(BaseCommand):
    help = "Create the demo users listed in README.md (only when DEBUG is on)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo users created.")
            return
        User = get_user_model()
        for username, flags in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username, defaults=flags)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"Created demo user {username!r}.")

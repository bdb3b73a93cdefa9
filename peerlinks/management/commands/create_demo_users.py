"""Create the documented demo logins, one per role (DEBUG only), so a first `make run` can be explored."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from peerlinks.permissions import ensure_role

DEMO_PASSWORD = "dcportal-demo"
# Each demo user has an address, so `make run` shows (on the console) the mail dcportal sends them.
DEMO_MAIL_DOMAIN = "dcportal.example"
# username → (role group, flags)
DEMO_USERS = {
    "viewer": ("Viewer", {}),
    "engineer": ("Engineer", {}),
    "lead": ("Approver", {}),
    "admin": ("Admin", {"is_staff": True, "is_superuser": True}),
}


class Command(BaseCommand):
    help = "Create the demo users listed in README.md (only when DEBUG is on)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo users created.")
            return
        User = get_user_model()
        for username, (role, flags) in DEMO_USERS.items():
            email = f"{username}@{DEMO_MAIL_DOMAIN}"
            user, created = User.objects.get_or_create(username=username, defaults={**flags, "email": email})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"Created demo user {username!r} ({role}).")
            elif not user.email:  # made by an earlier version, without an address
                user.email = email
                user.save(update_fields=["email"])
            user.groups.add(ensure_role(role))

"""Create the documented demo logins, one per role (DEBUG only), so a first `make run` can be explored; with
--simulator-account also the simulator's second account, team-b, and a login per role held for it alone."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from peerlinks.models import AccountRole, CloudAccount
from peerlinks.permissions import ensure_role
from peerlinks.services.accounts import save_account

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
# The simulator's second account, with the key pair it publishes for it (dcsim.TEAM_B_AK/TEAM_B_SK, as the
# settings' defaults are its first account's): stored encrypted like any account an admin adds.
DEMO_ACCOUNT = {
    "name": "team-b",
    "description": "Team B: the simulator's second account",
    "access_key": "DCSIMTEAMBAK00000000",
    "secret_key": "DcsimTeamBSecretKeyNotForProduction0000",
    "regions": ["cn-north-4"],
}
# username → the role they hold for the demo account only
DEMO_ACCOUNT_USERS = {"engineer-b": AccountRole.Role.ENGINEER, "approver-b": AccountRole.Role.APPROVER}


class Command(BaseCommand):
    help = "Create the demo users listed in README.md (only when DEBUG is on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--simulator-account",
            action="store_true",
            help="also add the simulator's second account (team-b) and its demo users (make run does)",
        )

    def handle(self, *args: object, simulator_account: bool = False, **options: object) -> None:
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo users created.")
            return
        for username, (role, flags) in DEMO_USERS.items():
            self._user(username, role, flags).groups.add(ensure_role(role))
        if simulator_account:
            account = self._account()
            for username, role in DEMO_ACCOUNT_USERS.items():
                user = self._user(username, f"{role} for {account.name}", {})
                AccountRole.objects.get_or_create(user=user, account=account, role=role)

    def _user(self, username: str, role: str, flags: dict):
        email = f"{username}@{DEMO_MAIL_DOMAIN}"
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={**flags, "email": email}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            self.stdout.write(f"Created demo user {username!r} ({role}).")
        elif not user.email:  # made by an earlier version, without an address
            user.email = email
            user.save(update_fields=["email"])
        return user

    def _account(self) -> CloudAccount:
        """The demo account, added once: an admin's later edits to it are kept."""
        account = CloudAccount.objects.filter(name=DEMO_ACCOUNT["name"]).first()
        if account is None:
            account = save_account(CloudAccount(**DEMO_ACCOUNT), user=None)
            self.stdout.write(
                f"Added the demo cloud account {account.name!r} (the simulator's second account)."
            )
        return account

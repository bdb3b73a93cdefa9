from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PeerlinksConfig(AppConfig):
    name = "peerlinks"
    verbose_name = "Peer links"

    def ready(self) -> None:
        from peerlinks import checks  # noqa: F401  (registers the system checks)
        from peerlinks.permissions import ensure_roles

        # As Django makes permissions: after every migrate (and flush), so a new database has the roles.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="peerlinks.ensure_roles")

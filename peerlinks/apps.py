import logging

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PeerlinksConfig(AppConfig):
    name = "peerlinks"
    verbose_name = _("Peer links")

    def ready(self) -> None:
        from peerlinks import checks, data_version
        from peerlinks.permissions import ensure_roles

        # As Django makes permissions: after every migrate (and flush), so a new database has the roles.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="peerlinks.ensure_roles")
        # Every database connection moves the drawn data's version when it writes to it.
        connection_created.connect(data_version.install, dispatch_uid="peerlinks.data_version")
        # Said at every start (gunicorn and the workers run no system checks), not only by `manage.py check`.
        for warning in checks.check_debug_against_the_cloud():
            logging.getLogger("peerlinks").warning("%s %s (%s)", warning.msg, warning.hint, warning.id)

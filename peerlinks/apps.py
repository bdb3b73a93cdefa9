from django.apps import AppConfig


class PeerlinksConfig(AppConfig):
    name = "peerlinks"
    verbose_name = "Peer links"

    def ready(self) -> None:
        from peerlinks import checks  # noqa: F401  (registers the system checks)

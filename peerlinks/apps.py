from django.apps import AppConfig


class PeerlinksConfig(AppConfig):
    name = "peerlinks"
    verbose_name = "Peer links"

"""System checks for settings that are valid one by one but unsafe together."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_execution_lease(**kwargs: object) -> list[Warning]:
    """A change resumed while its first create may still be in flight could not find that link yet."""
    in_flight = settings.CLOUD_CONNECT_TIMEOUT + settings.CLOUD_READ_TIMEOUT
    if in_flight < settings.CHANGE_EXECUTION_LEASE:
        return []
    return [
        Warning(
            f"CHANGE_EXECUTION_LEASE ({settings.CHANGE_EXECUTION_LEASE:g} s) is not longer than a cloud call "
            f"can take (CLOUD_CONNECT_TIMEOUT + CLOUD_READ_TIMEOUT = {in_flight:g} s).",
            hint="A change resumed after its worker died could then send a second create. Raise the lease.",
            id="peerlinks.W001",
        )
    ]

"""The address a request came from, as the trusted proxies in front of dcportal saw it."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR with no trusted proxy; behind TRUSTED_PROXY_COUNT proxies, the X-Forwarded-For entry the
    outermost one appended (counted from the right: every entry left of it is whatever the client sent)."""
    remote_addr = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote_addr
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < count:
        return remote_addr  # not forwarded by every proxy: a request straight to this host
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote_addr

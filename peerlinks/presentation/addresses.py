"""Addresses of pages, for tables and maps that name hundreds of them: each URL pattern reversed once (per
script prefix and URLconf) rather than once per row, which cost the topology map a fifth of its time.
"""

import functools
import re
from collections.abc import Callable
from urllib.parse import quote

from django.urls import get_script_prefix, get_urlconf, reverse
from django.urls.converters import UUIDConverter

_MARKER = "00000000-0000-0000-0000-000000000000"


def address(name: str) -> str:
    """The address of the page `name` (a URL pattern without arguments), as reverse() gives it."""
    return _reversed(name, get_script_prefix(), get_urlconf())[0]


def object_address(name: str) -> Callable[[str], str]:
    """The address of `name`'s page for an object's cloud ID (a UUID), as reverse() gives it; "" for an ID
    that is not a UUID, which has no page of its own (the URL pattern's converter would refuse it)."""
    head, tail = _reversed(name, get_script_prefix(), get_urlconf(), _MARKER)
    return lambda cloud_id: f"{head}{quote(cloud_id, safe='')}{tail}" if _UUID.fullmatch(cloud_id) else ""


_UUID = re.compile(UUIDConverter.regex)


@functools.lru_cache(maxsize=256)
def _reversed(name: str, prefix: str, urlconf: object, *args: str) -> tuple[str, ...]:
    return tuple(reverse(name, args=args).split(_MARKER)) if args else (reverse(name),)

"""Checks on arguments before they are sent, so a bad input is a typed error and not a wasted call."""

from __future__ import annotations

import re
from collections.abc import Sequence

from peerlinks.cloud.errors import InvalidRequest

UUID_RE = re.compile(r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}")
PROJECT_ID_RE = re.compile(r"[a-fA-F0-9]{32}")
PEER_PROJECT_ID_RE = re.compile(r"[a-z0-9]{32}")
# Region IDs end up in host names: one DNS label of words joined by single hyphens (cn-north-4).
REGION_RE = re.compile(r"(?=.{1,36}$)[a-z0-9]+(?:-[a-z0-9]+)*")
NAME_RE = re.compile(r"[\u4e00-\u9fa5A-Za-z0-9_.\-]{1,64}")
DESCRIPTION_MAX = 128
MAX_FILTER_VALUES = 5


def _fail(operation: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, error_code="InvalidRequest", operation=operation)


def check_uuid(operation: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise _fail(operation, f"{field} must be a UUID, got {value!r}")
    return value


def check_region(operation: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not REGION_RE.fullmatch(value):
        raise _fail(operation, f"{field} must be a region ID such as cn-north-4, got {value!r}")
    return value


def check_project_id(operation: str, field: str, value: object, *, lower_only: bool = False) -> str:
    pattern = PEER_PROJECT_ID_RE if lower_only else PROJECT_ID_RE
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(operation, f"{field} must be 32 hexadecimal characters, got {value!r}")
    return value


def check_name(operation: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise _fail(
            operation,
            f"{field} must be 1 to 64 letters, digits, CJK characters, '-', '_' or '.', got {value!r}",
        )
    return value


def check_description(operation: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(operation, f"description must be a string, got {type(value).__name__}")
    if len(value) > DESCRIPTION_MAX:
        raise _fail(operation, f"description must be at most {DESCRIPTION_MAX} characters, got {len(value)}")
    return value


def check_filter_values(operation: str, field: str, values: Sequence[str] | str | None) -> list[str] | None:
    """A multi-valued filter (id, name) of at most five values; an empty list matches nothing."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if len(values) > MAX_FILTER_VALUES:
        raise _fail(operation, f"at most {MAX_FILTER_VALUES} {field} values per call, got {len(values)}")
    return values

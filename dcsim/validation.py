"""Request checks from the API reference's constraint tables: JSON bodies, path IDs and query parameters."""

import json
import re
from urllib.parse import unquote

from dcsim.errors import bad_body, bad_parameter

UUID_RE = re.compile(r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")
PATH_PROJECT_RE = re.compile(r"^[a-fA-F0-9]{32}$")
BODY_PROJECT_RE = re.compile(r"^[a-z0-9]{32}$")
NAME_RE = re.compile(r"^[\u4e00-\u9fa5A-Za-z0-9_.\-]{1,64}$")
NO_ANGLE_BRACKETS_RE = re.compile(r"^[^<>]*$")
MAX_FILTER_VALUES = 5


def check_uuid(value: str, what: str, *, code: str = "DC.0001") -> str:
    """A path or body ID must look like a UUID (a malformed one is a 400, not a 404)."""
    if not isinstance(value, str) or len(value) > 36 or not UUID_RE.match(value):
        raise bad_parameter(f"{what} is not a valid UUID", code=code)
    return value


def check_path_project(value: str, *, code: str = "DC.0001") -> str:
    """The project ID in a path: 32 hex digits."""
    if not PATH_PROJECT_RE.match(value):
        raise bad_parameter("project_id must be 32 hexadecimal characters", code=code)
    return value


def parse_body(raw: bytes, wrapper: str) -> dict:
    """The object under ``wrapper`` in a JSON body; anything else is DC.0000."""
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        raise bad_body("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_body("body must be a JSON object")
    inner = data.get(wrapper)
    if not isinstance(inner, dict):
        raise bad_body(f"'{wrapper}' object is required")
    return inner


def string_field(
    obj: dict,
    key: str,
    *,
    where: str,
    required: bool = False,
    max_length: int | None = None,
    pattern: re.Pattern | None = None,
) -> str | None:
    """A string member of a request object, checked for type, length and pattern; ``None`` when absent."""
    value = obj.get(key)
    label = f"{where}.{key}"
    if value is None:
        if required:
            raise bad_parameter(f"{label} is required")
        return None
    if not isinstance(value, str):
        raise bad_parameter(f"{label} must be a string")
    if max_length is not None and len(value) > max_length:
        raise bad_parameter(f"{label} must be at most {max_length} characters")
    if pattern is not None and not pattern.match(value):
        raise bad_parameter(f"{label} has invalid characters or length")
    return value


def object_field(obj: dict, key: str, *, where: str) -> dict:
    """A required nested object."""
    value = obj.get(key)
    if value is None:
        raise bad_parameter(f"{where}.{key} is required")
    if not isinstance(value, dict):
        raise bad_parameter(f"{where}.{key} must be an object")
    return value


class Query:
    """Query parameters split the way the gateway reads them: repeated keys, ``%20`` never ``+``."""

    def __init__(self, raw: str, *, code: str = "DC.0001") -> None:
        self.code = code
        self._values: dict[str, list[str]] = {}
        for item in raw.split("&"):
            if not item:
                continue
            name, _, value = item.partition("=")
            self._values.setdefault(unquote(name), []).append(unquote(value))

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def many(
        self,
        name: str,
        *,
        split_commas: bool = False,
        max_items: int = MAX_FILTER_VALUES,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern | None = None,
    ) -> list[str] | None:
        """All values of a multi-valued parameter, or ``None`` when it was not sent."""
        if name not in self._values:
            return None
        values = []
        for raw in self._values[name]:
            values.extend(raw.split(",") if split_commas else [raw])
        if len(values) > max_items:
            raise bad_parameter(f"{name} accepts at most {max_items} values", code=self.code)
        for value in values:
            if choices is not None and value not in choices:
                raise bad_parameter(f"{name} must be one of {', '.join(choices)}", code=self.code)
            if pattern is not None and not pattern.match(value):
                raise bad_parameter(f"{name} value '{value}' is invalid", code=self.code)
        return values

    def one(
        self, name: str, *, max_length: int | None = None, choices: tuple[str, ...] | None = None
    ) -> str | None:
        """The first value of a parameter (the SDK sends ``sort_dir`` as a list; the first one wins)."""
        if name not in self._values:
            return None
        value = self._values[name][0]
        if max_length is not None and len(value) > max_length:
            raise bad_parameter(f"{name} must be at most {max_length} characters", code=self.code)
        if choices is not None and value not in choices:
            raise bad_parameter(f"{name} must be one of {', '.join(choices)}", code=self.code)
        return value

    def integer(self, name: str, *, low: int, high: int) -> int | None:
        """An integer parameter within [low, high]."""
        value = self.one(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise bad_parameter(f"{name} must be an integer", code=self.code) from None
        if not low <= number <= high:
            raise bad_parameter(f"{name} must be between {low} and {high}", code=self.code)
        return number

    def boolean(self, name: str) -> bool | None:
        """A ``true``/``false`` parameter."""
        value = self.one(name, choices=("true", "false"))
        return None if value is None else value == "true"

"""Fault injection: random faults by rate, and deterministic one-shot faults queued by tests."""

import random
import threading
from collections import deque
from dataclasses import dataclass

RATE_KEYS = (
    "error_rate",
    "throttle_rate",
    "drop_rate",
    "drop_create_response_rate",
    "error_on_activate_rate",
)
ONE_SHOT_KINDS = ("500", "503", "429", "drop", "drop_create_response", "latency", "timeout")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
DEFAULT_TIMEOUT_MS = 5000


class FaultConfigError(ValueError):
    """A fault setting with the wrong type or range."""


@dataclass(frozen=True)
class Fault:
    """What to do to one request: answer with an error, drop it, or delay it."""

    kind: str  # "500", "503", "429", "drop", "drop_create_response", "latency", "timeout"
    latency_ms: int = 0


def _defaults() -> dict:
    return dict.fromkeys(RATE_KEYS, 0.0) | {"retry_after": 1, "latency_ms": 0, "seed": None}


class Faults:
    """Fault settings plus a FIFO of one-shot faults, with a seedable RNG so runs can be replayed."""

    def __init__(self, **settings: object) -> None:
        self._lock = threading.Lock()
        self._settings = _defaults()
        self._queue: deque[dict] = deque()
        self._rng = random.Random()
        self.update(**settings)

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._settings) | {"queued": [dict(item) for item in self._queue]}

    @property
    def retry_after(self) -> int:
        return self._settings["retry_after"]

    def clear(self) -> None:
        """No faults at all: rates, latency and queue back to zero."""
        with self._lock:
            self._settings = _defaults()
            self._queue.clear()
            self._rng = random.Random()

    def update(self, **settings: object) -> None:
        """Merge new settings into the current ones (unknown keys and bad values are refused)."""
        clean = {}
        for key, value in settings.items():
            if key in RATE_KEYS:
                clean[key] = _number(key, value, low=0.0, high=1.0)
            elif key in ("retry_after", "latency_ms"):
                clean[key] = int(_number(key, value, low=0, high=3_600_000))
            elif key == "seed":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise FaultConfigError("seed must be an integer or null")
                clean[key] = value
            else:
                raise FaultConfigError(f"unknown fault setting '{key}'")
        with self._lock:
            self._settings.update(clean)
            if "seed" in clean:
                self._rng = random.Random(clean["seed"])

    def queue(
        self,
        fault: str,
        *,
        count: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        latency_ms: int | None = None,
    ) -> None:
        """Queue ``count`` one-shot faults for the next API requests that match method and path."""
        if fault not in ONE_SHOT_KINDS:
            raise FaultConfigError(f"fault must be one of {', '.join(ONE_SHOT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FaultConfigError("count must be a positive integer")
        if method is not None and method not in METHODS:
            raise FaultConfigError(f"method must be one of {', '.join(METHODS)} or null")
        if path_contains is not None and not isinstance(path_contains, str):
            raise FaultConfigError("path_contains must be a string or null")
        if latency_ms is None:
            latency_ms = DEFAULT_TIMEOUT_MS if fault == "timeout" else 0
        latency_ms = int(_number("latency_ms", latency_ms, low=0, high=3_600_000))
        item = {"fault": fault, "method": method, "path_contains": path_contains, "latency_ms": latency_ms}
        with self._lock:
            self._queue.extend(dict(item) for _ in range(count))

    def pick(self, method: str, path: str, *, is_create: bool) -> list[Fault]:
        """The faults for one API request: a matching one-shot first, else random ones by rate."""
        with self._lock:
            for item in self._queue:
                if item["method"] not in (None, method):
                    continue
                if item["path_contains"] and item["path_contains"] not in path:
                    continue
                self._queue.remove(item)
                return [Fault(item["fault"], item["latency_ms"])]
            faults = []
            settings = self._settings
            if settings["latency_ms"]:
                faults.append(Fault("latency", settings["latency_ms"]))
            if self._chance("drop_rate"):
                faults.append(Fault("drop"))
            elif self._chance("throttle_rate"):
                faults.append(Fault("429"))
            elif self._chance("error_rate"):
                faults.append(Fault(self._rng.choice(("500", "503"))))
            elif is_create and self._chance("drop_create_response_rate"):
                faults.append(Fault("drop_create_response"))
            return faults

    def activation_fails(self) -> bool:
        """Whether a new peer link should end in ERROR (decided once, at create time)."""
        with self._lock:
            return self._chance("error_on_activate_rate")

    def _chance(self, key: str) -> bool:
        rate = self._settings[key]
        return rate > 0 and self._rng.random() < rate


def _number(key: str, value: object, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(f"{key} must be a number")
    if not low <= value <= high:
        raise FaultConfigError(f"{key} must be between {low} and {high}")
    return value

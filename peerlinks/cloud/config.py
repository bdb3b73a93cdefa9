"""Connection settings for the cloud client, read from Django settings at call time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from peerlinks.cloud.endpoints import check_overrides, endpoint_url


@dataclass(frozen=True)
class CloudConfig:
    """Where Huawei Cloud (or the simulator) lives, how to authenticate, and how patient to be."""

    endpoint: str = "http://127.0.0.1:8790"
    auth: str = "aksk"
    ak: str = field(default="", repr=False)
    sk: str = field(default="", repr=False)
    iam_user: str = ""
    iam_password: str = field(default="", repr=False)
    iam_domain: str = ""
    # Not hashed: a dict is unhashable, and the other fields identify a config well enough.
    project_ids: Mapping[str, str] = field(default_factory=dict, hash=False)
    # Per service ("iam") or per service and region ("iam@eu-west-101"): see endpoints.endpoint_url.
    endpoints: Mapping[str, str] = field(default_factory=dict, hash=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 3
    page_size: int = 500
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        if self.auth not in ("aksk", "token"):
            raise ValueError(f"auth must be 'aksk' or 'token', got {self.auth!r}")
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {self.endpoint!r}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be positive: a cloud call always has a timeout")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if not 1 <= self.page_size <= 2000:
            raise ValueError("page_size must be between 1 and 2000")
        object.__setattr__(self, "project_ids", MappingProxyType(dict(self.project_ids)))
        object.__setattr__(self, "endpoints", MappingProxyType(check_overrides(self.endpoints)))

    @classmethod
    def from_settings(cls) -> CloudConfig:
        """Build a config from the CLOUD_* Django settings as they are now."""
        from django.conf import settings

        return cls(
            endpoint=settings.CLOUD_ENDPOINT,
            auth=settings.CLOUD_AUTH,
            ak=settings.CLOUD_SDK_AK,
            sk=settings.CLOUD_SDK_SK,
            iam_user=settings.CLOUD_IAM_USER,
            iam_password=settings.CLOUD_IAM_PASSWORD,
            iam_domain=settings.CLOUD_IAM_DOMAIN,
            project_ids=dict(settings.CLOUD_PROJECT_IDS),
            endpoints=dict(settings.CLOUD_ENDPOINTS),
            connect_timeout=settings.CLOUD_CONNECT_TIMEOUT,
            read_timeout=settings.CLOUD_READ_TIMEOUT,
            max_retries=settings.CLOUD_MAX_RETRIES,
            page_size=settings.CLOUD_PAGE_SIZE,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials in this config, which no error message, log or page may show."""
        return tuple(value for value in (self.ak, self.sk, self.iam_password) if value)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def base_url(self, service: str, region: str) -> str:
        """The service's base URL for a region: an override, the single base URL, or the host the SDK uses."""
        return endpoint_url(service, region, overrides=self.endpoints, base=self.endpoint)


def resolve(config: CloudConfig | None) -> CloudConfig:
    return CloudConfig.from_settings() if config is None else config

"""Where each service lives in each region, as the official Huawei Cloud SDK resolves it.

`endpoint_url(service, region)` is the one rule: an override first, then a single base URL (the simulator),
then the SDK's region tables; a region they do not list gets the usual pattern, and IAM its global host.
"""

from __future__ import annotations

from collections.abc import Mapping

from peerlinks.cloud.validation import REGION_RE

SERVICES = ("dcaas", "er", "iam")
# The documented pattern. As CLOUD_ENDPOINT it means "Huawei Cloud as the SDK resolves it" (the table below).
HUAWEI_CLOUD = "https://{service}.{region}.myhuaweicloud.com"
# The SDK's IAM host for a region without a regional IAM entry (IamHelper.DEFAULT_ENDPOINT).
GLOBAL_IAM = "https://iam.myhuaweicloud.com"

# Hosts copied from the SDK's DcRegion, ErRegion and IamRegion (3.1.219); tests/test_cloud_endpoints.py
# fails when the installed SDK says otherwise. Not every host follows the pattern (IAM in eu-west-101).
HOSTS: dict[str, dict[str, str]] = {
    "dcaas": {  # DcRegion
        "af-south-1": "dcaas.af-south-1.myhuaweicloud.com",
        "ap-southeast-1": "dcaas.ap-southeast-1.myhuaweicloud.com",
        "ap-southeast-2": "dcaas.ap-southeast-2.myhuaweicloud.com",
        "ap-southeast-3": "dcaas.ap-southeast-3.myhuaweicloud.com",
        "ap-southeast-4": "dcaas.ap-southeast-4.myhuaweicloud.com",
        "cn-east-2": "dcaas.cn-east-2.myhuaweicloud.com",
        "cn-east-3": "dcaas.cn-east-3.myhuaweicloud.com",
        "cn-east-4": "dcaas.cn-east-4.myhuaweicloud.com",
        "cn-east-5": "dcaas.cn-east-5.myhuaweicloud.com",
        "cn-north-1": "dcaas.cn-north-1.myhuaweicloud.com",
        "cn-north-11": "dcaas.cn-north-11.myhuaweicloud.com",
        "cn-north-12": "dcaas.cn-north-12.myhuaweicloud.com",
        "cn-north-2": "dcaas.cn-north-2.myhuaweicloud.com",
        "cn-north-4": "dcaas.cn-north-4.myhuaweicloud.com",
        "cn-north-9": "dcaas.cn-north-9.myhuaweicloud.com",
        "cn-south-1": "dcaas.cn-south-1.myhuaweicloud.com",
        "cn-south-2": "dcaas.cn-south-2.myhuaweicloud.com",
        "cn-south-4": "dcaas.cn-south-4.myhuaweicloud.com",
        "cn-southwest-2": "dcaas.cn-southwest-2.myhuaweicloud.com",
        "cn-southwest-3": "dcaas.cn-southwest-3.myhuaweicloud.com",
        "eu-west-0": "dcaas.eu-west-0.myhuaweicloud.com",
        "eu-west-101": "dcaas.eu-west-101.myhuaweicloud.com",
        "la-north-2": "dcaas.la-north-2.myhuaweicloud.com",
        "la-south-2": "dcaas.la-south-2.myhuaweicloud.com",
        "me-east-1": "dcaas.me-east-1.myhuaweicloud.com",
        "my-kualalumpur-1": "dcaas.my-kualalumpur-1.myhuaweicloud.com",
        "na-mexico-1": "dcaas.na-mexico-1.myhuaweicloud.com",
        "sa-brazil-1": "dcaas.sa-brazil-1.myhuaweicloud.com",
        "tr-west-1": "dcaas.tr-west-1.myhuaweicloud.com",
    },
    "er": {  # ErRegion
        "ae-ad-1": "er.ae-ad-1.myhuaweicloud.com",
        "af-north-1": "er.af-north-1.myhuaweicloud.com",
        "af-south-1": "er.af-south-1.myhuaweicloud.com",
        "ap-southeast-1": "er.ap-southeast-1.myhuaweicloud.com",
        "ap-southeast-2": "er.ap-southeast-2.myhuaweicloud.com",
        "ap-southeast-3": "er.ap-southeast-3.myhuaweicloud.com",
        "ap-southeast-4": "er.ap-southeast-4.myhuaweicloud.com",
        "ap-southeast-5": "er.ap-southeast-5.myhuaweicloud.com",
        "cn-east-3": "er.cn-east-3.myhuaweicloud.com",
        "cn-east-4": "er.cn-east-4.myhuaweicloud.com",
        "cn-east-5": "er.cn-east-5.myhuaweicloud.com",
        "cn-north-11": "er.cn-north-11.myhuaweicloud.com",
        "cn-north-12": "er.cn-north-12.myhuaweicloud.com",
        "cn-north-2": "er.cn-north-2.myhuaweicloud.com",
        "cn-north-4": "er.cn-north-4.myhuaweicloud.com",
        "cn-north-9": "er.cn-north-9.myhuaweicloud.com",
        "cn-south-1": "er.cn-south-1.myhuaweicloud.com",
        "cn-southwest-2": "er.cn-southwest-2.myhuaweicloud.com",
        "cn-southwest-3": "er.cn-southwest-3.myhuaweicloud.com",
        "la-north-2": "er.la-north-2.myhuaweicloud.com",
        "la-south-2": "er.la-south-2.myhuaweicloud.com",
        "me-east-1": "er.me-east-1.myhuaweicloud.com",
        "my-kualalumpur-1": "er.my-kualalumpur-1.myhuaweicloud.com",
        "ru-moscow-1": "er.ru-moscow-1.myhuaweicloud.com",
        "sa-brazil-1": "er.sa-brazil-1.myhuaweicloud.com",
        "tr-west-1": "er.tr-west-1.myhuaweicloud.com",
    },
    "iam": {  # IamRegion
        "ae-ad-1": "iam.ae-ad-1.myhuaweicloud.com",
        "af-south-1": "iam.af-south-1.myhuaweicloud.com",
        "ap-southeast-1": "iam.ap-southeast-1.myhuaweicloud.com",
        "ap-southeast-2": "iam.ap-southeast-2.myhuaweicloud.com",
        "ap-southeast-3": "iam.ap-southeast-3.myhuaweicloud.com",
        "ap-southeast-4": "iam.ap-southeast-4.myhuaweicloud.com",
        "cn-east-2": "iam.cn-east-2.myhuaweicloud.com",
        "cn-east-3": "iam.cn-east-3.myhuaweicloud.com",
        "cn-east-4": "iam.cn-east-4.myhuaweicloud.com",
        "cn-east-5": "iam.cn-east-5.myhuaweicloud.com",
        "cn-north-1": "iam.cn-north-1.myhuaweicloud.com",
        "cn-north-12": "iam.cn-north-12.myhuaweicloud.com",
        "cn-north-2": "iam.cn-north-2.myhuaweicloud.com",
        "cn-north-4": "iam.cn-north-4.myhuaweicloud.com",
        "cn-north-9": "iam.cn-north-9.myhuaweicloud.com",
        "cn-south-1": "iam.cn-south-1.myhuaweicloud.com",
        "cn-south-2": "iam.cn-south-2.myhuaweicloud.com",
        "cn-southwest-2": "iam.cn-southwest-2.myhuaweicloud.com",
        "eu-west-0": "iam.eu-west-0.myhuaweicloud.com",
        "eu-west-101": "iam.eu-west-101.myhuaweicloud.eu",
        "la-north-2": "iam.la-north-2.myhuaweicloud.com",
        "la-south-2": "iam.la-south-2.myhuaweicloud.com",
        "me-east-1": "iam.me-east-1.myhuaweicloud.com",
        "my-kualalumpur-1": "iam.my-kualalumpur-1.myhuaweicloud.com",
        "na-mexico-1": "iam.na-mexico-1.myhuaweicloud.com",
        "ru-moscow-1": "iam.ru-moscow-1.myhuaweicloud.com",
        "sa-brazil-1": "iam.sa-brazil-1.myhuaweicloud.com",
        "tr-west-1": "iam.tr-west-1.myhuaweicloud.com",
    },
}


def check_region_name(region: object) -> str:
    """The region ID if it can be part of a host name; ValueError otherwise."""
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        raise ValueError(
            f"{region!r} is not a region ID such as cn-north-4 (lower-case letters, digits, hyphens)"
        )
    return region


def endpoint_url(
    service: str, region: str, *, overrides: Mapping[str, str] | None = None, base: str = HUAWEI_CLOUD
) -> str:
    """The base URL of `service` in `region`, without a trailing slash.

    `overrides` maps "service" (every region) or "service@region" to a URL, which may hold {region};
    `base` is CLOUD_ENDPOINT: one URL for every service, the Huawei Cloud pattern, or another template.
    """
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    check_region_name(region)
    overrides = overrides or {}
    url = overrides.get(f"{service}@{region}") or overrides.get(service) or base
    if url.rstrip("/") == HUAWEI_CLOUD:
        host = HOSTS[service].get(region)
        if host:
            return f"https://{host}"
        if service == "iam":
            return GLOBAL_IAM
    return url.replace("{service}", service).replace("{region}", region).rstrip("/")


def parse_overrides(text: str) -> dict[str, str]:
    """Overrides from CLOUD_ENDPOINTS, "service=url,service@region=url,..."; ValueError naming a bad one."""
    overrides: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if item:
            key, sep, url = (piece.strip() for piece in item.partition("="))
            overrides[key if sep else item] = url
    return check_overrides(overrides)


def check_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    """The overrides as a dict if every key names a service (and region) and every URL is http(s)."""
    for key, url in overrides.items():
        item = f"{key}={url}"
        service, _, region = key.partition("@")
        if service not in SERVICES:
            raise ValueError(
                f"{item!r} must be service=URL or service@region=URL, service one of {', '.join(SERVICES)}"
            )
        if region:
            check_region_name(region)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{item!r}: the endpoint must be an http(s) URL")
    return dict(overrides)

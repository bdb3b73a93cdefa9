"""CloudConfig: settings at call time, hidden secrets, endpoint templating; backoff arithmetic."""

import dataclasses

import pytest

from peerlinks import cloud
from peerlinks.cloud.sending import backoff_delay, parse_retry_after


def test_repr_hides_ak_sk_and_password():
    config = cloud.CloudConfig(ak="AKVISIBLE123", sk="SKSECRET456", iam_user="ops", iam_password="PW789")
    text = repr(config)
    assert "AKVISIBLE123" not in text
    assert "SKSECRET456" not in text
    assert "PW789" not in text
    assert "ops" in text


def test_config_is_hashable_and_frozen():
    config = cloud.CloudConfig(project_ids={"cn-north-4": "a" * 32})
    assert hash(config) == hash(cloud.CloudConfig(project_ids={"cn-north-4": "a" * 32}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ak = "x"
    with pytest.raises(TypeError):
        config.project_ids["cn-east-3"] = "b" * 32


def test_from_settings_reads_settings_at_call_time(settings):
    settings.CLOUD_ENDPOINT = "https://{service}.{region}.myhuaweicloud.com"
    settings.CLOUD_AUTH = "token"
    settings.CLOUD_PROJECT_IDS = {"cn-north-4": "c" * 32}
    settings.CLOUD_READ_TIMEOUT = 7.5
    config = cloud.CloudConfig.from_settings()
    assert config.endpoint == "https://{service}.{region}.myhuaweicloud.com"
    assert config.auth == "token"
    assert config.project_ids == {"cn-north-4": "c" * 32}
    assert config.timeout == (settings.CLOUD_CONNECT_TIMEOUT, 7.5)
    settings.CLOUD_READ_TIMEOUT = 9.0
    assert cloud.CloudConfig.from_settings().read_timeout == 9.0


def test_endpoint_template_gets_service_and_region():
    config = cloud.CloudConfig(endpoint="https://{service}.{region}.myhuaweicloud.com/")
    assert config.base_url("dcaas", "cn-north-4") == "https://dcaas.cn-north-4.myhuaweicloud.com"
    assert config.base_url("er", "ap-southeast-1") == "https://er.ap-southeast-1.myhuaweicloud.com"
    assert config.base_url("iam", "cn-east-3") == "https://iam.cn-east-3.myhuaweicloud.com"


def test_single_base_url_serves_every_service():
    config = cloud.CloudConfig(endpoint="http://127.0.0.1:8790/")
    assert {config.base_url(s, "cn-north-4") for s in ("dcaas", "er", "iam")} == {"http://127.0.0.1:8790"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": "basic"},
        {"read_timeout": 0},
        {"connect_timeout": -1},
        {"page_size": 0},
        {"endpoint": "ftp://x"},
    ],
)
def test_nonsense_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        cloud.CloudConfig(**kwargs)


def test_backoff_is_exponential_full_jitter_and_capped():
    assert backoff_delay(1, base=0.5, cap=20, rand=1.0) == 0.5
    assert backoff_delay(2, base=0.5, cap=20, rand=1.0) == 1.0
    assert backoff_delay(4, base=0.5, cap=20, rand=1.0) == 4.0
    assert backoff_delay(10, base=0.5, cap=20, rand=1.0) == 20
    assert backoff_delay(3, base=0.5, cap=20, rand=0.25) == 0.5
    assert backoff_delay(3, base=0.5, cap=20, rand=0.0) == 0.0
    assert all(0 <= backoff_delay(5, base=0.5, cap=20) <= 8 for _ in range(100))


def test_retry_after_accepts_seconds_only():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after(None) is None

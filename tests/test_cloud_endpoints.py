"""Each service's host in each region, as the official SDK resolves it; overrides for special clouds."""

import os

import pytest
from huaweicloudsdkcore.auth.internal import IamHelper
from huaweicloudsdkdc.v3.region.dc_region import DcRegion
from huaweicloudsdker.v3.region.er_region import ErRegion
from huaweicloudsdkiam.v3.region.iam_region import IamRegion

import dcsim
from peerlinks import cloud
from peerlinks.cloud import iam
from peerlinks.cloud.endpoints import GLOBAL_IAM, HOSTS, HUAWEI_CLOUD, endpoint_url, parse_overrides
from tests.test_security import run_manage

SDK_TABLES = {"dcaas": DcRegion, "er": ErRegion, "iam": IamRegion}


@pytest.mark.parametrize("service", sorted(SDK_TABLES))
def test_table_lists_every_region_of_the_sdk_with_the_same_host(service):
    sdk = {region_id: region.endpoints for region_id, region in SDK_TABLES[service].static_fields.items()}
    assert set(HOSTS[service]) == set(sdk), "the SDK added or dropped a region: follow it in endpoints.py"
    for region_id, sdk_endpoints in sdk.items():
        assert [endpoint_url(service, region_id)] == sdk_endpoints, region_id


def test_iam_hosts_that_break_the_pattern():
    assert endpoint_url("iam", "eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"
    assert endpoint_url("dcaas", "eu-west-101") == "https://dcaas.eu-west-101.myhuaweicloud.com"
    # DC and ER regions the SDK's IamRegion does not list: the SDK's global IAM host.
    for region in ("af-north-1", "ap-southeast-5", "cn-north-11", "cn-south-4", "cn-southwest-3"):
        assert region not in IamRegion.static_fields
        assert endpoint_url("iam", region) == GLOBAL_IAM == IamHelper.DEFAULT_ENDPOINT


def test_region_the_sdk_does_not_list_falls_back_to_the_pattern_and_global_iam():
    assert endpoint_url("dcaas", "xx-new-7") == "https://dcaas.xx-new-7.myhuaweicloud.com"
    assert endpoint_url("er", "xx-new-7") == "https://er.xx-new-7.myhuaweicloud.com"
    assert endpoint_url("iam", "xx-new-7") == "https://iam.myhuaweicloud.com"


@pytest.mark.parametrize(
    "region", ["", "CN-NORTH-4", "cn-north-4.evil.example", "cn--north", "-cn", "cn-", "a" * 40, 4]
)
def test_malformed_region_name_is_a_clear_error(region):
    with pytest.raises(ValueError, match="is not a region ID such as cn-north-4"):
        endpoint_url("dcaas", region)


def test_unknown_service_is_refused():
    with pytest.raises(ValueError, match="unknown service 'vpc'"):
        endpoint_url("vpc", "cn-north-4")


def test_overrides_per_service_and_per_region_win_over_the_table():
    overrides = parse_overrides(
        " iam=https://iam.example.test/ , dcaas@eu-west-101=https://dcaas.eu-west-101.myhuaweicloud.eu,"
        "er=https://er.{region}.example.test"
    )
    assert endpoint_url("iam", "cn-north-4", overrides=overrides) == "https://iam.example.test"
    assert endpoint_url("iam", "eu-west-101", overrides=overrides) == "https://iam.example.test"
    assert (
        endpoint_url("dcaas", "eu-west-101", overrides=overrides)
        == "https://dcaas.eu-west-101.myhuaweicloud.eu"
    )
    assert (
        endpoint_url("dcaas", "eu-west-0", overrides=overrides) == "https://dcaas.eu-west-0.myhuaweicloud.com"
    )
    assert (
        endpoint_url("er", "ap-southeast-1", overrides=overrides) == "https://er.ap-southeast-1.example.test"
    )
    # An override also wins over a single base URL (the simulator) for its service only.
    simulator = "http://127.0.0.1:8790"
    assert (
        endpoint_url("iam", "cn-north-4", overrides=overrides, base=simulator) == "https://iam.example.test"
    )
    assert endpoint_url("dcaas", "cn-north-4", overrides=overrides, base=simulator) == simulator


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "vpc=https://vpc.example.test",
            "'vpc=https://vpc.example.test' must be service=URL or service@region=URL",
        ),
        ("iam", "'iam=': the endpoint must be an http(s) URL"),
        ("iam=iam.example.test", "'iam=iam.example.test': the endpoint must be an http(s) URL"),
        ("iam@EU-WEST-101=https://x.test", "'EU-WEST-101' is not a region ID"),
    ],
)
def test_bad_overrides_are_refused_naming_the_entry(text, message):
    with pytest.raises(ValueError) as excinfo:
        parse_overrides(text)
    assert message in str(excinfo.value)


def test_config_resolves_through_the_table_and_its_overrides(settings):
    config = cloud.CloudConfig(endpoint=HUAWEI_CLOUD)
    assert config.base_url("iam", "eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"
    assert config.base_url("iam", "cn-south-4") == "https://iam.myhuaweicloud.com"
    settings.CLOUD_ENDPOINT = HUAWEI_CLOUD
    settings.CLOUD_ENDPOINTS = {"iam@cn-south-4": "https://iam.cn-south-4.example.test"}
    config = cloud.CloudConfig.from_settings()
    assert config.base_url("iam", "cn-south-4") == "https://iam.cn-south-4.example.test"
    assert config.base_url("dcaas", "cn-south-4") == "https://dcaas.cn-south-4.myhuaweicloud.com"
    with pytest.raises(ValueError, match="must be service=URL"):
        cloud.CloudConfig(endpoints={"vpc": "https://vpc.example.test"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLOUD_ENDPOINTS", "iam=ftp://iam.test", "'iam=ftp://iam.test': the endpoint must be an http"),
        ("CLOUD_REGIONS", "cn-north-4,CN_EAST_3", "'CN_EAST_3' is not a region ID such as cn-north-4"),
    ],
)
def test_bad_endpoint_or_region_setting_stops_the_start_with_a_clear_message(variable, value, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DATABASE_URL": "", variable: value})
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable}: {message}" in result.stderr


def test_client_sends_each_service_to_its_override(simulator):
    """Real calls: a token from IAM and a gateway list from DC, each service sent where its override says."""
    iam.clear_caches()
    base = simulator.base_url
    config = cloud.CloudConfig(
        endpoint=HUAWEI_CLOUD,
        endpoints={"dcaas": base, "er": base, "iam@cn-north-4": base},
        auth="token",
        iam_user=dcsim.DEMO_IAM_USER,
        iam_password=dcsim.DEMO_IAM_PASSWORD,
        iam_domain=dcsim.DEMO_DOMAIN,
    )
    try:
        assert list(cloud.list_global_dc_gateways(region="cn-north-4", config=config)) == []
        assert list(cloud.list_enterprise_routers(region="cn-north-4", config=config)) == []
    finally:
        iam.clear_caches()
    assert config.base_url("iam", "eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"

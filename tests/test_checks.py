from peerlinks.checks import check_execution_lease


def test_a_lease_shorter_than_a_cloud_call_is_a_warning(settings):
    settings.CLOUD_CONNECT_TIMEOUT, settings.CLOUD_READ_TIMEOUT = 5, 30
    settings.CHANGE_EXECUTION_LEASE = 30
    warnings = check_execution_lease()
    assert [w.id for w in warnings] == ["peerlinks.W001"]
    assert "35 s" in warnings[0].msg


def test_the_default_lease_outlasts_a_cloud_call(settings):
    settings.CLOUD_CONNECT_TIMEOUT, settings.CLOUD_READ_TIMEOUT = 5, 30
    settings.CHANGE_EXECUTION_LEASE = 120
    assert check_execution_lease() == []

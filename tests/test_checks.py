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


def test_the_change_window_defaults_pass_the_system_checks_at_the_minute_the_window_opens(monkeypatch):
    # Django warns (fields.W161) about a fixed time default that is within 10 s of now; with the window's
    # defaults as fixed times, `check --fail-level WARNING` failed every day at 22:00 and 06:00.
    import datetime

    from django.db.models import fields

    from peerlinks.models import Policy

    for moment in (datetime.time(22, 0, 3), datetime.time(6, 0, 3)):
        now = datetime.datetime.combine(datetime.date(2026, 12, 1), moment)
        monkeypatch.setattr(fields, "_get_naive_now", lambda now=now: now)
        assert Policy.check() == [], moment

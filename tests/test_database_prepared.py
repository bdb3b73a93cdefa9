"""On PostgreSQL a statement a connection runs again and again (every page's session, user and navigation
reads) is prepared on the server: parsed and planned once, not on every request (dcportal/settings.py,
DATABASE_PREPARED_STATEMENTS); a text search is not (dcportal/postgresql/base.py)."""

import pytest
from django.db import connection

from peerlinks.models import AuditEvent
from tests.conftest import on_postgresql


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_a_read_repeated_on_one_connection_is_prepared_on_postgresql():
    if not on_postgresql(connection.settings_dict):
        pytest.skip("PostgreSQL only")
    AuditEvent.objects.create(action="test.prepared", object_type="test")
    for _ in range(6):  # psycopg prepares a statement the fifth time it runs on a connection
        assert AuditEvent.objects.filter(action="test.prepared").count() == 1
    prepared = [sql for sql in prepared_statements() if "peerlinks_auditevent" in sql]
    assert prepared, "the repeated read was not prepared"
    assert "test.prepared" not in prepared[0]  # the value is a parameter ($1), not part of the statement


@pytest.mark.django_db
def test_a_text_search_is_planned_for_its_pattern_each_time_on_postgresql():
    """One plan for every pattern cannot judge the trigram index (the search page at 100,000 links: 280-370
    ms of the server's CPU, about 220 with nothing prepared), so a statement with LIKE is never prepared."""
    if not on_postgresql(connection.settings_dict):
        pytest.skip("PostgreSQL only")
    AuditEvent.objects.create(action="test.prepared", object_type="test")
    for _ in range(6):
        assert AuditEvent.objects.filter(action__icontains="PREPARED").count() == 1
        assert AuditEvent.objects.filter(action="test.prepared").count() == 1  # the same run, no LIKE
    prepared = [sql for sql in prepared_statements() if "peerlinks_auditevent" in sql]
    assert prepared, "nothing was prepared: prepared statements are off"
    assert not [sql for sql in prepared if "LIKE" in sql]

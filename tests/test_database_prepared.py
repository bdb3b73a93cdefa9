"""On PostgreSQL a statement a connection runs again and again (every page's session, user and navigation
reads) is prepared on the server: parsed and planned once, not on every request (dcportal/settings.py,
DATABASE_PREPARED_STATEMENTS). The values travel apart from the SQL, so a value that looks like SQL stays a
value."""

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
def test_a_value_that_looks_like_sql_is_matched_as_a_value():
    AuditEvent.objects.create(action="x' OR '1'='1", object_type="test")
    AuditEvent.objects.create(action="other", object_type="test")
    for _ in range(6):
        assert list(AuditEvent.objects.filter(action="x' OR '1'='1").values_list("action", flat=True)) == [
            "x' OR '1'='1"
        ]


@pytest.mark.django_db
def test_a_text_search_is_planned_for_its_pattern_each_time_on_postgresql():
    """One plan for every pattern cannot judge the trigram index (the search page at 100,000 links: 280-370
    ms instead of 150), so a statement with LIKE is never prepared."""
    if not on_postgresql(connection.settings_dict):
        pytest.skip("PostgreSQL only")
    AuditEvent.objects.create(action="test.prepared", object_type="test")
    for _ in range(6):
        assert AuditEvent.objects.filter(action__icontains="PREPARED").count() == 1
    assert not [sql for sql in prepared_statements() if "LIKE" in sql]

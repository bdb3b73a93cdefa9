"""Times read back from the database are the instants written, in UTC, on every database; on PostgreSQL
through psycopg's compiled loader (dcportal/postgresql/base.py), on SQLite through dcportal's converter
(dcportal/sqlite3/base.py)."""

import datetime
import zoneinfo

import pytest
from django.db import connection

from peerlinks.models import AuditEvent
from tests.conftest import on_postgresql

SHANGHAI = datetime.datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


@pytest.mark.django_db
def test_a_time_written_in_another_zone_reads_back_as_the_same_instant_in_utc():
    event = AuditEvent.objects.create(action="test.time", object_type="test", at=SHANGHAI)
    read = AuditEvent.objects.values_list("at", flat=True).get(pk=event.pk)
    assert read == SHANGHAI
    assert read.tzinfo is datetime.UTC
    assert (read.hour, read.minute, read.second, read.microsecond) == (7, 4, 5, 123456)


@pytest.mark.django_db
def test_with_time_zones_off_a_time_reads_back_as_written_without_a_zone(settings):
    settings.USE_TZ = False
    written = SHANGHAI.replace(tzinfo=None)
    event = AuditEvent.objects.create(action="test.time", object_type="test", at=written)
    read = AuditEvent.objects.values_list("at", flat=True).get(pk=event.pk)
    assert read == written and read.tzinfo is None


@pytest.mark.django_db
def test_postgresql_reads_times_with_the_compiled_loader():
    if not on_postgresql(connection.settings_dict):
        pytest.skip("PostgreSQL only")
    import psycopg

    event = AuditEvent.objects.create(action="test.time", object_type="test", at=SHANGHAI)
    with connection.cursor() as cursor:
        cursor.execute("SELECT at FROM peerlinks_auditevent WHERE id = %s", [event.pk])
        read = cursor.fetchone()[0]  # a raw query too (on SQLite Django converts only the ORM's reads)
        assert read == SHANGHAI and read.tzinfo is datetime.UTC
        loader = cursor.cursor.adapters.get_loader(
            psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT
        )
    assert loader.__module__ == "dcportal.postgresql.base"
    assert loader.timezone is datetime.UTC

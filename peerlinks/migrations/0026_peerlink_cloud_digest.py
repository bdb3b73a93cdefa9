"""A digest of the cloud's fields on each cached link (peerlinks.services.mirror.link_digest), so that a sync
tells an unchanged link from a changed one by one value; the links already cached get theirs here, or the
first sync after the upgrade would rewrite every one of them.

On SQLite, adding the column rebuilds the links table, which drops the search index's triggers: the index
(peerlinks.search_index) is taken down before and made again after."""

from django.db import migrations, models

from peerlinks import search_index
from peerlinks.services.mirror import LINK_FIELDS, link_digest


def fill_digests(apps, schema_editor):
    links = apps.get_model("peerlinks", "PeerLink").objects.order_by()
    if not links.exists():
        return
    table = schema_editor.quote_name(links.model._meta.db_table)
    rows = links.values_list("pk", *LINK_FIELDS).iterator(chunk_size=2000)
    digests = [(link_digest(dict(zip(LINK_FIELDS, values, strict=True))), pk) for pk, *values in rows]
    with schema_editor.connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET cloud_digest = %s WHERE id = %s", digests)


def drop_sqlite_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in search_index.sqlite_drop_sql():
            schema_editor.execute(statement)


def create_sqlite_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in search_index.sqlite_create_sql():
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("peerlinks", "0025_peerlink_search_index")]

    operations = [
        migrations.RunPython(drop_sqlite_search_index, create_sqlite_search_index),
        migrations.AddField(
            model_name="peerlink",
            name="cloud_digest",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.RunPython(fill_digests, migrations.RunPython.noop),
        migrations.RunPython(create_sqlite_search_index, drop_sqlite_search_index),
    ]

"""An index that serves searching links for a piece of text (peerlinks.search_index): pg_trgm on
PostgreSQL, an FTS5 trigram table kept in step by triggers on SQLite; nothing on other databases."""

from django.db import migrations

from peerlinks import search_index


def create_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = search_index.pg_create_sql(apps.get_model("peerlinks", "PeerLink"), schema_editor)
    elif vendor == "sqlite":
        statements = search_index.sqlite_create_sql()
    else:
        statements = []
    for statement in statements:
        schema_editor.execute(statement)


def drop_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": search_index.pg_drop_sql, "sqlite": search_index.sqlite_drop_sql}
    for statement in statements.get(vendor, list)():
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("peerlinks", "0024_change_batches")]

    operations = [migrations.RunPython(create_index, drop_index)]

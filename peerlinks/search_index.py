"""The index behind searching peer links for a piece of text (the list's `q`, the search page, the API):
which links may contain it, found from an index instead of reading every link's every searched column.

  - PostgreSQL: a pg_trgm GIN index over the searched columns joined in one upper-cased text;
  - SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34 or later), external content kept in step
    with the links by triggers.

Both answer "the text is a part of one of these columns, in any case" with possibly more rows than match
(the PostgreSQL text joins the columns; FTS5 folds case beyond ASCII, which SQLite's LIKE does not), never
fewer: callers keep their own per-column condition, so a search answers exactly what it did without an
index, only from far fewer rows. Texts shorter than a trigram (3 characters) have nothing to look up and
are searched without it.

The migration that makes the index (0025) takes its SQL from here. On SQLite, a later migration that
rebuilds the links table drops its triggers with it: tests/test_search_index.py then fails.
"""

from collections.abc import Iterable

from django.db import connections
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import F, Func, Model, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Upper
from django.db.models.sql import Query

TABLE = "peerlinks_peerlink"
# The columns a text search looks in (peerlinks.models.PeerLinkQuerySet.matching).
COLUMNS = ("name", "cloud_id", "description", "peer_gateway_id", "owner_team", "ticket_ref", "labels")
# How short a text the index can find: the trigram.
SHORTEST = 3
# Up to how many links the SQLite index finds are named in the statements themselves (one parameter each,
# far below SQLite's limit) when the caller reads twice; beyond, each statement asks the index again.
FEW_FOUND = 500

# --- PostgreSQL ------------------------------------------------------------------------------------

PG_INDEX = "peerlink_search_trgm"


def search_text() -> Func:
    """The searched columns joined in one text, as the PostgreSQL index holds it (upper-cased there) and
    searches ask for it: one Django expression for both, so the two compile alike and the planner can
    match them. Every part is immutable, as an index expression must be."""
    columns = (Cast(F(column), TextField()) for column in COLUMNS)
    return Func(*columns, template="(%(expressions)s)", arg_joiner=" || ", output_field=TextField())


def pg_create_sql(model: type[Model], schema_editor: BaseDatabaseSchemaEditor) -> list[str]:
    """The pg_trgm index over `search_text`, upper-cased as `icontains` asks for it, compiled as Django
    compiles an index expression (columns without the table's name)."""
    query = Query(model, alias_cols=False)
    expression = Upper(search_text()).resolve_expression(query)
    sql, params = expression.as_sql(
        query.get_compiler(connection=schema_editor.connection), schema_editor.connection
    )
    assert not params, params
    return [
        # A trusted extension since PostgreSQL 13: the database's owner may create it.
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON {TABLE} USING gin (({sql}) gin_trgm_ops)",
    ]


def pg_drop_sql() -> list[str]:
    # The extension stays: something else may use it, and unused it costs nothing.
    return [f"DROP INDEX IF EXISTS {PG_INDEX}"]


# --- SQLite ----------------------------------------------------------------------------------------

FTS_TABLE = "peerlinks_peerlink_search"
_COLUMN_LIST = ", ".join(COLUMNS)
_NEW = ", ".join(f"new.{column}" for column in COLUMNS)
_OLD = ", ".join(f"old.{column}" for column in COLUMNS)
_CHANGED = " OR ".join(f"old.{column} IS NOT new.{column}" for column in COLUMNS)


def sqlite_create_sql() -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({_COLUMN_LIST}, content='{TABLE}', "
        "content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON {TABLE} BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {_COLUMN_LIST}) VALUES (new.id, {_NEW}); END",
        f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON {TABLE} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLUMN_LIST}) VALUES ('delete', old.id, {_OLD}); END",
        # Only when a searched column changes: a sync rewrites every link's stamps, seldom its name.
        f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE ON {TABLE} WHEN {_CHANGED} BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLUMN_LIST}) VALUES ('delete', old.id, {_OLD}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {_COLUMN_LIST}) VALUES (new.id, {_NEW}); END",
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
    ]


def sqlite_drop_sql() -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{event}" for event in ("insert", "delete", "update")),
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
    ]


# --- Asking it -------------------------------------------------------------------------------------


def narrowed(queryset: QuerySet, texts: Iterable[str], *, read_twice: bool = False) -> QuerySet:
    """`queryset` cut down to the links that may contain one of `texts` (spellings of one search) in a
    searched column, as the database's index finds them; unchanged when the index cannot narrow it.

    `read_twice`: the caller runs more than one statement on the result (a count, then a page). On SQLite
    the index is then asked once, now, and a few links found are named in those statements; otherwise
    each statement would search the index again, and a text made of common trigrams costs milliseconds
    each time. (PostgreSQL's index answers within each statement's own plan.)"""
    texts = sorted(set(texts))
    if not texts or min(len(text) for text in texts) < SHORTEST:
        return queryset
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        anywhere = Q()
        for text in texts:
            anywhere |= Q(_search_text__icontains=text)
        return queryset.alias(_search_text=search_text()).filter(anywhere)
    if vendor == "sqlite":
        phrases = " OR ".join('"' + text.replace('"', '""') + '"' for text in texts)
        found = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        if read_twice:
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(f"{found} LIMIT %s", (phrases, FEW_FOUND + 1))
                ids = [row[0] for row in cursor.fetchall()]
            if len(ids) <= FEW_FOUND:
                return queryset.filter(id__in=ids)
        return queryset.filter(id__in=RawSQL(found, (phrases,)))
    return queryset

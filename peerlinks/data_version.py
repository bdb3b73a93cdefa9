"""The version of the data pages draw: every write to a table they draw from moves it, so a drawn part of a
page (`drawn_part`) is kept under the version it was drawn at, and drawn again once anything changed.

Every write Django sends is seen here (an execute wrapper on each database connection, installed at
start-up by `peerlinks.apps`): an INSERT, UPDATE or DELETE of a table in DRAWN_FROM moves the version,
whatever service, task, command or migration wrote it. A write past Django's cursor (the sync's COPY)
calls `moved` itself.

A reader sees the new version no earlier than the data it versions:
- SQLite: the version is a row (`DataVersion`) moved inside the writing transaction, so readers see it
  change at the same commit as the data. SQLite runs one writing transaction at a time, so this adds no
  wait.
- PostgreSQL: a sequence, moved with `nextval` (never a lock: two writers never wait on each other), once
  in the writing transaction and again once it has committed. A reader that took the first value before
  the commit, and drew the data as it was, drew under a version that the second move leaves behind.
A part is also kept no longer than DRAWN_PART_SECONDS: a process killed between a commit and the second
move, or a write by hand in the database, is seen by then.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from peerlinks.per_request import once_per_request, remember

SEQUENCE = "peerlinks_data_version"
Drawn = TypeVar("Drawn")

# The tables whose rows drawn parts show, by model name (peerlinks app). A part that draws another table
# adds it here. Left out on purpose: what is written all the time and drawn by no part (workers'
# heartbeats, API tokens' rate counts, idempotency keys, webhooks, notices, sessions).
DRAWN_FROM = (
    "CloudAccount",
    "AccountRole",
    "CloudProject",
    "Gateway",
    "EnterpriseRouter",
    "PeerLink",
    "SharedAttachment",
    "StatusChange",
    "Drift",
    "ChangeRequest",
    "Approval",
    "AuditEvent",
    "Policy",
)
# Columns of those tables that no part shows and that are written again and again whatever changed (a
# region's sync claim, taken and given back by every sync and re-check; a gateway's last look at its
# links, stamped by every re-check of a pending link, twice a second while one is): an UPDATE that sets
# only these leaves the version. By model name, then column.
UNDRAWN_COLUMNS = {
    "CloudProject": ("sync_claim", "sync_claimed_until"),
    "Gateway": ("links_synced_at",),
}
_WRITES = ("INSERT", "UPDATE", "DELETE")
_ASSIGNED = re.compile(r'(?:^|,)\s*"(\w+)"\s*=')


def _tables() -> frozenset[str]:
    global _TABLES, _UNDRAWN
    if _TABLES is None:
        from django.apps import apps

        def table(name: str) -> str:
            return apps.get_model("peerlinks", name)._meta.db_table

        _UNDRAWN = {table(name): frozenset(columns) for name, columns in UNDRAWN_COLUMNS.items()}
        _TABLES = frozenset(table(name) for name in DRAWN_FROM)
    return _TABLES


_TABLES: frozenset[str] | None = None
_UNDRAWN: dict[str, frozenset[str]] = {}


def written_table(sql: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes to (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`, the
    name quoted or not); None for any other statement."""
    verb = sql[:6].upper()
    if verb not in _WRITES:
        return None
    words = sql.split(None, 3)
    at = 1 if verb == "UPDATE" else 2
    return words[at].split("(")[0].strip('"') if len(words) > at else None


def moves_version(sql: str) -> bool:
    """Whether a statement writes what a part may show: an INSERT, UPDATE or DELETE of a table in
    DRAWN_FROM, but an UPDATE that sets only UNDRAWN_COLUMNS. Where the columns set cannot be told for
    sure (a subquery among the values), it does."""
    table = written_table(sql)
    if table not in _tables():
        return False
    undrawn = _UNDRAWN.get(table)
    if not undrawn or sql[:6].upper() != "UPDATE":
        return True
    values = sql.split(" SET ", 1)[-1].split(" WHERE ", 1)[0]
    if "SELECT" in values.upper():
        return True
    assigned = set(_ASSIGNED.findall(values))
    return not assigned or not assigned <= undrawn


def watch_writes(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    """The execute wrapper: run the statement, then move the version if it wrote what a part may show."""
    result = execute(sql, params, many, context)
    if moves_version(sql):
        moved(context["connection"])
    return result


def install(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: watch every statement of the new connection."""
    if watch_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(watch_writes)


def moved(connection: Any = None) -> None:
    """Say that drawn data changed on `connection` (the default database's by default). Before the
    migration that makes the version's own table or sequence (a database being migrated), nothing."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        # No such table yet: an error for this statement only, SQLite's transaction goes on unharmed.
        with contextlib.suppress(sqlite3.OperationalError):
            connection.connection.execute(
                "INSERT INTO peerlinks_dataversion (id, value) VALUES (1, 1)"
                " ON CONFLICT (id) DO UPDATE SET value = value + 1"
            )
        return
    _next(connection)
    waiting = connection.run_on_commit  # (savepoints, callback, robust) of this transaction
    if connection.in_atomic_block and not any(
        getattr(callback, "data_version_of", None) is connection for _, callback, _ in waiting
    ):

        def after_commit() -> None:
            _next(connection)

        after_commit.data_version_of = connection  # one per transaction; a rolled-back one drops it
        transaction.on_commit(after_commit, using=connection.alias, robust=True)


def _next(connection: Any) -> None:
    # The driver's own connection: a statement Django does not see (and so does not watch again). No
    # sequence yet gives nextval(NULL), which is NULL, not an error that would end the transaction.
    connection.connection.execute(f"SELECT nextval(to_regclass('{SEQUENCE}'))")


@once_per_request
def current() -> int:
    """The version now, kept for the rest of a reading request (a signed-in person's comes with their
    session, the request's first read: every part it draws is at least as new as the version)."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {_read_sql()}")
        return cursor.fetchone()[0]


def column() -> RawSQL:
    """The version as a column of another query (the session's)."""
    return RawSQL(_read_sql(), (), output_field=BigIntegerField())


def seen(version: int) -> None:
    """The version, read along with another query in this request (the session's)."""
    remember(current, version)


def _read_sql() -> str:
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return f"(SELECT last_value FROM {SEQUENCE})"
    return "COALESCE((SELECT value FROM peerlinks_dataversion WHERE id = 1), 0)"


def drawn_part(name: str, shape: Hashable, draw: Callable[[], Drawn]) -> Drawn:
    """What `draw()` makes (its HTML, or the HTML with what else the page learnt drawing it), kept per
    process under the data's version, the language and time zone it is drawn in, and `shape`: whatever
    else decides it (the query string, what the reader may read and do). What differs per request (a form
    with its CSRF token) is left out as a `hole`. With DRAWN_PART_SECONDS at 0 every request draws afresh."""
    seconds = settings.DRAWN_PART_SECONDS
    if seconds <= 0:
        return draw()
    version = current()
    facts = (name, version, translation.get_language(), timezone.get_current_timezone_name(), shape)
    key = "part:" + hashlib.sha256(repr(facts).encode()).hexdigest()
    cache = caches["drawn_parts"]
    drawn = cache.get(key)
    if drawn is None:
        drawn = draw()
        cache.set(key, drawn, seconds)
    return drawn


def hole(name: str) -> SafeString:
    """The mark a drawn part is kept with where each request draws its own HTML (`filled`). No value a
    page shows can look like it: every one is escaped, and `<` with it."""
    return mark_safe(f"<!--hole:{name}-->")


def filled(html: str, name: str, content: str) -> SafeString:
    """`html` with its hole `name` filled with `content`."""
    return mark_safe(html.replace(hole(name), content, 1))

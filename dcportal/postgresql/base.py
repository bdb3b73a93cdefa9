"""Django's PostgreSQL backend, reading times with psycopg's compiled loader, and planning a text search
for its pattern every time.

Django reads each `timestamptz` value through a subclass of psycopg's pure-Python loader (to set the
connection's time zone on it), even where psycopg's compiled loader is installed: about 10 µs a value, 5 ms
for a page of 100 links with their five times each, against 0.7 ms compiled. This backend registers the
same loader on the compiled one instead: the same values, with the same time zone object.

With prepared statements on (settings, DATABASE_PREPARED_STATEMENTS), PostgreSQL may keep one plan for a
statement whatever its values. For a text search (`LIKE`, what `icontains` compiles to) that plan cannot
know the pattern, so it cannot judge the trigram index: the search page at 100,000 links took 280-370 ms
of the server's CPU, against about 220 with nothing prepared. Such a statement is never prepared; every
other one is, once run often enough.
"""

import functools
from datetime import datetime, tzinfo

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import Format

_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
# psycopg's own loader: the compiled one where psycopg's binary or C package is installed.
_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)


class ServerBindingCursor(base.ServerBindingCursor):
    """Django's cursor for values sent apart from the SQL; a statement that searches text is not prepared."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if prepare is None and isinstance(query, str) and " LIKE " in query:
            prepare = False
        return super().execute(query, params, prepare=prepare, binary=binary)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        params["context"] = _with_fast_times(params["context"], self.timezone)
        if params["cursor_factory"] is base.ServerBindingCursor:
            params["cursor_factory"] = ServerBindingCursor
        return params


@functools.cache
def _with_fast_times(template: psycopg.adapt.AdaptersMap, zone: tzinfo | None) -> psycopg.adapt.AdaptersMap:
    """Django's adapters (one map per time zone, as Django keeps them), with the compiled time loader."""

    class TimeLoader(psycopg.adapt.Loader):
        timezone = zone  # what Django's cursor compares with its own, to leave the loader as it is

        def __init__(self, oid: int, context: object = None) -> None:
            super().__init__(oid, context)
            self._compiled = _LOADER(oid, context)  # (a compiled class cannot be subclassed)

        def load(self, data: bytes) -> datetime:
            # As Django's own: the connection's time zone (Django sets it) put on the value read.
            return self._compiled.load(data).replace(tzinfo=zone)

    adapters = psycopg.adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", TimeLoader)
    return adapters

"""Sessions: Django's, in the database, each read by a query compiled once (models.fixed_rows), as every
request of a signed-in person reads theirs (pages and their polls alike). The same query brings the
version of the data pages draw (`data_version.current`): read first, before anything a page draws, and
at no query of its own."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone

from peerlinks import data_version
from peerlinks.models import fixed_rows


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        """The session if it exists and has not expired, else None (and no key, as Django's own)."""
        found = fixed_rows("session", _session_query, self.session_key)
        if found and found[0].expire_date > timezone.now():
            data_version.seen(found[0].data_version)
            return found[0]
        self._session_key = None
        return None


def _session_query(session_key: str) -> QuerySet[Session]:
    return Session.objects.filter(session_key=session_key).annotate(data_version=data_version.column())

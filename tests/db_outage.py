"""A real database outage for tests: PostgreSQL behind a loopback TCP proxy the test cuts (open connections
closed, new ones dropped at once), or SQLite's file held under `BEGIN EXCLUSIVE` by another connection for
longer than the busy timeout. SQLite keeps a write-ahead log (dcportal/settings.py), so that lock stops
writers only and readers go on, as they would in production; this process's own connection, routed
through the outage (`through_here`), finds the file gone instead, so its reads fail too. Not a mock: the
driver, Django and our code see what they see in production."""

import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit, urlunsplit

# SQLite's busy timeout for the processes of an outage test (seconds): a lock held longer is an outage.
SQLITE_TIMEOUT = 0.3
# Where this process's own connection looks for the SQLite file during an outage: a folder that is not there.
GONE = "/nonexistent-dcportal-outage/db.sqlite3"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `upstream` until cut; while cut, every connection is closed."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_cut = threading.Event()
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="db-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.is_cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(target)

    def _close(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self.is_cut.set()
        with self.lock:
            cut = list(self.open)
        for sock in cut:
            self._close(sock)

    def restore(self) -> None:
        self.is_cut.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


class DatabaseOutage:
    """The test database, reachable through something a test can take away (`begin`/`end`)."""

    def __init__(self, settings_dict: dict) -> None:
        self.vendor = "sqlite" if settings_dict["ENGINE"].endswith("sqlite3") else "postgresql"
        self.settings_dict = settings_dict
        self.proxy: TcpProxy | None = None
        self.holder: sqlite3.Connection | None = None
        self.routed = None  # this process's connection while `through_here` routes it (SQLite)
        self.name = ""  # the SQLite file's name, while the routed connection looks elsewhere
        if self.vendor == "postgresql":
            self.proxy = TcpProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))

    def url(self, direct_url: str) -> str:
        """`direct_url` (the test database) as processes reach it: through the proxy on PostgreSQL."""
        if self.proxy is None:
            return direct_url
        parts = urlsplit(direct_url)
        auth = parts.netloc.rsplit("@", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{self.proxy.port}"))

    def env(self) -> dict[str, str]:
        return {"SQLITE_TIMEOUT": str(SQLITE_TIMEOUT)}

    def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        self.holder = sqlite3.connect(self.settings_dict["NAME"], timeout=10, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")
        if self.routed is not None:
            self.routed.close()
            self.name = self.routed.settings_dict["NAME"]  # (the same settings as self.settings_dict)
            self.routed.settings_dict["NAME"] = GONE

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        assert self.holder is not None
        self.holder.execute("ROLLBACK")
        self.holder.close()
        self.holder = None
        if self.routed is not None:
            self.routed.close()
            self.routed.settings_dict["NAME"] = self.name

    @contextmanager
    def through_here(self, connection) -> Iterator[None]:
        """Route this process's own connection (the test client's) through the outage, then put it back."""
        saved = {key: self.settings_dict.get(key) for key in ("HOST", "PORT")}
        options = dict(self.settings_dict.get("OPTIONS") or {})
        connection.close()
        if self.proxy is not None:
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(self.proxy.port))
        else:
            connection.settings_dict["OPTIONS"] = {**options, "timeout": SQLITE_TIMEOUT}
            self.routed = connection
        try:
            yield
        finally:
            self.routed = None
            connection.close()
            connection.settings_dict.update(saved)
            connection.settings_dict["OPTIONS"] = options

    def close(self) -> None:
        if self.holder is not None:
            self.end()
        if self.proxy is not None:
            self.proxy.close()

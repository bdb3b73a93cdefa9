"""Serving the simulator: a threaded wsgiref server whose handler can drop a connection without a byte."""

import contextlib
import socket
import socketserver
import threading
from dataclasses import dataclass
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from dcsim.app import Simulator
from dcsim.errors import DropConnection

_MAX_REQUEST_LINE = 65536


class _ResponseWriter(ServerHandler):
    """wsgiref's handler, except that DropConnection leaves the response unwritten."""

    dropped = False

    def run(self, application: object) -> None:
        try:
            self.setup_environ()
            self.result = application(self.environ, self.start_response)
            self.finish_response()
        except DropConnection:
            self.dropped = True
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError):
            return
        except Exception:
            try:
                self.handle_error()
            except Exception:
                self.close()
                raise


class _RequestHandler(WSGIRequestHandler):
    """Passes the raw request target and headers to the app (the signature covers them), and can drop."""

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ["dcsim.raw_uri"] = self.path
        environ["dcsim.headers"] = list(self.headers.items())
        return environ

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
        if len(self.raw_requestline) > _MAX_REQUEST_LINE:
            body = b'{"error_msg": "Request-URI Too Large", "error_code": "APIGW.0201"}'
            self.wfile.write(
                b"HTTP/1.0 414 Request-URI Too Large\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            return
        if not self.parse_request():
            return
        writer = _ResponseWriter(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        writer.request_handler = self
        writer.run(self.server.get_app())
        if writer.dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: object) -> None:
        """The app logs each request itself (without secrets)."""


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn), a DNS round trip we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()


def make_server(sim: Simulator, host: str = "127.0.0.1", port: int = 8790) -> WSGIServer:
    """A threaded HTTP server for the simulator, bound but not yet serving."""
    server = _ThreadingServer((host, port), _RequestHandler)
    server.set_app(sim)
    return server


@dataclass
class SimulatorHandle:
    """A simulator serving in a background thread."""

    sim: Simulator
    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self, seed: str = "empty") -> dict:
        """Wipe state, clear faults, restore the start config, load a seed."""
        return self.sim.reset(seed)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_background(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: str = "empty",
    transition_delay: float = 3.0,
    **options: object,
) -> SimulatorHandle:
    """Start a simulator on ``host:port`` (0: an ephemeral port) in a daemon thread."""
    sim = Simulator(seed=seed, transition_delay=transition_delay, **options)
    server = make_server(sim, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="dcsim-server", daemon=True
    )
    thread.start()
    return SimulatorHandle(sim=sim, server=server, thread=thread, host=host, port=server.server_address[1])

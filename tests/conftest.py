"""Shared fixtures: the simulator on an ephemeral loopback port, and a guard that keeps tests offline."""

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets (PostgreSQL's socket) stay on this machine


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"tests must not leave loopback: connect to {address!r} refused")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _offline_guard():
    """Fail any connection a test makes outside 127.0.0.0/8 and ::1."""
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


@pytest.fixture(scope="session")
def simulator_session():
    """One simulator process-wide (in a background thread), on an ephemeral port, empty seed."""
    from dcsim.server import start_background

    handle = start_background(host="127.0.0.1", port=0, seed="empty", transition_delay=0.2)
    yield handle
    handle.stop()


@pytest.fixture
def simulator(simulator_session):
    """The shared simulator, reset to the empty seed with no faults before each test."""
    simulator_session.reset(seed="empty")
    yield simulator_session
    simulator_session.reset(seed="empty")


@pytest.fixture
def demo_simulator(simulator_session):
    """The shared simulator, reset to the demo seed before each test."""
    simulator_session.reset(seed="demo")
    yield simulator_session
    simulator_session.reset(seed="empty")

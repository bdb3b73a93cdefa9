"""A real OpenID Connect provider for the SSO tests: tests/oidc/idp.js (panva's oidc-provider, an
OpenID-certified implementation) run with Node on a free loopback port.

Its packages come from tests/oidc/package-lock.json (`npm ci`, run here when tests/oidc/node_modules is
missing, and by `make setup`). Without Node the SSO tests skip, unless CI is set: then they fail.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "dcportal-tests"
CLIENT_SECRET = "idp-client-secret-for-tests-only"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str

    def settings(self) -> dict[str, object]:
        """dcportal's settings for this provider (the endpoints its discovery document lists)."""
        return {
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/auth",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/me",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "OIDC_OP_LOGOUT_ENDPOINT": f"{self.issuer}/session/end",
        }


def _node_or_skip() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        message = "Node.js and npm are needed for the single sign-on tests (apt-get install nodejs npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True)
    return node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def identity_provider(*, site_url: str, users: dict[str, dict]) -> Iterator[IdentityProvider]:
    """The provider, knowing dcportal at `site_url` as its one client and `users` as its people
    ({"login": {"email", "name", "groups"}}); stopped on exit."""
    node = _node_or_skip()
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URI": f"{site_url}/oidc/callback/",
        "POST_LOGOUT_REDIRECT_URI": f"{site_url}/login/",
        "USERS": json.dumps(users),
    }
    # A file, not a pipe: a chatty provider never blocks on it.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen([node, "idp.js"], cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for(port, process, log)
            yield IdentityProvider(issuer=f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for(port: int, process: subprocess.Popen, log: object) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the test identity provider did not start: {log.read()}") from None
            time.sleep(0.05)
    raise RuntimeError("the test identity provider did not answer within 15 s")

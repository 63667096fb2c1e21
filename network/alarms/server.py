"""The evaluator's live alarms over HTTP: ``GET /v1/alarms`` on loopback, served by ``consortium up``.

The answer is the alarms document (``network.alarms.store``): every alarm in force and the recently resolved
ones, with ``evaluated_ms``, when the evaluator last finished a round (null before its first). It is the whole
list: the one client is the explorer, which holds the token and shows each person only the alarms that person
may see (``explorer.access.sees_alarm``, docs/alarms.md), as it filters everything else it reads from the log.

Who may ask: the server binds to 127.0.0.1 only, and every request must carry ``Authorization: Bearer <token>``,
the token of ``DIR/alarms/api.token`` (256 random bits, readable by the owner only, made by ``up`` at its first
start), as the notary's operations figures ask for the monitor token (``notary/monitor.token``). A process of
another account on the machine reaches the port but not the file; a request without the token gets 401 and
learns nothing, not even whether an alarm is active. ``GET /healthz`` answers ``{"ok": true}`` to anyone.

:func:`answer` is the whole protocol (method, path and Authorization in; status and JSON body out), testable
without sockets; :class:`AlarmServer` is the standard library's ``ThreadingHTTPServer`` around it, a thread of
``up``. What it serves is whatever the source it is given returns at the time of each request: :data:`NEVER`
until ``up`` attaches the evaluator (:meth:`AlarmServer.attach`), which ``up`` does once its children are up,
so the port is taken (and a port in use reported) before the notary and the rest start.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from network.alarms.store import ALARMS_DIR, NEVER, AlarmState
from network.logsetup import secret_token

log = logging.getLogger("network.alarms")

PATH = "/v1/alarms"
HEALTH_PATH = "/healthz"
TOKEN_FILE = "api.token"
HOST = "127.0.0.1"
#: ``consortium up --port PORT`` serves the endpoint on PORT + this (PORT+1 is the notary, PORT+2 the demo
#: services, PORT+6… the witnesses).
PORT_OFFSET = 3


def token_path(directory: Path) -> Path:
    return directory / ALARMS_DIR / TOKEN_FILE


def api_token(directory: Path, create: bool = False) -> str | None:
    """The endpoint's token of the consortium in ``directory`` (None if there is none); with ``create``, made
    (256 random bits, readable by the owner only) when missing."""
    return secret_token(token_path(directory), create)


def endpoint_url(port: int) -> str:
    """The URL of the endpoint of ``consortium up --port PORT``."""
    return f"http://{HOST}:{port + PORT_OFFSET}{PATH}"


def answer(
    state: Callable[[], AlarmState], token: str, method: str, path: str, authorization: str | None
) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a request: 404 for another path, 405 for another method, 401 without the
    token (checked in constant time), else 200 and the document of ``state()``."""
    route = path.split("?", 1)[0]
    if route not in (PATH, HEALTH_PATH):
        return 404, {"error": "not_found", "detail": f"no {route}: the alarms are at {PATH}"}
    if method != "GET":
        return 405, {"error": "method_not_allowed", "detail": f"{route} answers GET only"}
    if route == HEALTH_PATH:
        return 200, {"ok": True}
    expected = f"Bearer {token}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode("latin-1", "replace"), expected):
        return 401, {"error": "unauthenticated", "detail": f"give Authorization: Bearer <the token of {ALARMS_DIR}/"
                     f"{TOKEN_FILE}>"}  # fmt: skip
    return 200, state().to_json()


class AlarmServer(ThreadingHTTPServer):
    """The endpoint on ``127.0.0.1:port`` (0: a free port), serving from a thread of its own."""

    daemon_threads = True

    def __init__(self, token: str, port: int = 0, source: Callable[[], AlarmState] | None = None) -> None:
        self.token = token
        self._source: Callable[[], AlarmState] = source or (lambda: NEVER)
        super().__init__((HOST, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="alarm-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}{PATH}"

    def attach(self, source: Callable[[], AlarmState]) -> None:
        """Serve what ``source`` returns from now on (``up`` gives the evaluator's ``state``)."""
        self._source = source

    def state(self) -> AlarmState:
        return self._source()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(10)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: AlarmServer
    #: One request per connection (HTTP/1.0): a loopback connect every few seconds costs nothing, and no
    #: kept-alive connection goes on being served after :meth:`AlarmServer.close`.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._reply("GET")

    def do_POST(self) -> None:
        self._reply("POST")

    def do_PUT(self) -> None:
        self._reply("PUT")

    def do_DELETE(self) -> None:
        self._reply("DELETE")

    def _reply(self, method: str) -> None:
        try:
            status, body = answer(
                self.server.state, self.server.token, method, self.path, self.headers.get("Authorization")
            )
        except Exception:  # a source that fails answers 500, and the server goes on
            log.exception("alarm endpoint failed")
            status, body = 500, {"error": "internal", "detail": "the alarms could not be read; see up's log"}
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("alarm endpoint: " + format, *args)

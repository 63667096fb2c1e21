"""An ASGI app (the notary's, in the tests that use it) served by uvicorn on loopback in a thread."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import uvicorn

from network.localchain import free_port
from notary.api.tlspeer import Gate
from tests.support.wait import wait_until

#: Seconds the server may take to start.
START_TIMEOUT = 30.0


class ApiServer:
    """An ASGI app served by uvicorn on loopback in a thread."""

    def __init__(
        self,
        app: Any,
        port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        gate: Gate | None = None,
    ) -> None:
        """``port``: where to serve (again, after a :meth:`stop`); a free one if None. ``ssl_context``: serve
        HTTPS as ``notary serve --tls-cert`` does, each connection's client certificate handed to the app, after
        ``gate`` (``CallerAuthenticator.handshake_refusal``) let it in."""
        from notary.api.app import tls_options

        self.port = free_port() if port is None else port
        self.url = f"{'http' if ssl_context is None else 'https'}://127.0.0.1:{self.port}"
        options = tls_options(ssl_context, gate)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, "the notary API to start", START_TIMEOUT)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

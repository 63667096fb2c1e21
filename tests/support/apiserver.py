"""An ASGI app (the notary's, in the tests that use it) served by uvicorn on loopback in a thread."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from network.localchain import free_port
from tests.support.wait import wait_until

#: Seconds the server may take to start.
START_TIMEOUT = 30.0


class ApiServer:
    """An ASGI app served by uvicorn on loopback in a thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        """``port``: where to serve (again, after a :meth:`stop`); a free one if None."""
        self.port = free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, "the notary API to start", START_TIMEOUT)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

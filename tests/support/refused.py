"""A service that is down, without a socket: every ``httpx.Client`` made during a test has its connections refused.

Unit tests (tests/unit/, which open no sockets) of code that reaches a notary or a node over HTTP use it for the
"nothing listens there" case: the code under test sees the ``httpx.ConnectError`` a refused connection gives, and
the test sees which URLs were tried. httpx's own ``MockTransport`` answers in place of the network; the code under
test is unchanged, since it makes its clients through ``httpx.Client``.
"""

from __future__ import annotations

import httpx
import pytest


def refuse_every_connection(monkeypatch: pytest.MonkeyPatch) -> list[httpx.URL]:
    """Make each ``httpx.Client`` created until the test ends refuse every request; returns the URLs tried."""
    tried: list[httpx.URL] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tried.append(request.url)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    real = httpx.Client

    class Refused(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["transport"] = httpx.MockTransport(refuse)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "Client", Refused)
    return tried

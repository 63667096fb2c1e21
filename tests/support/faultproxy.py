"""A TCP forwarder the tests put between processes to cut and heal the links between them.

Each :meth:`FaultProxy.link` listens on a port of its own and forwards every connection to one target port, so
a directed link between two nodes (A's connections to B) is one listening port, and a partition is a set of
links cut. It forwards bytes and nothing else: TLS runs end to end through it, and the nodes cannot tell it is
there. :meth:`FaultProxy.cut` closes the link's open connections at once (a reset on both ends) and then
either refuses new ones (accepted and reset: a peer that is down) or blackholes them (accepted, then never a
byte either way: a network that drops packets, which the client only notices by its own timeout);
:meth:`FaultProxy.heal` lets new connections through again and resets the blackholed ones.

All of it runs on one asyncio loop in one daemon thread; the methods may be called from any thread and return
once the change has taken effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Mode = Literal["refuse", "blackhole"]
CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    target: int
    cut: Mode | None = None
    server: asyncio.Server | None = None
    #: Open forwarded connections: both transports of each.
    forwarded: set[tuple[asyncio.BaseTransport, asyncio.BaseTransport]] = field(default_factory=set)
    #: Connections accepted while blackholed.
    held: set[asyncio.BaseTransport] = field(default_factory=set)


class FaultProxy:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._links: dict[int, _Link] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault proxy", daemon=True)
        self._thread.start()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def link(self, target: int) -> int:
        """A new link to ``target`` (a port on ``host``); its listening port."""
        return self._call(self._open(target))

    def cut(self, ports: Iterable[int], mode: Mode = "refuse") -> None:
        """Cut the links listening on ``ports``: their connections are reset, new ones refused or blackholed."""
        self._call(self._set(list(ports), mode))

    def heal(self, ports: Iterable[int] | None = None) -> None:
        """Let connections through ``ports`` (every link when None) again."""
        self._call(self._set(list(self._links) if ports is None else list(ports), None))

    def held(self, port: int) -> int:
        """How many connections the link on ``port`` holds blackholed now."""

        async def count() -> int:
            return len(self._links[port].held)

        return self._call(count())

    def stop(self) -> None:
        async def close() -> None:
            await self._set(list(self._links), "refuse")
            for link in self._links.values():
                if link.server is not None:
                    link.server.close()

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- on the loop ------------------------------------------------------------------------------------------

    async def _open(self, target: int) -> int:
        link = _Link(target)
        link.server = await asyncio.start_server(
            lambda r, w: self._accept(link, r, w), self.host, 0, reuse_address=True
        )
        port = int(link.server.sockets[0].getsockname()[1])
        self._links[port] = link
        return port

    async def _set(self, ports: list[int], mode: Mode | None) -> None:
        for port in ports:
            link = self._links[port]
            link.cut = mode
            if mode is not None:
                for pair in list(link.forwarded):
                    for transport in pair:
                        _abort(transport)
                link.forwarded.clear()
            if mode != "blackhole":
                for transport in link.held:
                    _abort(transport)
                link.held.clear()

    async def _accept(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if link.cut == "refuse":
            _abort(writer.transport)
            return
        if link.cut == "blackhole":
            if isinstance(writer.transport, asyncio.ReadTransport):
                writer.transport.pause_reading()  # not a byte read or written until it is reset
            link.held.add(writer.transport)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, link.target)
        except OSError:
            _abort(writer.transport)
            return
        if link.cut is not None:  # cut while this connection was being made
            _abort(writer.transport)
            _abort(up_writer.transport)
            return
        pair = (writer.transport, up_writer.transport)
        link.forwarded.add(pair)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            link.forwarded.discard(pair)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either end closes; then close ``writer`` (after what it holds)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        _abort(writer.transport)
        return
    with contextlib.suppress(ConnectionError, OSError):
        writer.close()


def _abort(transport: asyncio.BaseTransport) -> None:
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()

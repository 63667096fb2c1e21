"""Keep-alive connections served by a fixed set of threads, and the standard library's HTTP server on them.

A connection belongs to no thread while it waits for its next request. One watcher thread holds every waiting
connection in a selector and hands a connection whose socket turns readable (a request, a TLS ClientHello, or its
close) to a queue; ``workers`` threads take connections from it, serve one request each (the first time a
TLS handshake before it), and put the connection back to the watcher unless it closed. A burst of clients queues
for the workers instead of starting a thread each, and no thread is started or stopped per request or per
connection; a connection that sends nothing holds no thread at all.
With epoll (Linux) a waiting connection is registered once, one-shot: the worker that served it arms it again
itself, so that a keep-alive request wakes the watcher once (its bytes), not twice (its bytes and its hand-back).

A client that sent its request within ``follow`` seconds (:data:`FOLLOW`, 2 ms) of its last answer is likely to
send the next as soon: the worker that answers it keeps watching its connection for that long before giving it
back, and serves the next request itself if it comes by then. A client that sends its requests one after another
(a member's SDK, a gateway asking the node) is then served as the standard library's thread per connection served
it, with one wake-up per request instead of two (the watcher's, then the worker's); one that polls every 0.1 s
is given back at once, as before, and costs no watch that times out. A worker follows only while nothing waits in
the queue and another worker, which no other follower counts on, waits for work: a connection that turns readable
meanwhile is served by that one, not delayed. At most ``follow`` seconds pass before a connection that sends
nothing more is watched by the watcher again (its idle time counts from then).

A request already read into a connection's buffers (a client that sent its next request before reading the last
answer, or TLS data decrypted ahead) would not make its socket readable again: :meth:`Served.buffered` says so,
and the worker serves it at once instead of giving the connection back.

The watcher closes a connection that waited ``idle_timeout`` seconds without a request (or the shorter time the
connection asks for, :meth:`Served.wait_limit`); it sleeps until one of its connections is readable, a connection
is added, or the next of them reaches its limit (with none waiting, until something happens). While a worker
serves a request, :class:`PooledHandler` bounds the whole request, not each read: a client that sends a byte now
and then holds a worker no longer than that.

:class:`PooledServer` and :class:`PooledHandler` put the standard library's HTTP server on a pool: the accepting
thread only accepts a connection (wrapping a TLS one without its handshake) and hands it over; the handler serves
one request a call instead of the whole connection from its constructor, and opens the connection on the first
call: the TLS handshake, in a worker once the client's first bytes arrived, then :meth:`PooledHandler.opened`,
where a server refuses a client by its certificate before reading any request of it.

Bounds of a request (:class:`PooledHandler`): its line, headers and body must arrive within ``request_deadline``
seconds (:data:`REQUEST_DEADLINE`) of the moment the watcher hands its connection to the queue, its first bytes
having arrived (:meth:`Served.queued`), plus a second for each ``body_rate`` bytes (:data:`BODY_RATE`, 1 MiB) of the
``Content-Length`` its headers declare, and no read waits longer than ``timeout``. The time the connection waits in
the queue for a worker counts: a request that waited 9 s there has 1 s left, not 10 more. What has arrived is
still read past the deadline (a client that sent its whole request in time is served however long it queued);
only a read that would wait for more ends the request. A keep-alive connection's next request has a deadline of
its own (from its own hand-over, or, already in the buffers when the last was answered, from the moment its worker
starts on it). A request that misses it is answered 408 by ``send_error`` and its connection closed once what the
client still sends is dropped, as after a refusal at the handshake (below): closing with it unread would reset the
connection and could lose the 408 of a client still sending. Each server
overrides ``send_error`` to answer in its own error form (the node's JSON-RPC: one JSON-RPC error object; the peer
routes and the alarm endpoint: their JSON ``{"error": ...}``; the witness: its one-line text), not the standard
library's HTML page, and answers its own refusals (a body without a usable length, or too large) in that form too.
A client refused
at the handshake (:meth:`PooledHandler.linger`) is answered at once and its connection given back to the watcher,
which holds it without a thread while what the client sends is dropped (so that closing does not reset the
connection and lose the answer) until it closes, ``linger_quiet`` seconds pass without a byte, ``linger_limit``
bytes came or ``linger_total`` seconds passed: a refused client holds a worker for a few non-blocking reads only.
"""

from __future__ import annotations

import contextlib
import email.parser
import http.client
import io
import math
import queue
import re
import select
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

from chain.node.linger import DISCARD_LIMIT, DISCARD_SECONDS

#: Seconds each read of a request (and the TLS handshake) may take once the client started sending.
REQUEST_TIMEOUT = 10.0
#: Seconds a whole request (line, headers, body) may take from the moment a worker starts reading it, plus
#: a second for each :data:`BODY_RATE` bytes of the body its headers declare.
REQUEST_DEADLINE = 10.0
#: Bytes a second a large body is given on top of the request's deadline (a peer's 32 MiB block batch: 32 s more),
#: counted up to :data:`_BODY_COUNTED` bytes (the servers refuse bodies over their limit before reading them).
BODY_RATE = 1024 * 1024
_BODY_COUNTED = 64 * 1024 * 1024
#: Significant digits past which a ``Content-Length`` is read as :data:`LENGTH_CAP` (:func:`declared_length`).
_LENGTH_DIGITS = 18
#: The length a ``Content-Length`` of more than 18 significant digits stands for: over every body limit here.
LENGTH_CAP = 10**_LENGTH_DIGITS
#: Seconds without a byte after which a connection refused at the handshake is closed.
LINGER_QUIET = 1.0
#: Seconds a worker that answered a request keeps watching its connection for the next one, when that request
#: came within as long of the answer before it (:class:`ConnectionPool`).
FOLLOW = 0.002
#: Bytes a worker drops from a refused connection before it gives it back to the watcher (a client streaming
#: fast is read in turns, as other connections are).
_LINGER_TURN = 256 * 1024


class Served(Protocol):
    """One client connection as the pool drives it."""

    def fileno(self) -> int: ...

    def serve(self) -> bool:
        """Serve one request (the first time, open the connection first: a TLS handshake); whether the connection
        stays open for the next."""
        ...

    def buffered(self) -> bool:
        """Whether the next request is already (partly) read into the connection's buffers, without waiting."""
        ...

    def queued(self) -> None:
        """The watcher hands the connection to the workers' queue (its client's bytes arrived): the moment its
        request's deadline runs from."""
        ...

    def wait_limit(self) -> float | None:
        """Seconds the connection may wait for its client's next bytes before it is closed (None: the pool's
        ``idle_timeout``)."""
        ...

    def failed(self) -> None:
        """Report the exception being handled, which ``serve`` raised."""
        ...

    def close(self) -> None: ...


class ConnectionPool:
    """``workers`` threads serving the connections given to :meth:`add`; waiting ones are closed after
    ``idle_timeout`` seconds. Threads are named after ``name``.

    Where the system has epoll (Linux), each waiting connection is registered once, one-shot (``EPOLLONESHOT``):
    a readable one is disarmed as the watcher hands it over, and the worker that served it arms it again itself,
    so a keep-alive request wakes the watcher once, not twice (no wake-up and re-registration when the connection
    is given back). Elsewhere (``epoll=False``, or no epoll), the watcher's selector: a connection is unregistered
    when readable and registered again by the watcher once given back.

    A worker that answered a request which came within ``follow`` seconds of its connection's answer before, while
    the queue is empty and another worker is idle (one for each worker following), watches that connection itself
    for ``follow`` seconds and serves its next request if it comes by then (0: never; one worker, or no
    ``select.poll``: never). ``clock`` (seconds, monotonic) measures the time from an answer to the next request."""

    def __init__(
        self,
        workers: int,
        idle_timeout: float,
        name: str,
        epoll: bool = True,
        follow: float = FOLLOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1:
            raise ValueError("a connection pool needs at least one worker")
        if not 0 <= follow <= idle_timeout:
            raise ValueError(f"a worker follows a connection for 0 to idle_timeout seconds, not {follow}")
        self.workers = workers
        self.idle_timeout = idle_timeout
        self.name = name
        self.follow = follow if hasattr(select, "poll") else 0.0
        #: Times the watcher was woken by a wake-up (not by a connection turning readable); for tests.
        self.wakeups = 0
        #: Requests a worker served by following their connection (not handed over by the watcher); for tests.
        self.followed = 0
        self._counts = threading.Lock()
        self._idle = 0  # workers waiting for a connection
        self._following = 0  # workers following the connection they answered
        self._clock = clock
        #: the connections given back to the watcher after an answer, and when (``clock``) that answer was written
        self._answered: dict[Served, float] = {}
        self._one_shot = epoll and hasattr(select, "epoll")
        self._ready: queue.SimpleQueue[Served | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._incoming: list[Served] = []  # to be watched, handed over under the lock (selector)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        # One-shot: what is registered (fd -> connection, and back), the waiting ones' deadlines, and a time no
        # deadline comes before (the watcher sleeps until then), all under the lock.
        self._by_fd: dict[int, Served] = {}
        self._fd_of: dict[Served, int] = {}
        self._deadlines: dict[Served, float] = {}
        self._sweep = math.inf

    def start(self) -> None:
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        # Readable once stopping, never drained: a worker following a connection returns at once.
        self._stopped_read, self._stopped_write = socket.socketpair()
        if self._one_shot:
            self._epoll = select.epoll()
            self._epoll.register(self._wake_read.fileno(), select.EPOLLIN)
        watch = self._watch_one_shot if self._one_shot else self._watch
        threads = [threading.Thread(target=watch, name=f"{self.name}-watcher", daemon=True)]
        threads += [
            threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True) for i in range(self.workers)
        ]
        self._threads = threads
        for thread in threads:
            thread.start()

    def add(self, connection: Served) -> None:
        """Serve ``connection`` once it sends something (an accepted socket: nothing read from it yet)."""
        if self._one_shot:
            self._arm(connection)
            return
        with self._lock:
            if self._stopping:
                connection.close()
                return
            self._incoming.append(connection)
        self._wake()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every waiting connection and stop the threads once their request is answered (the caller shuts
        down the sockets of the connections being served, so that a worker waiting on one returns)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        if not self._threads:  # never started (its server could not bind, say): nothing to wake, join or close
            return
        self._wake()
        with contextlib.suppress(OSError):
            self._stopped_write.send(b"\0")
        for _ in range(self.workers):
            self._ready.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        while True:  # handed to the workers after they were told to stop
            try:
                left = self._ready.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                self._close(left)
        if self._one_shot:
            self._epoll.close()
        self._wake_read.close()
        self._wake_write.close()
        self._stopped_read.close()
        self._stopped_write.close()

    def _wake(self) -> None:
        try:
            self._wake_write.send(b"\0")
        except BlockingIOError:  # the watcher has wake-ups unread: it looks at everything anyway
            pass
        except OSError:  # stopped meanwhile
            pass

    # -- one-shot (epoll) ---------------------------------------------------------------------------------------

    def _arm(self, connection: Served) -> None:
        """Watch ``connection`` for its next bytes, from any thread: registered the first time, armed again after;
        the watcher is woken only when the connection's deadline comes before every other one."""
        limit = connection.wait_limit()
        deadline = time.monotonic() + (self.idle_timeout if limit is None else limit)
        with self._lock:
            if self._stopping:
                refused = True
            else:
                refused = False
                self._deadlines[connection] = deadline  # before arming: its event may come at once
                try:
                    if connection in self._fd_of:
                        self._epoll.modify(self._fd_of[connection], select.EPOLLIN | select.EPOLLONESHOT)
                    else:
                        fd = connection.fileno()
                        self._epoll.register(fd, select.EPOLLIN | select.EPOLLONESHOT)
                        self._by_fd[fd], self._fd_of[connection] = connection, fd
                except (OSError, ValueError):  # closed meanwhile
                    del self._deadlines[connection]
                    refused = True
                earlier = deadline < self._sweep
                if earlier and not refused:
                    self._sweep = deadline
        if refused:
            self._close(connection)
        elif earlier:
            self._wake()

    def _close(self, connection: Served) -> None:
        """Forget ``connection`` (unregistered before its socket closes, whose number may be reused) and close it."""
        self._answered.pop(connection, None)
        if self._one_shot:
            with self._lock:
                self._deadlines.pop(connection, None)
                fd = self._fd_of.pop(connection, None)
                if fd is not None:
                    del self._by_fd[fd]
                    with contextlib.suppress(OSError, ValueError):
                        self._epoll.unregister(fd)
        connection.close()

    def _watch_one_shot(self) -> None:
        epoll = self._epoll
        wake = self._wake_read.fileno()
        while True:
            with self._lock:
                sweep = self._sweep
            timeout = -1.0 if sweep == math.inf else max(0.0, sweep - time.monotonic())
            try:
                events = epoll.poll(timeout)
            except (OSError, ValueError):  # closed by stop
                return
            expired: list[Served] = []
            with self._lock:
                for fd, _ in events:
                    if fd == wake:
                        self.wakeups += 1
                        while self._drained():
                            pass
                        continue
                    connection = self._by_fd.get(fd)
                    if connection is not None and self._deadlines.pop(connection, None) is not None:
                        connection.queued()
                        self._ready.put(connection)  # disarmed (one-shot) until its worker arms it again
                if self._stopping:
                    expired = list(self._deadlines)
                else:
                    now = time.monotonic()
                    if now >= self._sweep:  # not at every event: a request costs the same however many wait
                        expired = [c for c, deadline in self._deadlines.items() if deadline <= now]
                        for connection in expired:
                            del self._deadlines[connection]
                        self._sweep = min(self._deadlines.values(), default=math.inf)
                stopping = self._stopping
            for connection in expired:
                self._close(connection)
            if stopping:
                return

    # -- threads ------------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._counts:
                self._idle += 1
            connection = self._ready.get()
            with self._counts:
                self._idle -= 1
            if connection is None:
                return
            answered = self._answered.pop(connection, None)
            # a request that came within ``follow`` of the answer before: its client is likely to send the next
            # as soon, so it is followed
            prompt = answered is not None and self._clock() - answered <= self.follow
            keep = False
            try:
                keep = connection.serve()
                while keep:
                    if connection.buffered():
                        keep = connection.serve()
                        continue
                    answered = self._clock()
                    if not (prompt and self._followed(connection)):
                        break
                    keep = connection.serve()
            except Exception:
                connection.failed()
                keep = False
            if keep:
                if answered is not None:
                    self._answered[connection] = answered
                self.add(connection)
            else:
                self._close(connection)

    def _followed(self, connection: Served) -> bool:
        """Whether ``connection``'s next bytes came within ``follow`` seconds of its answer, watched by this worker
        while no other connection waits for one and an idle worker no other follower counts on would serve one that
        comes (then handed over as the watcher hands it: :meth:`Served.queued`). A connection with a wait limit of
        its own (one refused, whose bytes are being dropped) is not followed."""
        if self.follow <= 0 or connection.wait_limit() is not None:
            return False
        with self._counts:
            if self._idle <= self._following or not self._ready.empty():
                return False
            self._following += 1
        poller = select.poll()
        try:
            poller.register(connection.fileno(), select.POLLIN)
            poller.register(self._stopped_read.fileno(), select.POLLIN)
            events = poller.poll(self.follow * 1000)
        except (OSError, ValueError):  # closed meanwhile (stop): serving it would meet the error
            return False
        finally:
            with self._counts:
                self._following -= 1
        if not events or self._stopping:
            return False
        connection.queued()
        self.followed += 1
        return True

    def _watch(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ, None)
        deadlines: dict[Served, float] = {}
        sweep = math.inf  # no waiting connection reaches its deadline before this (one may reach it later)
        try:
            while True:
                timeout = None if sweep == math.inf else max(0.0, sweep - time.monotonic())
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        self.wakeups += 1
                        while self._drained():
                            pass
                        continue
                    selector.unregister(key.fileobj)
                    del deadlines[key.data]
                    key.data.queued()
                    self._ready.put(key.data)
                with self._lock:
                    incoming, self._incoming = self._incoming, []
                    stopping = self._stopping
                if stopping:
                    for connection in [*deadlines, *incoming]:
                        self._answered.pop(connection, None)
                        connection.close()
                    return
                now = time.monotonic()
                for connection in incoming:
                    try:
                        selector.register(connection, selectors.EVENT_READ, connection)
                    except (OSError, ValueError):  # closed meanwhile
                        connection.close()
                        continue
                    limit = connection.wait_limit()
                    deadline = now + (self.idle_timeout if limit is None else limit)
                    deadlines[connection] = deadline
                    sweep = min(sweep, deadline)
                if now >= sweep:  # not at every wake-up: a request costs the same however many connections wait
                    for connection, deadline in list(deadlines.items()):
                        if deadline <= now:
                            selector.unregister(connection)
                            del deadlines[connection]
                            self._answered.pop(connection, None)
                            connection.close()
                    sweep = min(deadlines.values(), default=math.inf)
        finally:
            selector.close()

    def _drained(self) -> bool:
        """Read wake-ups; whether there may be more."""
        try:
            return len(self._wake_read.recv(4096)) == 4096
        except (BlockingIOError, OSError):
            return False


# -- HTTP on the pool -----------------------------------------------------------------------------------------------


class PooledServer(HTTPServer):
    """An HTTP server whose accepted connections ``pool`` serves with ``handler`` (the pool is started here and
    stopped by :meth:`server_close`); with ``ssl_context`` they speak TLS. A host with a colon is IPv6."""

    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[PooledHandler],
        pool: ConnectionPool,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.stopping = False  # :meth:`shutdown` was called
        self.pool = pool
        self.handler = handler
        self.ssl_context = ssl_context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        pool.start()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.ssl_context is None:
            return sock, address
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the accepted connection to the pool (the accepting thread reads nothing from it); once the server
        is stopping, close it."""
        if self.stopping:
            with contextlib.suppress(OSError):
                request.close()
            return
        with self.connections_lock:
            self.connections.add(request)
        self.pool.add(self.handler(request, client_address, self))

    def shutdown(self) -> None:
        """Have :meth:`serve_forever` (running in another thread) return, at once: the standard library's looks at
        its stop request only between two polls of the listening socket, half a second apart, so a connection made
        to that socket here (accepted, then closed unread) wakes it as soon as the request is made."""
        self.stopping = True  # from now on an accepted connection is closed at once: the wake-up is served no request
        stopping = threading.Thread(target=super().shutdown, name="http-shutdown", daemon=True)
        stopping.start()
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):  # listening on every address: the loopback one of its family
            host = "::1" if self.address_family == socket.AF_INET6 else "127.0.0.1"
        while stopping.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((str(host), int(port)), timeout=1).close()
            stopping.join(0.05)

    def close_connections(self) -> None:
        """End every open connection: the waiting ones, and those being served (their worker's read returns)."""
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):  # the plain socket's shutdown: the TLS layer sees the end of stream
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def server_close(self) -> None:
        """Stop listening, end every open connection and stop the pool's threads (again: nothing more)."""
        super().server_close()
        self.close_connections()
        self.pool.stop()


class PooledHandler(BaseHTTPRequestHandler):
    """One connection, driven by the pool (:class:`Served`) a request at a time, instead of the standard library's
    handler serving the whole connection from its constructor. Keep-alive (HTTP/1.1); a request must arrive within
    ``request_deadline`` seconds by ``clock`` of its hand-over to the queue, each read of it within ``timeout``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = REQUEST_TIMEOUT
    request_deadline = REQUEST_DEADLINE
    body_rate = BODY_RATE
    #: Bounds of dropping what a client refused at the handshake sends (:meth:`linger`).
    linger_quiet = LINGER_QUIET
    linger_total = DISCARD_SECONDS
    linger_limit = DISCARD_LIMIT
    #: The clock of the request deadline and of :meth:`linger`'s total (seconds, monotonic).
    clock: Callable[[], float] = staticmethod(time.monotonic)
    server: PooledServer
    raw_requestline: bytes

    def __init__(self, request: Any, client_address: Any, server: PooledServer) -> None:
        self.request, self.client_address, self.server = request, client_address, server
        self._opened = False
        self._closed = False
        self._deadline: float | None = None  # of the request being read
        self._queued: float | None = None  # when the watcher last handed the connection to the queue
        self._expired = False  # a read of the request timed out
        self._lingering: float | None = None  # refused: when dropping what the client sends ends
        self._linger_left = 0

    def opened(self) -> bool:
        """Once the connection is open (its TLS handshake done), before any request is read: whether to serve it.
        A server that refuses the client here answers it and returns False: the connection is closed, or, after
        :meth:`linger`, closed once what the client sends meanwhile is dropped."""
        return True

    def linger(self) -> None:
        """From :meth:`opened`, once a refusal is written (and after a 408): drop what the client sends, unparsed,
        before closing (a close with unread data would reset the connection and lose the answer), waiting for it
        without a thread; the connection is closed once the client closes, ``linger_quiet`` seconds pass without a
        byte, ``linger_limit`` bytes came or ``linger_total`` seconds passed."""
        self._lingering = self.clock() + self.linger_total
        self._linger_left = self.linger_limit

    def fileno(self) -> int:
        return int(self.request.fileno())

    def queued(self) -> None:
        self._queued = self.clock()

    def serve(self) -> bool:
        if self._lingering is not None:
            return self._discard()
        if not self._opened:
            self._opened = True
            self.setup()
            if not self.opened():
                return self._lingering is not None and self._discard()
            if not self.buffered():  # a TLS client's request has not arrived yet: wait for it without a thread
                return True
        self.close_connection = True
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"  # until its line is parsed
        self._expired = False
        # From the hand-over to the queue, the wait for a worker included; a request already in the buffers
        # when the last one was answered (not handed over again): from now.
        started = self.clock() if self._queued is None else self._queued
        self._queued = None
        self._deadline = started + self.request_deadline
        try:
            self.handle_one_request()
        finally:
            allowed = (self._deadline or started) - started
            self._deadline = None  # each read gave the socket its ``timeout`` back
        if self._expired:
            self.close_connection = True
            try:
                self.send_error(HTTPStatus.REQUEST_TIMEOUT, f"request not received within {allowed:.3g} s")
            except OSError:
                return False
            # what the client still sends is dropped before the close, as after a refusal: a close with it unread
            # would reset the connection, and the client, still sending, could lose the 408
            self.linger()
            return self._discard()
        return not self.close_connection

    def parse_request(self) -> bool:
        """The standard library's parsing of the request line and headers (that of Python 3.11's
        ``BaseHTTPRequestHandler.parse_request``, same answers to the same errors), the headers read by
        :func:`read_headers`; then the request's deadline is moved by the body they declare (``body_rate``)."""
        self.command = None  # type: ignore[assignment]  # set in case of error on the first line
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) == 0:
            return False
        if len(words) >= 3:  # enough to determine the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                components = base_version_number.split(".")
                if len(components) != 2:
                    raise ValueError
                if any(not component.isdigit() for component in components):
                    raise ValueError("non digit in http version")
                if any(len(component) > 10 for component in components):
                    raise ValueError("unreasonable length http version")
                version_number = int(components[0]), int(components[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({base_version_number})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # reduce to a single /
        try:
            self.headers = read_headers(self.rfile, self.MessageClass)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        declared = declared_length(self.headers.get("Content-Length"))
        if self._deadline is not None and declared is not None:
            self._deadline += min(declared, _BODY_COUNTED) / self.body_rate
        conntype = self.headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "")
        if (
            expect.lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return self.handle_expect_100()
        return True

    def wait_limit(self) -> float | None:
        if self._lingering is None:
            return None
        return max(0.0, min(self.linger_quiet, self._lingering - self.clock()))

    def buffered(self) -> bool:
        """Whether bytes of a next request are in the reader's buffer or the TLS layer's, or come at once from the
        socket: read without blocking."""
        if self._lingering is not None:
            return False
        reader = self.rfile
        assert isinstance(reader, io.BufferedReader), "the request handler reads through a buffer"
        self.connection.settimeout(0.0)
        try:
            return bool(reader.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True  # serving it meets the error and closes
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(self.timeout)

    def failed(self) -> None:
        self.server.handle_error(self.request, self.client_address)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._opened and hasattr(self, "wfile"):
            with contextlib.suppress(OSError):
                self.finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.request)
        self.server.shutdown_request(self.request)

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # here, in a worker, not in the accepting thread
        super().setup()
        self.rfile.close()  # the socket's own reader: replaced by one that keeps the request's deadline
        self.rfile = io.BufferedReader(_RequestReader(self))

    def _discard(self) -> bool:
        """Drop what the refused client sent, without waiting; whether to wait for more."""
        assert self._lingering is not None
        self.connection.settimeout(0.0)
        read = 0
        try:
            while read < _LINGER_TURN:
                chunk = self.connection.recv(65536)
                if not chunk:
                    return False
                read += len(chunk)
                self._linger_left -= len(chunk)
                if self._linger_left <= 0:
                    return False
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except OSError:  # ssl.SSLError included: the client may end as it likes
            return False
        return self.clock() < self._lingering


#: The standard library's bounds of a header block: bytes a line, lines (``http.client._MAXLINE``, ``_MAXHEADERS``).
_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100
#: A header line the fast path of :func:`read_headers` takes: a name of the characters the email parser accepts in
#: one, a colon, a value of printable ASCII, spaces and tabs (nothing the email parser would split a line at), and
#: the line's end. Any other line: the email parser reads the block.
_SIMPLE_HEADER = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([\t\x20-\x7e]*)\r?\n")


def declared_length(value: str | None) -> int | None:
    """The body length a ``Content-Length`` header's ``value`` declares: None unless it is ASCII decimal digits;
    one of more than 18 significant digits as :data:`LENGTH_CAP`, too large for every server here (``int`` refuses
    a string of over 4,300 digits: such a header would otherwise fail the request instead of refusing it 413)."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0")
    return int(digits or "0") if len(digits) <= _LENGTH_DIGITS else LENGTH_CAP


def read_headers(reader: Any, message_class: type[Message] = http.client.HTTPMessage) -> Message:
    """A request's header block from ``reader``, as ``http.client.parse_headers`` reads it (same message, same
    errors); a block of simple ``Name: value`` lines (a request's usual one) without the email parser, which costs
    17 µs of CPU for four headers, against 3 µs here."""
    lines: list[bytes] = []
    while True:
        line = reader.readline(_MAX_HEADER_LINE + 1)
        if len(line) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = message_class()
    for line in lines[:-1]:
        simple = _SIMPLE_HEADER.fullmatch(line)
        if simple is None:
            return email.parser.Parser(_class=message_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        message.set_raw(simple[1].decode("ascii"), simple[2].decode("ascii"))
    return message


class _RequestReader(io.RawIOBase):
    """The reads of a handler's requests from its socket: while a request is read (its ``_deadline`` set), each
    waits no longer than the handler's ``timeout`` nor past the deadline (past it, a read takes what has arrived
    without waiting); a read that times out, or finds nothing past the deadline, marks the request expired (the
    handler answers 408). Two ``settimeout`` calls a read: 1.5 µs."""

    def __init__(self, handler: PooledHandler) -> None:
        super().__init__()
        self._handler = handler
        self._sock: socket.socket = handler.connection

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()

    def readinto(self, buffer: Any) -> int | None:
        handler = self._handler
        deadline = handler._deadline
        if deadline is not None:  # past it: what has arrived is still read, without waiting for more
            left = deadline - handler.clock()
            self._sock.settimeout(min(handler.timeout, left) if left > 0 else 0.0)
        try:
            return self._sock.recv_into(buffer)
        except (BlockingIOError, ssl.SSLWantReadError):
            if deadline is None:  # a non-blocking look (``buffered``): nothing yet
                return None
            handler._expired = True  # past the deadline, and nothing more arrived
            raise TimeoutError(f"the request took over {handler.request_deadline:g} s") from None
        except TimeoutError:
            if deadline is not None:
                handler._expired = True
            raise
        finally:
            if deadline is not None:  # writes (the answer, a 100 Continue) wait ``timeout`` again
                self._sock.settimeout(handler.timeout)

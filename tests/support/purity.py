"""The guard that keeps tests/unit/ pure: no sockets to connect or bind, no child processes, no servers.

``tests/unit/conftest.py`` arms a :class:`Guard` during the setup and the call of every test under tests/unit/
(fixtures of any scope that the test is the first to need included). While armed, it replaces, in this process:

- ``socket.socket.connect``, ``connect_ex``, ``bind`` and ``sendto`` (so ``socket.create_connection``, asyncio's
  connections and servers, HTTP clients and TLS sockets too), whatever the address family: a Unix socket is a
  server as much as a TCP one. ``socket.socketpair`` stays allowed, since it opens nothing to the outside and
  every asyncio event loop makes one for itself;
- ``subprocess.Popen`` (so ``run``, ``check_output`` and asyncio's subprocesses), ``os.fork``, ``os.forkpty``,
  ``os.posix_spawn``, ``os.posix_spawnp``, ``os.system`` and ``_posixsubprocess.fork_exec`` (what
  multiprocessing's spawn and forkserver start methods call directly).

Each replaced call raises :class:`ImpureUnitTest`, saying what was attempted and where such a test belongs, and
records it, so that a test whose code under test swallows the error (``except Exception``) still fails.
``disarm`` puts back exactly what ``arm`` found: tests elsewhere, pytest-xdist's worker (whose execnet channel
exists before any test runs and opens nothing new) and threads outside a test's run see the real functions.
"""

from __future__ import annotations

import _posixsubprocess
import os
import socket
import subprocess
from collections.abc import Callable
from typing import Any

#: The socket methods refused: each opens a connection, a server or a datagram to somewhere.
SOCKET_CALLS = ("connect", "connect_ex", "bind", "sendto")
#: The functions of ``os`` refused: each starts a process.
OS_CALLS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")

_INHERITED = object()  # the attribute came from a base class: delete ours instead of setting one back


class ImpureUnitTest(AssertionError):
    """A test under tests/unit/ tried to open a socket or start a process."""


def message(what: str) -> str:
    """The failure a refused call gives: what it was and what to do instead."""
    return (
        f"{what}: tests under tests/unit/ are pure (no sockets, no child processes, no servers); a test that needs "
        "one belongs in tests/integration/<package>/, or drive the code in process (an ASGI app through "
        "httpx.ASGITransport or starlette's TestClient, tests.support.refused for a service that is down)"
    )


def _describe_address(address: object) -> str:
    return repr(address) if isinstance(address, tuple | str | bytes) else type(address).__name__


class Guard:
    """The replaced functions of one guarded phase, and what they refused; ``with Guard() as guard:`` arms it.

    Arm and disarm within one phase of one test: guards nest (each puts back what it found), but only when the
    last armed is the first disarmed.
    """

    def __init__(self) -> None:
        self.refused: list[ImpureUnitTest] = []
        self._saved: list[tuple[object, str, object]] = []

    def _refuse(self, what: str) -> ImpureUnitTest:
        error = ImpureUnitTest(message(what))
        self.refused.append(error)
        return error

    def _socket_call(self, name: str) -> Callable[..., Any]:
        def refuse(sock: socket.socket, address: object, *args: object) -> Any:
            if name == "sendto" and args:  # sendto(data, address) or sendto(data, flags, address)
                address = args[-1]
            raise self._refuse(f"socket.{name}({_describe_address(address)})")

        return refuse

    def _process_call(self, name: str) -> Callable[..., Any]:
        def refuse(*args: object, **kwargs: object) -> Any:
            shown = f"{args[0]!r}" if args and name != "os.fork" else ""
            raise self._refuse(f"{name}({shown})")

        return refuse

    def _popen_init(self) -> Callable[..., None]:
        def refuse(popen: subprocess.Popen[Any], args: object, *rest: object, **kwargs: object) -> None:
            raise self._refuse(f"subprocess.Popen({args!r})")

        return refuse

    def __enter__(self) -> Guard:
        self.arm()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disarm()

    def arm(self) -> None:
        """Replace the calls; until ``disarm``, each raises and is recorded."""
        replace: list[tuple[object, str, object]] = [
            (socket.socket, name, self._socket_call(name)) for name in SOCKET_CALLS
        ]
        replace.append((subprocess.Popen, "__init__", self._popen_init()))
        replace += [(os, name, self._process_call(f"os.{name}")) for name in OS_CALLS if hasattr(os, name)]
        replace.append((_posixsubprocess, "fork_exec", self._process_call("_posixsubprocess.fork_exec")))
        for owner, name, function in replace:
            self._saved.append((owner, name, owner.__dict__.get(name, _INHERITED)))
            setattr(owner, name, function)

    def disarm(self) -> None:
        """Put back what ``arm`` replaced."""
        for owner, name, original in reversed(self._saved):
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()

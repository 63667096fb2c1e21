"""Real servers tests start for themselves on 127.0.0.1: for the storage tests PostgreSQL (Debian's package) and
an S3-compatible object store (moto's server mode, from PyPI); for any integration test a small HTTP server in
process (``LocalHTTPServer``), the other end of a webhook, a peer, an upstream service or a tampering proxy.

PostgreSQL and the S3 store are each a child process in a temporary directory, on a free port, stopped at the
end; each test takes a fresh database or bucket from the shared server, so tests never see each other's data.
PostgreSQL refuses to run as root, so under root the cluster belongs to (and the server runs as) the ``postgres``
account the Debian package creates. ``kill()`` is ``kill -9`` for crash and outage tests; ``start()`` brings the
same data back.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler
from types import TracebackType
from typing import Any, Protocol, Self

from tests.support.up_process import free_port
from tests.support.wait import wait_until


def postgres_bindir() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (the newest major version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres")
    return Path(which).parent if which else None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on 127.0.0.1:``port``: an open port alone does not say
    the server a test started is there. Another pytest run on the machine hands out the same ports (each run's
    ``free_port`` walks the same range), and in the seconds before a child binds its port another run's server may
    bind it: the child exits with ``Address already in use`` while the port answers, and the test would use a
    stranger's server, whose data goes when that run stops or kills it."""
    sockets: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    if not sockets:
        return False
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in descriptors:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                return True
    return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not: nobody may be there to reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class PortTakenError(RuntimeError):
    """A server a test started exited because another program had bound its port first."""


class _OnAPort(Protocol):
    port: int

    def start(self) -> None: ...


def start_on_a_free_port(server: _OnAPort, attempts: int = 3) -> None:
    """``server.start()`` on its ``port``; when another program bound that port first (``PortTakenError``), on
    another free port, ``attempts`` times in all. Nothing but the port is chosen again: a server whose data does
    not name its port (PostgreSQL's cluster, made before) keeps it."""
    for attempt in range(attempts):
        try:
            server.start()
            return
        except PortTakenError:
            if attempt == attempts - 1:
                raise
            server.port = free_port()


class PostgresServer:
    """A PostgreSQL cluster in ``directory``, serving 127.0.0.1:``port`` with trust authentication."""

    def __init__(self, directory: Path) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL's server is not installed (make system-packages installs it)")
        self.bindir = bindir
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.port = free_port()
        self.user = "consortium"
        self._process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._open_parents()
        subprocess.run(
            [self.bindir / "initdb", "-D", self.data, "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-locale"],
            check=True, capture_output=True, **self._as,
        )  # fmt: skip
        start_on_a_free_port(self)  # the cluster, made before, has no port of its own

    def _open_parents(self) -> None:
        """The server must reach its directory through every parent. Again at each start: another pytest run on
        the machine sets its ``pytest-of-<user>`` directory back to 0700 when it begins."""
        for parent in self.directory.parents:
            if parent == Path("/"):
                break
            with contextlib.suppress(OSError):
                os.chmod(parent, os.stat(parent).st_mode | 0o011)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server on its data; a start that exits at once (the shared memory of a killed server's last
        backend not yet released) is tried again, twice at most."""
        for attempt in range(3):
            if self._start_once() or attempt == 2:
                break
            time.sleep(1)  # the kernel releases the dead backends' shared memory in its own time
        if self._process is not None and self._process.poll() is not None:
            lines = (self.directory / "server.log").read_text(errors="replace").splitlines()
            said = [line for line in lines if "the database system is starting up" not in line]
            error = PortTakenError if "Address already in use" in "\n".join(said[-5:]) else RuntimeError
            raise error(f"PostgreSQL on port {self.port} exited: " + "\n".join(said[-20:]))

    def _start_once(self) -> bool:
        if self._as:
            self._open_parents()
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - the child holds it
        self._process = subprocess.Popen(
            [
                self.bindir / "postgres", "-D", self.data, "-h", "127.0.0.1", "-p", str(self.port),
                "-k", self.directory, "-c", "fsync=on", "-c", "max_connections=200",
            ],
            stdout=log, stderr=log, **self._as,
        )  # fmt: skip
        log.close()
        process = self._process
        wait_until(
            lambda: process.poll() is not None or self._ready(),
            f"PostgreSQL on port {self.port}",
            timeout=60,
        )
        return process.poll() is None

    def _ready(self) -> bool:
        if self._process is None or not _listens(self._process.pid, self.port):
            return False
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _backends(self) -> list[int]:
        """The server's processes but the postmaster (client backends and background workers)."""
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()").fetchall()
        except psycopg.OperationalError:
            return []
        return [int(pid) for (pid,) in rows]

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URL. A server that a test killed and could not start again (its outage
        outlived the test) is started first, so that test fails alone and not every later test of the worker."""
        import psycopg

        if self._process is None or self._process.poll() is not None:
            self.start()
        name = f"{prefix}_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def kill(self) -> None:
        """``kill -9`` the postmaster and its backends (an outage, or a crash: WAL replay at the next start)."""
        if self._process is None:
            return
        backends = self._backends()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._process = None
        # the backends notice their postmaster died and exit; until one has, its client can still be answered
        wait_until(lambda: not _port_open(self.port), "PostgreSQL's backends to exit", timeout=30)
        wait_until(lambda: not any(map(_alive, backends)), "PostgreSQL's backends to exit", timeout=30)
        with contextlib.suppress(FileNotFoundError):
            (self.data / "postmaster.pid").unlink()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        self._process = None


class S3Server:
    """moto's S3-compatible server on 127.0.0.1:``port`` (conditional writes honoured: ``If-None-Match: *``)."""

    access_key = "testing"
    secret_key = "testing"
    region = "us-east-1"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        start_on_a_free_port(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.directory / "s3.log", "ab")  # noqa: SIM115 - the child holds it
        before = log.tell()  # what this start writes follows
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip
        log.close()
        process = self._process
        wait_until(
            lambda: process.poll() is not None or _listens(process.pid, self.port),
            f"the S3 server on {self.port}",
            timeout=60,
        )
        if process.poll() is not None:
            said = (self.directory / "s3.log").read_bytes()[before:].decode(errors="replace")[-2000:]
            error = PortTakenError if "Address already in use" in said else RuntimeError
            raise error(f"the S3 server on port {self.port} exited: {said}")

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
        )  # fmt: skip

    def create_bucket(self, prefix: str = "t") -> str:
        """A new empty bucket; its name (the server started first if a test's outage outlived the test)."""
        if self._process is None or self._process.poll() is not None:
            self.start()
        name = f"{prefix}-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def kill(self) -> None:
        """An outage: moto keeps its objects in memory, so what it held is gone after ``start()``."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(timeout=30)
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=15)
        self._process = None


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access-log line to stderr for each request (pytest would show them)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalHTTPServer:
    """An HTTP server in this process on ``host`` (127.0.0.1) and a free port: ``handler`` answers each request in a
    thread of its own (``ThreadingHTTPServer``) until ``close()``, which ``with`` calls too.

    ``handler`` is a request handler class (``QuietHandler``'s subclasses keep the test output clean) or a
    ``functools.partial`` of one, as ``SimpleHTTPRequestHandler`` with ``directory=`` takes.
    """

    def __init__(self, handler: Callable[..., BaseRequestHandler], host: str = "127.0.0.1") -> None:
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.port: int = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving, close the listening socket, and wait (5 s at most) for the serving thread to end."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

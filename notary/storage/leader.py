"""Which notary replica leads: the one that signs, witnesses and publishes checkpoints and anchors them on chain.

Every replica sequences batches and publishes the objects they leave pending (both safe in any number of replicas
at once, ``notary.storage.postgres``). The duties of the checkpointer and the anchorer are not: two replicas
sign checkpoints of different sizes and push them to the same witnesses, which keep one latest size per log and
answer the slower one 409 (rounds wasted, witnesses' answers flapping in ``/healthz``); they publish the same
size twice with different cosignature sets; and they anchor from one account, racing for its nonce (one
transaction lost) or each anchoring its own size (transactions wasted). One leader does them.

The election (``docs/decisions.md``, "Leader election"):

- **A session-level advisory lock on a dedicated connection** (``pg_try_advisory_lock``) says who leads. Whoever
  takes it raises the fencing token in the ``leader`` row (``token + 1``) on the same connection. A leader whose
  process dies (``kill -9``) or whose connection is cut (``pg_terminate_backend``, a restart of the database)
  loses the lock with its session at once, and a follower, trying every ``interval``, takes over.
- **The session is a lease.** The dedicated connection runs with ``idle_session_timeout`` = ``lease``: the
  leader speaks on it every ``interval`` (a fifth of the lease), so a leader that is paused (a long GC, a
  stopped VM) or cut off by the network, and so silent, has its session ended by the server after ``lease``,
  and the lock with it. The replica also stops counting itself leader once ``lease`` has passed since its last
  heartbeat was answered, on its own clock, without waiting for the server.
- **Every leader-only write is fenced.** The store checks, in the write's own transaction, that the token this
  replica holds is the ``leader`` row's (read ``FOR SHARE``, so a takeover waits for it to commit) and refuses
  the write otherwise (:class:`~notary.storage.base.NotLeaderError`). An old leader that has not noticed yet
  (paused between its check and its write) writes nothing: its token is older than the row's.

The embedded SQLite store has one notary: :class:`SoleLeader` always leads, with no token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypedDict

from notary.storage.base import StoreError

if TYPE_CHECKING:  # imported by PostgresLeader's methods: a notary on SQLite never loads the PostgreSQL driver
    import psycopg

log = logging.getLogger("notary.leader")

#: The session-level advisory lock whose holder leads (its own key: the schema migrations use others).
LEADER_LOCK: Final = 0x6E6F_7461_7279_4C64  # "notaryLd"

#: Called with (leading, fencing token or None, why) each time this replica becomes or stops being leader.
OnChange = Callable[[bool, int | None, str], None]


class LeadershipStatus(TypedDict):
    """What :meth:`Leadership.status` reports, in the notary's health as ``leader``."""

    leader: bool
    token: int | None
    since_ms: int | None
    replica: str
    election: Literal["none", "postgresql"]


class Leadership(Protocol):
    def leading(self) -> bool:
        """Whether this replica leads now (and so runs the leader-only duties)."""
        ...

    def fencing_token(self) -> int | None:
        """The token to fence leader-only writes with; None while not leading."""
        ...

    def status(self) -> LeadershipStatus:
        """For ``/healthz``: ``leader``, ``token``, ``since_ms``, ``replica``, ``election``."""
        ...

    def run(self, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


def replica_name() -> str:
    """This process, as the leader row and the logs name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SoleLeader:
    """The only notary of an embedded store: leads from start to stop, fences nothing."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._since_ms = int(clock() * 1000)

    def leading(self) -> bool:
        return True

    def fencing_token(self) -> int | None:
        return None

    def status(self) -> LeadershipStatus:
        since = self._since_ms
        return {"leader": True, "token": None, "since_ms": since, "replica": replica_name(), "election": "none"}

    def run(self, stop: threading.Event) -> None:
        return None

    def close(self) -> None:
        return None


class PostgresLeader:
    """This replica's part in the election on the database at ``url`` (whose ``leader`` row the notary store's
    schema creates). :meth:`step` is one attempt (a follower) or heartbeat (the leader); :meth:`run` steps every
    ``interval`` (``lease`` / 5) until stopped. ``monotonic`` is the clock of the local lease."""

    def __init__(
        self,
        url: str,
        lease: float = 10.0,
        on_change: OnChange | None = None,
        replica: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        connect_timeout: int = 5,
        eligible: Callable[[], bool] | None = None,
    ) -> None:
        if lease < 0.5:
            raise StoreError(f"a leader lease of {lease:g} s is too short (at least 0.5 s)")
        self.url = url
        self.lease = lease
        self.interval = lease / 5
        self.replica = replica or replica_name()
        self._on_change = on_change
        self._monotonic = monotonic
        self._clock = clock
        self._connect_timeout = connect_timeout
        #: Whether this replica may lead now (None: always): one that may not never tries, and gives up the lead.
        self._eligible = eligible
        self._conn: psycopg.Connection[Any] | None = None
        self._token: int | None = None
        self._since_ms: int | None = None
        self._answered = 0.0  # monotonic time of the last heartbeat the database answered
        self._lock = threading.Lock()  # step and close take turns on the connection
        self.last_error: str | None = None

    # -- what the service asks

    def leading(self) -> bool:
        return self.fencing_token() is not None

    def fencing_token(self) -> int | None:
        token = self._token
        if token is None or self._monotonic() - self._answered >= self.lease:
            return None  # not leader, or silent for a whole lease: the server has ended the session by now
        return token

    @property
    def backend_pid(self) -> int | None:
        """The database server process of the dedicated connection (None while there is none)."""
        conn = self._conn
        return None if conn is None or conn.closed else int(conn.info.backend_pid)

    def status(self) -> LeadershipStatus:
        token = self.fencing_token()
        return {
            "leader": token is not None,
            "token": token,
            "since_ms": self._since_ms if token is not None else None,
            "replica": self.replica,
            "election": "postgresql",
        }

    # -- the election

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            # a dead peer is found within about a lease on this side too (never a recv that waits for ever)
            keepalives=1,
            keepalives_idle=max(1, int(self.interval)),
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=int(self.lease * 1000),
        )
        conn.execute("SET application_name = 'notary-leader'")
        try:
            conn.execute(f"SET idle_session_timeout = {int(self.lease * 1000)}")
        except psycopg.errors.UndefinedObject:  # before PostgreSQL 14: a silent leader keeps its session longer
            log.warning(
                "this PostgreSQL has no idle_session_timeout (14 and later have it): a paused or cut-off leader "
                "keeps the lead until the server's TCP keepalives end its session; it stops leading after %g s",
                self.lease,
            )
        return conn

    def step(self) -> bool:
        """Try to lead (a follower) or confirm that this replica still does (the leader); whether it leads."""
        import psycopg

        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._drop("its connection to the database was lost")
                    self._conn = self._connect()
                eligible = self._eligible is None or self._eligible()
                if self._token is None:
                    if eligible:
                        self._try_to_lead(self._conn)
                elif not eligible:
                    self._drop("this replica may not lead now (its log key is stale)")
                    self._conn.execute("SELECT pg_advisory_unlock_all()")
                else:
                    self._heartbeat(self._conn)
            except psycopg.Error as exc:
                self.last_error = f"{exc.__class__.__name__}: {exc}".strip()[:300]
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                self._drop(f"the database did not answer ({self.last_error})")
            return self.leading()

    def _try_to_lead(self, conn: psycopg.Connection[Any]) -> None:
        import psycopg

        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
        if not (row and row[0]):
            return
        try:
            with conn.transaction():
                got = conn.execute(
                    "UPDATE leader SET token = token + 1, holder = %s, since = now() WHERE id = 1 RETURNING token",
                    (self.replica,),
                ).fetchone()
        except psycopg.Error:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK,))
            raise
        if got is None:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK,))
            raise StoreError("the notary store has no leader row: open the store (it migrates the schema) first")
        self._answered = self._monotonic()
        self._token = int(got[0])
        self._since_ms = int(self._clock() * 1000)
        self.last_error = None
        log.info("this replica (%s) became leader, fencing token %d", self.replica, self._token)
        if self._on_change is not None:
            self._on_change(True, self._token, "took the leader lock")

    def _heartbeat(self, conn: psycopg.Connection[Any]) -> None:
        asked = self._monotonic()
        row = conn.execute("SELECT token, holder FROM leader WHERE id = 1").fetchone()
        if row is None or int(row[0]) != self._token:
            holder = "nobody" if row is None else f"{row[1]} (token {row[0]})"
            self._drop(f"the leader row names {holder}")
            conn.execute("SELECT pg_advisory_unlock_all()")
            return
        self._answered = asked  # the session answered, so it still holds the lock: leading for another lease

    def _drop(self, why: str) -> None:
        token, self._token, self._since_ms = self._token, None, None
        if token is None:
            return
        log.warning("this replica (%s) stopped being leader (fencing token %d): %s", self.replica, token, why)
        if self._on_change is not None:
            self._on_change(False, None, why)

    def run(self, stop: threading.Event) -> None:
        """Step at once, then every ``interval`` until ``stop``; a step never kills the loop."""
        while True:
            try:
                self.step()
            except Exception:  # logged; the next step tries again
                log.exception("leader election step failed")
            if stop.wait(self.interval):
                return

    def close(self) -> None:
        """Stop leading (a follower takes over at its next step) and close the dedicated connection."""
        import psycopg

        with self._lock:
            conn, self._conn = self._conn, None
            self._drop("the notary is stopping")
            if conn is not None and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock_all()")
                conn.close()

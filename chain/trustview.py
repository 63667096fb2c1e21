"""Following the TrustDirectory: the members' keys as the chain says they are, at a block, kept fresh.

:func:`load_snapshot` reads every record of the directory at one block (one ``eth_call`` per count and per record);
:func:`load_changes` reads, from a snapshot and the directory's events since, only the records changed.
:class:`TrustView` keeps the latest such snapshot and follows the chain as the gateway's chain view does: a thread
polls ``eth_blockNumber`` every ``poll_s`` (or the owner's own poll of the head drives it, :meth:`TrustView.follow`:
the gateway's chain view, one head poll for both); when the head moved it reads the directory's ``follow_state`` at
the new head (one call: its change count and the registry status of each org with records), and only when that
changed does it read the records the changes name again (the whole directory when their events do not account for
every change) and tell its subscribers. The keys of an org that is no longer a member (removed by governance) count
for nothing "now" or at any block; their records stay, and :meth:`TrustView.was_valid` still answers for them
(evidence of what was signed while it was a member).

"Now" is the head it last polled, so a key added from a later block (an overlap during a rotation) becomes valid,
and a key retired at a later block stops being valid, as the head passes that block, without any read. The head
moves only after the subscribers have taken a new snapshot in, so whoever sees ``head >= b`` gets answers no older
than block ``b``, from the view and from its subscribers alike.

While the chain does not answer, the view keeps its last snapshot and retries at every poll; it never goes back to
an older snapshot. A head lower than the one processed means another chain: the snapshot is read again.

Questions it answers, each at "now" or at a given block: the CA certificates of an org, the keys of a kind
(gateway, witness, log...), the revoked serials of an org's CA, whether a key was valid at a block, and at a
time (for evidence: the last block at or before that time, found by bisecting block timestamps).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from chain.backend import Backend, RpcBackend, head_number, read_errors
from chain.contracts._base import LOG_WINDOW
from chain.contracts.trust import KeyKind, KeyRecord, TrustDirectoryClient
from chain.ids import MemberStatus

log = logging.getLogger("chain.trustview")


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """Every record of the directory as read at ``block``."""

    block: int
    change_count: int
    records: Mapping[str, tuple[KeyRecord, ...]]
    #: org → its status in the ConsortiumRegistry at ``block`` (``chain.ids.MemberStatus``); None: not read
    statuses: Mapping[str, int] | None = None
    #: org → {serial: the first block it is revoked at}
    revocations: Mapping[str, Mapping[int, int]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        block: int,
        change_count: int,
        records: Mapping[str, tuple[KeyRecord, ...]],
        statuses: Mapping[str, int] | None = None,
    ) -> TrustSnapshot:
        revocations = {
            org: {int.from_bytes(r.value, "big"): r.valid_from for r in recs if r.kind is KeyKind.REVOKED_SERIAL}
            for org, recs in records.items()
        }
        return cls(block, change_count, dict(records), None if statuses is None else dict(statuses), revocations)

    def orgs(self) -> list[str]:
        return list(self.records)

    def member(self, org: str) -> bool:
        """Whether ``org`` is a member (active or suspended) on chain: a removed member's keys count for nothing."""
        return self.statuses is None or self.statuses.get(org) in (MemberStatus.ACTIVE, MemberStatus.SUSPENDED)

    def follow_state(self) -> tuple[int, tuple[int, ...]]:
        """What :meth:`TrustDirectoryClient.follow_state` answered when this snapshot was read."""
        return self.change_count, tuple((self.statuses or {}).get(org, 0) for org in self.records)

    def valid(self, kind: KeyKind, at_block: int, org: str | None = None) -> list[KeyRecord]:
        """The records of ``kind`` valid at ``at_block``, of ``org`` or of every org, in directory order; none of an
        org that is no longer a member."""
        orgs = self.records if org is None else {org: self.records.get(org, ())}
        return [
            r for o, recs in orgs.items() if self.member(o) for r in recs if r.kind is kind and r.valid_at(at_block)
        ]

    def find(self, org: str, kind: KeyKind, value: bytes) -> KeyRecord | None:
        for r in self.records.get(org, ()):
            if r.kind is kind and r.value == value:
                return r
        return None

    def revoked(self, org: str, serial: int, at_block: int) -> bool:
        since = self.revocations.get(org, {}).get(serial)
        return since is not None and since <= at_block


def load_snapshot(client: TrustDirectoryClient, block: int) -> TrustSnapshot:
    """Every record of the directory of ``client`` as it stands at ``block``, and its orgs' member statuses."""
    change_count, statuses = client.follow_state(block)
    orgs = [str(org) for org in client.orgs(block)]
    records = {org: tuple(client.records(org, block)) for org in orgs}
    return TrustSnapshot.of(block, change_count, records, dict(zip(orgs, statuses, strict=True)))


def load_changes(
    client: TrustDirectoryClient, snapshot: TrustSnapshot, block: int, state: tuple[int, tuple[int, ...]]
) -> TrustSnapshot | None:
    """The directory at ``block``, from ``snapshot`` (read at an earlier block of the same chain) and the changes
    made since: the records they name (:meth:`TrustDirectoryClient.changed_records`, one ``eth_getLogs``) read again
    at ``block``, one call each, every other record kept; ``state`` is the directory's ``follow_state`` at ``block``.
    None when the events do not account for every change the directory counted, or name a record out of order (a
    node that keeps no logs, say): the caller reads everything then."""
    count, statuses = state
    if block - snapshot.block > LOG_WINDOW:
        return None
    changed = client.changed_records(snapshot.block + 1, block)
    if len(changed) != count - snapshot.change_count:
        return None
    records = {org: list(held) for org, held in snapshot.records.items()}
    for org, index in sorted(set(changed)):  # by org, then index: a new record comes right after the last held
        record = client.record(org, index, block)
        held = records.setdefault(org, [])
        if record is None or index > len(held):
            return None
        if index == len(held):
            held.append(record)
        else:
            held[index] = record
    orgs = list(snapshot.records) if len(records) == len(snapshot.records) else [str(o) for o in client.orgs(block)]
    if sorted(orgs) != sorted(records) or len(statuses) != len(orgs):
        return None
    return TrustSnapshot.of(
        block, count, {org: tuple(records[org]) for org in orgs}, dict(zip(orgs, statuses, strict=True))
    )


class TrustViewHealth(TypedDict):
    """What :meth:`TrustView.health` reports, for the ``/healthz`` of the processes that follow the directory."""

    head: int
    read_at: int | None
    change_count: int | None
    reachable: bool
    seconds_since_sync: float | None


class TrustView:
    """The directory at ``address`` on ``backend``, followed (see the module docstring). Thread-safe: readers
    take no lock and see one snapshot or the next, never half of one. ``head`` says the chain's head block number
    (``eth_blockNumber`` of ``backend`` by default). Without :meth:`start`, no thread follows: the owner calls
    :meth:`refresh` when it wants the view fresh (a node's JSON-RPC, at each new block of its own chain)."""

    def __init__(
        self,
        backend: Backend,
        address: str,
        *,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        head: Callable[[], int] | None = None,
    ) -> None:
        self._backend = backend
        #: The chain's head block number: ``eth_blockNumber`` by default (plain JSON-RPC, not web3's stack); a node
        #: reading its own chain in process gives its own.
        self._read_head = head if head is not None else lambda: head_number(backend)
        self.client = TrustDirectoryClient(backend, address)
        self._poll_s = poll_s
        self._clock = clock
        self._snapshot: TrustSnapshot | None = None
        #: Snapshots read in full (every record); the others were read from the previous one and the changes since.
        self.full_reads = 0
        #: Whether ``backend`` answers ``eth_getLogs`` (JSON-RPC, web3): one that only answers calls (a node reading
        #: its own chain in process, which reads every record cheaply) is read in full at each change.
        self._reads_logs = isinstance(backend, RpcBackend) or hasattr(backend, "web3")
        self._head = -1
        self._last_sync = -math.inf
        self._reachable = False
        self._subscribers: list[Callable[[TrustSnapshot], None]] = []
        self._times: dict[int, int] = {}
        self._lock = threading.Lock()
        self._polling = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self, *, require: bool = True) -> None:
        """Read the directory at the head, then follow it in a thread. With ``require``, a chain that does not
        answer raises (ChainError or the transport's error); without, the thread keeps trying."""
        if self._thread is not None:
            raise RuntimeError("the trust view is already started")
        try:
            self.refresh()
        except Exception as exc:  # not only the transport's: a wrong address answers what no decoder reads
            if require:
                raise
            log.warning("trust directory not read yet (%s: %s); retrying", type(exc).__name__, exc)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="trust-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_s + 10)
            self._thread = None

    def subscribe(self, callback: Callable[[TrustSnapshot], None]) -> None:
        """Call ``callback(snapshot)`` with the current snapshot (if any) and after every change, from the
        thread that read it. A callback that raises is logged; the others still run."""
        with self._polling:  # no read in between: the callback never sees a snapshot after a newer one
            with self._lock:
                self._subscribers.append(callback)
                snapshot = self._snapshot
            if snapshot is not None:
                callback(snapshot)

    # ------------------------------------------------------------------------------------------ following

    def refresh(self, head: int | None = None) -> bool:
        """One poll: True when a new snapshot was read (and the subscribers told). ``head``: the chain's head as
        the caller has just read it (None: read it here)."""
        with self._polling:
            return self._refresh(head)

    def follow(self, head: int | None = None) -> None:
        """One poll as the view's thread makes it, a failure logged and counted as the chain unreachable: for an
        owner that polls the chain's head itself and follows the view without its thread (the gateway's chain
        view, whose watcher calls this after each of its polls). ``head``: the head that poll read; None (after a
        failed poll) reads it here, so that a chain that does not answer marks this view unreachable too."""
        try:
            self.refresh(head)
        except read_errors() as exc:
            if self._reachable:
                log.warning("trust directory unreachable: %s: %s", exc.__class__.__name__, exc)
            self._reachable = False
        except Exception as exc:  # a bug must not stop the watcher: the view would silently go stale
            if self._reachable:
                log.exception("trust view failed: %s", exc)
            self._reachable = False

    def _refresh(self, head: int | None = None) -> bool:
        if head is None:
            head = self._read_head()
        snapshot = self._snapshot
        fresh = None
        if snapshot is not None and head >= self._head:
            state = None if head == self._head else self.client.follow_state(head)
            if state is None or state == snapshot.follow_state():
                self._head = head
                self._synced()
                return False
            if self._reads_logs:
                fresh = load_changes(self.client, snapshot, head, state)
        elif snapshot is not None:
            log.warning(
                "chain head went back from %d to %d: another chain; reading the directory again", self._head, head
            )
            self._times.clear()
        if fresh is None:
            fresh = load_snapshot(self.client, head)
            self.full_reads += 1
        with self._lock:
            self._snapshot = fresh
            subscribers = list(self._subscribers)
        log.info(
            "trust directory at block %d: %d record(s) of %d org(s), change %d",
            head,
            sum(len(r) for r in fresh.records.values()),
            len(fresh.records),
            fresh.change_count,
        )
        for callback in subscribers:
            try:
                callback(fresh)
            except Exception:  # one consumer's bug must not keep the others stale
                log.exception("a trust directory subscriber failed")
        # The head moves last: whoever sees head >= b gets answers, its subscribers' included, no older than b.
        self._head = head
        self._synced()
        return True

    def _synced(self) -> None:
        self._last_sync = self._clock()
        self._reachable = True

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.follow()

    # ------------------------------------------------------------------------------------------ answers

    @property
    def snapshot(self) -> TrustSnapshot | None:
        """The latest snapshot; None until the directory was read once."""
        return self._snapshot

    @property
    def head(self) -> int:
        """The block "now" means: the head last polled (-1 before the first read)."""
        return self._head

    def health(self) -> TrustViewHealth:
        snapshot = self._snapshot
        return {
            "head": self._head,
            "read_at": None if snapshot is None else snapshot.block,
            "change_count": None if snapshot is None else snapshot.change_count,
            "reachable": self._reachable,
            "seconds_since_sync": None if self._last_sync == -math.inf else round(self._clock() - self._last_sync, 3),
        }

    def _at(self, at_block: int | None) -> tuple[TrustSnapshot | None, int]:
        return self._snapshot, self._head if at_block is None else at_block

    def valid(self, kind: KeyKind, org: str | None = None, at_block: int | None = None) -> list[KeyRecord]:
        """The records of ``kind`` valid at ``at_block`` (None: now), of ``org`` or of every org."""
        snapshot, block = self._at(at_block)
        return [] if snapshot is None else snapshot.valid(kind, block, org)

    def ca_certs(self, org: str | None = None, at_block: int | None = None) -> list[bytes]:
        """The DER of the CA certificates of ``org`` (None: every org) valid at ``at_block`` (None: now)."""
        return [r.value for r in self.valid(KeyKind.CA_CERT, org, at_block)]

    def keys(self, kind: KeyKind, org: str, at_block: int | None = None) -> list[bytes]:
        """The raw keys of ``kind`` of ``org`` valid at ``at_block`` (None: now)."""
        return [r.value for r in self.valid(kind, org, at_block)]

    def gateway_keys(self, org: str) -> list[bytes]:
        """The gateway keys of ``org`` valid now: what a batch or a read of its gateways may be signed with."""
        return self.keys(KeyKind.GATEWAY_KEY, org)

    def revoked_serials(self, org: str, at_block: int | None = None) -> frozenset[int]:
        """The serials of ``org``'s certificates revoked at ``at_block`` (None: now)."""
        snapshot, block = self._at(at_block)
        if snapshot is None:
            return frozenset()
        return frozenset(s for s, since in snapshot.revocations.get(org, {}).items() if since <= block)

    def is_revoked(self, org: str, serial: int) -> bool:
        """Whether ``org``'s certificate ``serial`` is revoked now: a dict lookup, for every request."""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.revoked(org, serial, self._head)

    def was_valid(self, org: str, kind: KeyKind, value: bytes, at_block: int) -> bool:
        """Whether ``org`` held the key ``value`` of ``kind`` valid at ``at_block``, as the chain says now (a
        compromise declared later, as of an earlier block, counts)."""
        snapshot = self._snapshot
        if snapshot is None:
            return False
        record = snapshot.find(org, kind, value)
        return record is not None and record.valid_at(at_block)

    def was_valid_at_time(self, org: str, kind: KeyKind, value: bytes, timestamp: float) -> bool:
        """:meth:`was_valid` at the last block whose timestamp is at or before ``timestamp`` (Unix seconds)."""
        block = self.block_at_time(timestamp)
        return block is not None and self.was_valid(org, kind, value, block)

    def block_at_time(self, timestamp: float) -> int | None:
        """The last block up to the head whose timestamp is at or before ``timestamp``; None before genesis."""
        low, high = 0, max(self._head, 0)
        if self._timestamp(low) > timestamp:
            return None
        if self._timestamp(high) <= timestamp:
            return high
        while high - low > 1:  # timestamp(low) <= t < timestamp(high)
            middle = (low + high) // 2
            if self._timestamp(middle) <= timestamp:
                low = middle
            else:
                high = middle
        return low

    def block_time(self, block: int) -> int:
        """The timestamp (Unix seconds) of ``block``, a block the chain has made; read once, then kept."""
        return self._timestamp(block)

    def _timestamp(self, block: int) -> int:
        known = self._times.get(block)
        if known is None:
            if isinstance(self._backend, RpcBackend):
                known = self._backend.block_timestamp(block)
            else:
                known = int(self._backend.web3.eth.get_block(block)["timestamp"])
            if len(self._times) > 100_000:
                self._times.clear()
            self._times[block] = known
        return known

"""The notary service: the store, the sequencer, the reader, the checkpointer, the anchorer and the evidence
builder, wired together; ``start`` runs the checkpoint and anchor loops in background threads.

Settings are explicit values (the log's suite and keys, witnesses, policy, chain client); the suite
(``notary.logsuite``) is chosen when the log is created and every part takes it from here. Reading them from a
consortium directory
is the job of ``network`` (which knows about identities). Serving the service over HTTP is the job of
``notary.api``, which imports it (never the other way round).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from chain.jsonlog import configure_json_logging
from chain.tx import Signer
from notary.anchor import AccountKey, Anchorer, AnchoringStatus, ChainClient
from notary.bundle import EvidenceBundle
from notary.checkpointer import Checkpointer, Witness, WitnessFollower, WitnessPolicy
from notary.errors import ConflictError, NotaryError, NotFoundError, StoreError, UnprocessableError
from notary.evidence import EvidenceBuilder
from notary.logkeys import RotatingSigner
from notary.logsuite import INTL, LogSuite, PrivateKey, suite_of_vkey
from notary.reader import LogReader
from notary.sequencer import GatewayKeySource, Sequencer, SequencerSettings
from notary.storage.base import AlarmRow, CheckpointRow, NotaryStorage
from notary.storage.leader import Leadership, LeadershipStatus, SoleLeader
from notary.storage.sqlite import LogStore
from suite.sm2 import SM2PrivateKey

log = logging.getLogger("notary")

DB_NAME = "notary.db"


class AnchorTiming(TypedDict, total=False):
    """The pace of :class:`AnchorSettings`, by keyword (``network.logsetup.anchor_settings`` passes them on)."""

    interval: float
    every_events: int
    max_backoff: float


@dataclass(frozen=True)
class AnchorSettings:
    """``client``: a connected AuditAnchor client, or a function that connects one. A function is called only
    when the anchorer first needs the chain, and again after each failed step, so the notary starts and serves
    while the chain is unreachable."""

    client: ChainClient
    signer: Signer
    interval: float = 10.0
    every_events: int = 100_000
    max_backoff: float = 60.0  # the longest wait between two anchoring steps while the chain fails
    #: AuditAnchors anchored on before ``client``'s (``consortium.json``'s ``retired_anchors``): (address, last
    #: size). The root of an anchor up to that size is compared with the chain there.
    retired: tuple[tuple[str, int], ...] = ()
    #: The key of the account to anchor from now, asked before each anchor (``notary.anchor.Anchorer``): the
    #: notary member's account followed through a rotation. None: ``signer`` always.
    account: AccountKey | None = None


@dataclass(frozen=True)
class NotarySettings:
    """One log. ``suite`` fixes its tree hash and the type of every key below: under ``intl`` (the default) the
    log key is Ed25519, the gateway keys are raw 32-byte Ed25519 keys and the witnesses cosign with Ed25519; under
    ``sm`` all are SM2 (gateway keys as 65-byte points)."""

    directory: Path
    origin: str
    log_key: PrivateKey
    gateway_keys: Mapping[str, bytes] | GatewayKeySource  # org id → raw public key(s) of its gateways
    witnesses: Sequence[Witness]
    policy: WitnessPolicy
    mmd_s: int = 10
    checkpoint_interval: float = 0.5
    anchor: AnchorSettings | None = None
    cache_tiles: int = 4096
    max_pages: int | None = None  # a cap on the database size, for tests of a full disk
    clock: Callable[[], float] = field(default=time.time)
    suite: LogSuite = INTL
    #: None: the embedded SQLite store in ``directory``. ``postgresql://…``: PostgreSQL, with ``object_store``
    #: (``s3://bucket[/prefix]?endpoint=…&region=…``) for tiles, entry bundles and checkpoints; several notaries
    #: may share them (``docs/notary.md``, "Storage backends").
    storage: str | None = None
    object_store: str | None = None
    #: None: ``witnesses`` and ``policy`` throughout. Else asked before each checkpoint round: the witnesses and
    #: the policy as the chain says they are now (``network.logsetup.ChainWitnesses``), with no restart.
    follow_witnesses: WitnessFollower | None = None
    #: Whether a raw public key is a log key of the notary's member on chain (the TrustDirectory's LOG_KEY
    #: records). None: the log's key never changes. Given, a store recorded under another key of the same origin
    #: and suite is served under ``log_key`` when it is on chain: the key was rotated (``notary rotate-key``).
    log_key_on_chain: Callable[[bytes], bool] | None = None
    #: Asked every ``log_key_interval`` s while the notary runs: a log key to sign with from now on, or None to
    #: keep the current one (``consortium notary serve`` answers the key file rewritten by ``notary rotate-key``
    #: once the chain says the new key is valid). None: never asked.
    next_log_key: Callable[[], PrivateKey | None] | None = None
    log_key_interval: float = 1.0
    maintain_interval: float = 5.0  # seconds between two publications of what is pending (PostgreSQL + S3)
    #: Replicas on PostgreSQL elect one leader to checkpoint and anchor (``notary.storage.leader``): a leader
    #: silent this long (paused, cut off) loses the lead; the replicas try or confirm it every fifth of it.
    leader_lease: float = 10.0


def open_store(settings: NotarySettings) -> NotaryStorage:
    """The store ``settings`` name: SQLite in the notary's directory, or PostgreSQL + an object store."""
    return _open_store(settings.directory, settings.storage, settings.object_store, settings.max_pages)


def _open_store(
    directory: Path, storage: str | None, object_store: str | None, max_pages: int | None = None
) -> NotaryStorage:
    if storage is None:
        if object_store is not None:
            raise StoreError("an object store is used with a PostgreSQL storage (--storage postgresql://…) only")
        return LogStore(directory / DB_NAME, max_pages=max_pages)
    if not storage.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"storage {storage.split('@')[-1]!r}: expected postgresql://…")
    if object_store is None:
        raise StoreError("a PostgreSQL storage needs an object store for tiles and bundles (--object-store s3://…)")
    from notary.storage.postgres import ObjectStoreConfig, PostgresStore

    return PostgresStore(storage, ObjectStoreConfig.parse(object_store))


def log_started(directory: Path, storage: str | None = None, object_store: str | None = None) -> bool:
    """Whether the store a notary of ``directory`` would open (``NotarySettings.storage`` and ``object_store``)
    holds a started log (:meth:`NotaryStorage.holds_log`), asked of its backend: the embedded store only if its
    file exists (nothing is created here); PostgreSQL by its ``meta`` table. Raises :class:`StoreError` (a
    :class:`StoreUnavailableError` naming the server) when the backend cannot answer."""
    if storage is None and object_store is None and not (directory / DB_NAME).exists():
        return False
    store = _open_store(directory, storage, object_store)
    try:
        return store.holds_log()
    finally:
        store.close()


class WitnessStatusJSON(TypedDict):
    status: int  # the witness's HTTP status at the last round, 0 when unreachable
    detail: str


class NotaryHealth(TypedDict):
    """What :meth:`NotaryService.health` reports: the figures of ``/healthz`` (``notary.api.schemas.Health``) and
    ``/metrics``, which ``consortium up``'s alarm probe and the explorer read."""

    origin: str
    vkey: str
    size: int
    signed_size: int
    published_size: int
    published_ms: int | None
    witnesses: dict[str, WitnessStatusJSON]
    policy: str
    anchored_size: int
    anchoring: AnchoringStatus | None
    gaps: int
    alarms: int
    leader: LeadershipStatus


class NotaryService:
    def __init__(self, settings: NotarySettings) -> None:
        self.settings = settings
        self.origin = settings.origin
        self.suite = suite = settings.suite
        self.signer = RotatingSigner(suite.note_signer(settings.origin, settings.log_key))
        self.store: NotaryStorage = open_store(settings)
        #: Why this replica signs nothing now (another replica rotated the log's key past its own), or None.
        self.stale_key: str | None = None
        self._check_identity()
        self.leader: Leadership = self._leadership(settings)
        self.sequencer = Sequencer(
            self.store,
            self.signer,
            SequencerSettings(settings.origin, settings.mmd_s),
            settings.gateway_keys,
            clock=settings.clock,
            on_commit=self._committed,
            suite=suite,
        )
        self.reader = LogReader(self.store, lambda: self.sequencer.size, settings.cache_tiles, suite.tree)
        self.checkpointer = Checkpointer(
            self.store,
            self.reader,
            self.signer,
            settings.origin,
            settings.witnesses,
            settings.policy,
            lambda: self.sequencer.size,
            clock=settings.clock,
            follow=settings.follow_witnesses,
        )
        self.anchorer: Anchorer | None = None
        if settings.anchor is not None:
            a = settings.anchor
            self.anchorer = Anchorer(
                self.store,
                self.reader,
                a.client,
                a.signer,
                settings.origin,
                a.interval,
                a.every_events,
                settings.clock,
                a.max_backoff,
                suite,
                settings.log_key if isinstance(settings.log_key, SM2PrivateKey) else None,
                a.retired,
                a.account,
            )
        self.evidence_builder = EvidenceBuilder(
            settings.origin,
            self.store,
            self.sequencer.receipt,
            self.reader.inclusion,
            self.anchorer,
            settings.mmd_s,
            tree=suite.tree,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _leadership(self, settings: NotarySettings) -> Leadership:
        """One notary on an embedded store leads alone; replicas on PostgreSQL elect a leader there, and the
        store fences their leader-only writes with its token."""
        if settings.storage is None:
            return SoleLeader(settings.clock)
        from notary.storage.leader import PostgresLeader
        from notary.storage.postgres import PostgresStore

        # a replica whose log key the log rotated away from signs no checkpoint: it leaves the lead to one that can
        leader = PostgresLeader(
            settings.storage, settings.leader_lease, clock=settings.clock, eligible=lambda: self.stale_key is None
        )
        if isinstance(self.store, PostgresStore):
            self.store.fence = leader.fencing_token
        return leader

    def _committed(self, tiles: dict[tuple[int, int], bytes]) -> None:
        self.reader.invalidate(tiles)

    def _check_identity(self) -> None:
        """A log never silently changes its origin or key (the CVE-2022-39199 pattern): the first start records
        both, and a later start with another origin or key refuses to serve this store. The vkey's type is the
        suite's (``notary.logsuite``), so a store never changes suite either: its tiles hold one tree hash."""
        vkey = self.vkey
        known = self.store.meta("vkey")
        if known is None:
            self.store.set_meta("vkey", vkey)
        elif known != vkey:
            if vkey in self._previous_vkeys():
                raise NotaryError(
                    f"this notary store belongs to the log {known!r}, not {vkey!r}: the log rotated away from that "
                    "key (`notary rotate-key`, maybe by another replica of this store); start this notary with the "
                    "log's current key file"
                )
            if self._rotated_from(known):
                self._record_rotation(known, vkey)
                return
            was, now = suite_of_vkey(known).name, self.suite.name
            change = f"the store's suite is {was}, these settings' {now}" if was != now else "another origin or key"
            raise NotaryError(
                f"this notary store belongs to the log {known!r}, not {vkey!r} ({change}): a log may not change its "
                "origin or key (but its key by a rotation on chain), nor so its suite; start a new log in a new "
                "directory"
            )

    def _rotated_from(self, known: str) -> bool:
        """Whether the store's key ``known`` may give way to this notary's: same origin and suite, and the new
        key a log key of the notary's member on chain."""
        if self.settings.log_key_on_chain is None or suite_of_vkey(known) is not self.suite:
            return False
        if known.split("+", 1)[0] != self.origin:
            return False
        return self.settings.log_key_on_chain(self.signer.public_key)

    def _previous_vkeys(self) -> list[str]:
        return [v for v in (self.store.meta("previous_vkeys") or "").split("\n") if v]

    def _record_rotation(self, before: str, after: str) -> None:
        history = self._previous_vkeys()
        if before not in history:
            history.append(before)
        self.store.set_meta("previous_vkeys", "\n".join(history))
        self.store.set_meta("vkey", after)
        log.info("the log key was rotated: %s, before %s", after, before)

    def rotate_log_key(self, key: PrivateKey) -> None:
        """Sign checkpoints and receipts with ``key`` from now on (a log key of this suite; the anchors of an
        ``sm`` log too): the running notary's half of a rotation, once the key is valid on chain."""
        signer = self.suite.note_signer(self.origin, key)  # MalformedError for a key of another suite
        before, after = self.vkey, self.suite.format_vkey(signer.name, signer.public_key)
        self._record_rotation(before, after)  # first: a store that cannot record it keeps the key it knows
        if self.anchorer is not None and isinstance(key, SM2PrivateKey):
            self.anchorer.log_key = key
        self.signer.rotate(signer)
        self.stale_key = None

    @property
    def vkey(self) -> str:
        return self.suite.format_vkey(self.signer.name, self.signer.public_key)

    # ------------------------------------------------------------------------------------------ loops

    def start(self) -> None:
        leading = self.leader.leading
        loops: list[tuple[str, Callable[[], None]]] = [
            ("checkpointer", lambda: self.checkpointer.run(self._stop, self.settings.checkpoint_interval, leading)),
        ]
        if self.anchorer is not None:
            anchorer = self.anchorer
            loops.append(("anchorer", lambda: anchorer.run(self._stop, leading=leading)))
        if self.settings.storage is not None:
            loops.append(("storage", self._maintain))
            loops.append(("leader", lambda: self.leader.run(self._stop)))
        if self.settings.next_log_key is not None or self.settings.storage is not None:
            loops.append(("log-key", self._follow_log_key))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _maintain(self) -> None:
        """Publish what any replica committed and the object store lacks (a crash, an outage), periodically."""
        while not self._stop.wait(self.settings.maintain_interval):
            try:
                self.store.maintain()
            except NotaryError as exc:
                log.warning("storage maintenance failed, retrying: %s", exc)
            except Exception:
                log.exception("storage maintenance failed")

    def _follow_log_key(self) -> None:
        """:meth:`follow_log_key` every ``log_key_interval`` seconds."""
        while not self._stop.wait(self.settings.log_key_interval):
            try:
                self.follow_log_key()
            except Exception:
                log.exception("following the log key failed")

    def follow_log_key(self) -> None:
        """Rotate to the key ``next_log_key`` gives, when it is another than the one signing now; then, with a
        store shared by replicas, check that the log still signs with this replica's key. When another replica
        rotated it away (the store's vkey moved on, this one's among the earlier), this replica leaves the lead at
        once (its checkpoints would be anchored after the old key's overlap), and once the chain no longer says
        its key is valid (the overlap over, or the chain not answering) it signs no receipt either
        (``POST /v1/batches`` answers 503, the gateways retry), until it is given the log's key (its key file,
        :meth:`rotate_log_key`)."""
        ask = self.settings.next_log_key
        try:
            key = ask() if ask is not None else None
            if key is not None and self.suite.note_signer(self.origin, key).public_key != self.signer.public_key:
                self.rotate_log_key(key)
        except NotaryError as exc:
            log.warning("the next log key cannot be used yet: %s", exc)
        self._check_stale()

    def _check_stale(self) -> None:
        own, known = self.vkey, self.store.meta("vkey")
        stale = None
        if known is not None and known != own and own in self._previous_vkeys():
            stale = (
                f"this replica's log key {own!r} was rotated away from: the log signs under {known!r} now (rotated "
                "by another replica of this store); give this replica the log's key file"
            )
        on_chain = self.settings.log_key_on_chain
        refused = stale is not None and (on_chain is None or not on_chain(self.signer.public_key))
        if stale != self.stale_key:
            if stale is not None:
                log.error("%s; it leaves the lead until then", stale)
            else:
                log.info("this replica's log key is the log's again: %s", own)
        self.stale_key = stale
        self.signer.stale(f"{stale}; its key is no longer valid on chain" if refused else None)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.leader.close()  # after the loops: a follower takes over at its next step
        self.checkpointer.close()
        self.store.close()

    # ------------------------------------------------------------------------------------------ reads

    def checkpoint_for(self, index: int, size: int | None) -> CheckpointRow:
        """The published checkpoint to prove ``index`` against: of ``size`` if given, else the latest."""
        row = self.store.checkpoint(size) if size is not None else self.store.latest_checkpoint(published=True)
        if row is None or row.cosigned is None:
            what = f"of size {size}" if size is not None else "yet"
            raise NotFoundError(f"no published checkpoint {what}")
        if index >= row.size:
            raise NotFoundError(
                f"leaf {index} is not in the published checkpoint of size {row.size} yet; retry within "
                f"{self.settings.mmd_s} s"
            )
        return row

    def evidence(self, event_id: str) -> EvidenceBundle:
        """The evidence bundle of ``event_id`` (``notary.evidence``; its JSON is ``to_json()``)."""
        return self.evidence_builder.build(event_id)

    def resolve_alarm(self, alarm_id: int, by: str, reason: str) -> AlarmRow:
        """Close the open alarm ``alarm_id``, recording now, ``by`` (the operator's reader name) and ``reason``;
        the resolved row. Refused, with nothing changed: no reason (``UnprocessableError``), no such alarm
        (``NotFoundError``), an alarm resolved already (``ConflictError``: a resolution is never replaced)."""
        reason = reason.strip()
        if not reason:
            raise UnprocessableError("give the reason the alarm is resolved: what was found and what was done")
        row, resolved = self.store.resolve_alarm(alarm_id, int(self.settings.clock() * 1000), by, reason)
        if row is None:
            raise NotFoundError(f"no alarm {alarm_id}")
        if not resolved:
            raise ConflictError(
                f"alarm {alarm_id} was resolved already, at {row['resolved_ms']} ms by {row['resolved_by']}; a "
                "resolution is never replaced (the same condition found again opens a new alarm)"
            )
        log.warning(
            "alarm %d (%s, %s, found %d times) resolved by %s: %s",
            alarm_id, row["kind"], row["subject"], row["count"], by, reason,
        )  # fmt: skip
        return row

    def health(self) -> NotaryHealth:
        published = self.store.latest_checkpoint(published=True)
        signed = self.store.latest_checkpoint(published=False)
        return {
            "origin": self.origin,
            "vkey": self.vkey,
            "size": self.sequencer.size,
            "signed_size": signed.size if signed else 0,
            "published_size": published.size if published else 0,
            "published_ms": published.published_ms if published else None,
            "witnesses": {
                org: {"status": a.status, "detail": a.detail}
                for org, a in sorted(self.checkpointer.last_answers.items())
            },
            "policy": self.checkpointer.policy.describe(),
            "anchored_size": self.store.anchored_size(),
            "anchoring": None if self.anchorer is None else self.anchorer.status(),
            "gaps": sum(len(v) for v in self.sequencer.gaps().values()),
            "alarms": self.store.open_alarms(),
            "leader": self.leader.status(),
        }


def configure_logging() -> None:
    """One JSON object per line on stderr for the notary and its loops."""
    configure_json_logging("notary")

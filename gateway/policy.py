"""What the chain says, as the gateway needs it on every call: the provider's service map, grant decisions,
member status, and whether the view is fresh enough to be trusted.

Design decisions (``docs/gateway.md`` has the why from the gateway's side):

* **Service map.** Every active API of the DataAssetRegistry whose asset the gateway's org owns *now*, keyed
  by (method, route); the route is matched exactly (no prefixes, no templates) and the method in upper case.
  APIs on a retired asset stay in the map so that a call to them is decided (``asset_retired``) and recorded
  instead of being a 404. Two active APIs of the org with the same method and route: the one registered first
  wins and the other is logged. The map is read at one block (the head the watcher has processed) and
  replaced as a whole, so ``service`` is a single dict lookup against a consistent snapshot.

* **Decisions.** ``AccessGrants.check`` evaluates time last, so ALLOWED, NOT_YET_VALID and EXPIRED differ only
  by ``now`` against the grant's ``[not_before, expires_at)``. A cache entry therefore holds the window and the
  three prebuilt :class:`Decision` objects, and ``cached_decision`` picks one with two comparisons: a cached
  allowed decision turns into ``grant_expired`` at expiry with no RPC, a not-yet-valid one into allowed. Every
  other answer (revoked, suspended, no grant, ...) holds the same decision three times; it can only change
  through an event of the three watched contracts. The chain is asked with ``int(now_s)``: for the integer
  bounds on chain, ``floor(now) < t`` exactly when ``now < t``, so the local evaluation agrees with the contract.

* **What a miss costs.** One ``check`` call; a grant's terms (not-before, expiry, quota) never change on chain,
  so they are kept by grant id for the life of the view (dropped only when the chain was replaced); an asset's
  version count is kept until the next clear. Reads go through a connection of the view's own (same URL,
  no web3 middleware, no retries, a short timeout): web3's default middleware costs about 2.5 ms per call,
  and its default retries (about 2 s of back-off) would turn "the chain is down" into a slow answer instead of
  an immediate one. Reads use ``latest``: a decision read at a block the watcher has not processed yet is
  merely cleared once more when the watcher gets there. Measured against the test node (in the same process,
  so it shares the GIL): a cached decision costs 0.2-0.6 µs; a miss is one ``check`` call, 3-8 ms, most of it
  the node's EVM execution, plus about 1.5 ms for each of the version and terms reads when they are not kept.

* **Invalidation.** A watcher thread polls ``eth_blockNumber`` every ``poll_s`` and reads the logs of the
  ConsortiumRegistry, the DataAssetRegistry and AccessGrants for the new blocks in one ``eth_getLogs`` (by
  address, at most 5,000 blocks per request), both as plain JSON-RPC (``chain.backend.head_number`` and
  ``logs_of``: web3's request stack cost several times the request itself). After each poll it hands the head it
  read to its followers (:meth:`ChainView.follow`): the gateway's trust view follows the chain through this
  poll instead of polling the head itself. Any log clears the decisions. Member statuses are a function of
  the ConsortiumRegistry alone and asset versions of the DataAssetRegistry alone, so they are cleared only by
  logs of their contract: the frequent grant and revocation traffic does not empty the member cache that
  authentication reads on every call. A log of the DataAssetRegistry also reloads the service map (at the
  range's last block) before the clear is published.
  The caches are cleared *before* ``head`` moves, so a caller that sees ``head >= b`` never gets an answer
  older than block ``b``. AuditAnchor is not watched: anchors are frequent and decide nothing here.

* **The race.** A clear bumps a generation counter. A fetch notes the generation before it reads and stores
  its answer only if the generation is unchanged: an answer read before a clear is returned to its own
  caller (it was true when read) but never cached. Readers take no lock: they read whichever dict is current
  (a clear swaps in a new one) and writers insert under the lock.

* **Staleness.** ``cached_decision``, ``decide`` and ``member_status`` raise :class:`ChainUnavailableError`
  once the last successful poll is older than ``stale_s`` (fail closed). While the watcher's last poll failed,
  a miss raises at once, without trying the chain. When polling succeeds again every cache is cleared (events
  may have been missed, or the node may have been replaced) and the watcher reads the logs of the gap. A head
  lower than the processed one means a different chain: everything is dropped and the map reloaded.

* **Private grants.** With a terms store (``network.grantterms``, the provider org's
  ``orgs/<org>/grant-terms``), a miss is decided by ``grantterms.decide``: ``check_private``'s answer for the terms
  the store holds for (asset, grantee, purpose), computed here from storage words read by slot at one block, so
  that the terms never reach the node (``chain.contracts.privatecheck``: the block number, then four rounds of
  words, each one batch), else the clear ``check``; the window and quota of a private grant
  come from its terms, which the chain has just said match the grant's commitment. The watcher looks at the
  store's file names at every poll, and a file added or removed clears the decisions as a grant event does
  (a ``create --private`` writes its file before its transaction, so neither order leaves a stale answer).
  With ``proven`` (``chain.contracts.privatecheck.TrustedHeads``) each word is proven against the state root of
  a header the validators sealed; a follower thread walks the headers to the polled head every
  ``HEADER_FOLLOW_S`` while the store holds terms, so a miss finds its header accepted already, and ``stop``
  keeps the newest one for the next start (``network.keptheader``).

* **Bounds.** The decision cache is reset when it reaches ``MAX_CACHED`` entries (a member sending arbitrary
  purposes cannot grow it without bound); names that are not valid on-chain names are decided locally
  (``unknown_asset``, ``not_a_member``, ``no_grant``) without a call and without caching.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypedDict

from chain.backend import Backend, RpcBackend, head_number, logs_of, read_errors
from chain.contracts.assets import DataAssetRegistryClient
from chain.contracts.grants import AccessGrantsClient, GrantStatus
from chain.contracts.privatecheck import ProvenHeadersHealth, TrustedHeads, UnprovenError
from chain.contracts.registry import ConsortiumRegistryClient
from chain.errors import ChainError, MalformedError
from chain.ids import MemberStatus, bytes32_to_name, check_name, name_to_bytes32
from gateway.errors import GatewayError
from network.grantterms import TermsStore, decide

log = logging.getLogger("gateway.policy")

#: The contracts whose events invalidate the caches.
WATCHED: Final = ("ConsortiumRegistry", "DataAssetRegistry", "AccessGrants")
#: Most blocks one eth_getLogs request spans (our node's limit, and common elsewhere).
LOG_WINDOW: Final = 5_000
#: The decision cache is reset when it holds this many entries.
MAX_CACHED: Final = 100_000
#: Seconds one read of the chain may take before it counts as a failure.
RPC_TIMEOUT_S: Final = 5.0
#: How often the header follower walks the headers to the polled head (private grants' proofs, below), and at
#: most how many headers after the newest accepted it walks at once (the lock a private miss waits for).
HEADER_FOLLOW_S: Final = 1.0
HEADER_FOLLOW_STEP: Final = 500


#: The gateway's reason code for each answer of ``AccessGrants.check`` that refuses a call.
DENIAL_REASONS: Final = {
    GrantStatus.UNKNOWN_ASSET: "unknown_asset",
    GrantStatus.ASSET_RETIRED: "asset_retired",
    GrantStatus.GRANTEE_NOT_MEMBER: "not_a_member",
    GrantStatus.GRANTEE_SUSPENDED: "member_suspended",
    GrantStatus.OWNER_SUSPENDED: "provider_suspended",
    GrantStatus.NO_GRANT: "no_grant",
    GrantStatus.REVOKED: "grant_revoked",
    GrantStatus.OWNERSHIP_CHANGED: "ownership_changed",
    GrantStatus.NOT_YET_VALID: "grant_not_yet_valid",
    GrantStatus.EXPIRED: "grant_expired",
    # the provider's own terms of a private grant do not match the chain: for the caller, there is no grant
    GrantStatus.TERMS_MISMATCH: "no_grant",
}
_TIMED: Final = frozenset({GrantStatus.ALLOWED, GrantStatus.NOT_YET_VALID, GrantStatus.EXPIRED})
_MEMBER_STATUS: Final = {MemberStatus.ACTIVE: "active", MemberStatus.SUSPENDED: "suspended"}


class ChainUnavailableError(GatewayError):
    """The chain cannot answer and the cache cannot either (or the view is older than ``stale_s``)."""


@dataclass(frozen=True, slots=True)
class Service:
    """One API of the provider's catalogue, as registered on chain."""

    api: str
    unit: str
    center: str
    asset: str
    method: str
    route: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a call is allowed and, if not, the reason code of ``docs/gateway.md``."""

    allowed: bool
    reason: str | None
    detail: str
    grant_id: str | None
    quota: int
    asset_version: int | None


#: A cached decision: (not_before, expires_at, before the window, inside it, after it).
_Entry = tuple[float, float, Decision, Decision, Decision]


def _at(entry: _Entry, now_s: float) -> Decision:
    not_before, expires_at, before, during, after = entry
    if now_s < not_before:
        return before
    if now_s < expires_at:
        return during
    return after


def _iso(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"unix time {seconds}"


class ChainViewHealth(TypedDict):
    """What :meth:`ChainView.health` reports (the gateway's ``/healthz``, ``chain``): the head read, how long
    since the last poll and whether that is stale, the caches, and the private grants' proven headers."""

    head: int
    last_sync_age_s: float | None
    stale: bool
    reachable: bool
    cached: int
    members_cached: int
    clears: int
    services: int
    headers: ProvenHeadersHealth | None


class ChainView:
    """The provider gateway's view of the chain, kept fresh by a watcher thread (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        contracts: Mapping[str, str],
        provider_org: str,
        *,
        poll_s: float = 0.1,
        stale_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        rpc_timeout_s: float = RPC_TIMEOUT_S,
        terms: TermsStore | None = None,
        proven: TrustedHeads | None = None,
    ) -> None:
        missing = [name for name in WATCHED if name not in contracts]
        if missing:
            raise ValueError(f"contracts lacks {', '.join(missing)}")
        if poll_s <= 0 or stale_s <= 0:
            raise ValueError("poll_s and stale_s must be positive")
        self.provider_org = check_name(provider_org, "org id")
        url = getattr(backend, "url", None)
        reads: Backend = (
            RpcBackend(url, rpc_timeout_s, lean=True, chain_id=backend.chain_id, tls=getattr(backend, "tls", None))
            if isinstance(url, str)
            else backend
        )
        self._backend = reads
        self._registry = ConsortiumRegistryClient(reads, contracts["ConsortiumRegistry"])
        self._assets = DataAssetRegistryClient(reads, contracts["DataAssetRegistry"])
        self._grants = AccessGrantsClient(reads, contracts["AccessGrants"])
        self._watched = [self._registry.address, self._assets.address, self._grants.address]
        self._poll_s = poll_s
        self._rpc_timeout_s = rpc_timeout_s
        self._stale_s = stale_s
        self._clock = clock
        self._org_raw = name_to_bytes32(provider_org, "org id")
        self._terms_store = terms
        self._proven = proven

        self._lock = threading.Lock()
        self._generation = 0
        self._clears = 0
        self._decisions: dict[tuple[str, str, str], _Entry] = {}
        self._members: dict[str, str | None] = {}
        self._versions: dict[str, int | None] = {}
        self._metadata: dict[str, bytes] = {}
        self._terms: dict[bytes, tuple[int, int, int]] = {}
        self._routes: dict[tuple[str, str], Service] = {}
        self._head = -1
        self._polls = 0
        self._last_sync = -math.inf
        self._reachable = False
        self._down_since: float | None = None

        self._followers: tuple[Callable[[int | None], None], ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._header_thread: threading.Thread | None = None
        self._header_problem: str | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def follow(self, listener: Callable[[int | None], None]) -> None:
        """Call ``listener(head)`` from the watcher after each of its polls, with the head that poll read (None
        when it failed): what else follows the same chain in this process (the gateway's trust view,
        ``TrustView.follow``) then needs no poll of the head of its own. A listener that raises is logged."""
        with self._lock:
            self._followers = (*self._followers, listener)

    def start(self) -> None:
        """Load the service map at the current head and start the watcher; ChainUnavailableError if no answer."""
        if self._thread is not None:
            raise RuntimeError("the chain view is already started")
        try:
            head = head_number(self._backend)
            routes = self._load_services(head)
        except read_errors() as exc:
            raise ChainUnavailableError(
                f"the chain at {self._backend.description} does not answer: {exc.__class__.__name__}: {exc}"
            ) from exc
        self._routes = routes
        self._head = head
        self._last_sync = self._clock()
        self._reachable = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="gateway-chain-watcher", daemon=True)
        self._thread.start()
        if self._proven is not None:
            self._header_thread = threading.Thread(
                target=self._follow_headers, name="gateway-header-follower", daemon=True
            )
            self._header_thread.start()
        log.info("chain view of %s at block %d: %d services", self.provider_org, head, len(routes))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_s + 2 * self._rpc_timeout_s)
            self._thread = None
        if self._header_thread is not None:
            self._header_thread.join(timeout=HEADER_FOLLOW_S + 2 * self._rpc_timeout_s)
            self._header_thread = None
        if self._proven is not None:
            self._proven.keep_now()  # the next start resumes from the newest header accepted

    # ------------------------------------------------------------------------------------------ hot path

    def service(self, method: str, path: str) -> Service | None:
        """The API at exactly (method, route) in the provider's catalogue; ``path`` without the query string."""
        return self._routes.get((method.upper(), path))

    def services(self) -> list[Service]:
        return sorted(self._routes.values(), key=lambda s: (s.route, s.method))

    def cached_decision(self, asset: str, grantee: str, purpose: str, now_s: float) -> Decision | None:
        """The decision from the cache evaluated at ``now_s``, None on a miss. No I/O."""
        if self._clock() - self._last_sync > self._stale_s:
            raise self._stale_error()
        entry = self._decisions.get((asset, grantee, purpose))
        if entry is None:
            return None
        return _at(entry, now_s)

    # ------------------------------------------------------------------------------------------ misses

    def decide(self, asset: str, grantee: str, purpose: str, now_s: float) -> Decision:
        """The decision at ``now_s``: from the cache, else from the chain (blocking; call it from a worker)."""
        cached = self.cached_decision(asset, grantee, purpose, now_s)
        if cached is not None:
            return cached
        local = self._local_decision(asset, grantee, purpose)
        if local is not None:
            return local
        self._require_reachable()
        generation = self._generation
        try:
            entry = self._fetch(asset, grantee, purpose, now_s)
        except UnprovenError as exc:
            log.warning("call on %s by %s for %s refused: the chain's words are not proven: %s",
                        asset, grantee, purpose, exc)  # fmt: skip
            raise ChainUnavailableError(f"the chain's words for this decision are not proven: {exc}") from exc
        except read_errors() as exc:
            raise self._unreachable(exc) from exc
        with self._lock:
            if generation == self._generation:
                if len(self._decisions) >= MAX_CACHED:
                    self._decisions = {}
                self._decisions[(asset, grantee, purpose)] = entry
        return _at(entry, now_s)

    def member_status(self, org: str) -> str | None:
        """ "active", "suspended", or None for an org that is not (or no longer) a member. Cached."""
        if self._clock() - self._last_sync > self._stale_s:
            raise self._stale_error()
        members = self._members
        if org in members:
            return members[org]
        try:
            check_name(org, "org id")
        except MalformedError:
            return None
        self._require_reachable()
        generation = self._generation
        try:
            info = self._registry.member(org)
        except read_errors() as exc:
            raise self._unreachable(exc) from exc
        status = None if info is None else _MEMBER_STATUS.get(info.status)
        with self._lock:
            if generation == self._generation:
                if len(self._members) >= MAX_CACHED:
                    self._members = {}
                self._members[org] = status
        return status

    def metadata_digest(self, asset: str) -> bytes | None:
        """The metadata digest of ``asset``'s current version, None for an unknown asset. Cached until the next
        log of the DataAssetRegistry; blocking on a miss (call it from a worker)."""
        if self._clock() - self._last_sync > self._stale_s:
            raise self._stale_error()
        cached = self._metadata.get(asset)
        if cached is not None:
            return cached
        self._require_reachable()
        generation = self._generation
        try:
            info = self._assets.asset(asset)
            version = None if info is None else self._assets.version(asset, info.version_count)
        except read_errors() as exc:
            raise self._unreachable(exc) from exc
        if version is None:
            return None
        with self._lock:
            if generation == self._generation:
                self._metadata[asset] = version.metadata_digest
        return version.metadata_digest

    def _fetch(self, asset: str, grantee: str, purpose: str, now_s: float) -> _Entry:
        """Ask the chain; the cache entry for (asset, grantee, purpose). Raises what a failed read raises."""
        decided = decide(
            self._grants, self._terms_store, asset, grantee, purpose, max(0, int(now_s)), proven=self._proven
        )
        result, private = decided.result, decided.terms
        status = result.status
        grant_id = None if result.grant_id is None else "0x" + result.grant_id.hex()
        not_before, expires_at, quota = 0, 0, 0
        if private is not None:
            not_before, expires_at, quota = private.not_before, private.expires_at, private.quota
        elif result.grant_id is not None and status is not GrantStatus.TERMS_MISMATCH:
            terms = self._terms.get(result.grant_id)
            if terms is None:
                info = self._grants.grant(result.grant_id)
                if info is None:  # cannot happen for an id check returned: the chain changed under us
                    raise ChainError(f"grant {grant_id} disappeared")
                terms = (info.not_before, info.expires_at, info.quota)
                self._terms[result.grant_id] = terms
            not_before, expires_at, quota = terms
        version: int | None = None
        if status is not GrantStatus.UNKNOWN_ASSET:
            versions = self._versions
            if asset in versions:
                version = versions[asset]
            else:
                info_asset = self._assets.asset(asset)
                version = None if info_asset is None else info_asset.version_count
                versions[asset] = version

        def denial(reason: GrantStatus, detail: str) -> Decision:
            return Decision(False, DENIAL_REASONS[reason], detail, grant_id, quota, version)

        grant = ("private " if private is not None else "") + f"grant of {asset} to {grantee} for {purpose}"
        if status in _TIMED:
            before = denial(GrantStatus.NOT_YET_VALID, f"The {grant} is not valid before {_iso(not_before)}.")
            during = Decision(True, None, f"{grantee} holds a {grant}.", grant_id, quota, version)
            after = denial(GrantStatus.EXPIRED, f"The {grant} expired at {_iso(expires_at)}.")
            return (float(not_before), float(expires_at), before, during, after)
        details = {
            GrantStatus.UNKNOWN_ASSET: f"Asset {asset} is not registered.",
            GrantStatus.ASSET_RETIRED: f"Asset {asset} is retired.",
            GrantStatus.GRANTEE_NOT_MEMBER: f"{grantee} is not a member of the consortium.",
            GrantStatus.GRANTEE_SUSPENDED: f"{grantee} is suspended from the consortium.",
            GrantStatus.OWNER_SUSPENDED: f"The owner of asset {asset} is not an active member.",
            GrantStatus.NO_GRANT: f"{grantee} has no grant of {asset} for {purpose}.",
            GrantStatus.REVOKED: f"The {grant} was revoked.",
            GrantStatus.OWNERSHIP_CHANGED: f"Asset {asset} changed owner after the {grant} was made.",
            GrantStatus.TERMS_MISMATCH: f"The provider's terms of the private {grant} do not match the chain.",
        }
        fixed = denial(status, details[status])
        return (-math.inf, math.inf, fixed, fixed, fixed)

    @staticmethod
    def _local_decision(asset: str, grantee: str, purpose: str) -> Decision | None:
        """A decision for names that cannot exist on chain, without asking it; None for valid names."""
        for value, what, reason, detail in (
            (asset, "asset id", "unknown_asset", f"{asset!r} is not an asset id."),
            (grantee, "org id", "not_a_member", f"{grantee!r} is not an org id."),
            (purpose, "purpose", "no_grant", f"{purpose!r} is not a purpose code."),
        ):
            try:
                check_name(value, what)
            except MalformedError:
                return Decision(False, reason, detail, None, 0, None)
        return None

    # ------------------------------------------------------------------------------------------ state

    @property
    def head(self) -> int:
        """The last block whose logs the watcher has processed."""
        return self._head

    @property
    def polls(self) -> int:
        """How many polls of the watcher have succeeded since ``start``. A poll that finishes after the one in
        flight when block ``b`` was sealed started after it, so it has processed ``b``: once ``polls`` has grown
        by two since, ``head >= b``."""
        return self._polls

    @property
    def last_sync(self) -> float:
        """``clock()`` at the last successful poll."""
        return self._last_sync

    def health(self) -> ChainViewHealth:
        age = self._clock() - self._last_sync
        return {
            "head": self._head,
            "last_sync_age_s": round(age, 3) if math.isfinite(age) else None,
            "stale": age > self._stale_s,
            "reachable": self._reachable,
            "cached": len(self._decisions),
            "members_cached": len(self._members),
            "clears": self._clears,
            "services": len(self._routes),
            # private grants' proofs: the headers accepted, and the kept one the first walk resumed from
            "headers": None if self._proven is None else self._proven.health(),
        }

    def _stale_error(self) -> ChainUnavailableError:
        age = self._clock() - self._last_sync
        return ChainUnavailableError(
            f"no successful poll of the chain for {age:.1f} s (bound {self._stale_s:g} s); failing closed"
        )

    def _require_reachable(self) -> None:
        if not self._reachable:
            down = self._down_since
            since = "" if down is None else f" for {self._clock() - down:.1f} s"
            raise ChainUnavailableError(
                f"the chain at {self._backend.description} is unreachable{since}; a cache miss cannot be answered"
            )

    def _unreachable(self, exc: BaseException) -> ChainUnavailableError:
        return ChainUnavailableError(
            f"the chain at {self._backend.description} did not answer: {exc.__class__.__name__}: {exc}"
        )

    def _clear(self, *, members: bool = True, versions: bool = True, everything: bool = False) -> None:
        """Drop the decisions, and what else the events may have changed; ``everything`` includes grant terms."""
        with self._lock:
            self._generation += 1
            self._clears += 1
            self._decisions = {}
            if members or everything:
                self._members = {}
            if versions or everything:
                self._versions = {}
                self._metadata = {}
            if everything:
                self._terms = {}

    # ------------------------------------------------------------------------------------------ watcher

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            latest: int | None = None
            try:
                latest = self._poll()
            except read_errors() as exc:
                if self._reachable:
                    log.warning("chain unreachable: %s: %s", exc.__class__.__name__, exc)
                    self._down_since = self._clock()
                self._reachable = False
            except Exception:  # a bug must not stop the watcher: the view would silently go stale
                log.exception("chain watcher failed")
                self._reachable = False
            for listener in self._followers:
                try:
                    listener(latest)
                except Exception:  # one follower's bug must not stop the watcher
                    log.exception("a follower of the chain view failed")

    def _follow_headers(self) -> None:
        """Follow the headers to the head the watcher polled, every ``HEADER_FOLLOW_S``, while the terms store
        holds private terms: a private grant's miss then finds its block's header accepted already, instead of
        waiting for the walk from the kept header (or the genesis) to the head. A failure is logged when it
        first happens and when it ends; the miss that needs the header meets it again and refuses the call."""
        proven = self._proven
        assert proven is not None
        wait = 0.0
        while not self._stop.wait(wait):
            wait = HEADER_FOLLOW_S
            target = self._head
            newest = proven.newest
            if target < 1 or (newest is not None and newest.number >= target):
                continue
            if self._terms_store is None or not self._terms_store.records():
                continue
            try:  # a long walk in steps: a miss waits for one step at most, the kept header moves on meanwhile
                if proven.toward(target, HEADER_FOLLOW_STEP).number < target:
                    wait = 0.0
            except read_errors() as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
                if problem != self._header_problem:
                    log.warning("headers not followed to block %d: %s", target, problem)
                self._header_problem = problem
                continue
            except Exception:  # a bug must not stop the follower silently
                log.exception("header follower failed")
                continue
            if self._header_problem is not None:
                log.info("headers followed again, to block %d", target)
                self._header_problem = None

    def _poll(self) -> int:
        """One poll of the head, and of the watched logs up to it when it moved: the head read."""
        latest = head_number(self._backend)
        recovered = not self._reachable
        if latest < self._head:
            log.warning("chain head went back from %d to %d: another chain; dropping every cache", self._head, latest)
            self._routes = self._load_services(latest)
            self._clear(everything=True)
            self._head = latest
        while self._head < latest:
            first = self._head + 1
            last = min(latest, first + LOG_WINDOW - 1)
            logs = logs_of(self._backend, first, last, self._watched)
            if logs:
                emitters = {str(entry["address"]).lower() for entry in logs}
                asset_events = self._assets.address.lower() in emitters
                routes = self._load_services(last) if asset_events else None
                self._clear(members=self._registry.address.lower() in emitters, versions=asset_events)
                if routes is not None:
                    self._routes = routes
                log.debug("blocks %d-%d: %d watched logs; caches cleared", first, last, len(logs))
            self._head = last
        if self._terms_store is not None and self._terms_store.refresh():
            self._clear(members=False, versions=False)
            log.info("grant terms of %s changed; decisions cleared", self.provider_org)
        if recovered:
            self._clear(everything=True)
            self._down_since = None
            log.warning("chain reachable again at block %d; caches cleared", latest)
        self._last_sync = self._clock()
        self._reachable = True
        self._polls += 1
        return latest

    def _load_services(self, block: int) -> dict[tuple[str, str], Service]:
        """The provider's active APIs at ``block``, keyed by (METHOD, route)."""
        call = self._assets._call
        owners: dict[bytes, bool] = {}
        centers: dict[bytes, str] = {}
        routes: dict[tuple[str, str], Service] = {}
        for i in range(int(call("api_count", block=block))):
            api_raw = bytes(call("api_at", i, block=block))
            unit_raw, route, method, _provider, asset_raw, active = call("api", api_raw, block=block)
            if not active:
                continue
            asset_raw = bytes(asset_raw)
            if asset_raw not in owners:
                owners[asset_raw] = bytes(call("owner_of", asset_raw, block=block)) == self._org_raw
            if not owners[asset_raw]:
                continue
            unit_raw = bytes(unit_raw)
            if unit_raw not in centers:
                centers[unit_raw] = bytes32_to_name(bytes(call("unit", unit_raw, block=block)[0]))
            service = Service(
                api=bytes32_to_name(api_raw),
                unit=bytes32_to_name(unit_raw),
                center=centers[unit_raw],
                asset=bytes32_to_name(asset_raw),
                method=str(method).upper(),
                route=str(route),
            )
            key = (service.method, service.route)
            if key in routes:
                log.warning(
                    "APIs %s and %s both serve %s %s; keeping %s", routes[key].api, service.api, *key, routes[key].api
                )
                continue
            routes[key] = service
        return routes

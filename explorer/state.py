"""The ledger's current state as the explorer shows it: members, assets, the service catalogue and grants.

Reading it costs hundreds of ``eth_call``s (one per member, asset, API and grant), so one thread keeps a whole
:class:`Snapshot`, at most every ``interval`` seconds, and requests only ever read the latest snapshot: an answer
never waits on the chain. When the head moves, one ``eth_getLogs`` over the new blocks asks whether any of the
three contracts whose state the snapshot holds emitted an event; every function of theirs that changes state
emits one, so without an event the snapshot is only relabelled with the new head (anchors, the most frequent
transactions, touch none of them). Otherwise, and at least every ``full_every`` seconds, it is read again. A
snapshot is read right after the head moved and is labelled with that block; a block sealed while it is being
read shows in the next snapshot.
While the chain is unreachable the last snapshot stays in use and :attr:`ChainState.status` says so.

A detail request for a grant or an asset that the latest snapshot does not hold reads that one object from the
chain (:meth:`ChainState.fresh_grant`, :meth:`ChainState.fresh_asset`): a call whose grant was issued while the
snapshot was being read links to a grant page that answers, not to a 404 until the next read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NotRequired, TypedDict, TypeVar

from eth_utils.address import to_checksum_address

from chain.backend import ClientTls, RpcBackend
from chain.contracts.assets import ApiInfo, AssetInfo, CenterInfo, UnitInfo
from chain.contracts.deploy import Deployment
from chain.contracts.grants import GrantInfo, PrivateGrantInfo
from chain.contracts.registry import MemberInfo
from chain.ids import Role

log = logging.getLogger("explorer.state")
T = TypeVar("T")

#: Classification from which an asset's detail is private to its owner, its grantees and the regulator.
PRIVATE_FROM = 3
GRANT_STATES = ("active", "revoked", "expired", "not_yet_valid", "void", "private")
#: What the explorer shows of a private grant's terms: it holds none of them (docs/confidentiality.md).
PRIVATE_TERMS_NOTE = "terms held by the parties"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The contracts' state, read when ``block`` was the head."""

    block: int
    block_time: int
    members: tuple[MemberInfo, ...] = ()
    assets: tuple[AssetInfo, ...] = ()
    centers: tuple[CenterInfo, ...] = ()
    units: tuple[UnitInfo, ...] = ()
    apis: tuple[ApiInfo, ...] = ()
    grants: tuple[GrantInfo, ...] = ()
    private_grants: tuple[PrivateGrantInfo, ...] = ()
    read_ms: int = 0
    _assets_by_id: dict[str, AssetInfo] = field(default_factory=dict)
    _grants_by_id: dict[str, GrantInfo] = field(default_factory=dict)
    _private_by_id: dict[str, PrivateGrantInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._assets_by_id.update({a.asset: a for a in self.assets})
        self._grants_by_id.update({"0x" + g.grant_id.hex(): g for g in self.grants})
        self._private_by_id.update({"0x" + g.grant_id.hex(): g for g in self.private_grants})

    def private_grant(self, grant_id: str) -> PrivateGrantInfo | None:
        return self._private_by_id.get(grant_id)

    def asset(self, asset_id: str) -> AssetInfo | None:
        return self._assets_by_id.get(asset_id)

    def grant(self, grant_id: str) -> GrantInfo | None:
        return self._grants_by_id.get(grant_id)

    def member(self, org: str) -> MemberInfo | None:
        return next((m for m in self.members if m.org == org), None)

    def regulators(self) -> frozenset[str]:
        return frozenset(m.org for m in self.members if Role.REGULATOR in m.roles)


def grant_state(grant: GrantInfo, asset: AssetInfo | None, now: int) -> str:
    """The lifecycle state of ``grant`` at chain time ``now``."""
    if grant.revoked_at:
        return "revoked"
    if asset is None or asset.retired or asset.transfers != grant.owner_epoch:
        return "void"  # the asset is gone or changed owner: the contract refuses the grant from then on
    if now < grant.not_before:
        return "not_yet_valid"
    if grant.expires_at and now >= grant.expires_at:
        return "expired"
    return "active"


class GrantJSON(TypedDict):
    """A grant as the explorer shows it (``GET /api/v1/grants``); a private one (:func:`private_grant_json`) has no
    grantee, purpose, window or quota here (they are in its terms) and adds its key and commitment."""

    grant_id: str
    asset: str
    grantor: str
    grantee: str | None
    purpose: str | None
    not_before: int | None
    expires_at: int | None
    quota: int | None
    created_at: int
    revoked_at: int | None
    revoke_reason: int | None
    state: str
    private: NotRequired[bool]
    terms: NotRequired[str]
    key: NotRequired[str]
    commitment: NotRequired[str]


class AssetJSON(TypedDict):
    asset: str
    owner: str
    kind: str
    classification: int
    private: bool
    version_count: int
    pending_owner: str | None
    registered_at: int
    retired: bool
    transfers: int


class MemberJSON(TypedDict):
    org: str
    name: str
    roles: list[str]
    status: str
    certificate_fingerprint: str
    accounts: list[str]
    admitted_at: int


def grant_json(grant: GrantInfo, asset: AssetInfo | None, now: int) -> GrantJSON:
    return {
        "grant_id": "0x" + grant.grant_id.hex(),
        "asset": grant.asset,
        "grantor": grant.grantor,
        "grantee": grant.grantee,
        "purpose": grant.purpose,
        "not_before": grant.not_before,
        "expires_at": grant.expires_at,
        "quota": grant.quota,
        "created_at": grant.created_at,
        "revoked_at": grant.revoked_at or None,
        "revoke_reason": grant.revoke_reason if grant.revoked_at else None,
        "state": grant_state(grant, asset, now),
    }


def private_grant_state(grant: PrivateGrantInfo, asset: AssetInfo | None) -> str:
    """What the chain tells of a private grant: revoked, void (the asset gone or transferred since), or
    ``private`` (its window, hence whether it is active, is in the terms the parties hold)."""
    if grant.revoked_at:
        return "revoked"
    if asset is None or asset.retired or asset.transfers != grant.owner_epoch:
        return "void"
    return "private"


def private_grant_json(grant: PrivateGrantInfo, asset: AssetInfo | None) -> GrantJSON:
    """A private grant as the explorer shows it: what is on chain (its key and commitment included, against which
    a party's browser checks the terms document it holds: ``static/grantterms.js``), no terms."""
    return {
        "grant_id": "0x" + grant.grant_id.hex(),
        "asset": grant.asset,
        "grantor": grant.grantor,
        "grantee": None,
        "purpose": None,
        "not_before": None,
        "expires_at": None,
        "quota": None,
        "created_at": grant.created_at,
        "revoked_at": grant.revoked_at or None,
        "revoke_reason": grant.revoke_reason if grant.revoked_at else None,
        "state": private_grant_state(grant, asset),
        "private": True,
        "terms": PRIVATE_TERMS_NOTE,
        "key": "0x" + grant.key.hex(),
        "commitment": "0x" + grant.commitment.hex(),
    }


def asset_json(asset: AssetInfo) -> AssetJSON:
    return {
        "asset": asset.asset,
        "owner": asset.owner,
        "kind": asset.kind.name.lower(),
        "classification": asset.classification,
        "private": asset.classification >= PRIVATE_FROM,
        "version_count": asset.version_count,
        "pending_owner": asset.pending_owner,
        "registered_at": asset.registered_at,
        "retired": asset.retired,
        "transfers": asset.transfers,
    }


def member_json(member: MemberInfo) -> MemberJSON:
    return {
        "org": member.org,
        "name": member.name,
        "roles": [str(r.name).lower() for r in Role if r in member.roles and r.name],
        "status": member.status.name.lower(),
        "certificate_fingerprint": "0x" + member.cert_fingerprint.hex(),
        "accounts": list(member.accounts),
        "admitted_at": member.admitted_at,
    }


class ChainState:
    """Keeps the latest :class:`Snapshot` of the contracts at ``addresses`` on the chain at ``chain_url``."""

    def __init__(
        self,
        chain_url: str,
        addresses: dict[str, str],
        *,
        interval: float = 1.0,
        full_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        tls: ClientTls | None = None,
    ) -> None:
        self.chain_url = chain_url
        self.tls = tls  # a member's client certificate, for a node serving members only
        self.deployment = Deployment(dict(addresses))
        self.interval = interval
        self.full_every = full_every
        self._clock = clock  # seconds, for full_every; injected by the tests
        self.reads = 0  # whole snapshots read
        self._read_at = 0.0  # the clock at the last whole read
        watched = ("ConsortiumRegistry", "DataAssetRegistry", "AccessGrants")  # AuditAnchor's state is not shown
        self._watched = [to_checksum_address(addresses[name]) for name in watched]
        self._snapshot: Snapshot | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backend: RpcBackend | None = None
        self._lookups: RpcBackend | None = None  # the requests' connection, apart from the snapshot thread's
        self._lookup_lock = threading.Lock()
        self.lookups = 0  # objects read for a request that the snapshot did not hold
        self.status: dict[str, Any] = {"ok": False, "last_error": None, "head": None, "head_time": None}

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot (an empty one at block -1 before the first read succeeds)."""
        return self._snapshot or Snapshot(block=-1, block_time=0)

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="explorer-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refresh(self) -> bool:
        """Follow the head: a new snapshot if the contracts changed (True), else relabel the current one."""
        if self._backend is None:
            self._backend = RpcBackend(self.chain_url, timeout=10.0, tls=self.tls)
        web3 = self._backend.web3
        head = web3.eth.get_block("latest")
        number, stamp = int(head["number"]), int(head["timestamp"])
        self.status.update(ok=True, head=number, head_time=stamp, last_error=None)
        current = self._snapshot
        if current is not None and current.block == number:
            return False
        if current is not None and 0 <= current.block < number and self._clock() - self._read_at < self.full_every:
            changes = web3.eth.get_logs({"fromBlock": current.block + 1, "toBlock": number, "address": self._watched})
            if not changes:
                self._snapshot = replace(current, block=number, block_time=stamp)
                return False
        started = time.perf_counter()
        registry = self.deployment.registry(self._backend)
        assets = self.deployment.assets(self._backend)
        clear, private = self.deployment.grants(self._backend).grants_of_both_kinds()
        self._snapshot = Snapshot(
            block=number,
            block_time=stamp,
            members=tuple(registry.members()),
            assets=tuple(assets.assets()),
            centers=tuple(assets.centers()),
            units=tuple(assets.units()),
            apis=tuple(assets.apis()),
            grants=tuple(clear),
            private_grants=tuple(private),
            read_ms=int((time.perf_counter() - started) * 1000),
        )
        self.reads += 1
        self._read_at = self._clock()
        self._ready.set()
        return True

    def fresh_grant(self, grant_id: str) -> tuple[GrantInfo, AssetInfo | None, int] | None:
        """The grant ``grant_id`` (``0x`` and 64 hex digits) read from the chain now, with its asset and the
        head's time; None if the chain has no such grant or cannot be read."""

        def read(backend: RpcBackend) -> tuple[GrantInfo, AssetInfo | None, int] | None:
            found = self.deployment.grants(backend).grant(bytes.fromhex(grant_id[2:]))
            if found is None:
                return None
            asset = self.deployment.assets(backend).asset(found.asset)
            return found, asset, int(backend.web3.eth.get_block("latest")["timestamp"])

        return self._lookup(f"grant {grant_id}", read)

    def fresh_private_grant(self, grant_id: str) -> PrivateGrantInfo | None:
        """The private grant ``grant_id`` read from the chain now, as :meth:`fresh_grant` reads a clear one; None if
        the chain has no such private grant or cannot be read."""
        return self._lookup(
            f"grant {grant_id}",
            lambda backend: self.deployment.grants(backend).private_grant(bytes.fromhex(grant_id[2:])),
        )

    def fresh_asset(self, asset_id: str) -> AssetInfo | None:
        """The asset ``asset_id`` read from the chain now; None if there is none or the chain cannot be read."""
        return self._lookup(f"asset {asset_id}", lambda backend: self.deployment.assets(backend).asset(asset_id))

    def _lookup(self, what: str, read: Callable[[RpcBackend], T | None]) -> T | None:
        """``read`` on the requests' own connection, one at a time; a failure is logged and answers None, and the
        next lookup connects again."""
        with self._lookup_lock:
            try:
                if self._lookups is None:
                    self._lookups = RpcBackend(self.chain_url, timeout=10.0, tls=self.tls)
                found = read(self._lookups)
            except Exception as exc:
                self._lookups = None
                log.warning("cannot read %s from the chain: %s: %s", what, exc.__class__.__name__, exc)
                return None
            if found is not None:
                self.lookups += 1
            return found

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # the chain is down or answers garbage: keep the last snapshot
                self._backend = None
                self.status.update(ok=False, last_error=f"{exc.__class__.__name__}: {exc}"[:300])
                log.warning("cannot read the chain state: %s", self.status["last_error"])
            self._stop.wait(self.interval)

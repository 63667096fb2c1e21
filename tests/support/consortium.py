"""A test consortium on any chain backend: its founders and keys, the in-process node served over JSON-RPC,
chain time and snapshots, and the deployment every contract test starts from (``tests/conftest.py`` makes
fixtures of them)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import rlp
from eth.abc import AtomicDatabaseAPI
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_typing import BlockNumber

from chain.backend import Backend, EthTesterBackend, RpcBackend
from chain.contracts import (
    AccessGrantsClient,
    AuditAnchorClient,
    ConsortiumRegistryClient,
    DataAssetRegistryClient,
    Deployment,
    FoundingMember,
    KeyKind,
    TrustDirectoryClient,
    deploy_consortium,
)
from chain.contracts.deploy import deploy_contract
from chain.errors import MalformedError
from chain.ids import OrgId, Role
from chain.node.consensus import Consensus
from chain.node.node import GENESIS_KEY, Genesis, Node, TransactionRefusedError
from chain.node.rpc import RpcServer
from chain.node.service import Metrics, SealingLoop
from chain.node.verify import verify_chain
from chain.seal import extra_data, verify_seals
from chain.tx import Signer, fee_fields

if TYPE_CHECKING:
    from network.description import ConsortiumDescription

ANVIL_CHAIN_ID = 20261

#: The founding members of every test consortium, with their roles.
FOUNDER_ROLES: dict[str, Role] = {
    "op": Role.MEMBER | Role.OPERATOR | Role.NOTARY | Role.VALIDATOR | Role.WITNESS,
    "alpha": Role.MEMBER | Role.WITNESS,
    "beta": Role.MEMBER | Role.WITNESS,
    "gamma": Role.MEMBER | Role.WITNESS,
    "reg": Role.REGULATOR | Role.WITNESS,
}
THRESHOLD = 2
PROPOSAL_TTL = 7 * 86400
#: What the faucet gives an account created during a test, on a chain where gas costs something.
FAUCET_GIFT_WEI = 10**24


def founder_keys(org: str) -> tuple[tuple[KeyKind, bytes], ...]:
    """The keys genesis writes into the TrustDirectory: only alpha's, made up, so that every other contract
    test deploys no more than two extra transactions."""
    if org != "alpha":
        return ()
    return ((KeyKind.CA_CERT, b"ca certificate of alpha"), (KeyKind.GATEWAY_KEY, hashlib.sha256(b"alpha gw").digest()))


def cert_fingerprint(org: str) -> bytes:
    """A founder's (made-up) certificate fingerprint: fixed per org so tests can compare."""
    return hashlib.sha256(f"certificate of {org}".encode()).digest()


@dataclass(frozen=True)
class Keys:
    """The accounts of one test consortium: one per founding org, the deployer, an outsider, a faucet."""

    orgs: dict[str, LocalAccount]
    deployer: LocalAccount
    outsider: LocalAccount
    faucet: LocalAccount

    @classmethod
    def create(cls) -> Keys:
        orgs = {org: Account.create() for org in FOUNDER_ROLES}
        # The operator deploys, as `consortium init` does: on a permissioned chain only it may.
        return cls(orgs, orgs["op"], Account.create(), Account.create())

    def addresses(self) -> list[str]:
        return [str(a.address) for a in (*self.orgs.values(), self.deployer, self.outsider, self.faucet)]


def copy_store(db: AtomicDatabaseAPI) -> AtomicDB:
    """A copy of a node's store in memory, as a copy of its data directory would be: a node started on it reopens
    the chain where the original stood."""
    assert isinstance(db, AtomicDB) and isinstance(db.wrapped_db, MemoryDB), db
    return AtomicDB(MemoryDB(dict(db.wrapped_db.kv_store)))


class NodeBackend(RpcBackend):
    """The consortium's own node, in this process, served over real JSON-RPC on loopback.

    Its store is in memory and its clock is the wall clock plus an offset the tests may move forward;
    a sealing loop seals every 10 ms. A ledger has no snapshots: each test gets a node of its own, started on a
    copy of the store of the module's node (:meth:`fork`), which deployed the test consortium once."""

    def __init__(self, operator: LocalAccount, store: AtomicDB | None = None, offset: float = 0.0) -> None:
        self.operator, self.offset = operator, offset
        genesis = Genesis(ANVIL_CHAIN_ID, (operator.address,), operator.address, int(time.time()) - 1)
        self.node = Node(
            AtomicDB() if store is None else store,
            genesis if store is None else None,
            bytes(operator.key),
            clock=lambda: time.time() + self.offset,
        )
        self.metrics = Metrics(self.node)
        self.server = RpcServer(self.node, port=0)
        self.server.start()
        self.loop = SealingLoop(self.node, self.metrics, block_time=0.01, empty_blocks=False)
        self.loop.start()
        super().__init__(self.server.url)

    def advance(self, seconds: int) -> None:
        # Blocks sealed faster than one a second run ahead of the wall clock (each is parent + 1 s at least).
        ahead = max(0.0, self.node.head().timestamp - (time.time() + self.offset))
        self.offset += ahead + seconds
        self.node.seal(allow_empty=True)

    def fork(self) -> NodeBackend:
        """A node of its own on a copy of this one's store, served on a port of its own: the chain as it stands
        here, carried on apart from it."""
        with self.node.lock:
            store = copy_store(self.node.db)
        return NodeBackend(self.operator, store, self.offset)

    def close(self) -> None:
        self.loop.stop()
        self.server.stop()


class OwnedClock:
    """Seconds (of the Unix epoch) that move only when :class:`QbftBackend` moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class QbftBackend(NodeBackend):
    """Four validators agreeing by QBFT, in this process, the first one's node served over real JSON-RPC on loopback.

    Each validator is a :class:`Node` with its own store and its own ``chain.node.consensus.Consensus`` loop (signed
    PROPOSALs, PREPAREs, COMMITs, seals in Besu's header format); every message one sends is delivered to the other
    three, and a transaction a client sends to the first goes to the others' mempools as the product's gossip does
    (``submit(raw, gossip=False, hold=True)`` at each peer). The validators share a clock this backend owns: no loop
    runs on its own; one thread drives the four loops whenever a transaction comes in, letting every message
    flow and moving the clock to the next timer only when nothing else can happen, until every validator has
    decided the block and no work is left. A receipt the client reads is in a block a quorum sealed. A ledger has
    no snapshots: each test gets a fresh network and genesis. At :meth:`close` the four hold the same chain:
    ``verify_chain`` (what ``chain verify`` runs) passes on one store, each network's next validator in turn, and
    the other three hold what it read there but for their own seals, each checked (:func:`assert_same_stored_chain`).
    """

    VALIDATORS = 4
    #: Driving turns, and seconds of the owned clock, after which a network that has not settled fails the test.
    MAX_TURNS = 20_000
    MAX_CLOCK_S = 600.0
    #: How far the clock moves when no timer is due but work waits (a height the clock does not allow yet).
    STEP_S = 0.1
    #: The validator whose store the last network's close verified.
    _verified = -1

    def __init__(
        self, operator: LocalAccount, stores: tuple[list[AtomicDB], list[PrivateKey], float] | None = None
    ) -> None:
        """``stores``: the four validators' stores, their keys and the clock's time, to carry a chain on (:meth:`fork`);
        None: a new chain."""
        self.operator, self.offset = operator, 0.0
        if stores is None:
            start = float(int(time.time()))
            keys = [PrivateKey(bytes(Account.create().key)) for _ in range(self.VALIDATORS)]
            validators = tuple(key.public_key.to_checksum_address() for key in keys)
            genesis: Genesis | None = Genesis(ANVIL_CHAIN_ID, validators, operator.address, int(start) - 1)
            dbs = [AtomicDB() for _ in keys]
        else:
            dbs, keys, start = stores
            genesis = None
        self.keys = keys
        self.clock = OwnedClock(start)
        self.nodes = [Node(db, genesis, clock=self.clock) for db in dbs]
        self.loops = [
            Consensus(node, key, self._sender(i), fetch=self._fetcher(i), clock=self.clock)
            for i, (node, key) in enumerate(zip(self.nodes, keys, strict=True))
        ]
        for i, node in enumerate(self.nodes):
            node.on_submit = self._gossiper(i)
        for loop in self.loops:
            loop.peer_at(0)  # every peer's head is known: each validator's new record of signed messages settles
        self.node = self.nodes[0]
        self.metrics = Metrics(self.node)
        self._lock = threading.Lock()
        self._work = threading.Event()
        self._stopping = threading.Event()
        self.error: BaseException | None = None
        self.server = RpcServer(self.node, port=0)
        self.server.start()
        self._driver = threading.Thread(target=self._drive_forever, name="qbft-driver", daemon=True)
        self._driver.start()
        RpcBackend.__init__(self, self.server.url)

    # -- the in-memory network ----------------------------------------------------------------------------------

    def _sender(self, me: int) -> Any:
        def send(code: int, body: bytes) -> None:
            for i, loop in enumerate(self.loops):
                if i != me:
                    assert loop.deliver(code, body), "a validator's inbox is full"

        return send

    def _fetcher(self, me: int) -> Any:
        def fetch(first: int) -> list[bytes]:
            ahead = max((n for i, n in enumerate(self.nodes) if i != me), key=lambda n: n.head().block_number)
            last = int(ahead.head().block_number)
            return [bytes(rlp.encode(ahead.block_by_number(n))) for n in range(first, last + 1)]

        return fetch

    def _gossiper(self, me: int) -> Any:
        def gossip(raw: bytes) -> None:
            for i, node in enumerate(self.nodes):
                if i != me:
                    with contextlib.suppress(TransactionRefusedError, MalformedError):
                        node.submit(raw, gossip=False, hold=True)
            self._work.set()

        return gossip

    # -- driving the validators -----------------------------------------------------------------------------------

    def _drive_forever(self) -> None:
        while not self._stopping.is_set():
            self._work.wait()
            self._work.clear()
            try:
                with self._lock:
                    self._drive()
            except BaseException as exc:  # the test fails at close with it; a client waits out its receipt
                self.error = exc
                return

    def _settled(self) -> bool:
        heads = {bytes(node.head().hash) for node in self.nodes}
        return (
            len(heads) == 1
            and all(loop.machine is None and loop.inbox.empty() for loop in self.loops)
            and not any(node.mempool.pending for node in self.nodes)
        )

    def _drive(self) -> None:
        """Step the four loops until no work is left: messages first, then the clock to the next timer."""
        started = self.clock.now
        for _ in range(self.MAX_TURNS):
            if self.clock.now - started > self.MAX_CLOCK_S:
                break
            while any(not loop.inbox.empty() for loop in self.loops):
                for loop in self.loops:
                    if not loop.inbox.empty():
                        loop.step(wait=0)
            for loop in self.loops:
                loop.step(wait=0)  # the time acts: a height starts, a proposer proposes, a round times out
            if any(not loop.inbox.empty() for loop in self.loops):
                continue
            if self._settled():
                return
            wake = min((loop.machine.next_wake() for loop in self.loops if loop.machine is not None), default=math.inf)
            self.clock.now = wake if self.clock.now < wake < math.inf else self.clock.now + self.STEP_S
        heads = [int(node.head().block_number) for node in self.nodes]
        raise AssertionError(
            f"the validators did not settle within {self.MAX_TURNS} turns and {self.MAX_CLOCK_S:.0f} s of their clock"
            f" (heads {heads}, pending {[len(node.mempool.pending) for node in self.nodes]})"
        )

    def advance(self, seconds: int) -> None:
        """Move the shared clock ``seconds`` on (past the timestamps of blocks decided within one second) and have
        the validators decide an empty block there, as the consensus loop's ``empty_blocks`` does."""
        with self._lock:
            self._drive()
            head = self.node.head()
            self.clock.now += max(0.0, head.timestamp - self.clock.now) + seconds
            for loop in self.loops:
                loop.empty_blocks = True
            for loop in self.loops:
                loop.step(wait=0)  # each starts the next height (a proposer proposes at once: its period is past)
            for loop in self.loops:
                loop.empty_blocks = False  # the heights started run to their decision; no other empty block
            self._drive()
            assert all(n.head().block_number == head.block_number + 1 for n in self.nodes), "no empty block decided"

    def fork(self) -> QbftBackend:
        """Four validators of their own on copies of these four's stores, with the same keys and a clock of their
        own from this one's time: the chain as it stands here, carried on apart from it."""
        with self._lock:
            self._drive()
            stores, now = [copy_store(node.db) for node in self.nodes], self.clock.now
        return QbftBackend(self.operator, (stores, self.keys, now))

    def close(self) -> None:
        self._stopping.set()
        self._work.set()
        self._driver.join()
        self.server.stop()
        if self.error is not None:
            raise AssertionError(f"driving the validators failed: {self.error!r}") from self.error
        with self._lock:
            self._drive()
        heads = {(int(n.head().block_number), bytes(n.head().hash)) for n in self.nodes}
        assert len(heads) == 1, f"the validators hold different chains: {sorted(heads)}"
        # verify_chain re-executes every block with the reference VM, the dearest step of a test here: it runs on
        # one store, each network's next validator in turn, and the other three must hold byte for byte what it
        # reads there (so it would find the same on them).
        QbftBackend._verified = (QbftBackend._verified + 1) % self.VALIDATORS
        checked = self.nodes[QbftBackend._verified].db
        report = verify_chain(checked)
        assert (report.head, report.head_hash) == next(iter(heads))
        for node in self.nodes:
            if node.db is not checked:
                assert_same_stored_chain(checked, node.db, report.head)


def assert_same_stored_chain(reference: AtomicDatabaseAPI, other: AtomicDatabaseAPI, head: int) -> None:
    """``other`` holds what ``chain.node.verify.verify_chain`` reads in ``reference`` up to ``head``, but for each
    header's round and commit seals (each validator keeps the seals of the COMMITs it counted): the genesis record,
    the canonical hashes, each block's header under its hash (which leaves out round and seals) and its body, its
    stored receipts and its transactions' index; and each header's seals are a quorum of its parent's validators.
    Re-executing ``other``'s blocks would then repeat, step for step, what verify_chain did on ``reference``."""
    assert other[GENESIS_KEY] == reference[GENESIS_KEY]
    want, got = Node(reference).chain, Node(other).chain
    parent = got.get_canonical_block_by_number(BlockNumber(0)).header
    for number in range(1, head + 1):
        block_hash = want.chaindb.get_canonical_block_hash(BlockNumber(number))
        assert got.chaindb.get_canonical_block_hash(BlockNumber(number)) == block_hash, f"block {number}"
        mine, theirs = want.get_block_by_hash(block_hash), got.get_block_by_hash(block_hash)
        assert theirs.hash == block_hash and theirs.header.parent_hash == parent.hash, f"header {number}"
        verify_seals(theirs.header, extra_data(parent).validators)
        assert rlp.encode(theirs.transactions) == rlp.encode(mine.transactions), f"body of block {number}"
        assert theirs.get_receipts(got.chaindb) == mine.get_receipts(want.chaindb), f"receipts of block {number}"
        for index, tx in enumerate(theirs.transactions):
            assert got.chaindb.get_transaction_index(tx.hash) == (number, index), f"index of 0x{tx.hash.hex()}"
        parent = theirs.header
    assert got.get_canonical_head().hash == parent.hash


def latest_timestamp(backend: Backend) -> int:
    return int(backend.web3.eth.get_block("latest")["timestamp"])


def _rpc(backend: Backend, method: str, params: list[Any]) -> Any:
    """A raw JSON-RPC call; None if the node does not know the method."""
    response = backend.web3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        return None
    return response.get("result")


def advance_time(backend: Backend, seconds: int) -> int:
    """Move chain time at least ``seconds`` forward and mine a block there; returns its timestamp."""
    target = latest_timestamp(backend) + seconds
    if isinstance(backend, NodeBackend):
        backend.advance(seconds + 1)
    elif isinstance(backend, EthTesterBackend):
        backend._tester.time_travel(target + 1)  # mines a block one second before the time given
    else:
        if _rpc(backend, "evm_increaseTime", [seconds]) is None or _rpc(backend, "evm_mine", []) is None:
            pytest.skip(f"{backend.description} cannot move chain time (no evm_increaseTime/evm_mine)")
    now = latest_timestamp(backend)
    assert now >= target, f"chain time moved to {now}, wanted at least {target}"
    return now


def take_snapshot(backend: Backend) -> Any:
    """An id to revert the chain to, or None if the backend has no snapshots."""
    if isinstance(backend, EthTesterBackend):
        return backend._tester.take_snapshot()
    return _rpc(backend, "evm_snapshot", [])


def revert_to_snapshot(backend: Backend, snapshot: Any) -> None:
    if isinstance(backend, EthTesterBackend):
        backend._tester.revert_to_snapshot(snapshot)
    elif _rpc(backend, "evm_revert", [snapshot]) is not True:
        raise AssertionError(f"{backend.description}: evm_revert({snapshot!r}) failed")


# -- the consortium --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consortium:
    """A freshly deployed consortium and the keys of its members."""

    backend: Backend
    deployment: Deployment
    registry: ConsortiumRegistryClient
    assets: DataAssetRegistryClient
    grants: AccessGrantsClient
    anchors: AuditAnchorClient
    trust: TrustDirectoryClient
    signers: dict[str, Signer]
    outsider: Signer
    deployer: Signer
    founders: tuple[FoundingMember, ...]
    faucet: Signer

    def now(self) -> int:
        """Timestamp of the latest block."""
        return latest_timestamp(self.backend)

    def advance_time(self, seconds: int) -> int:
        return advance_time(self.backend, seconds)

    def new_signer(self) -> Signer:
        """A fresh account that belongs to no member, able to pay for its gas on this chain."""
        signer = Signer(Account.create())
        self.fund(signer)
        return signer

    def fund(self, signer: Signer) -> None:
        """Give ``signer`` what pays for its gas on this chain (nothing on a free-gas chain)."""
        fees = fee_fields(self.backend)
        if fees["maxFeePerGas"] > 0:  # free-gas chains need no funding
            w3 = self.backend.web3
            tx: dict[str, Any] = {
                "to": signer.address,
                "value": FAUCET_GIFT_WEI,
                "gas": 21000,
                "chainId": self.backend.chain_id,
                "type": 2,
                "nonce": self.faucet.take_nonce(self.backend),
                **fees,
            }
            tx_hash = w3.eth.send_raw_transaction(self.faucet.account.sign_transaction(tx).raw_transaction)
            assert w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.05)["status"] == 1

    def signed_only_anchors(self) -> AuditAnchorClient:
        """A second AuditAnchor of this consortium, deployed ``signed_only`` and given its TrustDirectory, as
        ``deploy_consortium(..., signed_anchors=True)`` deploys it for an ``sm`` consortium."""
        anchors = self.deploy_audit_anchor(signed_only=True)
        anchors.set_trust_directory(self.deployer, self.trust.address)
        self.forget_nonces()
        return anchors

    def deploy_audit_anchor(self, signed_only: bool) -> AuditAnchorClient:
        """Another AuditAnchor of this consortium's registry, without a TrustDirectory yet."""
        self.forget_nonces()
        registry = self.deployment.addresses["ConsortiumRegistry"]
        address = deploy_contract(self.backend, self.deployer, "AuditAnchor", registry, signed_only)
        self.forget_nonces()
        return AuditAnchorClient(self.backend, address)

    def forget_nonces(self) -> None:
        """The deployer is the operator's account (``Keys.create``): after one of them sends, the other asks the
        chain for its nonce again."""
        for signer in (self.deployer, *self.signers.values()):
            signer.forget_nonce()

    def with_fresh_signers(self) -> Consortium:
        """The same consortium with new Signer objects: no nonce remembered from before a chain revert."""
        return replace(
            self,
            signers={org: Signer(s.account) for org, s in self.signers.items()},
            outsider=Signer(self.outsider.account),
            deployer=Signer(self.deployer.account),
            faucet=Signer(self.faucet.account),
        )

    def on(self, backend: Backend) -> Consortium:
        """The same deployment read and written through ``backend`` (a chain carried on from this one's), with new
        Signer objects."""
        d = self.deployment
        return replace(
            self.with_fresh_signers(),
            backend=backend,
            registry=d.registry(backend),
            assets=d.assets(backend),
            grants=d.grants(backend),
            anchors=d.anchors(backend),
            trust=TrustDirectoryClient(backend, d.addresses["TrustDirectory"]),
        )


def deploy_test_consortium(backend: Backend, keys: Keys) -> Consortium:
    signers = {org: Signer(account) for org, account in keys.orgs.items()}
    founders = tuple(
        FoundingMember(
            OrgId(org),
            f"{org.title()} Securities",
            roles,
            cert_fingerprint(org),
            (signers[org].address,),
            founder_keys(org),
        )
        for org, roles in FOUNDER_ROLES.items()
    )
    deployer = Signer(keys.deployer)
    deployment = deploy_consortium(backend, deployer, founders, threshold=THRESHOLD, proposal_ttl_seconds=PROPOSAL_TTL)
    return Consortium(
        backend=backend,
        deployment=deployment,
        registry=deployment.registry(backend),
        assets=deployment.assets(backend),
        grants=deployment.grants(backend),
        anchors=deployment.anchors(backend),
        trust=TrustDirectoryClient(backend, deployment.addresses["TrustDirectory"]),
        signers=signers,
        outsider=Signer(keys.outsider),
        deployer=deployer,
        founders=founders,
        faucet=Signer(keys.faucet),
    )


def described(
    c: Consortium,
    directory: Path,
    name: str,
    passphrase: bytes,
    roles: Role = Role.MEMBER | Role.NOTARY,
    with_directory: bool = True,
) -> ConsortiumDescription:
    """A ``consortium.json`` over ``c``'s contracts whose one member, ``op`` (with ``roles``: the notary by
    default), has its identity created in ``directory`` under ``passphrase``; no witnesses. The log's origin is
    ``<name>/audit-log``. Without ``with_directory`` it names no TrustDirectory."""
    from contracts import CONTRACT_NAMES
    from network.description import ConsortiumDescription, MemberDescription
    from network.identity import create_org_identity

    identity = create_org_identity(directory, OrgId("op"), "Operator", passphrase)
    contracts = {n: c.deployment.addresses.get(n, f"0x{i + 1:040x}") for i, n in enumerate(CONTRACT_NAMES)}
    if not with_directory:
        del contracts["TrustDirectory"]
    return ConsortiumDescription(
        name=name,
        chain_id=c.backend.chain_id,
        chain_kind="external",
        chain_url="",
        contracts=contracts,
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={"witnesses": [], "threshold": 0, "require_regulator": False},
        members=(MemberDescription(OrgId("op"), "Operator", roles, identity),),
    )


def joined(
    c: Consortium, founders: ConsortiumDescription, directory: Path, org: str, passphrase: bytes
) -> tuple[ConsortiumDescription, Signer]:
    """A firm that joined later, as ``consortium member join`` leaves it: its own ``directory`` (a copy of the
    founders' ``founders``, its identity under ``passphrase``, its admission request), admitted as a member by
    alpha and beta (the threshold) and its keys published from that directory (``member keys publish``); its
    description (which lists the founders only) and its account, funded for gas."""
    from network.admission import join
    from network.description import load_description
    from network.identity import load_account_key, load_org_public
    from network.trust import founder_keys as published_keys

    request, _ = join(directory, founders, OrgId(org), f"{org.title()} Securities", Role.MEMBER, passphrase)
    proposal = c.registry.propose_admit(
        c.signers["alpha"], org, request.name, request.roles, request.cert_fingerprint, [request.account]
    )
    assert c.registry.approve(c.signers["beta"], proposal)
    signer = Signer.from_key(load_account_key(directory, OrgId(org), passphrase))
    c.fund(signer)
    for kind, value in published_keys(load_org_public(directory, OrgId(org)), request.roles):
        c.trust.add_key(signer, kind, value)
    return load_description(directory), signer

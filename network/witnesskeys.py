"""The witness keys a verifier counts for a checkpoint, and the log key it checks the checkpoint under: those valid
on chain at the checkpoint's anchor block, not those ``consortium.json`` lists.

``consortium verify evidence``, ``consortium verify log``, the explorer (its server side, and the keys it hands
the browser) and the SDK all count cosignatures under :meth:`ChainWitnessKeys.for_checkpoint`'s answer, which is
the notary's own selection (``network.logsetup.chain_witness_keys``) made at the checkpoint's block:

- **the block**: the one AuditAnchor says anchored the checkpoint's size; for a checkpoint not anchored (yet), the
  chain's head, and the answer says which (``CheckpointWitnesses.anchored``);
- **the keys**: the TrustDirectory's records as read at the head (so a compromise declared after the checkpoint
  but as of a block before it is seen), each counted when valid at that block: a key rotated in counts from its
  ``valid_from``, a key retired or declared compromised stops counting at its ``valid_until``;
- **the members**: the registry's statuses at that block: a member suspended then counts for nothing, one
  admitted later with the witness role counts once its key is valid; the threshold stays ``consortium.json``'s;
- **the log's keys**: the notary member's LOG_KEY records of the same read, judged at the same block
  (``notary.logkeys``: the key a checkpoint names must be valid at its anchor's block; a log whose key rotated,
  ``consortium notary rotate-key``). A directory that holds no log key leaves ``consortium.json``'s.

The block is looked up once per checkpoint (:meth:`ChainWitnessKeys.for_checkpoint`) and serves both. The answer
for a block is kept (at most :data:`CACHE_SIZE` blocks, the least recently used dropped first) under the block's
*hash*, not its number, with the directory's records it was judged from: a block replaced by another at the same
height (a reorganisation, a test's chain reverted to a snapshot) has another hash and is read again, and records
read again (the directory's change count moved) make every kept answer stale. A lookup of a block kept costs the
read of its header (its hash), no contract call; so does a checkpoint's whose anchor block is kept (by size, with
that block's hash: the explorer's provenance of a call asked it of AuditAnchor at every request before), and that
hash only once every :data:`ANCHOR_RECHECK_S` seconds.
:func:`offline_witnesses` is the explicit fallback without a chain (``--offline``): the witness keys and the log
key ``consortium.json`` lists, trusted because the file says so, which sees no rotation, retirement, compromise or
suspension.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar

from chain.ids import Role
from network.description import ConsortiumDescription
from network.errors import NetworkError
from network.logsetup import chain_log_keys, chain_witness_keys, log_origin, witness_name, witness_policy
from notary.checkpointer import WitnessPolicy
from notary.logkeys import LogKeys
from notary.logsuite import WitnessVerifier
from notary.verify import ProvenBlock, TrustRoots

if TYPE_CHECKING:
    from chain.backend import Backend
    from chain.contracts.privatecheck import TrustedHeads
    from chain.lightclient import VerifiedHeader
    from chain.trustview import TrustSnapshot, TrustView

#: What ``CheckpointWitnesses.describe`` says of the offline fallback.
OFFLINE = (
    "witness keys of consortium.json, trusted because the file says so (offline): a witness key rotated, retired "
    "or declared compromised on chain, a witness admitted later and a suspended member are not seen"
)
#: What ``CheckpointWitnesses.describe_log_key`` says of the offline fallback.
OFFLINE_LOG_KEY = (
    "log key of consortium.json, trusted because the file says so (offline): a log key rotated, retired or "
    "declared compromised on chain is not seen"
)

#: How many blocks' answers :class:`ChainWitnessKeys` keeps (each a few keys; the explorer asks for the anchor
#: blocks of the checkpoints people look at, a handful at a time).
CACHE_SIZE = 256

#: Seconds a checkpoint's anchor block, kept with its hash, is taken as still on the chain before that hash is read
#: again (:meth:`ChainWitnessKeys.for_checkpoint`): a block a second at most, as ``consortium up`` seals them.
ANCHOR_RECHECK_S = 1.0


class WitnessKeysError(NetworkError):
    """The witness keys cannot be read from the chain as this consortium is described."""


class WitnessKeysJSON(TypedDict):
    """Where a checkpoint's witness keys and log key come from (:meth:`CheckpointWitnesses.to_json`), as the
    explorer's ``/api/v1/keys`` says it (``witness_keys``)."""

    source: Literal["consortium.json", "chain"]
    block: int | None
    anchored: bool
    detail: str
    log_key: Literal["consortium.json", "chain"]
    log_key_detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class CheckpointWitnesses:
    """The witness keys (org → raw public keys) and the policy a checkpoint's cosignatures are counted under, the
    log's keys its signature is checked under, and where they come from: valid on chain at ``block`` (the anchor's
    when ``anchored``, else the head), or ``consortium.json``'s (``block`` None, :func:`offline_witnesses`).
    ``log_keys`` None: ``consortium.json``'s log key (offline, or a directory that holds no log key)."""

    keys: Mapping[str, tuple[bytes, ...]]
    policy: WitnessPolicy
    block: int | None
    anchored: bool = False
    log_keys: LogKeys | None = None
    #: The block whose state the directory's records were proven in (:func:`prove_witnesses`: the head proven
    #: from the founders), the statuses proven at ``block``; None: read from the node (``eth_call``).
    proven_at: int | None = None

    def describe(self) -> str:
        if self.block is None:
            return OFFLINE
        where = "the anchor's block" if self.anchored else "the head: the checkpoint is not anchored"
        return f"witness keys valid on chain at block {self.block} ({where}), of members active then{self._proven()}"

    def describe_log_key(self) -> str:
        if self.block is None:
            return OFFLINE_LOG_KEY
        if self.log_keys is None:
            return "log key of consortium.json: the TrustDirectory holds no log key"
        where = "the anchor's block" if self.anchored else "the head: the checkpoint is not anchored"
        return f"log key valid on chain at block {self.block} ({where}){self._proven()}"

    def _proven(self) -> str:
        if self.proven_at is None:
            return ""
        return f", the records proven in the state of block {self.proven_at} and the statuses in block {self.block}'s"

    def to_json(self) -> WitnessKeysJSON:
        return {
            "source": "consortium.json" if self.block is None else "chain",
            "block": self.block,
            "anchored": self.anchored,
            "detail": self.describe(),
            "log_key": "chain" if self.log_keys is not None else "consortium.json",
            "log_key_detail": self.describe_log_key(),
        }


def claimed_checkpoint_size(bundle: object) -> int | None:
    """The size of the checkpoint an evidence bundle (parsed, or its JSON) proves against, as it claims it (the
    checkpoint step checks the claim against the signed note); None when it has none (pending) or it is malformed."""
    from notary.bundle import EvidenceBundle

    if isinstance(bundle, EvidenceBundle):
        return None if bundle.checkpoint is None else bundle.checkpoint.size
    part = bundle.get("checkpoint") if isinstance(bundle, Mapping) else None
    size = part.get("size") if isinstance(part, Mapping) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def prove_witnesses(
    heads: TrustedHeads,
    description: ConsortiumDescription,
    at: VerifiedHeader,
    head: VerifiedHeader,
    anchored: bool,
    policy: WitnessPolicy,
    founders: Collection[str],
) -> CheckpointWitnesses:
    """The witness keys and log keys for a checkpoint, selected as :meth:`ChainWitnessKeys.at_block` selects them
    (``network.logsetup.chain_witness_keys``, ``chain_log_keys``) from storage proven by ``eth_getProof`` instead of
    read by ``eth_call``: every record of the TrustDirectory in the state of ``head`` (so a key retired or declared
    compromised since is seen), the registry's status and roles of each org in the state of ``at`` (the anchor's
    block, or the head for a checkpoint not anchored), both headers accepted by ``heads`` from the founding
    validators (``chain.contracts.proven.ProvenState``). A proof that does not check raises its ``ChainError``."""
    from chain.contracts.proven import ProvenState
    from chain.ids import MemberStatus
    from chain.trustview import TrustSnapshot

    addresses = {name: description.contracts[name] for name in ("TrustDirectory", "ConsortiumRegistry")}
    latest = ProvenState(heads.rpc, head, addresses)
    changes, orgs = latest.trust_orgs()
    records = {str(org): latest.keys(org).records for org in orgs}
    then = ProvenState(heads.rpc, at, addresses)
    members = {str(org): then.member(org) for org in orgs}
    statuses = {org: int(MemberStatus.NONE if m is None else m.status) for org, m in members.items()}

    def roles_of(org: str) -> Role:
        member = members.get(org)
        return Role(0) if member is None else member.roles

    snapshot = TrustSnapshot.of(head.number, changes, records, statuses)
    return select_witnesses(snapshot, description, at.number, anchored, policy, founders, roles_of, head.number)


def select_witnesses(
    snapshot: TrustSnapshot,
    description: ConsortiumDescription,
    block: int,
    anchored: bool,
    policy: WitnessPolicy,
    founders: Collection[str],
    roles_of: Callable[[str], Role],
    proven_at: int | None = None,
) -> CheckpointWitnesses:
    """The witness keys valid at ``block`` of the members ``snapshot``'s statuses say are active, under ``policy``
    (``network.logsetup.chain_witness_keys``), and the log's keys judged at ``block``, from ``snapshot``'s
    records: what :meth:`ChainWitnessKeys.at_block` answers from the node and :func:`prove_witnesses` from proofs
    (``proven_at``: the block whose state the records were proven in)."""
    keys, chosen = chain_witness_keys(snapshot, block, policy, founders, roles_of)
    log_keys = chain_log_keys(snapshot, description, block).at(block, anchored)
    witnesses = {org: tuple(k) for org, k in keys.items()}
    return CheckpointWitnesses(
        witnesses, chosen, block, anchored, log_keys if log_keys.keys else None, proven_at=proven_at
    )


def claimed_anchor_block(bundle: object) -> int | None:
    """The number of the block an evidence bundle's anchor claims; None when it has no anchor (pending) or it is
    malformed (the steps that read it say so)."""
    from notary.bundle import EvidenceBundle

    if isinstance(bundle, EvidenceBundle):
        return None if bundle.anchor is None else bundle.anchor.block.number
    anchor = bundle.get("anchor") if isinstance(bundle, Mapping) else None
    block = anchor.get("block") if isinstance(anchor, Mapping) else None
    number = block.get("number") if isinstance(block, Mapping) else None
    return number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else None


def prove_anchor_block(
    heads: TrustedHeads, number: int, registry: str | None = None, notary: str | None = None
) -> ProvenBlock:
    """Block ``number`` and the validator set that sealed it, proven by ``heads`` from the founding validators
    (``chain.contracts.privatecheck.TrustedHeads.sealers``); with ``registry`` (ConsortiumRegistry's address) and
    ``notary`` (the notary's member), also that member's accounts in the state the block started from, proven by
    ``eth_getProof`` against its parent's state root (``chain.contracts.proven``). A header or proof it does not
    accept, or a node's refusal, as the ``problem``. A node that cannot be reached raises its ``BackendError``."""
    from chain.contracts.proven import ProvenState
    from chain.errors import BackendError, BatchAnswerError, ChainError, RpcAnswerError

    accounts: tuple[str, ...] = ()
    try:
        parent, header = heads.sealers(number)
        if registry is not None and notary is not None and number > 1:
            state = ProvenState(heads.rpc, parent, {"ConsortiumRegistry": registry})
            member = state.member(notary)
            accounts = () if member is None else tuple(member.accounts)
    except ChainError as exc:
        if isinstance(exc, BackendError) and not isinstance(exc, (RpcAnswerError, BatchAnswerError)):
            raise
        return ProvenBlock(number, problem=f"block {number} is not proven from the founding validators: {exc}")
    if heads.resumed_from is not None:
        start = f"from the header of block {heads.resumed_from} kept before"
    else:
        start = "from the founding validators of consortium.json"
    named = "the founding set" if number == 1 else f"the set block {number - 1} names"
    return ProvenBlock(
        number,
        header.hash,
        tuple("0x" + v.hex() for v in parent.validators),
        f"counted under {named}, block {number} proven {start} through the node",
        notary_accounts=accounts,
        notary_org=notary or "",
    )


def offline_witnesses(description: ConsortiumDescription) -> CheckpointWitnesses:
    """``consortium.json``'s witnesses, keys and policy: the explicit offline fallback."""
    policy = witness_policy(description)
    keys = {org: (description.member(org).identity.witness_public_key,) for org in policy.witnesses}
    return CheckpointWitnesses(keys, policy, None)


def witness_verifiers_of(
    description: ConsortiumDescription, chosen: CheckpointWitnesses
) -> dict[str, tuple[WitnessVerifier, ...]]:
    """org → a verifier of the log's suite for each of its keys in ``chosen``."""
    suite = description.suite
    return {
        org: tuple(suite.cosignature_verifier(witness_name(description, org), key) for key in keys)
        for org, keys in chosen.keys.items()
    }


def with_witnesses(roots: TrustRoots, description: ConsortiumDescription, chosen: CheckpointWitnesses) -> TrustRoots:
    """``roots`` with the witnesses, policy and log keys of ``chosen``, which say where they come from."""
    return dataclasses.replace(
        roots,
        witnesses=witness_verifiers_of(description, chosen),
        policy=chosen.policy,
        witness_source=chosen.describe(),
        log_keys=chosen.log_keys,
        log_key_source=chosen.describe_log_key(),
    )


class ChainWitnessKeys:
    """The witness keys and log keys valid for a checkpoint, read from the consortium's chain through ``backend``
    (``TrustDirectory``, ``ConsortiumRegistry`` and ``AuditAnchor`` of ``consortium.json``). With ``view`` (a
    started :class:`~chain.trustview.TrustView`, as the explorer keeps), its snapshot supplies the records once it
    has read them. Thread-safe; the records are read again only when the directory's change count moved, and the
    answer for a block is kept under its hash (the module docstring; ``cache_size`` blocks at most)."""

    def __init__(
        self,
        description: ConsortiumDescription,
        backend: Backend,
        view: TrustView | None = None,
        cache_size: int = CACHE_SIZE,
        *,
        recheck_s: float = ANCHOR_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
        heads: TrustedHeads | None = None,
    ) -> None:
        from chain.contracts import AuditAnchorClient
        from chain.contracts.registry import ConsortiumRegistryClient
        from chain.contracts.trust import TrustDirectoryClient

        contracts = description.contracts
        if "TrustDirectory" not in contracts:
            raise WitnessKeysError(
                "consortium.json names no TrustDirectory: this consortium keeps no keys on chain (use its file: "
                "--offline)"
            )
        self.description = description
        self.backend = backend
        self._view = view
        self._trust = TrustDirectoryClient(backend, contracts["TrustDirectory"])
        self._registry = ConsortiumRegistryClient(backend, contracts["ConsortiumRegistry"])
        self._anchors = AuditAnchorClient(backend, contracts["AuditAnchor"])
        self._policy = witness_policy(description)
        self._founders = frozenset(m.org for m in description.members)
        self._origin = log_origin(description)
        self._lock = threading.Lock()
        self._records: TrustSnapshot | None = None
        self._roles: dict[str, Role] = {}
        if cache_size < 1:
            raise WitnessKeysError(f"the cache keeps at least one block, not {cache_size}")
        self._cache_size = cache_size
        #: (block hash, anchored) -> (the records it was judged from, the answer)
        self._cache: OrderedDict[tuple[bytes, bool], tuple[TrustSnapshot, CheckpointWitnesses]] = OrderedDict()
        #: checkpoint size -> (the block that anchored it, that block's hash, ``clock()`` when that hash was last
        #: read from the chain), as AuditAnchor said
        self._anchored: OrderedDict[int, tuple[int, bytes, float]] = OrderedDict()
        self._recheck_s = recheck_s
        self._clock = clock
        #: the light client that proves an evidence bundle's anchor block and the set that sealed it
        #: (:meth:`evidence_roots`); None: the seals count under the trust roots' validators
        self.heads = heads
        #: anchor block number -> that block and its sealing set, as :attr:`heads` proved them
        self._proven: OrderedDict[int, ProvenBlock] = OrderedDict()

    def head(self) -> int:
        from chain.backend import head_number

        return head_number(self.backend)

    def anchor_block(self, size: int) -> int | None:
        """The block AuditAnchor says anchored the log's checkpoint of ``size``; None when it holds no such one."""
        found = self._anchors.at_size(self._origin, size)
        return None if found is None else found.block_number

    def for_checkpoint(self, size: int | None, anchored_at: int | None = None) -> CheckpointWitnesses:
        """The witness keys and log keys for the checkpoint of ``size``: valid at its anchor's block (looked up
        once, for both; ``anchored_at``: that block as the caller just read it from AuditAnchor, not asked again),
        or at the head when it is not anchored (or ``size`` is None: the keys valid now). The
        anchor's block is kept by size with its hash: while the block at that height has that hash, the chain up
        to it is the one that anchored the checkpoint there, so AuditAnchor is not asked again (an anchor, once
        written, is not written over); another hash there (a chain replaced) asks it again. That hash is read again
        at most every ``recheck_s`` seconds of ``clock``, so that the answers between two reads ask nothing of the
        chain: the explorer's provenance of a call is answered from what it keeps, not after a node request each,
        which waits behind the node's sealing; a chain replaced under a kept anchor is seen that much later."""
        if size is None:
            return self.at_block(self.head())
        now = self._clock()  # taken before the hash is read: the hash is at least as new as the time kept with it
        with self._lock:
            kept = self._anchored.get(size)
            if kept is not None:
                self._anchored.move_to_end(size)
        if kept is not None:
            block, digest, read_at = kept
            if now - read_at < self._recheck_s:
                return self._at_block(block, digest, anchored=True)
            if self._hash_now(block) == digest:
                with self._lock:
                    if self._anchored.get(size) == kept:
                        self._anchored[size] = (block, digest, now)
                return self._at_block(block, digest, anchored=True)
        found = self.anchor_block(size) if anchored_at is None else anchored_at
        if found is None:
            return self.at_block(self.head())
        digest = self._block_hash(found)
        with self._lock:
            _keep_recent(self._anchored, size, (found, digest, now), self._cache_size)
        return self._at_block(found, digest, anchored=True)

    def at_block(self, block: int, anchored: bool = False) -> CheckpointWitnesses:
        """The witness keys valid at ``block``, of the members active at ``block``, and the log's keys judged at
        ``block``; kept under the block's hash (the module docstring)."""
        return self._at_block(block, self._block_hash(block), anchored)

    def _at_block(self, block: int, digest: bytes, anchored: bool) -> CheckpointWitnesses:
        """:meth:`at_block` of a block whose hash on the chain now was just read: ``digest``."""
        records = self._current_records()
        key = (digest, anchored)
        with self._lock:
            kept = self._cache.get(key)
            if kept is not None and kept[0] is records:
                self._cache.move_to_end(key)
                return kept[1]
        chosen = self._read_at(records, block, anchored)
        with self._lock:
            _keep_recent(self._cache, key, (records, chosen), self._cache_size)
        return chosen

    def _block_hash(self, block: int) -> bytes:
        """The hash of the block at height ``block`` on the chain the backend reads now (one plain JSON-RPC
        request over HTTP: web3's stack cost more than the read, at every provenance answer)."""
        from chain.backend import block_hash

        return block_hash(self.backend, block)

    def _hash_now(self, block: int) -> bytes | None:
        """The hash of the block at height ``block`` now; None when the chain has no such block (it was replaced
        by a shorter one): a kept anchor block then is looked up again, not failed on."""
        from chain.backend import read_errors

        try:
            return self._block_hash(block)
        except read_errors():
            if self.head() >= block:  # the block is there: the read failed, and so would a lookup
                raise
            return None

    def _read_at(self, records: TrustSnapshot, block: int, anchored: bool) -> CheckpointWitnesses:
        """The answer of :meth:`at_block` read from the chain: the directory's orgs and their statuses at
        ``block``, each key judged there."""
        orgs = [str(org) for org in self._trust.orgs(block)]
        _, statuses = self._trust.follow_state(block)
        snapshot = dataclasses.replace(records, statuses=dict(zip(orgs, statuses, strict=True)))
        return select_witnesses(
            snapshot, self.description, block, anchored, self._policy, self._founders, self._roles_of
        )

    def log_keys(self) -> LogKeys | None:
        """Every log key the directory records, judged at the head; None when it holds none."""
        keys = chain_log_keys(self._current_records(), self.description, self.head())
        return keys if keys.keys else None

    def roots(self, roots: TrustRoots, size: int | None) -> tuple[TrustRoots, CheckpointWitnesses]:
        """``roots`` with the witnesses valid for the checkpoint of ``size``, and those witnesses."""
        chosen = self.for_checkpoint(size)
        return with_witnesses(roots, self.description, chosen), chosen

    def evidence_roots(
        self, roots: TrustRoots, bundle: object, prove_keys: bool = False
    ) -> tuple[TrustRoots, CheckpointWitnesses]:
        """:meth:`roots` for an evidence bundle (parsed, or its JSON); with :attr:`heads`, also the block its anchor
        claims proven from the founding validators, whose validator set then counts its seals
        (``notary.verify.ProvenBlock``: a set changed by governance since the genesis is followed). A header the
        light client does not accept becomes the seals step's failure; a node that cannot be reached raises.
        With ``prove_keys`` too, the witness and log keys are proven in the state of the head and of the anchor's
        block (:func:`prove_witnesses`) rather than read from the node; a proof that does not check raises."""
        if not prove_keys or self.heads is None:
            roots, chosen = self.roots(roots, claimed_checkpoint_size(bundle))
            return self.with_anchor_block(roots, bundle), chosen
        head = self.heads.at(self.head())  # first: from a kept header, then the anchor's block back from the head
        roots = self.with_anchor_block(roots, bundle)
        proven = roots.anchor_block
        anchored = proven is not None and proven.problem is None
        at = self.heads.at(proven.number) if anchored and proven is not None else None  # proven already: kept
        chosen = prove_witnesses(
            self.heads, self.description, head if at is None else at, head, at is not None, self._policy, self._founders
        )
        return with_witnesses(roots, self.description, chosen), chosen

    def with_anchor_block(self, roots: TrustRoots, bundle: object) -> TrustRoots:
        """``roots`` with the block ``bundle``'s anchor claims, proven by :attr:`heads` (unchanged without them, or
        for a bundle not anchored). A block proven is kept by number (``cache_size`` at most): an anchor block is
        proven once, whatever number of bundles it anchors; one not proven is tried again at the next ask."""
        number = claimed_anchor_block(bundle)
        if self.heads is None or number is None or number < 1:
            return roots
        return dataclasses.replace(roots, anchor_block=self.proven_block(self.heads, number))

    def proven_block(self, heads: TrustedHeads, number: int) -> ProvenBlock:
        """Block ``number`` and the set that sealed it, proven by ``heads`` (:func:`prove_anchor_block`, with the
        notary's accounts): kept by number when proven, asked again when not."""
        with self._lock:
            proven = self._proven.get(number)
            if proven is not None:
                self._proven.move_to_end(number)
                return proven
        notary = next((m.org for m in self.description.members if Role.NOTARY in m.roles), None)
        proven = prove_anchor_block(heads, number, self.description.contracts["ConsortiumRegistry"], notary)
        if proven.problem is None:
            with self._lock:
                _keep_recent(self._proven, number, proven, self._cache_size)
        return proven

    def prepare(self) -> int | None:
        """Read and prove now what an answer about the log's latest anchored checkpoint needs, as a service starts:
        the keys valid at its anchor's block (kept as :meth:`for_checkpoint` keeps them), and with :attr:`heads`
        the headers walked to the head, then that block and the set that sealed it proven back from there (kept
        by number); the keys valid at the head when nothing is anchored yet. The anchor's block, or None. Raises
        what reading the chain raises."""
        latest = self._anchors.latest(self._origin)
        if latest is None:
            self.for_checkpoint(None)
        else:
            self.for_checkpoint(latest.tree_size, anchored_at=latest.block_number)
        if self.heads is None:
            return None if latest is None else latest.block_number
        head = self.head()
        if head >= 1:
            self.heads.at(head)
        if latest is not None and latest.block_number >= 1:
            self.proven_block(self.heads, latest.block_number)
        return None if latest is None else latest.block_number

    def _current_records(self) -> TrustSnapshot:
        """Every record of the directory, as last read at a head (the view's, when it has read the chain)."""
        from chain.trustview import load_snapshot

        if self._view is not None and self._view.snapshot is not None:
            return self._view.snapshot
        with self._lock:
            count = self._trust.change_count()
            if self._records is None or self._records.change_count != count:
                self._records = load_snapshot(self._trust, self.head())
            return self._records

    def _roles_of(self, org: str) -> Role:
        """The roles of ``org`` in the registry (fixed at admission: read once)."""
        if org not in self._roles:
            member = self._registry.member(org)
            self._roles[org] = Role(0) if member is None else member.roles
        return self._roles[org]


_K = TypeVar("_K")
_V = TypeVar("_V")


def _keep_recent(kept: OrderedDict[_K, _V], key: _K, value: _V, size: int) -> None:
    """``kept[key] = value`` as the most recently used entry, the least recently used dropped beyond ``size``
    (the caller holds the lock that guards ``kept``)."""
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > size:
        kept.popitem(last=False)

# pragma version 0.4.3
"""
@title AuditAnchor
@notice Anchors of the audit log: for each log origin, cosigned checkpoints (tree size, root hash and the
        SHA-256 of the checkpoint note) with strictly increasing tree sizes. Only NOTARY members anchor.
        `covering` finds the first anchor whose tree contains a given leaf, for evidence bundles.
"""
from interfaces import IConsortiumRegistry
import membership

MAX_ORIGIN: constant(uint256) = 128


struct Anchor:
    tree_size: uint64
    root_hash: bytes32
    checkpoint_digest: bytes32
    notary: bytes32
    block_number: uint256
    timestamp: uint256


event Anchored:
    origin_hash: indexed(bytes32)
    tree_size: indexed(uint64)
    origin: String[MAX_ORIGIN]
    root_hash: bytes32
    checkpoint_digest: bytes32
    notary: bytes32


registry: public(IConsortiumRegistry)
anchors: HashMap[bytes32, HashMap[uint64, Anchor]]
sizes: HashMap[bytes32, HashMap[uint256, uint64]]
counts: HashMap[bytes32, uint256]
origin_at: public(HashMap[uint256, String[MAX_ORIGIN]])
origin_count: public(uint256)


@deploy
def __init__(registry: IConsortiumRegistry):
    self.registry = registry


@external
def anchor(origin: String[MAX_ORIGIN], tree_size: uint64, root_hash: bytes32, checkpoint_digest: bytes32):
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.NOTARY)
    assert len(origin) > 0, "empty origin"
    assert root_hash != empty(bytes32), "empty root hash"
    assert checkpoint_digest != empty(bytes32), "empty checkpoint digest"
    key: bytes32 = keccak256(origin)
    n: uint256 = self.counts[key]
    if n == 0:
        self.origin_at[self.origin_count] = origin
        self.origin_count += 1
    else:
        assert tree_size > self.sizes[key][n - 1], "tree size must increase"
    assert tree_size > 0, "tree size must increase"
    self.anchors[key][tree_size] = Anchor(
        tree_size=tree_size, root_hash=root_hash, checkpoint_digest=checkpoint_digest, notary=org,
        block_number=block.number, timestamp=block.timestamp,
    )
    self.sizes[key][n] = tree_size
    self.counts[key] = n + 1
    log Anchored(origin_hash=key, tree_size=tree_size, origin=origin, root_hash=root_hash,
                 checkpoint_digest=checkpoint_digest, notary=org)


@view
@external
def anchor_count(origin: String[MAX_ORIGIN]) -> uint256:
    return self.counts[keccak256(origin)]


@view
@external
def size_at(origin: String[MAX_ORIGIN], i: uint256) -> uint64:
    return self.sizes[keccak256(origin)][i]


@view
@external
def at_size(origin: String[MAX_ORIGIN], tree_size: uint64) -> Anchor:
    """@notice The anchor of exactly `tree_size`; all zero if that size was not anchored."""
    return self.anchors[keccak256(origin)][tree_size]


@view
@external
def latest(origin: String[MAX_ORIGIN]) -> Anchor:
    key: bytes32 = keccak256(origin)
    n: uint256 = self.counts[key]
    if n == 0:
        return empty(Anchor)
    return self.anchors[key][self.sizes[key][n - 1]]


@view
@external
def covering(origin: String[MAX_ORIGIN], leaf_index: uint64) -> Anchor:
    """@notice The first anchor whose tree contains leaf `leaf_index` (tree_size > index); all zero if none."""
    key: bytes32 = keccak256(origin)
    lo: uint256 = 0
    hi: uint256 = self.counts[key]
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if self.sizes[key][mid] > leaf_index:
            hi = mid
        else:
            lo = mid + 1
    if lo == self.counts[key]:
        return empty(Anchor)
    return self.anchors[key][self.sizes[key][lo]]

# pragma version 0.4.3
"""
@title AuditAnchor
@notice Anchors of the audit log: for each log origin, cosigned checkpoints (tree size, root hash and the
        SHA-256 of the checkpoint note) with strictly increasing tree sizes. Only NOTARY members anchor.
        `covering` finds the first anchor whose tree contains a given leaf, for evidence bundles.
        `anchor_signed` (for logs of the `sm` suite) also checks the log's SM2 signature over exactly what is
        anchored, with the SM2-verify precompile at 0x100a, against a LOG_KEY of the notary's member that the
        TrustDirectory holds valid at this block (docs/national-suite.md, "AuditAnchor checks the notary's SM2
        signature").
        An AuditAnchor deployed with `signed_only` (every consortium of the `sm` suite) refuses plain `anchor`:
        each anchor it holds was checked so. The flag is fixed at deployment and cannot change
        (docs/decisions.md, "AuditAnchor: signed-only anchors are a constructor flag").
"""
from interfaces import IConsortiumRegistry
import membership

MAX_ORIGIN: constant(uint256) = 128
SM2_VERIFY: constant(address) = 0x000000000000000000000000000000000000100A
#: TrustDirectory's kind of a log key: the public key a notary signs its log's checkpoints with.
LOG_KEY: constant(uint8) = 6
MAX_KEY_VALUE: constant(uint256) = 2048
#: The signed message starts with this: a NUL cannot occur in a signed note's text, so no checkpoint or batch
#: statement the same key signs can be read as an anchor statement, nor the other way round.
ANCHOR_DOMAIN: constant(Bytes[28]) = b"consortium-ledger/anchor/v1\x00"


interface ITrustDirectory:
    def find(org: bytes32, kind: uint8, data: Bytes[MAX_KEY_VALUE]) -> (bool, uint256): view
    def is_valid(org: bytes32, index: uint256, at_block: uint256) -> bool: view
    def registry() -> address: view


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


event AnchorSigned:
    origin_hash: indexed(bytes32)
    tree_size: indexed(uint64)
    key_index: uint256
    key_x: bytes32
    key_y: bytes32
    r: bytes32
    s: bytes32


registry: public(IConsortiumRegistry)
#: True: `anchor` is refused, every anchor goes through `anchor_signed`. Set at deployment, never changed.
signed_only: public(immutable(bool))
anchors: HashMap[bytes32, HashMap[uint64, Anchor]]
sizes: HashMap[bytes32, HashMap[uint256, uint64]]
counts: HashMap[bytes32, uint256]
origin_at: public(HashMap[uint256, String[MAX_ORIGIN]])
origin_count: public(uint256)
#: Where `anchor_signed` finds the log keys; set once by the deployer (`set_trust_directory`).
trust_directory: public(ITrustDirectory)
deployer: public(address)
#: 1 + the TrustDirectory index (in the notary's member) of the log key an anchor was checked under; 0: unchecked.
signed_with: HashMap[bytes32, HashMap[uint64, uint256]]


@deploy
def __init__(registry: IConsortiumRegistry, require_signed: bool):
    self.registry = registry
    self.deployer = msg.sender
    signed_only = require_signed


@external
def set_trust_directory(directory: ITrustDirectory):
    """@notice Once, by the deployer at genesis: the TrustDirectory whose LOG_KEY records `anchor_signed` trusts."""
    assert msg.sender == self.deployer, "not the deployer"
    assert self.trust_directory.address == empty(address), "trust directory already set"
    assert directory.address != empty(address), "empty trust directory"
    assert staticcall directory.registry() == self.registry.address, "trust directory of another registry"
    self.trust_directory = directory
    self.deployer = empty(address)


@external
def anchor(origin: String[MAX_ORIGIN], tree_size: uint64, root_hash: bytes32, checkpoint_digest: bytes32):
    """@notice An anchor the contract does not check against the log's key; refused when `signed_only`."""
    assert not signed_only, "unsigned anchors refused: use anchor_signed"
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.NOTARY)
    self._anchor(org, origin, tree_size, root_hash, checkpoint_digest)


@external
def anchor_signed(
    origin: String[MAX_ORIGIN], tree_size: uint64, root_hash: bytes32, checkpoint_digest: bytes32,
    key_x: bytes32, key_y: bytes32, r: bytes32, s: bytes32,
):
    """
    @notice `anchor`, and the log's SM2 signature (r, s; signer ID 1234567812345678) over
            ANCHOR_DOMAIN ‖ tree_size (8 bytes, big-endian) ‖ root_hash ‖ checkpoint_digest ‖ origin, checked with
            the precompile under the key (key_x, key_y), which must be a LOG_KEY record of the sender's member
            in the TrustDirectory, valid at this block.
    """
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.NOTARY)
    assert self.trust_directory.address != empty(address), "no trust directory"
    found: bool = False
    index: uint256 = 0
    found, index = staticcall self.trust_directory.find(org, LOG_KEY, concat(b"\x04", key_x, key_y))
    assert found, "not a log key of the notary's member"
    assert staticcall self.trust_directory.is_valid(org, index, block.number), "log key not valid at this block"
    message: Bytes[28 + 8 + 64 + MAX_ORIGIN] = concat(
        ANCHOR_DOMAIN, convert(tree_size, bytes8), root_hash, checkpoint_digest, convert(origin, Bytes[MAX_ORIGIN])
    )
    success: bool = False
    output: Bytes[32] = b""
    success, output = raw_call(
        SM2_VERIFY, concat(key_x, key_y, r, s, message), max_outsize=32, is_static_call=True,
        revert_on_failure=False,
    )
    assert success and len(output) == 32 and convert(output, uint256) == 1, "bad SM2 signature of the log"
    self._anchor(org, origin, tree_size, root_hash, checkpoint_digest)
    key: bytes32 = keccak256(origin)
    self.signed_with[key][tree_size] = index + 1
    log AnchorSigned(origin_hash=key, tree_size=tree_size, key_index=index, key_x=key_x, key_y=key_y, r=r, s=s)


@view
@external
def signature_key(origin: String[MAX_ORIGIN], tree_size: uint64) -> (bool, uint256):
    """
    @notice (checked, index): whether the anchor of `tree_size` was checked against the log's SM2 signature, and
            the TrustDirectory index, in the anchoring notary's member, of the key it was checked under.
    """
    p: uint256 = self.signed_with[keccak256(origin)][tree_size]
    if p == 0:
        return False, 0
    return True, p - 1


@internal
def _anchor(
    org: bytes32, origin: String[MAX_ORIGIN], tree_size: uint64, root_hash: bytes32, checkpoint_digest: bytes32
):
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

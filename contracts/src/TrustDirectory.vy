# pragma version 0.4.3
"""
@title TrustDirectory
@notice The consortium's trust configuration: for each member, a list of key records (CA certificates, revoked
        certificate serials, account, witness, gateway and log keys, node and witness endpoints), each valid from
        a block and, once retired or declared compromised, until a block. Records are never deleted, so the
        question "was this key valid at block B" has one answer for ever (an evidence verifier asks it).
        A member changes its own records with any of its accounts: it adds a key (valid from now or from a
        later block, so that old and new overlap), retires one (now or at a later block) and revokes its own
        certificates by serial. A regulator may declare any member's key compromised as of a block, earlier
        ones included. The deployer writes the founders' keys once (genesis), then loses every privilege.
        A member admitted later by governance adds its own keys once admitted.
"""
from interfaces import IConsortiumRegistry

CA_CERT: constant(uint8) = 1
REVOKED_SERIAL: constant(uint8) = 2
ACCOUNT: constant(uint8) = 3
WITNESS_KEY: constant(uint8) = 4
GATEWAY_KEY: constant(uint8) = 5
LOG_KEY: constant(uint8) = 6
NODE_ENDPOINT: constant(uint8) = 7
#: The URL (UTF-8) a notary sends the member's witness its checkpoints at (C2SP tlog-witness).
WITNESS_ENDPOINT: constant(uint8) = 8
MAX_KIND: constant(uint8) = 8
#: An endpoint's URL is short; a longer one is a mistake, not a URL.
MAX_URL: constant(uint256) = 512

OPEN: constant(uint8) = 0
RETIRED: constant(uint8) = 1
COMPROMISED: constant(uint8) = 2

REGULATOR: constant(uint256) = 4
STATUS_ACTIVE: constant(uint8) = 1
STATUS_SUSPENDED: constant(uint8) = 2

#: A P-256 or SM2 CA certificate's DER is 500-900 bytes; the value is stored whole, not hashed.
MAX_VALUE: constant(uint256) = 2048
MAX_ORGS: constant(uint256) = 256


struct KeyRecord:
    kind: uint8
    value: Bytes[MAX_VALUE]
    valid_from: uint256
    valid_until: uint256
    state: uint8
    added_at: uint256
    ended_by: bytes32


event KeyAdded:
    org: indexed(bytes32)
    index: indexed(uint256)
    kind: uint8
    valid_from: uint256
    value_hash: bytes32

event KeyRetired:
    org: indexed(bytes32)
    index: indexed(uint256)
    kind: uint8
    valid_until: uint256

event KeyCompromised:
    org: indexed(bytes32)
    index: indexed(uint256)
    kind: uint8
    valid_until: uint256
    by_org: bytes32

event BootstrapFinished:
    record_count: uint256


registry: public(IConsortiumRegistry)
records: HashMap[bytes32, HashMap[uint256, KeyRecord]]
record_count: public(HashMap[bytes32, uint256])
#: 1 + the index of the record of (org, keccak256(kind, value)); 0 when there is none.
position: HashMap[bytes32, HashMap[bytes32, uint256]]
org_at: public(HashMap[uint256, bytes32])
org_count: public(uint256)
#: Bumped by every change: a follower compares it instead of reading every record again.
change_count: public(uint256)
last_change_block: public(uint256)
bootstrapper: public(address)
bootstrapped: public(bool)


@deploy
def __init__(registry: IConsortiumRegistry):
    self.registry = registry
    self.bootstrapper = msg.sender


# -- genesis -----------------------------------------------------------------------------------------------

@external
def bootstrap_key(org: bytes32, kind: uint8, data: Bytes[MAX_VALUE]):
    """@notice A founder's key, valid from block 0: the trust that consortium.json also carries."""
    assert not self.bootstrapped, "bootstrap finished"
    assert msg.sender == self.bootstrapper, "not the bootstrapper"
    status: uint8 = 0
    roles: uint256 = 0
    status, roles = staticcall self.registry.org_info(org)
    assert status == STATUS_ACTIVE, "not a member"
    self._add(org, kind, data, 0)


@external
def finish_bootstrap():
    assert not self.bootstrapped, "bootstrap finished"
    assert msg.sender == self.bootstrapper, "not the bootstrapper"
    self.bootstrapped = True
    self.bootstrapper = empty(address)
    total: uint256 = 0
    for i: uint256 in range(MAX_ORGS):
        if i >= self.org_count:
            break
        total += self.record_count[self.org_at[i]]
    log BootstrapFinished(record_count=total)


# -- a member's own keys -----------------------------------------------------------------------------------

@external
def add_key(kind: uint8, data: Bytes[MAX_VALUE], valid_from: uint256) -> uint256:
    """
    @notice Add a key of the sender's member, valid from `valid_from` (0 or a past block: this block). A later
            block lets the old key and the new one overlap until the old one is retired. Returns its index.
    """
    org: bytes32 = self._member(msg.sender, True)
    start: uint256 = max(valid_from, block.number)
    return self._add(org, kind, data, start)


@external
def retire_key(index: uint256, valid_until: uint256):
    """
    @notice End a key of the sender's member at `valid_until` (0 or a past block: this block; a later block
            keeps it valid until then). A retirement may be brought forward, never pushed back.
            A revoked serial cannot be retired: revocation is permanent.
    """
    org: bytes32 = self._member(msg.sender, False)
    assert index < self.record_count[org], "unknown key"
    r: KeyRecord = self.records[org][index]
    assert r.kind != REVOKED_SERIAL, "a revocation is permanent"
    assert r.state != COMPROMISED, "key already compromised"
    end: uint256 = max(valid_until, block.number)
    end = max(end, r.valid_from)
    if r.state == RETIRED:
        assert end < r.valid_until, "key already retired by then"
    self.records[org][index].valid_until = end
    self.records[org][index].state = RETIRED
    self.records[org][index].ended_by = org
    self._changed()
    log KeyRetired(org=org, index=index, kind=r.kind, valid_until=end)


@external
def revoke_serial(serial: Bytes[32]) -> uint256:
    """@notice Revoke a certificate of the sender's member's CA by its serial number (big-endian, minimal)."""
    org: bytes32 = self._member(msg.sender, False)
    return self._add(org, REVOKED_SERIAL, serial, block.number)


# -- supervision -------------------------------------------------------------------------------------------

@external
def declare_compromised(org: bytes32, index: uint256, as_of: uint256):
    """
    @notice A regulator declares a member's key compromised as of block `as_of`, which may be in the past: from
            that block on the key is not valid, whatever it signed. A compromise never extends a key's life.
    """
    regulator: bytes32 = self._regulator(msg.sender)
    assert index < self.record_count[org], "unknown key"
    r: KeyRecord = self.records[org][index]
    assert r.kind != REVOKED_SERIAL, "not a key"
    assert r.state != COMPROMISED, "key already compromised"
    end: uint256 = max(as_of, r.valid_from)
    if r.state == RETIRED:
        end = min(end, r.valid_until)
    self.records[org][index].valid_until = end
    self.records[org][index].state = COMPROMISED
    self.records[org][index].ended_by = regulator
    self._changed()
    log KeyCompromised(org=org, index=index, kind=r.kind, valid_until=end, by_org=regulator)


# -- views -------------------------------------------------------------------------------------------------

@view
@external
def record(org: bytes32, index: uint256) -> KeyRecord:
    return self.records[org][index]


@view
@external
def find(org: bytes32, kind: uint8, data: Bytes[MAX_VALUE]) -> (bool, uint256):
    """@notice (found, index) of the record of `org` with this kind and value."""
    p: uint256 = self.position[org][keccak256(concat(convert(kind, bytes1), data))]
    if p == 0:
        return False, 0
    return True, p - 1


@view
@external
def follow_state() -> (uint256, DynArray[uint8, MAX_ORGS]):
    """
    @notice What a follower compares at each new block: the change count, and the registry status of every org
            with records (in `org_at` order). A member removed or readmitted changes the second without a
            change here.
    """
    statuses: DynArray[uint8, MAX_ORGS] = []
    for i: uint256 in range(MAX_ORGS):
        if i >= self.org_count:
            break
        status: uint8 = 0
        roles: uint256 = 0
        status, roles = staticcall self.registry.org_info(self.org_at[i])
        statuses.append(status)
    return self.change_count, statuses


@view
@external
def is_valid(org: bytes32, index: uint256, at_block: uint256) -> bool:
    """@notice Whether the record was valid at `at_block`: valid_from <= at_block < valid_until (if ended)."""
    if index >= self.record_count[org]:
        return False
    r: KeyRecord = self.records[org][index]
    if at_block < r.valid_from:
        return False
    return r.state == OPEN or at_block < r.valid_until


# -- internals ---------------------------------------------------------------------------------------------

@internal
@view
def _member(account: address, active: bool) -> bytes32:
    """@notice The org of `account`; a suspended member may still retire and revoke, never add."""
    org: bytes32 = empty(bytes32)
    status: uint8 = 0
    roles: uint256 = 0
    org, status, roles = staticcall self.registry.account_info(account)
    assert status == STATUS_ACTIVE or status == STATUS_SUSPENDED, "not a member"
    if active:
        assert status == STATUS_ACTIVE, "member suspended"
    return org


@internal
@view
def _regulator(account: address) -> bytes32:
    org: bytes32 = empty(bytes32)
    status: uint8 = 0
    roles: uint256 = 0
    org, status, roles = staticcall self.registry.account_info(account)
    assert status == STATUS_ACTIVE, "not a member"
    assert roles & REGULATOR != 0, "not a regulator"
    return org


@internal
def _add(org: bytes32, kind: uint8, data: Bytes[MAX_VALUE], valid_from: uint256) -> uint256:
    assert kind >= CA_CERT and kind <= MAX_KIND, "unknown key kind"
    assert len(data) > 0, "empty value"
    if kind == ACCOUNT:
        assert len(data) == 20, "an account is 20 bytes"
    elif kind == REVOKED_SERIAL:
        assert len(data) <= 20, "a serial is at most 20 bytes"
    elif kind == NODE_ENDPOINT or kind == WITNESS_ENDPOINT:
        assert len(data) <= MAX_URL, "an endpoint is at most 512 bytes"
    key: bytes32 = keccak256(concat(convert(kind, bytes1), data))
    assert self.position[org][key] == 0, "key already recorded"
    n: uint256 = self.record_count[org]
    if n == 0:
        assert self.org_count < MAX_ORGS, "too many orgs"
        self.org_at[self.org_count] = org
        self.org_count += 1
    self.records[org][n] = KeyRecord(
        kind=kind, value=data, valid_from=valid_from, valid_until=0, state=OPEN, added_at=block.number,
        ended_by=empty(bytes32),
    )
    self.record_count[org] = n + 1
    self.position[org][key] = n + 1
    self._changed()
    log KeyAdded(org=org, index=n, kind=kind, valid_from=valid_from, value_hash=keccak256(data))
    return n


@internal
def _changed():
    self.change_count += 1
    self.last_change_block = block.number

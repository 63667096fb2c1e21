# pragma version 0.4.3
"""
@title ConsortiumRegistry
@notice The members of the consortium: org id, display name, roles, accounts and X.509 certificate
        fingerprint. Admission, removal, suspension, reinstatement and the admission threshold are decided by
        k-of-n approval of the voting members (active members holding the MEMBER role). A regulator may also
        suspend and reinstate a member directly: the supervisory freeze JR/T 0184 asks for.
        The deployer bootstraps the founding members once (genesis), then loses every privilege.
"""

MEMBER: constant(uint256) = 1
OPERATOR: constant(uint256) = 2
REGULATOR: constant(uint256) = 4
VALIDATOR: constant(uint256) = 8
ALL_ROLES: constant(uint256) = 63

STATUS_NONE: constant(uint8) = 0
STATUS_ACTIVE: constant(uint8) = 1
STATUS_SUSPENDED: constant(uint8) = 2
STATUS_REMOVED: constant(uint8) = 3

ADMIT: constant(uint8) = 1
REMOVE: constant(uint8) = 2
SUSPEND: constant(uint8) = 3
REINSTATE: constant(uint8) = 4
SET_THRESHOLD: constant(uint8) = 5

MAX_ACCOUNTS: constant(uint256) = 8
MAX_MEMBERS: constant(uint256) = 256


struct Member:
    org: bytes32
    name: String[64]
    roles: uint256
    status: uint8
    cert_fingerprint: bytes32
    accounts: DynArray[address, MAX_ACCOUNTS]
    admitted_at: uint256


struct Proposal:
    kind: uint8
    org: bytes32
    name: String[64]
    roles: uint256
    cert_fingerprint: bytes32
    accounts: DynArray[address, MAX_ACCOUNTS]
    threshold: uint256
    proposer: bytes32
    approvals: uint256
    created_at: uint256
    expires_at: uint256
    executed: bool


event MemberAdmitted:
    org: indexed(bytes32)
    roles: uint256
    proposal_id: uint256

event MemberRemoved:
    org: indexed(bytes32)
    proposal_id: uint256

event MemberSuspended:
    org: indexed(bytes32)
    by_org: bytes32
    proposal_id: uint256

event MemberReinstated:
    org: indexed(bytes32)
    by_org: bytes32
    proposal_id: uint256

event ThresholdChanged:
    old_threshold: uint256
    new_threshold: uint256
    proposal_id: uint256

event ProposalCreated:
    proposal_id: indexed(uint256)
    kind: uint8
    org: indexed(bytes32)
    proposer: bytes32
    expires_at: uint256

event ProposalApproved:
    proposal_id: indexed(uint256)
    org: indexed(bytes32)
    approvals: uint256

event AccountAdded:
    org: indexed(bytes32)
    account: address

event AccountRemoved:
    org: indexed(bytes32)
    account: address

event AccountRevoked:
    org: indexed(bytes32)
    account: address
    replacement: address
    by_org: bytes32

event CertificateChanged:
    org: indexed(bytes32)
    cert_fingerprint: bytes32

event BootstrapFinished:
    member_count: uint256
    threshold: uint256


members: HashMap[bytes32, Member]
account_org: public(HashMap[address, bytes32])
member_at: public(HashMap[uint256, bytes32])
member_count: public(uint256)
voter_count: public(uint256)
threshold: public(uint256)
proposal_ttl: public(uint256)
proposals: HashMap[uint256, Proposal]
proposal_count: public(uint256)
approved: HashMap[uint256, HashMap[bytes32, bool]]
bootstrapper: public(address)
bootstrapped: public(bool)


@deploy
def __init__(threshold: uint256, proposal_ttl: uint256):
    assert threshold >= 1, "threshold must be at least 1"
    assert proposal_ttl >= 3600, "proposal ttl too short"
    self.threshold = threshold
    self.proposal_ttl = proposal_ttl
    self.bootstrapper = msg.sender


# -- genesis -----------------------------------------------------------------------------------------------

@external
def bootstrap_member(org: bytes32, name: String[64], roles: uint256, cert_fingerprint: bytes32,
                     accounts: DynArray[address, MAX_ACCOUNTS]):
    assert not self.bootstrapped, "bootstrap finished"
    assert msg.sender == self.bootstrapper, "not the bootstrapper"
    self._check_new_member(org, name, roles, accounts)
    self._admit(org, name, roles, cert_fingerprint, accounts, 0)


@external
def finish_bootstrap():
    assert not self.bootstrapped, "bootstrap finished"
    assert msg.sender == self.bootstrapper, "not the bootstrapper"
    assert self.threshold <= self.voter_count, "threshold exceeds voters"
    self.bootstrapped = True
    self.bootstrapper = empty(address)
    log BootstrapFinished(member_count=self.member_count, threshold=self.threshold)


# -- proposals ---------------------------------------------------------------------------------------------

@external
def propose_admit(org: bytes32, name: String[64], roles: uint256, cert_fingerprint: bytes32,
                  accounts: DynArray[address, MAX_ACCOUNTS]) -> uint256:
    proposer: bytes32 = self._voter(msg.sender)
    self._check_new_member(org, name, roles, accounts)
    return self._propose(ADMIT, org, name, roles, cert_fingerprint, accounts, 0, proposer)


@external
def propose_remove(org: bytes32) -> uint256:
    proposer: bytes32 = self._voter(msg.sender)
    self._check_removal(org)
    return self._propose(REMOVE, org, "", 0, empty(bytes32), [], 0, proposer)


@external
def propose_suspend(org: bytes32) -> uint256:
    proposer: bytes32 = self._voter(msg.sender)
    self._check_suspension(org)
    return self._propose(SUSPEND, org, "", 0, empty(bytes32), [], 0, proposer)


@external
def propose_reinstate(org: bytes32) -> uint256:
    proposer: bytes32 = self._voter(msg.sender)
    assert self.members[org].status == STATUS_SUSPENDED, "member not suspended"
    return self._propose(REINSTATE, org, "", 0, empty(bytes32), [], 0, proposer)


@external
def propose_threshold(new_threshold: uint256) -> uint256:
    proposer: bytes32 = self._voter(msg.sender)
    self._check_threshold(new_threshold)
    return self._propose(SET_THRESHOLD, empty(bytes32), "", 0, empty(bytes32), [], new_threshold, proposer)


@external
def approve(proposal_id: uint256):
    voter: bytes32 = self._voter(msg.sender)
    p: Proposal = self.proposals[proposal_id]
    assert p.kind != 0, "unknown proposal"
    assert not p.executed, "proposal already executed"
    assert block.timestamp < p.expires_at, "proposal expired"
    assert not self.approved[proposal_id][voter], "already approved"
    self._record_approval(proposal_id, voter)


# -- supervision -------------------------------------------------------------------------------------------

@external
def suspend(org: bytes32):
    """@notice Supervisory freeze by a regulator, effective immediately."""
    regulator: bytes32 = self._regulator(msg.sender)
    assert self.members[org].roles & REGULATOR == 0, "cannot suspend a regulator"
    assert self.members[org].status == STATUS_ACTIVE, "member not active"
    self._set_status(org, STATUS_SUSPENDED)
    log MemberSuspended(org=org, by_org=regulator, proposal_id=0)


@external
def reinstate(org: bytes32):
    regulator: bytes32 = self._regulator(msg.sender)
    assert self.members[org].status == STATUS_SUSPENDED, "member not suspended"
    self._set_status(org, STATUS_ACTIVE)
    log MemberReinstated(org=org, by_org=regulator, proposal_id=0)


# -- a member's own identity -------------------------------------------------------------------------------

@external
def add_account(account: address):
    org: bytes32 = self._active_org(msg.sender)
    assert account != empty(address), "empty account"
    assert self.account_org[account] == empty(bytes32), "account already registered"
    assert len(self.members[org].accounts) < MAX_ACCOUNTS, "too many accounts"
    self.members[org].accounts.append(account)
    self.account_org[account] = org
    log AccountAdded(org=org, account=account)


@external
def remove_account(account: address):
    org: bytes32 = self._active_org(msg.sender)
    assert self.account_org[account] == org, "account not of this member"
    assert account != msg.sender, "cannot remove the sending account"
    self._unlink_account(org, account)


@external
def revoke_account(account: address, replacement: address):
    """
    @notice A regulator's power over a member's account declared compromised (its key leaked): the account is no
            member's from this block, so the contracts refuse its calls and the nodes its transactions. With a
            ``replacement`` (an account whose key the member made and handed over as an address), that one is the
            member's from the same block, last of its accounts; without one the member must keep another account.
            A validator's set follows its first account, as for ``remove_account``. Not a regulator's account.
    """
    regulator: bytes32 = self._regulator(msg.sender)
    org: bytes32 = self.account_org[account]
    assert org != empty(bytes32), "account not of a member"
    assert self.members[org].roles & REGULATOR == 0, "cannot revoke a regulator's account"
    if replacement == empty(address):
        assert len(self.members[org].accounts) > 1, "the member's only account: give a replacement"
    else:
        assert self.account_org[replacement] == empty(bytes32), "account already registered"
    self._unlink_account(org, account)
    if replacement != empty(address):
        self.members[org].accounts.append(replacement)
        self.account_org[replacement] = org
        log AccountAdded(org=org, account=replacement)
    log AccountRevoked(org=org, account=account, replacement=replacement, by_org=regulator)


@external
def set_certificate(cert_fingerprint: bytes32):
    org: bytes32 = self._active_org(msg.sender)
    assert cert_fingerprint != empty(bytes32), "empty certificate fingerprint"
    self.members[org].cert_fingerprint = cert_fingerprint
    log CertificateChanged(org=org, cert_fingerprint=cert_fingerprint)


# -- views -------------------------------------------------------------------------------------------------

@view
@external
def member(org: bytes32) -> Member:
    return self.members[org]


@view
@external
def proposal(proposal_id: uint256) -> Proposal:
    return self.proposals[proposal_id]


@view
@external
def has_approved(proposal_id: uint256, org: bytes32) -> bool:
    return self.approved[proposal_id][org]


@view
@external
def account_info(account: address) -> (bytes32, uint8, uint256):
    """@notice (org, status, roles) of the member owning `account`; all zero for an unknown account."""
    org: bytes32 = self.account_org[account]
    return org, self.members[org].status, self.members[org].roles


@view
@external
def org_info(org: bytes32) -> (uint8, uint256):
    return self.members[org].status, self.members[org].roles


@view
@external
def is_active_account(account: address) -> bool:
    return self.members[self.account_org[account]].status == STATUS_ACTIVE


@view
@external
def validators() -> DynArray[address, MAX_MEMBERS]:
    """
    @notice The chain's validator set: the first account of every active member holding the VALIDATOR role, in
            member order. A suspended (frozen) or removed member is not in it. The nodes read it on the state
            each block leaves, and the set it names decides the next block: admitting, removing, suspending or
            reinstating a validator changes the set from the block after the one that did it.
    """
    out: DynArray[address, MAX_MEMBERS] = []
    for i: uint256 in range(MAX_MEMBERS):
        if i >= self.member_count:
            break
        org: bytes32 = self.member_at[i]
        if self.members[org].status == STATUS_ACTIVE and self.members[org].roles & VALIDATOR != 0:
            if len(self.members[org].accounts) > 0:
                out.append(self.members[org].accounts[0])
    return out


# -- internals ---------------------------------------------------------------------------------------------

@internal
@view
def _active_org(account: address) -> bytes32:
    org: bytes32 = self.account_org[account]
    status: uint8 = self.members[org].status
    assert status != STATUS_NONE and status != STATUS_REMOVED, "not a member"
    assert status != STATUS_SUSPENDED, "member suspended"
    return org


@internal
@view
def _voter(account: address) -> bytes32:
    org: bytes32 = self._active_org(account)
    assert self.bootstrapped, "bootstrap not finished"
    assert self.members[org].roles & MEMBER != 0, "not a voting member"
    return org


@internal
@view
def _regulator(account: address) -> bytes32:
    org: bytes32 = self._active_org(account)
    assert self.members[org].roles & REGULATOR != 0, "not a regulator"
    return org


@internal
def _unlink_account(org: bytes32, account: address):
    kept: DynArray[address, MAX_ACCOUNTS] = []
    for a: address in self.members[org].accounts:
        if a != account:
            kept.append(a)
    self.members[org].accounts = kept
    self.account_org[account] = empty(bytes32)
    log AccountRemoved(org=org, account=account)


@internal
@view
def _check_new_member(org: bytes32, name: String[64], roles: uint256, accounts: DynArray[address, MAX_ACCOUNTS]):
    assert org != empty(bytes32), "empty org id"
    status: uint8 = self.members[org].status
    assert status == STATUS_NONE or status == STATUS_REMOVED, "org already a member"
    assert len(name) > 0, "empty name"
    assert roles != 0 and roles & ~ALL_ROLES == 0, "invalid roles"
    assert roles & REGULATOR == 0 or roles & (MEMBER | OPERATOR) == 0, "regulator cannot hold member or operator role"
    assert len(accounts) > 0, "no account"
    assert self.member_count < MAX_MEMBERS, "too many members"
    for i: uint256 in range(MAX_ACCOUNTS):
        if i >= len(accounts):
            break
        assert accounts[i] != empty(address), "empty account"
        assert self.account_org[accounts[i]] == empty(bytes32), "account already registered"
        for j: uint256 in range(MAX_ACCOUNTS):
            if j >= i:
                break
            assert accounts[j] != accounts[i], "duplicate account"


@internal
@view
def _voters_after_leaving(org: bytes32) -> uint256:
    if self.members[org].roles & MEMBER != 0 and self.members[org].status == STATUS_ACTIVE:
        return self.voter_count - 1
    return self.voter_count


@internal
@view
def _check_removal(org: bytes32):
    status: uint8 = self.members[org].status
    assert status == STATUS_ACTIVE or status == STATUS_SUSPENDED, "not a member"
    assert self._voters_after_leaving(org) >= self.threshold, "threshold exceeds remaining voters; lower it first"


@internal
@view
def _check_suspension(org: bytes32):
    assert self.members[org].roles & REGULATOR == 0, "cannot suspend a regulator"
    assert self.members[org].status == STATUS_ACTIVE, "member not active"
    assert self._voters_after_leaving(org) >= self.threshold, "threshold exceeds remaining voters; lower it first"


@internal
@view
def _check_threshold(new_threshold: uint256):
    assert new_threshold >= 1, "threshold must be at least 1"
    assert new_threshold <= self.voter_count, "threshold exceeds voters"


@internal
def _propose(kind: uint8, org: bytes32, name: String[64], roles: uint256, cert_fingerprint: bytes32,
             accounts: DynArray[address, MAX_ACCOUNTS], new_threshold: uint256, proposer: bytes32) -> uint256:
    self.proposal_count += 1
    pid: uint256 = self.proposal_count
    expires_at: uint256 = block.timestamp + self.proposal_ttl
    self.proposals[pid] = Proposal(
        kind=kind, org=org, name=name, roles=roles, cert_fingerprint=cert_fingerprint, accounts=accounts,
        threshold=new_threshold, proposer=proposer, approvals=0, created_at=block.timestamp,
        expires_at=expires_at, executed=False,
    )
    log ProposalCreated(proposal_id=pid, kind=kind, org=org, proposer=proposer, expires_at=expires_at)
    self._record_approval(pid, proposer)
    return pid


@internal
def _record_approval(pid: uint256, voter: bytes32):
    self.approved[pid][voter] = True
    approvals: uint256 = self.proposals[pid].approvals + 1
    self.proposals[pid].approvals = approvals
    log ProposalApproved(proposal_id=pid, org=voter, approvals=approvals)
    if approvals >= self.threshold:
        self._execute(pid)


@internal
def _execute(pid: uint256):
    p: Proposal = self.proposals[pid]
    self.proposals[pid].executed = True
    if p.kind == ADMIT:
        self._check_new_member(p.org, p.name, p.roles, p.accounts)
        self._admit(p.org, p.name, p.roles, p.cert_fingerprint, p.accounts, pid)
    elif p.kind == REMOVE:
        self._check_removal(p.org)
        for a: address in self.members[p.org].accounts:
            self.account_org[a] = empty(bytes32)
        self._set_status(p.org, STATUS_REMOVED)
        self.members[p.org].accounts = []
        log MemberRemoved(org=p.org, proposal_id=pid)
    elif p.kind == SUSPEND:
        self._check_suspension(p.org)
        self._set_status(p.org, STATUS_SUSPENDED)
        log MemberSuspended(org=p.org, by_org=p.proposer, proposal_id=pid)
    elif p.kind == REINSTATE:
        assert self.members[p.org].status == STATUS_SUSPENDED, "member not suspended"
        self._set_status(p.org, STATUS_ACTIVE)
        log MemberReinstated(org=p.org, by_org=p.proposer, proposal_id=pid)
    else:
        self._check_threshold(p.threshold)
        log ThresholdChanged(old_threshold=self.threshold, new_threshold=p.threshold, proposal_id=pid)
        self.threshold = p.threshold


@internal
def _admit(org: bytes32, name: String[64], roles: uint256, cert_fingerprint: bytes32,
           accounts: DynArray[address, MAX_ACCOUNTS], pid: uint256):
    if self.members[org].status == STATUS_NONE:
        self.member_at[self.member_count] = org
        self.member_count += 1
    self.members[org] = Member(
        org=org, name=name, roles=roles, status=STATUS_ACTIVE, cert_fingerprint=cert_fingerprint,
        accounts=accounts, admitted_at=block.timestamp,
    )
    for a: address in accounts:
        self.account_org[a] = org
    if roles & MEMBER != 0:
        self.voter_count += 1
    log MemberAdmitted(org=org, roles=roles, proposal_id=pid)


@internal
def _set_status(org: bytes32, status: uint8):
    """@notice Change a member's status, keeping the count of active voters exact."""
    was_voting: bool = self.members[org].status == STATUS_ACTIVE and self.members[org].roles & MEMBER != 0
    will_vote: bool = status == STATUS_ACTIVE and self.members[org].roles & MEMBER != 0
    self.members[org].status = status
    if was_voting and not will_vote:
        self.voter_count -= 1
    elif will_vote and not was_voting:
        self.voter_count += 1

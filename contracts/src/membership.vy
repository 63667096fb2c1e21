# pragma version 0.4.3
"""
@title membership
@notice Role and status checks shared by the business contracts. Stateless: it only reads
        ConsortiumRegistry, so any contract can import it without initialising it.
"""
from interfaces import IConsortiumRegistry

MEMBER: constant(uint256) = 1
OPERATOR: constant(uint256) = 2
REGULATOR: constant(uint256) = 4
VALIDATOR: constant(uint256) = 8
WITNESS: constant(uint256) = 16
NOTARY: constant(uint256) = 32

STATUS_NONE: constant(uint8) = 0
STATUS_ACTIVE: constant(uint8) = 1
STATUS_SUSPENDED: constant(uint8) = 2
STATUS_REMOVED: constant(uint8) = 3


@internal
@view
def writer_org(registry: IConsortiumRegistry, account: address, role: uint256) -> bytes32:
    """
    @notice The org of `account` if it may write business state with `role`; reverts with the
            precise reason otherwise. Regulators read everything and write no business state.
    """
    org: bytes32 = empty(bytes32)
    status: uint8 = 0
    roles: uint256 = 0
    org, status, roles = staticcall registry.account_info(account)
    assert status != STATUS_NONE and status != STATUS_REMOVED, "not a member"
    assert status != STATUS_SUSPENDED, "member suspended"
    assert roles & REGULATOR == 0, "regulator is read-only"
    if role == OPERATOR:
        assert roles & OPERATOR != 0, "not an operator"
    elif role == NOTARY:
        assert roles & NOTARY != 0, "not a notary"
    else:
        assert roles & MEMBER != 0, "not a member"
    return org

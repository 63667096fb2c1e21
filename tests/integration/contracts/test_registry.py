"""ConsortiumRegistry: genesis, k-of-n proposals, removal, suspension, threshold, accounts and views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account

from chain.contracts import ConsortiumRegistryClient, ProposalKind
from chain.contracts.deploy import deploy_contract
from chain.errors import MalformedError
from chain.ids import AssetKind, MemberStatus, Role, name_to_bytes32
from tests.integration.contracts.contract_helpers import digest, known, name, refused, send
from tests.support.consortium import Consortium

ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\0" * 32
FOUNDERS = ["op", "alpha", "beta", "gamma", "reg"]
MEMBER_ROLES = Role.MEMBER | Role.WITNESS


org_name = name


def new_address() -> str:
    return str(Account.create().address)


def views(c: Any) -> Any:
    return c.registry.contract.functions


def suspend(c: Any, org: str) -> None:
    c.registry.suspend(c.signers["reg"], org)


def set_threshold(c: Any, threshold: int) -> None:
    pid = c.registry.propose_threshold(c.signers["alpha"], threshold)
    if c.registry.threshold() > 1:
        assert c.registry.approve(c.signers["beta"], pid)
    assert c.registry.threshold() == threshold


# -- genesis ---------------------------------------------------------------------------------------------


def test_genesis_registers_the_founders_and_closes_bootstrap(consortium: Consortium) -> None:
    c = consortium
    members = c.registry.members()
    assert [m.org for m in members] == FOUNDERS
    for member, founder in zip(members, c.founders, strict=True):
        assert member.name == founder.name
        assert member.roles == founder.roles
        assert member.status is MemberStatus.ACTIVE
        assert member.cert_fingerprint == founder.cert_fingerprint
        assert member.accounts == founder.accounts
        assert member.admitted_at > 0
    assert c.registry.threshold() == 2
    assert c.registry.voter_count() == 4  # the regulator does not vote
    assert views(c).member_count().call() == 5
    assert views(c).proposal_ttl().call() == 7 * 86400
    assert views(c).bootstrapped().call() is True
    assert views(c).bootstrapper().call() == ZERO_ADDRESS
    admitted = c.registry.events("MemberAdmitted")
    assert [(org_name(e["args"]["org"]), e["args"]["roles"], e["args"]["proposal_id"]) for e in admitted] == [
        (f.org, int(f.roles), 0) for f in c.founders
    ]
    (finished,) = c.registry.events("BootstrapFinished")
    assert finished["args"]["member_count"] == 5
    assert finished["args"]["threshold"] == 2


def test_bootstrap_is_closed_for_good(consortium: Consortium) -> None:
    c = consortium
    for signer in (c.deployer, c.signers["op"], c.outsider):
        refused(
            "bootstrap finished",
            c.registry.bootstrap_member,
            signer,
            "delta",
            "Delta",
            MEMBER_ROLES,
            digest("delta"),
            [new_address()],
        )
        refused("bootstrap finished", c.registry.finish_bootstrap, signer)
    assert c.registry.member("delta") is None


def test_genesis_bootstrap_of_a_fresh_registry(consortium: Consortium) -> None:
    c = consortium
    refused("threshold must be at least 1", deploy_contract, c.backend, c.deployer, "ConsortiumRegistry", 0, 3600)
    refused("proposal ttl too short", deploy_contract, c.backend, c.deployer, "ConsortiumRegistry", 1, 3599)
    registry = ConsortiumRegistryClient(
        c.backend, deploy_contract(c.backend, c.deployer, "ConsortiumRegistry", 2, 3600)
    )
    alpha, beta = c.signers["alpha"], c.signers["beta"]
    assert registry.contract.functions.bootstrapper().call() == c.deployer.address

    refused(
        "not the bootstrapper",
        registry.bootstrap_member,
        c.outsider,
        "alpha",
        "Alpha",
        MEMBER_ROLES,
        digest("alpha"),
        [alpha.address],
    )
    refused("not the bootstrapper", registry.finish_bootstrap, c.outsider)
    refused("threshold exceeds voters", registry.finish_bootstrap, c.deployer)

    receipt = registry.bootstrap_member(c.deployer, "alpha", "Alpha", MEMBER_ROLES, digest("alpha"), [alpha.address])
    (event,) = registry.decode_events(receipt, "MemberAdmitted")
    assert (org_name(event["args"]["org"]), event["args"]["roles"], event["args"]["proposal_id"]) == (
        "alpha",
        int(MEMBER_ROLES),
        0,
    )
    # the bootstrapped member cannot vote before genesis is over, nor bootstrap others
    refused("bootstrap not finished", registry.propose_threshold, alpha, 1)
    refused(
        "not the bootstrapper",
        registry.bootstrap_member,
        alpha,
        "beta",
        "Beta",
        MEMBER_ROLES,
        digest("beta"),
        [beta.address],
    )
    registry.bootstrap_member(c.deployer, "reg", "Regulator", Role.REGULATOR, digest("reg"), [c.signers["reg"].address])
    refused("threshold exceeds voters", registry.finish_bootstrap, c.deployer)  # a regulator is no voter
    registry.bootstrap_member(c.deployer, "beta", "Beta", MEMBER_ROLES, digest("beta"), [beta.address])

    receipt = registry.finish_bootstrap(c.deployer)
    (event,) = registry.decode_events(receipt, "BootstrapFinished")
    assert (event["args"]["member_count"], event["args"]["threshold"]) == (3, 2)
    assert registry.contract.functions.bootstrapped().call() is True
    assert registry.contract.functions.bootstrapper().call() == ZERO_ADDRESS
    assert [m.org for m in registry.members()] == ["alpha", "reg", "beta"]
    assert registry.voter_count() == 2
    refused(
        "bootstrap finished",
        registry.bootstrap_member,
        c.deployer,
        "gamma",
        "Gamma",
        MEMBER_ROLES,
        digest("gamma"),
        [c.signers["gamma"].address],
    )
    refused("bootstrap finished", registry.finish_bootstrap, c.deployer)
    registry.propose_threshold(alpha, 1)  # voting works once genesis is over


# -- admission -------------------------------------------------------------------------------------------


def test_admission_needs_k_of_n_approvals(consortium: Consortium) -> None:
    c = consortium
    alpha, beta = c.signers["alpha"], c.signers["beta"]
    delta = c.new_signer()
    receipt = send(
        c,
        c.registry,
        alpha,
        "propose_admit",
        name_to_bytes32("delta"),
        "Delta Securities",
        int(MEMBER_ROLES),
        digest("delta cert"),
        [delta.address],
    )
    (created,) = c.registry.decode_events(receipt, "ProposalCreated")
    pid = created["args"]["proposal_id"]
    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    assert created["args"]["kind"] == ProposalKind.ADMIT
    assert org_name(created["args"]["org"]) == "delta"
    assert org_name(created["args"]["proposer"]) == "alpha"
    assert created["args"]["expires_at"] == block["timestamp"] + 7 * 86400
    (approved,) = c.registry.decode_events(receipt, "ProposalApproved")
    assert (approved["args"]["proposal_id"], org_name(approved["args"]["org"]), approved["args"]["approvals"]) == (
        pid,
        "alpha",
        1,
    )
    assert c.registry.decode_events(receipt, "MemberAdmitted") == []

    proposal = c.registry.proposal(pid)
    assert proposal is not None
    assert (proposal.kind, proposal.org, proposal.name, proposal.roles, proposal.accounts) == (
        ProposalKind.ADMIT,
        "delta",
        "Delta Securities",
        MEMBER_ROLES,
        (delta.address,),
    )
    assert (proposal.proposer, proposal.approvals, proposal.executed) == ("alpha", 1, False)
    assert proposal.created_at == block["timestamp"]
    assert proposal.expires_at == block["timestamp"] + 7 * 86400
    assert c.registry.has_approved(pid, "alpha") and not c.registry.has_approved(pid, "beta")
    assert c.registry.member("delta") is None
    assert not c.registry.is_active_account(delta.address)
    refused(
        "not a member", c.assets.register_asset, delta, "delta-data", AssetKind.DATASET, digest("d"), digest("m"), 1
    )

    refused("already approved", c.registry.approve, alpha, pid)
    receipt = send(c, c.registry, beta, "approve", pid)
    (approved,) = c.registry.decode_events(receipt, "ProposalApproved")
    assert (org_name(approved["args"]["org"]), approved["args"]["approvals"]) == ("beta", 2)
    (admitted,) = c.registry.decode_events(receipt, "MemberAdmitted")
    assert (org_name(admitted["args"]["org"]), admitted["args"]["roles"], admitted["args"]["proposal_id"]) == (
        "delta",
        int(MEMBER_ROLES),
        pid,
    )

    member = c.registry.member("delta")
    assert member is not None
    assert (member.name, member.roles, member.status) == ("Delta Securities", MEMBER_ROLES, MemberStatus.ACTIVE)
    assert (member.cert_fingerprint, member.accounts) == (digest("delta cert"), (delta.address,))
    assert known(c.registry.proposal(pid)).executed
    assert c.registry.org_of(delta.address) == "delta"
    assert c.registry.is_active_account(delta.address)
    assert c.registry.voter_count() == 5
    assert views(c).member_count().call() == 6
    assert [p.proposal_id for p in c.registry.proposals()] == [pid]
    c.assets.register_asset(delta, "delta-data", AssetKind.DATASET, digest("d"), digest("m"), 1)  # now it may act

    refused("proposal already executed", c.registry.approve, c.signers["gamma"], pid)
    refused("unknown proposal", c.registry.approve, c.signers["gamma"], 999)


def test_approve_returns_whether_the_proposal_was_carried_out(consortium: Consortium) -> None:
    c = consortium
    set_threshold(c, 3)
    pid = c.registry.propose_admit(c.signers["alpha"], "delta", "Delta", MEMBER_ROLES, digest("x"), [new_address()])
    assert c.registry.approve(c.signers["beta"], pid) is False
    assert c.registry.member("delta") is None
    assert c.registry.approve(c.signers["op"], pid) is True
    assert known(c.registry.member("delta")).status is MemberStatus.ACTIVE


def test_who_may_propose_and_approve(consortium: Consortium) -> None:
    c = consortium
    pid = c.registry.propose_threshold(c.signers["alpha"], 3)
    suspend(c, "gamma")
    for signer, reason in [
        (c.outsider, "not a member"),
        (c.signers["reg"], "not a voting member"),
        (c.signers["gamma"], "member suspended"),
    ]:
        refused(reason, c.registry.propose_admit, signer, "delta", "Delta", MEMBER_ROLES, digest("d"), [new_address()])
        refused(reason, c.registry.propose_remove, signer, "beta")
        refused(reason, c.registry.propose_suspend, signer, "beta")
        refused(reason, c.registry.propose_reinstate, signer, "gamma")
        refused(reason, c.registry.propose_threshold, signer, 1)
        refused(reason, c.registry.approve, signer, pid)
    assert known(c.registry.proposal(pid)).approvals == 1


def test_a_member_without_the_member_role_cannot_vote(consortium: Consortium) -> None:
    c = consortium
    ops = c.new_signer()
    pid = c.registry.propose_admit(
        c.signers["alpha"], "ops-only", "Ops Only", Role.OPERATOR, digest("o"), [ops.address]
    )
    assert c.registry.approve(c.signers["beta"], pid)
    assert c.registry.voter_count() == 4  # an operator without MEMBER does not vote
    refused("not a voting member", c.registry.propose_threshold, ops, 1)
    refused("not a member", c.assets.register_asset, ops, "ops-data", AssetKind.DATASET, digest("d"), digest("m"), 1)


NEW_MEMBER_REFUSALS = [
    pytest.param("alpha", "Alpha again", MEMBER_ROLES, "fresh", "org already a member", id="existing-org"),
    pytest.param("delta", "", MEMBER_ROLES, "fresh", "empty name", id="empty-name"),
    pytest.param("delta", "Delta", 0, "fresh", "invalid roles", id="no-roles"),
    pytest.param("delta", "Delta", 64, "fresh", "invalid roles", id="unknown-role"),
    pytest.param(
        "delta",
        "Delta",
        Role.REGULATOR | Role.MEMBER,
        "fresh",
        "regulator cannot hold member or operator role",
        id="regulator-member",
    ),
    pytest.param(
        "delta",
        "Delta",
        Role.REGULATOR | Role.OPERATOR,
        "fresh",
        "regulator cannot hold member or operator role",
        id="regulator-operator",
    ),
    pytest.param("delta", "Delta", MEMBER_ROLES, "none", "no account", id="no-account"),
    pytest.param("delta", "Delta", MEMBER_ROLES, "zero", "empty account", id="zero-account"),
    pytest.param("delta", "Delta", MEMBER_ROLES, "taken", "account already registered", id="taken-account"),
    pytest.param("delta", "Delta", MEMBER_ROLES, "twice", "duplicate account", id="duplicate-account"),
]


@pytest.mark.parametrize(("org", "name", "roles", "accounts", "reason"), NEW_MEMBER_REFUSALS)
def test_propose_admit_validates_the_new_member(
    consortium: Consortium, org: str, name: str, roles: int, accounts: str, reason: str
) -> None:
    c = consortium
    fresh = new_address()
    account_list = {
        "fresh": [fresh],
        "none": [],
        "zero": [fresh, ZERO_ADDRESS],
        "taken": [fresh, c.signers["beta"].address],
        "twice": [fresh, new_address(), fresh],
    }[accounts]
    refused(reason, c.registry.propose_admit, c.signers["alpha"], org, name, roles, digest(org), account_list)
    assert c.registry.proposals() == []


def test_propose_admit_rejects_an_empty_org_id_in_both_layers(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    with pytest.raises(MalformedError):
        c.registry.propose_admit(alpha, "", "Nobody", MEMBER_ROLES, digest("x"), [new_address()])
    with pytest.raises(MalformedError):
        c.registry.propose_admit(alpha, "delta", "Delta", MEMBER_ROLES, b"short", [new_address()])
    refused(
        "empty org id",
        send,
        c,
        c.registry,
        alpha,
        "propose_admit",
        ZERO32,
        "Nobody",
        int(MEMBER_ROLES),
        digest("x"),
        [new_address()],
    )


def test_admission_is_checked_again_when_executed(consortium: Consortium) -> None:
    c = consortium
    first = c.registry.propose_admit(c.signers["alpha"], "delta", "Delta", MEMBER_ROLES, digest("1"), [new_address()])
    second = c.registry.propose_admit(
        c.signers["beta"], "delta", "Delta bis", MEMBER_ROLES, digest("2"), [new_address()]
    )
    assert c.registry.approve(c.signers["gamma"], first)
    refused("org already a member", c.registry.approve, c.signers["gamma"], second)
    assert known(c.registry.member("delta")).name == "Delta"
    assert not known(c.registry.proposal(second)).executed


# -- removal ---------------------------------------------------------------------------------------------


def test_removal_unlinks_the_accounts_and_locks_the_member_out(consortium: Consortium) -> None:
    c = consortium
    gamma = c.signers["gamma"]
    c.assets.register_asset(gamma, "gamma-data", AssetKind.DATASET, digest("g"), digest("m"), 1)
    pid = c.registry.propose_remove(c.signers["alpha"], "gamma")
    assert known(c.registry.member("gamma")).status is MemberStatus.ACTIVE
    receipt = send(c, c.registry, c.signers["beta"], "approve", pid)
    (removed,) = c.registry.decode_events(receipt, "MemberRemoved")
    assert (org_name(removed["args"]["org"]), removed["args"]["proposal_id"]) == ("gamma", pid)

    member = known(c.registry.member("gamma"))
    assert (member.status, member.accounts) == (MemberStatus.REMOVED, ())
    assert c.registry.org_of(gamma.address) is None
    assert not c.registry.is_active_account(gamma.address)
    assert views(c).account_info(gamma.address).call() == [ZERO32, 0, 0]
    assert views(c).org_info(name_to_bytes32("gamma")).call() == [MemberStatus.REMOVED, int(MEMBER_ROLES)]
    assert c.registry.voter_count() == 3
    assert views(c).member_count().call() == 5

    refused("not a member", c.registry.propose_threshold, gamma, 1)
    refused("not a member", c.registry.set_certificate, gamma, digest("new"))
    refused("not a member", c.assets.add_version, gamma, "gamma-data", digest("g2"), digest("m"), 1)
    refused("not a member", c.registry.propose_remove, c.signers["alpha"], "gamma")  # not twice

    # a removed org may be admitted again, with new accounts; the old ones stay unlinked
    fresh = c.new_signer()
    pid = c.registry.propose_admit(
        c.signers["alpha"], "gamma", "Gamma again", MEMBER_ROLES, digest("g"), [fresh.address]
    )
    assert c.registry.approve(c.signers["beta"], pid)
    member = known(c.registry.member("gamma"))
    assert (member.status, member.accounts) == (MemberStatus.ACTIVE, (fresh.address,))
    assert c.registry.org_of(gamma.address) is None
    assert views(c).member_count().call() == 5
    assert c.registry.voter_count() == 4
    assert [m.org for m in c.registry.members()] == FOUNDERS


def test_removal_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    refused("not a member", c.registry.propose_remove, alpha, "nobody")
    refused("not a member", c.registry.propose_remove, c.outsider, "beta")
    refused("not a voting member", c.registry.propose_remove, c.signers["reg"], "beta")
    set_threshold(c, 4)
    refused("threshold exceeds remaining voters; lower it first", c.registry.propose_remove, alpha, "beta")
    # removing a member that does not vote leaves the voters as they are
    pid = c.registry.propose_remove(alpha, "reg")
    for org in ("beta", "gamma", "op"):
        c.registry.approve(c.signers[org], pid)
    assert known(c.registry.member("reg")).status is MemberStatus.REMOVED
    assert c.registry.voter_count() == 4


def test_a_suspended_member_can_be_removed(consortium: Consortium) -> None:
    c = consortium
    suspend(c, "gamma")
    pid = c.registry.propose_remove(c.signers["alpha"], "gamma")
    assert c.registry.approve(c.signers["beta"], pid)
    assert known(c.registry.member("gamma")).status is MemberStatus.REMOVED
    assert c.registry.voter_count() == 3


# -- suspension and reinstatement ------------------------------------------------------------------------


def test_suspension_and_reinstatement_by_proposal(consortium: Consortium) -> None:
    c = consortium
    alpha, beta, gamma = c.signers["alpha"], c.signers["beta"], c.signers["gamma"]
    pid = c.registry.propose_suspend(alpha, "gamma")
    receipt = send(c, c.registry, beta, "approve", pid)
    (event,) = c.registry.decode_events(receipt, "MemberSuspended")
    assert (org_name(event["args"]["org"]), org_name(event["args"]["by_org"]), event["args"]["proposal_id"]) == (
        "gamma",
        "alpha",
        pid,
    )
    assert known(c.registry.member("gamma")).status is MemberStatus.SUSPENDED
    assert known(c.registry.member("gamma")).accounts == (gamma.address,)  # accounts stay linked
    assert c.registry.org_of(gamma.address) == "gamma"
    assert not c.registry.is_active_account(gamma.address)
    assert c.registry.voter_count() == 3
    refused("member not active", c.registry.propose_suspend, alpha, "gamma")
    refused("member not active", c.registry.propose_suspend, alpha, "nobody")
    refused("member not suspended", c.registry.propose_reinstate, alpha, "beta")
    refused("member suspended", c.registry.approve, gamma, c.registry.propose_threshold(alpha, 1))

    pid = c.registry.propose_reinstate(beta, "gamma")
    receipt = send(c, c.registry, c.signers["op"], "approve", pid)
    (event,) = c.registry.decode_events(receipt, "MemberReinstated")
    assert (org_name(event["args"]["org"]), org_name(event["args"]["by_org"]), event["args"]["proposal_id"]) == (
        "gamma",
        "beta",
        pid,
    )
    assert known(c.registry.member("gamma")).status is MemberStatus.ACTIVE
    assert c.registry.is_active_account(gamma.address)
    assert c.registry.voter_count() == 4
    c.registry.set_certificate(gamma, digest("gamma again"))  # may act again


def test_suspension_must_leave_enough_voters(consortium: Consortium) -> None:
    c = consortium
    set_threshold(c, 4)
    refused(
        "threshold exceeds remaining voters; lower it first", c.registry.propose_suspend, c.signers["alpha"], "beta"
    )


def test_regulator_suspends_and_reinstates_directly(consortium: Consortium) -> None:
    c = consortium
    reg, alpha, gamma = c.signers["reg"], c.signers["alpha"], c.signers["gamma"]
    receipt = c.registry.suspend(reg, "gamma")
    (event,) = c.registry.decode_events(receipt, "MemberSuspended")
    assert (org_name(event["args"]["org"]), org_name(event["args"]["by_org"]), event["args"]["proposal_id"]) == (
        "gamma",
        "reg",
        0,
    )
    assert known(c.registry.member("gamma")).status is MemberStatus.SUSPENDED
    assert c.registry.voter_count() == 3
    assert views(c).account_info(gamma.address).call() == [
        name_to_bytes32("gamma"),
        MemberStatus.SUSPENDED,
        int(MEMBER_ROLES),
    ]
    refused("member not active", c.registry.suspend, reg, "gamma")
    refused("member not active", c.registry.suspend, reg, "nobody")
    refused("cannot suspend a regulator", c.registry.suspend, reg, "reg")
    refused("not a regulator", c.registry.suspend, alpha, "beta")
    refused("not a member", c.registry.suspend, c.outsider, "beta")
    refused("member suspended", c.registry.reinstate, gamma, "gamma")
    refused("not a regulator", c.registry.reinstate, alpha, "gamma")
    refused("not a member", c.registry.reinstate, c.outsider, "gamma")

    receipt = c.registry.reinstate(reg, "gamma")
    (event,) = c.registry.decode_events(receipt, "MemberReinstated")
    assert (org_name(event["args"]["org"]), org_name(event["args"]["by_org"]), event["args"]["proposal_id"]) == (
        "gamma",
        "reg",
        0,
    )
    assert known(c.registry.member("gamma")).status is MemberStatus.ACTIVE
    assert c.registry.voter_count() == 4
    refused("member not suspended", c.registry.reinstate, reg, "gamma")


def test_a_suspended_member_is_refused_everywhere(consortium: Consortium) -> None:
    c = consortium
    gamma, alpha = c.signers["gamma"], c.signers["alpha"]
    c.assets.register_asset(gamma, "gamma-data", AssetKind.DATASET, digest("g"), digest("m"), 1)
    c.assets.register_asset(alpha, "alpha-data", AssetKind.DATASET, digest("a"), digest("m"), 1)
    c.assets.offer_transfer(alpha, "alpha-data", "gamma")
    pid = c.registry.propose_threshold(alpha, 1)
    suspend(c, "gamma")
    now = c.now()
    actions: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (c.registry.propose_threshold, (1,)),
        (c.registry.approve, (pid,)),
        (c.registry.add_account, (new_address(),)),
        (c.registry.remove_account, (gamma.address,)),
        (c.registry.set_certificate, (digest("c"),)),
        (c.assets.register_asset, ("g2", AssetKind.DATASET, digest("g"), digest("m"), 1)),
        (c.assets.add_version, ("gamma-data", digest("g2"), digest("m"), 2)),
        (c.assets.offer_transfer, ("gamma-data", "beta")),
        (c.assets.accept_transfer, ("alpha-data",)),
        (c.assets.retire_asset, ("gamma-data",)),
        (c.grants.create_grant, ("gamma-data", "beta", "research", now, now + 3600)),
        (c.grants.revoke, (digest("no grant"), 1)),
        (c.anchors.anchor, ("log", 1, digest("root"), digest("cp"))),
    ]
    for action, args in actions:
        refused("member suspended", action, gamma, *args)


# -- threshold -------------------------------------------------------------------------------------------


def test_threshold_change_by_proposal(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    pid = c.registry.propose_threshold(alpha, 3)
    assert known(c.registry.proposal(pid)).kind is ProposalKind.SET_THRESHOLD
    assert known(c.registry.proposal(pid)).threshold == 3
    receipt = send(c, c.registry, c.signers["beta"], "approve", pid)
    (event,) = c.registry.decode_events(receipt, "ThresholdChanged")
    assert (event["args"]["old_threshold"], event["args"]["new_threshold"], event["args"]["proposal_id"]) == (2, 3, pid)
    assert c.registry.threshold() == 3

    pid = c.registry.propose_threshold(alpha, 1)
    assert not c.registry.approve(c.signers["beta"], pid)
    assert c.registry.threshold() == 3
    assert c.registry.approve(c.signers["gamma"], pid)
    assert c.registry.threshold() == 1
    # with threshold 1 the proposer's own approval carries a proposal at once
    pid = c.registry.propose_threshold(alpha, 4)
    assert known(c.registry.proposal(pid)).executed
    assert c.registry.threshold() == 4


def test_threshold_bounds(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    refused("threshold exceeds voters", c.registry.propose_threshold, alpha, 5)
    refused("threshold must be at least 1", c.registry.propose_threshold, alpha, 0)
    c.registry.propose_threshold(alpha, 4)  # exactly the number of voters is fine

    # the bound is checked again on execution: the voters may have shrunk meanwhile
    pid = c.registry.propose_threshold(alpha, 4)
    suspend(c, "gamma")
    refused("threshold exceeds voters", c.registry.approve, c.signers["beta"], pid)
    assert c.registry.threshold() == 2


def test_proposal_expires_after_its_ttl(consortium: Consortium) -> None:
    c = consortium
    pid = c.registry.propose_suspend(c.signers["alpha"], "gamma")
    proposal = known(c.registry.proposal(pid))
    assert proposal.expires_at == proposal.created_at + 7 * 86400
    c.advance_time(7 * 86400 + 1)
    assert c.now() >= proposal.expires_at
    refused("proposal expired", c.registry.approve, c.signers["beta"], pid)
    assert known(c.registry.member("gamma")).status is MemberStatus.ACTIVE
    # a new proposal runs from the new time
    pid = c.registry.propose_suspend(c.signers["alpha"], "gamma")
    assert c.registry.approve(c.signers["beta"], pid)
    assert known(c.registry.member("gamma")).status is MemberStatus.SUSPENDED


# -- a member's own accounts and certificate -------------------------------------------------------------


def test_add_and_remove_accounts(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    second = c.new_signer()
    receipt = c.registry.add_account(alpha, second.address)
    (event,) = c.registry.decode_events(receipt, "AccountAdded")
    assert (org_name(event["args"]["org"]), event["args"]["account"]) == ("alpha", second.address)
    assert known(c.registry.member("alpha")).accounts == (alpha.address, second.address)
    assert c.registry.org_of(second.address) == "alpha"
    assert c.registry.is_active_account(second.address)
    c.registry.set_certificate(second, digest("from the second account"))  # acts for alpha
    assert known(c.registry.member("alpha")).cert_fingerprint == digest("from the second account")

    refused("account already registered", c.registry.add_account, alpha, second.address)
    refused("account already registered", c.registry.add_account, alpha, c.signers["beta"].address)
    refused("empty account", c.registry.add_account, alpha, ZERO_ADDRESS)
    refused("cannot remove the sending account", c.registry.remove_account, alpha, alpha.address)
    refused("account not of this member", c.registry.remove_account, alpha, c.signers["beta"].address)
    refused("account not of this member", c.registry.remove_account, alpha, new_address())
    refused("not a member", c.registry.add_account, c.outsider, new_address())
    refused("not a member", c.registry.remove_account, c.outsider, alpha.address)

    receipt = c.registry.remove_account(second, alpha.address)  # either account may remove the other
    (event,) = c.registry.decode_events(receipt, "AccountRemoved")
    assert (org_name(event["args"]["org"]), event["args"]["account"]) == ("alpha", alpha.address)
    assert known(c.registry.member("alpha")).accounts == (second.address,)
    assert c.registry.org_of(alpha.address) is None
    assert not c.registry.is_active_account(alpha.address)
    refused("not a member", c.registry.set_certificate, alpha, digest("x"))
    c.registry.add_account(second, alpha.address)  # and it can come back
    assert known(c.registry.member("alpha")).accounts == (second.address, alpha.address)


def test_a_regulator_revokes_a_compromised_account_with_or_without_a_replacement(consortium: Consortium) -> None:
    """``revoke_account``: the regulator's power over a member's leaked account, effective from its block: the
    account is no member's (its calls refused), the replacement handed over is the member's in the same block (the
    last of its accounts), and a validator's set follows its first account."""
    c = consortium
    reg, alpha, beta = c.signers["reg"], c.signers["alpha"], c.signers["beta"]
    second = c.new_signer()
    c.registry.add_account(alpha, second.address)
    refused("not a regulator", c.registry.revoke_account, beta, alpha.address)
    refused("not a member", c.registry.revoke_account, c.outsider, alpha.address)
    refused("account not of a member", c.registry.revoke_account, reg, new_address())
    refused("cannot revoke a regulator's account", c.registry.revoke_account, reg, reg.address)
    refused("the member's only account: give a replacement", c.registry.revoke_account, reg, beta.address)
    refused("account already registered", c.registry.revoke_account, reg, alpha.address, beta.address)

    receipt = c.registry.revoke_account(reg, alpha.address)  # alpha keeps its second account
    (removed,) = c.registry.decode_events(receipt, "AccountRemoved")
    (revoked,) = c.registry.decode_events(receipt, "AccountRevoked")
    assert (org_name(removed["args"]["org"]), removed["args"]["account"]) == ("alpha", alpha.address)
    assert org_name(revoked["args"]["by_org"]) == "reg" and revoked["args"]["replacement"] == ZERO_ADDRESS
    assert known(c.registry.member("alpha")).accounts == (second.address,)
    refused("not a member", c.registry.set_certificate, alpha, digest("the leaked key"))
    c.registry.set_certificate(second, digest("the member's own"))  # its other account acts

    replacement = c.new_signer()  # beta's only account, replaced in the same block
    receipt = c.registry.revoke_account(reg, beta.address, replacement.address)
    (added,) = c.registry.decode_events(receipt, "AccountAdded")
    assert (org_name(added["args"]["org"]), added["args"]["account"]) == ("beta", replacement.address)
    assert known(c.registry.member("beta")).accounts == (replacement.address,)
    assert c.registry.org_of(beta.address) is None and c.registry.org_of(replacement.address) == "beta"
    refused("not a member", c.registry.set_certificate, beta, digest("x"))
    c.registry.set_certificate(replacement, digest("beta again"))

    op, op_next = c.signers["op"], c.new_signer()  # the validator's set names the replacement from then on
    assert c.registry.validators() == [op.address]
    c.registry.revoke_account(reg, op.address, op_next.address)
    assert c.registry.validators() == [op_next.address]
    suspend(c, "gamma")  # a suspended member's account may be revoked too
    c.registry.revoke_account(reg, c.signers["gamma"].address, new_address())
    assert c.registry.org_of(c.signers["gamma"].address) is None


def test_at_most_eight_accounts(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    extra = [new_address() for _ in range(7)]
    for address in extra:
        c.registry.add_account(alpha, address)
    assert known(c.registry.member("alpha")).accounts == (alpha.address, *extra)
    refused("too many accounts", c.registry.add_account, alpha, new_address())


def test_suspended_member_cannot_manage_accounts(consortium: Consortium) -> None:
    c = consortium
    suspend(c, "gamma")
    refused("member suspended", c.registry.add_account, c.signers["gamma"], new_address())


def test_set_certificate(consortium: Consortium) -> None:
    c = consortium
    beta = c.signers["beta"]
    receipt = c.registry.set_certificate(beta, digest("renewed"))
    (event,) = c.registry.decode_events(receipt, "CertificateChanged")
    assert (org_name(event["args"]["org"]), bytes(event["args"]["cert_fingerprint"])) == ("beta", digest("renewed"))
    assert known(c.registry.member("beta")).cert_fingerprint == digest("renewed")
    refused("empty certificate fingerprint", c.registry.set_certificate, beta, ZERO32)
    with pytest.raises(MalformedError):
        c.registry.set_certificate(beta, b"too short")
    refused("not a member", c.registry.set_certificate, c.outsider, digest("x"))
    c.registry.set_certificate(c.signers["reg"], digest("regulator renewed"))  # not business state
    assert known(c.registry.member("reg")).cert_fingerprint == digest("regulator renewed")
    suspend(c, "beta")
    refused("member suspended", c.registry.set_certificate, beta, digest("x"))


# -- views -----------------------------------------------------------------------------------------------


def test_views(consortium: Consortium) -> None:
    c = consortium
    fns = views(c)
    for org, roles in [("op", c.founders[0].roles), ("alpha", MEMBER_ROLES), ("reg", c.founders[4].roles)]:
        signer = c.signers[org]
        assert fns.account_info(signer.address).call() == [name_to_bytes32(org), MemberStatus.ACTIVE, int(roles)]
        assert fns.org_info(name_to_bytes32(org)).call() == [MemberStatus.ACTIVE, int(roles)]
        assert fns.account_org(signer.address).call() == name_to_bytes32(org)
        assert fns.is_active_account(signer.address).call() is True
    assert fns.account_info(c.outsider.address).call() == [ZERO32, 0, 0]
    assert fns.org_info(name_to_bytes32("nobody")).call() == [0, 0]
    assert fns.is_active_account(c.outsider.address).call() is False
    assert fns.is_active_account(ZERO_ADDRESS).call() is False
    assert [org_name(fns.member_at(i).call()) for i in range(5)] == FOUNDERS
    assert c.registry.member("nobody") is None
    assert c.registry.proposal(1) is None
    assert fns.proposal_count().call() == 0
    assert not c.registry.has_approved(1, "alpha")
    suspend(c, "beta")
    assert fns.account_info(c.signers["beta"].address).call() == [
        name_to_bytes32("beta"),
        MemberStatus.SUSPENDED,
        int(MEMBER_ROLES),
    ]
    assert fns.org_info(name_to_bytes32("beta")).call() == [MemberStatus.SUSPENDED, int(MEMBER_ROLES)]
    assert fns.is_active_account(c.signers["beta"].address).call() is False


def test_members_cannot_vote_to_suspend_a_regulator(consortium: Consortium) -> None:
    """The regulator cannot be frozen by the firms it supervises, directly or by proposal."""
    c = consortium
    refused("cannot suspend a regulator", c.registry.propose_suspend, c.signers["alpha"], "reg")


def test_validators_lists_the_first_account_of_each_active_validator_member(consortium: Consortium) -> None:
    """The chain's validator set (a genesis with ``validator_contract`` reads it after every block)."""
    c = consortium
    op = c.signers["op"].address
    assert c.registry.validators() == [op]
    delta, second = c.new_signer(), c.new_signer()
    pid = c.registry.propose_admit(
        c.signers["alpha"], "delta", "Delta", MEMBER_ROLES | Role.VALIDATOR, digest("delta"), [delta.address]
    )
    assert c.registry.validators() == [op]  # proposed is not admitted
    c.registry.approve(c.signers["beta"], pid)
    assert c.registry.validators() == [op, delta.address]
    c.registry.add_account(delta, second.address)
    assert c.registry.validators() == [op, delta.address]  # a member's first account signs for its node
    c.registry.suspend(c.signers["reg"], "delta")  # the regulator's freeze takes the validator out
    assert c.registry.validators() == [op]
    c.registry.reinstate(c.signers["reg"], "delta")
    assert c.registry.validators() == [op, delta.address]

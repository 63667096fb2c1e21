"""AccessGrants: creating and revoking grants, and every answer of ``check``."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3 import Web3

from chain.contracts import GrantStatus
from chain.errors import MalformedError
from chain.ids import AssetKind, name_to_bytes32
from tests.integration.contracts.contract_helpers import digest, known, name, refused, send
from tests.support.consortium import Consortium

ZERO32 = b"\0" * 32
UINT64_MAX = 2**64 - 1


def register(c: Any, org: str, asset: str) -> None:
    c.assets.register_asset(c.signers[org], asset, AssetKind.DATASET, digest(asset), digest(f"{asset} meta"), 2)


def suspend(c: Any, org: str) -> None:
    c.registry.suspend(c.signers["reg"], org)


def reinstate(c: Any, org: str) -> None:
    c.registry.reinstate(c.signers["reg"], org)


def remove(c: Any, org: str) -> None:
    proposer, approver = [o for o in ("alpha", "beta", "gamma") if o != org][:2]
    pid = c.registry.propose_remove(c.signers[proposer], org)
    assert c.registry.approve(c.signers[approver], pid)


def window(c: Any) -> tuple[int, int]:
    """A validity window that opens a while after the latest block and lasts a day."""
    now = c.now()
    return now + 1000, now + 1000 + 86400


def check(c: Any, asset: str, grantee: str, purpose: str, at: int) -> tuple[GrantStatus, bytes | None]:
    result = c.grants.check(asset, grantee, purpose, at)
    return result.status, result.grant_id


def granted(c: Any, grantee: str = "beta", purpose: str = "research", asset: str = "book") -> tuple[bytes, int]:
    """alpha registers ``asset`` (if new) and grants it; returns the grant id and a time inside the window."""
    if c.assets.asset(asset) is None:
        register(c, "alpha", asset)
    not_before, expires_at = window(c)
    return c.grants.create_grant(c.signers["alpha"], asset, grantee, purpose, not_before, expires_at), not_before


# -- create ----------------------------------------------------------------------------------------------


def test_create_grant(consortium: Consortium) -> None:
    c = consortium
    register(c, "alpha", "book")
    not_before, expires_at = window(c)
    receipt = send(
        c,
        c.grants,
        c.signers["alpha"],
        "create_grant",
        name_to_bytes32("book"),
        name_to_bytes32("beta"),
        name_to_bytes32("research"),
        not_before,
        expires_at,
        100,
    )
    (event,) = c.grants.decode_events(receipt, "GrantCreated")
    args = event["args"]
    grant_id = bytes(args["grant_id"])
    # grant ids are keccak256(abi_encode(chain id, contract, sequence number)): unique across chains
    assert grant_id == Web3.keccak(
        abi_encode(["uint256", "address", "uint256"], [c.backend.chain_id, c.grants.address, 0])
    )
    assert tuple(name(args[k]) for k in ("asset", "grantee", "grantor", "purpose")) == (
        "book",
        "beta",
        "alpha",
        "research",
    )
    assert (args["not_before"], args["expires_at"], args["quota"]) == (not_before, expires_at, 100)

    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    info = c.grants.grant(grant_id)
    assert info is not None
    assert (info.grant_id, info.asset, info.grantor, info.grantee, info.purpose) == (
        grant_id,
        "book",
        "alpha",
        "beta",
        "research",
    )
    assert (info.not_before, info.expires_at, info.quota) == (not_before, expires_at, 100)
    assert (info.created_at, info.revoked_at, info.revoke_reason) == (block["timestamp"], 0, 0)
    fns = c.grants.contract.functions
    assert fns.grant_count().call() == 1
    assert bytes(fns.grant_at(0).call()) == grant_id
    assert (
        bytes(fns.current_grant(name_to_bytes32("book"), name_to_bytes32("beta"), name_to_bytes32("research")).call())
        == grant_id
    )

    # the client returns the id; grants may start in the past
    now = c.now()
    second = c.grants.create_grant(c.signers["alpha"], "book", "gamma", "audit", 0, now + 60, quota=0)
    assert second == Web3.keccak(
        abi_encode(["uint256", "address", "uint256"], [c.backend.chain_id, c.grants.address, 1])
    )
    assert [(g.grant_id, g.grantee, g.purpose) for g in c.grants.grants()] == [
        (grant_id, "beta", "research"),
        (second, "gamma", "audit"),
    ]
    assert c.grants.count() == 2
    assert c.grants.grant(digest("no such grant")) is None


def test_create_grant_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book")
    register(c, "alpha", "old")
    c.assets.retire_asset(alpha, "old")
    register(c, "gamma", "gamma-book")
    suspend(c, "gamma")
    nb, exp = window(c)
    refused("not a member", c.grants.create_grant, c.outsider, "book", "beta", "research", nb, exp)
    refused("member suspended", c.grants.create_grant, c.signers["gamma"], "gamma-book", "beta", "research", nb, exp)
    refused("regulator is read-only", c.grants.create_grant, c.signers["reg"], "book", "beta", "research", nb, exp)
    refused("unknown asset", c.grants.create_grant, alpha, "nothing", "beta", "research", nb, exp)
    refused("not asset owner", c.grants.create_grant, c.signers["beta"], "book", "gamma", "research", nb, exp)
    refused("asset retired", c.grants.create_grant, alpha, "old", "beta", "research", nb, exp)
    refused("cannot grant to the owner", c.grants.create_grant, alpha, "book", "alpha", "research", nb, exp)
    refused("grantee suspended", c.grants.create_grant, alpha, "book", "gamma", "research", nb, exp)
    refused("grantee not a member", c.grants.create_grant, alpha, "book", "reg", "research", nb, exp)
    refused("grantee not a member", c.grants.create_grant, alpha, "book", "nobody", "research", nb, exp)
    refused(
        "empty purpose",
        send,
        c,
        c.grants,
        alpha,
        "create_grant",
        name_to_bytes32("book"),
        name_to_bytes32("beta"),
        ZERO32,
        nb,
        exp,
        0,
    )
    refused("expiry must be after not-before", c.grants.create_grant, alpha, "book", "beta", "research", nb, nb)
    refused("expiry must be after not-before", c.grants.create_grant, alpha, "book", "beta", "research", exp, nb)
    now = c.now()
    refused("grant already expired", c.grants.create_grant, alpha, "book", "beta", "research", 0, now)
    refused("grant already expired", c.grants.create_grant, alpha, "book", "beta", "research", 0, 1)
    assert c.grants.contract.functions.grant_count().call() == 0


def test_create_grant_validation_in_the_client(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    nb, exp = window(c)
    for args in [
        ("book", "beta", "", nb, exp),
        ("book", "Beta!", "research", nb, exp),
        ("book", "beta", "research", -1, exp),
        ("book", "beta", "research", nb, 2**64),
    ]:
        with pytest.raises(MalformedError):
            c.grants.create_grant(alpha, *args)
    with pytest.raises(MalformedError):
        c.grants.create_grant(alpha, "book", "beta", "research", nb, exp, quota=-1)
    with pytest.raises(MalformedError):
        c.grants.check("book", "beta", "research", -1)


# -- check -----------------------------------------------------------------------------------------------


def test_check_follows_the_validity_window(consortium: Consortium) -> None:
    c = consortium
    grant_id, not_before = granted(c)
    expires_at = known(c.grants.grant(grant_id)).expires_at
    for at, status in [
        (0, GrantStatus.NOT_YET_VALID),
        (not_before - 1, GrantStatus.NOT_YET_VALID),
        (not_before, GrantStatus.ALLOWED),
        (not_before + 1, GrantStatus.ALLOWED),
        (expires_at - 1, GrantStatus.ALLOWED),
        (expires_at, GrantStatus.EXPIRED),
        (expires_at + 1, GrantStatus.EXPIRED),
        (UINT64_MAX, GrantStatus.EXPIRED),
    ]:
        assert check(c, "book", "beta", "research", at) == (status, grant_id), at
    result = c.grants.check("book", "beta", "research", not_before)
    assert result.allowed
    assert result.status.reason == "allowed"
    assert not c.grants.check("book", "beta", "research", expires_at).allowed


def test_check_without_a_grant(consortium: Consortium) -> None:
    c = consortium
    _, at = granted(c)
    assert check(c, "book", "beta", "audit", at) == (GrantStatus.NO_GRANT, None)
    assert check(c, "book", "gamma", "research", at) == (GrantStatus.NO_GRANT, None)
    assert check(c, "book", "op", "research", at) == (GrantStatus.NO_GRANT, None)
    assert check(c, "nothing", "beta", "research", at) == (GrantStatus.UNKNOWN_ASSET, None)
    assert check(c, "nothing", "nobody", "research", at) == (GrantStatus.UNKNOWN_ASSET, None)
    assert check(c, "book", "nobody", "research", at) == (GrantStatus.GRANTEE_NOT_MEMBER, None)
    assert check(c, "book", "reg", "research", at) == (GrantStatus.GRANTEE_NOT_MEMBER, None)
    assert check(c, "book", "alpha", "research", at) == (GrantStatus.NO_GRANT, None)


def test_check_refuses_a_retired_asset(consortium: Consortium) -> None:
    c = consortium
    _, at = granted(c)
    c.assets.retire_asset(c.signers["alpha"], "book")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.ASSET_RETIRED, None)
    assert check(c, "book", "nobody", "research", at) == (GrantStatus.ASSET_RETIRED, None)


def test_grantee_suspension_voids_the_grant_while_it_lasts(consortium: Consortium) -> None:
    c = consortium
    grant_id, at = granted(c)
    suspend(c, "beta")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.GRANTEE_SUSPENDED, None)
    reinstate(c, "beta")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.ALLOWED, grant_id)


def test_owner_suspension_voids_the_grant_while_it_lasts(consortium: Consortium) -> None:
    c = consortium
    grant_id, at = granted(c)
    suspend(c, "alpha")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.OWNER_SUSPENDED, None)
    reinstate(c, "alpha")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.ALLOWED, grant_id)
    remove(c, "alpha")  # a removed owner counts as not active either
    assert check(c, "book", "beta", "research", at) == (GrantStatus.OWNER_SUSPENDED, None)


def test_a_removed_grantee_is_no_member(consortium: Consortium) -> None:
    c = consortium
    _, at = granted(c)
    remove(c, "beta")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.GRANTEE_NOT_MEMBER, None)


def test_a_transfer_of_rights_voids_earlier_grants(consortium: Consortium) -> None:
    c = consortium
    alpha, gamma = c.signers["alpha"], c.signers["gamma"]
    grant_id, at = granted(c)
    c.assets.offer_transfer(alpha, "book", "gamma")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.ALLOWED, grant_id)  # only an offer so far
    c.assets.accept_transfer(gamma, "book")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.OWNERSHIP_CHANGED, grant_id)
    refused("not asset owner", c.grants.create_grant, alpha, "book", "beta", "research", 0, at + 10)
    refused("not asset owner", c.grants.revoke, alpha, grant_id, 1)

    nb, exp = window(c)
    new_id = c.grants.create_grant(gamma, "book", "beta", "research", nb, exp)
    assert known(c.grants.grant(new_id)).grantor == "gamma"
    assert check(c, "book", "beta", "research", nb) == (GrantStatus.ALLOWED, new_id)


def test_a_transfer_voids_earlier_grants_for_good(consortium: Consortium) -> None:
    """Regression: `check` once compared only the grant's grantor with the current owner, so after
    alpha -> gamma -> alpha the old grant was ALLOWED again. Grants now carry the asset's transfer count."""
    c = consortium
    grant_id, at = granted(c)
    c.assets.offer_transfer(c.signers["alpha"], "book", "gamma")
    c.assets.accept_transfer(c.signers["gamma"], "book")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.OWNERSHIP_CHANGED, grant_id)
    c.assets.offer_transfer(c.signers["gamma"], "book", "alpha")
    c.assets.accept_transfer(c.signers["alpha"], "book")
    assert check(c, "book", "beta", "research", at) == (GrantStatus.OWNERSHIP_CHANGED, grant_id)


def test_a_newer_grant_supersedes_the_older_one(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    old_id, old_start = granted(c)
    old = known(c.grants.grant(old_id))
    other_purpose, other_start = granted(c, purpose="audit")
    new_start = old.expires_at + 1000
    new_id = c.grants.create_grant(alpha, "book", "beta", "research", new_start, new_start + 3600, quota=5)
    assert new_id != old_id
    fns = c.grants.contract.functions
    key = (name_to_bytes32("book"), name_to_bytes32("beta"), name_to_bytes32("research"))
    assert bytes(fns.current_grant(*key).call()) == new_id
    # check answers from the current grant only: the old window no longer counts
    assert check(c, "book", "beta", "research", old_start) == (GrantStatus.NOT_YET_VALID, new_id)
    assert check(c, "book", "beta", "research", new_start) == (GrantStatus.ALLOWED, new_id)
    assert check(c, "book", "beta", "audit", other_start) == (GrantStatus.ALLOWED, other_purpose)
    assert c.grants.grant(old_id) == old  # the old grant stays on record
    c.grants.revoke(alpha, old_id, 3)  # revoking the superseded grant changes nothing
    assert check(c, "book", "beta", "research", new_start) == (GrantStatus.ALLOWED, new_id)
    c.grants.revoke(alpha, new_id, 3)
    assert check(c, "book", "beta", "research", new_start) == (GrantStatus.REVOKED, new_id)
    # and a grant made after a revocation restores access
    nb, exp = window(c)
    third = c.grants.create_grant(alpha, "book", "beta", "research", nb, exp)
    assert check(c, "book", "beta", "research", nb) == (GrantStatus.ALLOWED, third)


# -- revoke ----------------------------------------------------------------------------------------------


def test_revoke(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    grant_id, at = granted(c)
    receipt = c.grants.revoke(alpha, grant_id, 7)
    (event,) = c.grants.decode_events(receipt, "GrantRevoked")
    args = event["args"]
    assert (bytes(args["grant_id"]), name(args["asset"]), name(args["grantee"]), args["reason"]) == (
        grant_id,
        "book",
        "beta",
        7,
    )
    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    info = known(c.grants.grant(grant_id))
    assert (info.revoked_at, info.revoke_reason) == (block["timestamp"], 7)
    # revoked comes before the window in check's order
    for when in (0, at, info.expires_at):
        assert check(c, "book", "beta", "research", when) == (GrantStatus.REVOKED, grant_id)
    assert c.grants.check("book", "beta", "research", at).status.reason == "grant revoked"
    refused("grant already revoked", c.grants.revoke, alpha, grant_id, 7)
    refused("grant already revoked", send, c, c.grants, alpha, "revoke", grant_id, 0)
    assert known(c.grants.grant(grant_id)).revoke_reason == 7
    assert len(c.grants.events("GrantRevoked")) == 1


def test_revoke_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    grant_id, _ = granted(c)
    suspend(c, "gamma")
    refused("not a member", c.grants.revoke, c.outsider, grant_id, 1)
    refused("member suspended", c.grants.revoke, c.signers["gamma"], grant_id, 1)
    refused("regulator is read-only", c.grants.revoke, c.signers["reg"], grant_id, 1)
    refused("not asset owner", c.grants.revoke, c.signers["beta"], grant_id, 1)  # the grantee
    refused("unknown grant", c.grants.revoke, alpha, digest("no such grant"), 1)
    refused("unknown grant", c.grants.revoke, alpha, ZERO32, 1)
    # reason 0: the client refuses before sending, the contract refuses too
    with pytest.raises(MalformedError):
        c.grants.revoke(alpha, grant_id, 0)
    with pytest.raises(MalformedError):
        c.grants.revoke(alpha, grant_id, 2**16)
    refused("reason code required", send, c, c.grants, alpha, "revoke", grant_id, 0)
    suspend(c, "alpha")
    refused("member suspended", c.grants.revoke, alpha, grant_id, 1)
    assert known(c.grants.grant(grant_id)).revoked_at == 0


def test_after_a_round_trip_the_owner_grants_afresh(consortium: Consortium) -> None:
    c = consortium
    old_id, _ = granted(c)
    c.assets.offer_transfer(c.signers["alpha"], "book", "gamma")
    c.assets.accept_transfer(c.signers["gamma"], "book")
    c.assets.offer_transfer(c.signers["gamma"], "book", "alpha")
    c.assets.accept_transfer(c.signers["alpha"], "book")
    nb, exp = window(c)
    new_id = c.grants.create_grant(c.signers["alpha"], "book", "beta", "research", nb, exp)
    assert new_id != old_id
    assert known(c.grants.grant(new_id)).owner_epoch == 2
    assert check(c, "book", "beta", "research", nb) == (GrantStatus.ALLOWED, new_id)

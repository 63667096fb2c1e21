"""AccessGrants' private grants: a key and a commitment on chain, the terms off it; every answer of
``check_private`` and every refusal of ``create_private_grant``; and that the chain holds nothing of the terms
in clear (calldata, events, storage)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3 import Web3

from chain.contracts import GrantStatus, PrivateTerms
from chain.errors import MalformedError
from chain.ids import AssetKind, name_to_bytes32
from tests.integration.contracts.contract_helpers import digest, known, name, refused, send
from tests.support.consortium import Consortium

ZERO32 = b"\0" * 32
#: Storage slots of AccessGrants' maps (``vyper -f layout``); Vyper puts map[key] at keccak256(slot ‖ key).
GRANTS_SLOT, PRIVATE_GRANTS_SLOT, PRIVATE_CURRENT_SLOT = 2, 6, 7
GRANT_WORDS = 11  # asset, grantor, grantee, purpose, not_before, expires_at, quota, created, revoked, reason, epoch


def register(c: Any, org: str, asset: str) -> None:
    c.assets.register_asset(c.signers[org], asset, AssetKind.DATASET, digest(asset), digest(f"{asset} meta"), 2)


def terms(
    c: Any, grantee: str = "beta", purpose: str = "research", asset: str = "book", quota: int = 0
) -> PrivateTerms:
    now = c.now()
    return PrivateTerms.draw(asset, "alpha", grantee, purpose, now + 1000, now + 1000 + 86400, quota)


def private(c: Any, t: PrivateTerms | None = None) -> tuple[PrivateTerms, bytes]:
    """alpha registers the asset (if new) and grants ``t`` (new terms by default) privately."""
    t = terms(c) if t is None else t
    if c.assets.asset(t.asset) is None:
        register(c, "alpha", t.asset)
    return t, c.grants.create_private_grant(c.signers["alpha"], t)


def check(c: Any, t: PrivateTerms, at: int) -> tuple[GrantStatus, bytes | None]:
    result = c.grants.check_private(t, at)
    return result.status, result.grant_id


def words(*values: Any) -> list[bytes]:
    """Each value as the 32-byte word the ABI would carry it in."""
    out = []
    for v in values:
        out.append(name_to_bytes32(v, "name") if isinstance(v, str) else int(v).to_bytes(32, "big"))
    return out


def assert_hidden(blob: bytes, t: PrivateTerms, where: str) -> None:
    """``blob`` carries none of the grantee, purpose, window or quota of ``t`` as a word, nor the salt."""
    for label, word in zip(
        ("grantee", "purpose", "not_before", "expires_at"),
        words(t.grantee, t.purpose, t.not_before, t.expires_at),
        strict=True,
    ):
        assert word not in blob, f"{label} in clear in {where}"
    assert name_to_bytes32(t.grantee, "org id").rstrip(b"\0") not in blob, f"grantee's name in {where}"
    assert name_to_bytes32(t.purpose, "purpose").rstrip(b"\0") not in blob, f"purpose's name in {where}"
    assert t.salt not in blob, f"salt in {where}"


def storage(c: Any, slot: int) -> bytes:
    return bytes(c.backend.web3.eth.get_storage_at(c.grants.address, slot))


def map_slot(slot: int, key: bytes) -> int:
    return int.from_bytes(Web3.keccak(slot.to_bytes(32, "big") + key), "big")


# -- create ----------------------------------------------------------------------------------------------


def test_create_private_grant_puts_only_hashes_on_chain(consortium: Consortium) -> None:
    c = consortium
    register(c, "alpha", "book")
    t = terms(c, quota=77_777)
    receipt = send(
        c, c.grants, c.signers["alpha"], "create_private_grant", name_to_bytes32("book"), t.key, t.commitment
    )
    (event,) = c.grants.decode_events(receipt, "PrivateGrantCreated")
    args = event["args"]
    grant_id = bytes(args["grant_id"])
    assert grant_id == Web3.keccak(
        abi_encode(["uint256", "address", "uint256"], [c.backend.chain_id, c.grants.address, 0])
    )
    assert (name(args["asset"]), name(args["grantor"]), bytes(args["key"]), bytes(args["commitment"])) == (
        "book",
        "alpha",
        t.key,
        t.commitment,
    )
    # the encodings are the documented ones
    assert t.key == Web3.keccak(
        abi_encode(["bytes32"] * 4, [t.salt, *words("book", "beta", "research")])
    )  # fmt: skip
    assert t.commitment == Web3.keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint64", "uint64", "uint256"],
            [t.salt, name_to_bytes32("beta", "org"), name_to_bytes32("research", "p"), t.not_before, t.expires_at,
             77_777],
        )
    )  # fmt: skip

    # nothing of the terms in the transaction, its logs or the contract's storage
    web3 = c.backend.web3
    tx = web3.eth.get_transaction(receipt["transactionHash"])
    assert_hidden(bytes(tx["input"]), t, "calldata")
    assert (77_777).to_bytes(32, "big") not in bytes(tx["input"])
    for entry in web3.eth.get_transaction_receipt(receipt["transactionHash"])["logs"]:
        blob = bytes(entry["data"]) + b"".join(bytes(topic) for topic in entry["topics"])
        assert_hidden(blob, t, "event")
        assert (77_777).to_bytes(32, "big") not in blob
    base = map_slot(GRANTS_SLOT, grant_id)
    stored = [storage(c, base + i) for i in range(GRANT_WORDS)]
    block = web3.eth.get_block(receipt["blockNumber"])
    assert stored == [
        name_to_bytes32("book", "a"),
        name_to_bytes32("alpha", "o"),
        ZERO32,  # grantee
        ZERO32,  # purpose
        ZERO32,  # not_before
        ZERO32,  # expires_at
        ZERO32,  # quota
        int(block["timestamp"]).to_bytes(32, "big"),
        ZERO32,
        ZERO32,
        ZERO32,
    ]
    private_base = map_slot(PRIVATE_GRANTS_SLOT, grant_id)
    assert [storage(c, private_base), storage(c, private_base + 1)] == [t.key, t.commitment]
    inner = map_slot(PRIVATE_CURRENT_SLOT, name_to_bytes32("book", "a"))
    assert storage(c, map_slot(inner, t.key)) == grant_id

    # the views say the same
    info = known(c.grants.private_grant(grant_id))
    assert (info.grant_id, info.asset, info.grantor, info.key, info.commitment) == (
        grant_id,
        "book",
        "alpha",
        t.key,
        t.commitment,
    )
    assert (info.created_at, info.revoked_at, info.revoke_reason, info.owner_epoch) == (block["timestamp"], 0, 0, 0)
    assert c.grants.grant(grant_id) is None  # not a clear grant
    assert c.grants.grants() == []
    assert [g.grant_id for g in c.grants.private_grants()] == [grant_id]
    assert c.grants.count() == 1
    assert c.grants.private_grant(digest("no such grant")) is None


def test_clear_and_private_grants_are_listed_apart(consortium: Consortium) -> None:
    c = consortium
    t, private_id = private(c)
    now = c.now()
    clear_id = c.grants.create_grant(c.signers["alpha"], "book", "gamma", "audit", 0, now + 600)
    assert [g.grant_id for g in c.grants.grants()] == [clear_id]
    assert [g.grant_id for g in c.grants.private_grants()] == [private_id]
    assert c.grants.grants_of_both_kinds() == (c.grants.grants(), c.grants.private_grants())
    assert c.grants.private_grant(clear_id) is None
    assert bytes(c.grants.contract.functions.private_grant(clear_id).call()[0]) == ZERO32
    # neither check sees the other kind's grant
    assert check(c, replace(t, grantee="gamma", purpose="audit"), now + 1) == (GrantStatus.NO_GRANT, None)
    assert c.grants.check("book", "beta", "research", t.not_before).status is GrantStatus.NO_GRANT


def test_create_private_grant_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book")
    register(c, "alpha", "old")
    c.assets.retire_asset(alpha, "old")
    register(c, "gamma", "gamma-book")
    c.registry.suspend(c.signers["reg"], "gamma")
    t = terms(c)
    gamma_terms = replace(t, asset="gamma-book", grantor="gamma")
    refused("not a member", c.grants.create_private_grant, c.outsider, t)
    refused("member suspended", c.grants.create_private_grant, c.signers["gamma"], gamma_terms)
    refused("regulator is read-only", c.grants.create_private_grant, c.signers["reg"], t)
    refused("unknown asset", c.grants.create_private_grant, alpha, replace(t, asset="nothing"))
    refused("not asset owner", c.grants.create_private_grant, c.signers["beta"], t)
    refused("asset retired", c.grants.create_private_grant, alpha, replace(t, asset="old"))
    book = name_to_bytes32("book", "a")
    refused("empty key", send, c, c.grants, alpha, "create_private_grant", book, ZERO32, t.commitment)
    refused("empty commitment", send, c, c.grants, alpha, "create_private_grant", book, t.key, ZERO32)
    assert c.grants.count() == 0


def test_private_terms_are_validated_in_the_client() -> None:
    good = PrivateTerms.draw("book", "alpha", "beta", "research", 10, 20, 5)
    assert len(good.salt) == 32 and good.salt != PrivateTerms.draw("book", "alpha", "beta", "research", 10, 20).salt
    changes: list[dict[str, Any]] = [
        {"salt": b"short"},
        {"grantee": "Beta!"},
        {"purpose": ""},
        {"not_before": -1},
        {"expires_at": 2**64},
        {"quota": -1},
        {"asset": "x" * 33},
    ]
    for change in changes:
        with pytest.raises(MalformedError):
            replace(good, **change)


# -- check_private ---------------------------------------------------------------------------------------


def test_check_private_follows_the_window(consortium: Consortium) -> None:
    c = consortium
    t, grant_id = private(c)
    for at, status in [
        (0, GrantStatus.NOT_YET_VALID),
        (t.not_before - 1, GrantStatus.NOT_YET_VALID),
        (t.not_before, GrantStatus.ALLOWED),
        (t.expires_at - 1, GrantStatus.ALLOWED),
        (t.expires_at, GrantStatus.EXPIRED),
        (2**64 - 1, GrantStatus.EXPIRED),
    ]:
        assert check(c, t, at) == (status, grant_id), at
    assert c.grants.check_private(t, t.not_before).allowed


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({"not_before": 1}, GrantStatus.TERMS_MISMATCH, id="not_before"),
        pytest.param({"expires_at": 2**40}, GrantStatus.TERMS_MISMATCH, id="expires_at"),
        pytest.param({"quota": 1}, GrantStatus.TERMS_MISMATCH, id="quota"),
        pytest.param({"grantee": "gamma"}, GrantStatus.NO_GRANT, id="grantee"),
        pytest.param({"purpose": "audit"}, GrantStatus.NO_GRANT, id="purpose"),
        pytest.param({"salt": digest("another salt")}, GrantStatus.NO_GRANT, id="salt"),
        pytest.param({"asset": "other-book"}, GrantStatus.NO_GRANT, id="asset"),
    ],
)
def test_check_private_refuses_other_terms(consortium: Consortium, change: dict[str, Any], status: GrantStatus) -> None:
    c = consortium
    t, grant_id = private(c)
    register(c, "alpha", "other-book")
    wrong = replace(t, **change)
    expected_id = grant_id if status is GrantStatus.TERMS_MISMATCH else None
    assert check(c, wrong, t.not_before) == (status, expected_id)
    assert check(c, t, t.not_before) == (GrantStatus.ALLOWED, grant_id)


def test_check_private_checks_asset_and_members_at_use(consortium: Consortium) -> None:
    c = consortium
    reg = c.signers["reg"]
    t, grant_id = private(c)
    at = t.not_before
    assert check(c, replace(t, asset="nothing"), at) == (GrantStatus.UNKNOWN_ASSET, None)
    assert check(c, replace(t, grantee="nobody"), at) == (GrantStatus.GRANTEE_NOT_MEMBER, None)
    assert check(c, replace(t, grantee="reg"), at) == (GrantStatus.GRANTEE_NOT_MEMBER, None)
    c.registry.suspend(reg, "beta")
    assert check(c, t, at) == (GrantStatus.GRANTEE_SUSPENDED, None)
    c.registry.reinstate(reg, "beta")
    c.registry.suspend(reg, "alpha")
    assert check(c, t, at) == (GrantStatus.OWNER_SUSPENDED, None)
    c.registry.reinstate(reg, "alpha")
    assert check(c, t, at) == (GrantStatus.ALLOWED, grant_id)
    c.assets.retire_asset(c.signers["alpha"], "book")
    assert check(c, t, at) == (GrantStatus.ASSET_RETIRED, None)


def test_a_private_grant_to_the_owner_counts_for_nothing(consortium: Consortium) -> None:
    """create_grant refuses a grant to the owner; a private grant cannot be refused for it, so check_private
    answers as if it did not exist."""
    c = consortium
    t = replace(terms(c), grantee="alpha")
    _, grant_id = private(c, t)
    assert grant_id
    assert check(c, t, t.not_before) == (GrantStatus.NO_GRANT, None)


def test_a_removed_grantee_is_no_member(consortium: Consortium) -> None:
    c = consortium
    t, _ = private(c)
    pid = c.registry.propose_remove(c.signers["alpha"], "beta")
    assert c.registry.approve(c.signers["gamma"], pid)
    assert check(c, t, t.not_before) == (GrantStatus.GRANTEE_NOT_MEMBER, None)


def test_a_transfer_of_rights_voids_a_private_grant(consortium: Consortium) -> None:
    c = consortium
    t, grant_id = private(c)
    c.assets.offer_transfer(c.signers["alpha"], "book", "gamma")
    c.assets.accept_transfer(c.signers["gamma"], "book")
    assert check(c, t, t.not_before) == (GrantStatus.OWNERSHIP_CHANGED, grant_id)
    refused("not asset owner", c.grants.revoke, c.signers["alpha"], grant_id, 1)
    refused("not asset owner", c.grants.create_private_grant, c.signers["alpha"], terms(c))


def test_a_newer_private_grant_under_the_same_key_replaces_the_older(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    old, old_id = private(c)
    # same salt (so the same key), new window and quota: the grantor's next grant of book to beta for research
    start = old.expires_at + 1000
    new = replace(old, not_before=start, expires_at=start + 3600, quota=5)
    assert new.key == old.key and new.commitment != old.commitment
    new_id = c.grants.create_private_grant(alpha, new)
    assert check(c, new, start) == (GrantStatus.ALLOWED, new_id)
    assert check(c, old, old.not_before) == (GrantStatus.TERMS_MISMATCH, new_id)
    # another salt is another key: a grant beside the first, not a replacement
    other = replace(new, salt=digest("other salt"))
    other_id = c.grants.create_private_grant(alpha, other)
    assert check(c, other, start) == (GrantStatus.ALLOWED, other_id)
    assert check(c, new, start) == (GrantStatus.ALLOWED, new_id)
    c.grants.revoke(alpha, old_id, 3)  # revoking the replaced grant changes nothing
    assert check(c, new, start) == (GrantStatus.ALLOWED, new_id)


def test_an_owner_cannot_touch_keys_of_another_asset(consortium: Consortium) -> None:
    """Keys live in their asset's space: gamma, owner of its own asset, puts alpha's key there, and alpha's
    grant is unchanged."""
    c = consortium
    t, grant_id = private(c)
    register(c, "gamma", "gamma-book")
    gamma_book = name_to_bytes32("gamma-book", "a")
    send(c, c.grants, c.signers["gamma"], "create_private_grant", gamma_book, t.key, digest("x"))
    assert check(c, t, t.not_before) == (GrantStatus.ALLOWED, grant_id)


# -- revoke ----------------------------------------------------------------------------------------------


def test_revoke_a_private_grant_names_no_grantee(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    t, grant_id = private(c)
    receipt = c.grants.revoke(alpha, grant_id, 9)
    assert c.grants.decode_events(receipt, "GrantRevoked") == []
    (event,) = c.grants.decode_events(receipt, "PrivateGrantRevoked")
    assert (bytes(event["args"]["grant_id"]), name(event["args"]["asset"]), event["args"]["reason"]) == (
        grant_id,
        "book",
        9,
    )
    for entry in receipt["logs"]:
        blob = bytes(entry["data"]) + b"".join(bytes(topic) for topic in entry["topics"])
        assert_hidden(blob, t, "revocation event")
    info = known(c.grants.private_grant(grant_id))
    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    assert (info.revoked_at, info.revoke_reason) == (block["timestamp"], 9)
    for at in (0, t.not_before, t.expires_at):
        assert check(c, t, at) == (GrantStatus.REVOKED, grant_id)
    # wrong terms learn nothing of the revocation
    assert check(c, replace(t, quota=3), t.not_before) == (GrantStatus.TERMS_MISMATCH, grant_id)
    refused("grant already revoked", c.grants.revoke, alpha, grant_id, 9)
    refused("not asset owner", c.grants.revoke, c.signers["beta"], grant_id, 1)
    refused("regulator is read-only", c.grants.revoke, c.signers["reg"], grant_id, 1)
    # a new private grant under the same key restores access
    nb = c.now() + 10
    again = replace(t, not_before=nb, expires_at=nb + 600)
    again_id = c.grants.create_private_grant(alpha, again)
    assert check(c, again, nb) == (GrantStatus.ALLOWED, again_id)

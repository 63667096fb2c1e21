"""TrustDirectory: genesis keys, a member's own keys (add with overlap, retire, revoke), a regulator's
declaration of compromise, events, and a member admitted later adding its keys."""

from __future__ import annotations

import hashlib

import pytest
from web3.types import TxParams

from chain.contracts import KeyKind, KeyState
from chain.contracts.trust import serial_bytes
from chain.errors import MalformedError
from chain.ids import Role
from tests.integration.contracts.contract_helpers import digest, known, name, refused, send
from tests.support.consortium import Consortium, founder_keys

ZERO_ADDRESS = "0x" + "00" * 20


def key(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def head(c: Consortium) -> int:
    return int(c.backend.web3.eth.block_number)


def block_of(receipt: object) -> int:
    return int(receipt["blockNumber"])  # type: ignore[index]


# -- genesis ---------------------------------------------------------------------------------------------


def test_genesis_writes_the_founders_keys_valid_from_block_zero(consortium: Consortium) -> None:
    c = consortium
    assert c.trust.orgs() == ["alpha"]
    records = c.trust.records("alpha")
    assert [(r.kind, r.value) for r in records] == list(founder_keys("alpha"))
    for r in records:
        assert (r.valid_from, r.valid_until, r.state, r.ended_by) == (0, None, KeyState.OPEN, None)
        assert r.valid_at(0) and c.trust.is_valid("alpha", r.index, 0)
    assert c.trust.records("beta") == []
    functions = c.trust.contract.functions
    assert functions.bootstrapped().call() is True
    assert functions.bootstrapper().call() == ZERO_ADDRESS
    (finished,) = c.trust.events("BootstrapFinished")
    assert finished["args"]["record_count"] == 2
    added = c.trust.events("KeyAdded")
    assert [(name(e["args"]["org"]), e["args"]["index"], e["args"]["kind"]) for e in added] == [
        ("alpha", 0, KeyKind.CA_CERT),
        ("alpha", 1, KeyKind.GATEWAY_KEY),
    ]
    assert added[0]["args"]["value_hash"] == c.backend.web3.keccak(founder_keys("alpha")[0][1])


def test_bootstrap_is_closed_for_good(consortium: Consortium) -> None:
    c = consortium
    for signer in (c.deployer, c.signers["beta"], c.outsider):
        refused("bootstrap finished", c.trust.bootstrap_key, signer, "beta", KeyKind.GATEWAY_KEY, key("b"))
        refused("bootstrap finished", c.trust.finish_bootstrap, signer)


# -- a member's own keys -----------------------------------------------------------------------------------


def test_a_member_adds_its_own_key_from_the_block_that_records_it(consortium: Consortium) -> None:
    c = consortium
    before = c.trust.change_count()
    index = c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    assert index == 0
    rec = known(c.trust.record("beta", 0))
    at = rec.added_at
    assert (rec.kind, rec.value, rec.valid_from, rec.valid_until, rec.state) == (
        KeyKind.GATEWAY_KEY,
        key("beta gw"),
        at,
        None,
        KeyState.OPEN,
    )
    assert not c.trust.is_valid("beta", 0, at - 1)
    assert c.trust.is_valid("beta", 0, at)
    assert c.trust.find("beta", KeyKind.GATEWAY_KEY, key("beta gw")) == 0
    assert c.trust.find("beta", KeyKind.WITNESS_KEY, key("beta gw")) is None
    assert c.trust.find("alpha", KeyKind.GATEWAY_KEY, key("beta gw")) is None
    assert c.trust.orgs() == ["alpha", "beta"]
    assert c.trust.change_count() == before + 1
    assert c.trust.last_change_block() == at


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        (0, b"x", "unknown key kind"),
        (9, b"x", "unknown key kind"),
        (int(KeyKind.GATEWAY_KEY), b"", "empty value"),
        (int(KeyKind.ACCOUNT), b"\1" * 19, "an account is 20 bytes"),
        (int(KeyKind.REVOKED_SERIAL), b"\1" * 21, "a serial is at most 20 bytes"),
        (int(KeyKind.WITNESS_ENDPOINT), b"h" * 513, "an endpoint is at most 512 bytes"),
        (int(KeyKind.NODE_ENDPOINT), b"h" * 513, "an endpoint is at most 512 bytes"),
    ],
    ids=["kind-0", "kind-9", "empty", "short-account", "long-serial", "long-witness-url", "long-node-url"],
)
def test_add_key_validates_the_record(consortium: Consortium, kind: int, value: bytes, reason: str) -> None:
    c = consortium
    refused(reason, send, c, c.trust, c.signers["beta"], "add_key", kind, value, 0)


def test_a_key_is_recorded_once_and_only_by_a_member(consortium: Consortium) -> None:
    c = consortium
    c.trust.add_key(c.signers["beta"], KeyKind.WITNESS_KEY, key("w"))
    refused("key already recorded", c.trust.add_key, c.signers["beta"], KeyKind.WITNESS_KEY, key("w"))
    c.trust.add_key(c.signers["gamma"], KeyKind.WITNESS_KEY, key("w"))  # another org may name the same bytes
    refused("not a member", c.trust.add_key, c.outsider, KeyKind.WITNESS_KEY, key("o"))
    with pytest.raises(MalformedError):
        c.trust.add_key(c.signers["beta"], KeyKind.CA_CERT, b"\0" * 2049)


def test_rotation_with_an_overlap(consortium: Consortium) -> None:
    """The new key is valid from a later block, the old one retired at a still later one: both are valid in
    between, and each alone on either side."""
    c = consortium
    alpha = c.signers["alpha"]
    now = head(c)
    new = c.trust.add_key(alpha, KeyKind.GATEWAY_KEY, key("alpha gw 2"), valid_from=now + 3)
    receipt = c.trust.retire_key(alpha, 1, valid_until=now + 6)
    assert block_of(receipt) < now + 6
    old = known(c.trust.record("alpha", 1))
    assert (old.state, old.valid_until, old.ended_by) == (KeyState.RETIRED, now + 6, "alpha")
    assert [c.trust.is_valid("alpha", 1, b) for b in (now + 2, now + 3, now + 5, now + 6)] == [True, True, True, False]
    assert [c.trust.is_valid("alpha", new, b) for b in (now + 2, now + 3, now + 5, now + 6)] == [
        False,
        True,
        True,
        True,
    ]
    (retired,) = c.trust.events("KeyRetired")
    assert (name(retired["args"]["org"]), retired["args"]["index"], retired["args"]["valid_until"]) == (
        "alpha",
        1,
        now + 6,
    )
    # brought forward, yes; pushed back, no
    refused("key already retired by then", c.trust.retire_key, alpha, 1, now + 100)
    c.trust.retire_key(alpha, 1)
    assert known(c.trust.record("alpha", 1)).valid_until == head(c)


def test_retiring_in_the_past_means_now(consortium: Consortium) -> None:
    c = consortium
    receipt = c.trust.retire_key(c.signers["alpha"], 0, valid_until=1)
    rec = known(c.trust.record("alpha", 0))
    assert rec.valid_until == block_of(receipt)
    assert rec.valid_at(block_of(receipt) - 1) and not rec.valid_at(block_of(receipt))


def test_a_member_retires_only_its_own_keys(consortium: Consortium) -> None:
    c = consortium
    refused("unknown key", c.trust.retire_key, c.signers["beta"], 0)  # beta has none; index 0 is alpha's
    refused("not a member", c.trust.retire_key, c.outsider, 0)
    assert known(c.trust.record("alpha", 0)).state is KeyState.OPEN


def test_a_suspended_member_may_retire_and_revoke_but_not_add(consortium: Consortium) -> None:
    """The contract lets a frozen member withdraw trust, never add it. (Our own chain refuses every transaction
    of a suspended member before the contract runs, so the withdrawals are checked as calls.)"""
    c = consortium
    c.registry.suspend(c.signers["reg"], "alpha")
    refused("member suspended", c.trust.add_key, c.signers["alpha"], KeyKind.GATEWAY_KEY, key("x"))
    sender: TxParams = {"from": c.signers["alpha"].address}
    functions = c.trust.contract.functions
    functions.retire_key(1, 0).call(sender)
    assert functions.revoke_serial(serial_bytes(0x1234)).call(sender) == 2


def test_revoking_a_serial_is_permanent(consortium: Consortium) -> None:
    c = consortium
    index = c.trust.revoke_serial(c.signers["alpha"], 0xABCDEF)
    rec = known(c.trust.record("alpha", index))
    assert (rec.kind, rec.value, rec.valid_from) == (KeyKind.REVOKED_SERIAL, b"\xab\xcd\xef", rec.added_at)
    assert c.trust.find("alpha", KeyKind.REVOKED_SERIAL, serial_bytes(0xABCDEF)) == index
    refused("a revocation is permanent", c.trust.retire_key, c.signers["alpha"], index)
    refused("key already recorded", c.trust.revoke_serial, c.signers["alpha"], 0xABCDEF)
    refused("not a key", c.trust.declare_compromised, c.signers["reg"], "alpha", index, 0)
    with pytest.raises(MalformedError):
        serial_bytes(0)


# -- supervision -------------------------------------------------------------------------------------------


def test_a_regulator_declares_a_key_compromised_as_of_a_past_block(consortium: Consortium) -> None:
    c = consortium
    index = c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    added = known(c.trust.record("beta", index)).added_at
    for _ in range(3):
        c.trust.add_key(c.signers["gamma"], KeyKind.NODE_ENDPOINT, f"https://gamma-{_}.example".encode())
    as_of = added + 2
    assert c.trust.is_valid("beta", index, as_of)
    receipt = c.trust.declare_compromised(c.signers["reg"], "beta", index, as_of)
    assert block_of(receipt) > as_of
    rec = known(c.trust.record("beta", index))
    assert (rec.state, rec.valid_until, rec.ended_by) == (KeyState.COMPROMISED, as_of, "reg")
    assert c.trust.is_valid("beta", index, as_of - 1)
    assert not c.trust.is_valid("beta", index, as_of)
    assert not c.trust.is_valid("beta", index, head(c))
    (event,) = c.trust.events("KeyCompromised")
    assert (name(event["args"]["org"]), event["args"]["index"], event["args"]["valid_until"]) == ("beta", index, as_of)
    assert name(event["args"]["by_org"]) == "reg"
    refused("key already compromised", c.trust.declare_compromised, c.signers["reg"], "beta", index, as_of)
    refused("key already compromised", c.trust.retire_key, c.signers["beta"], index)


def test_only_a_regulator_declares_a_compromise(consortium: Consortium) -> None:
    c = consortium
    for org in ("alpha", "op", "beta"):
        refused("not a regulator", c.trust.declare_compromised, c.signers[org], "alpha", 0, 0)
    refused("not a member", c.trust.declare_compromised, c.outsider, "alpha", 0, 0)
    refused("unknown key", c.trust.declare_compromised, c.signers["reg"], "alpha", 9, 0)


def test_a_compromise_never_extends_a_retired_key(consortium: Consortium) -> None:
    c = consortium
    receipt = c.trust.retire_key(c.signers["alpha"], 0)
    c.trust.declare_compromised(c.signers["reg"], "alpha", 0, block_of(receipt) + 50)
    rec = known(c.trust.record("alpha", 0))
    assert (rec.state, rec.valid_until) == (KeyState.COMPROMISED, block_of(receipt))


def test_a_compromise_before_a_key_was_valid_makes_it_never_valid(consortium: Consortium) -> None:
    c = consortium
    index = c.trust.add_key(c.signers["beta"], KeyKind.WITNESS_KEY, key("bw"), valid_from=head(c) + 10)
    c.trust.declare_compromised(c.signers["reg"], "beta", index, 0)
    rec = known(c.trust.record("beta", index))
    assert rec.valid_until == rec.valid_from
    assert not any(rec.valid_at(b) for b in range(rec.valid_from - 2, rec.valid_from + 20))


# -- admission -----------------------------------------------------------------------------------------------


def test_a_member_admitted_by_governance_adds_its_own_keys(consortium: Consortium) -> None:
    c = consortium
    delta = c.new_signer()
    refused("not a member", c.trust.add_key, delta, KeyKind.CA_CERT, b"delta ca")
    pid = c.registry.propose_admit(
        c.signers["alpha"], "delta", "Delta", Role.MEMBER | Role.WITNESS, digest("delta"), [delta.address]
    )
    assert c.registry.approve(c.signers["beta"], pid)
    assert c.trust.add_key(delta, KeyKind.CA_CERT, b"delta ca") == 0
    assert c.trust.add_key(delta, KeyKind.GATEWAY_KEY, key("delta gw")) == 1
    assert c.trust.orgs() == ["alpha", "delta"]
    assert [r.kind for r in c.trust.records("delta")] == [KeyKind.CA_CERT, KeyKind.GATEWAY_KEY]
    count = c.trust.change_count()
    assert c.trust.follow_state() == (count, (1, 1))
    # a removed member changes nothing any more; a follower sees the removal without a change of the directory
    pid = c.registry.propose_remove(c.signers["alpha"], "delta")
    assert c.registry.approve(c.signers["beta"], pid)
    refused("not a member", c.trust.retire_key, delta, 0)
    assert c.trust.record_count("delta") == 2
    assert c.trust.follow_state() == (count, (1, 3))


def test_a_witness_endpoint_is_a_record_of_its_own_kind(consortium: Consortium) -> None:
    """A member publishes its witness's URL (kind 8), moves it (the new URL added, the old retired) and takes it
    down; a URL at the 512-byte bound is taken, the same URL as a node endpoint is another record."""
    c = consortium
    beta = c.signers["beta"]
    url = b"https://witness.beta.example:8551"
    first = c.trust.add_key(beta, KeyKind.WITNESS_ENDPOINT, url)
    rec = known(c.trust.record("beta", first))
    assert (rec.kind, rec.value, rec.state) == (KeyKind.WITNESS_ENDPOINT, url, KeyState.OPEN)
    assert c.trust.find("beta", KeyKind.WITNESS_ENDPOINT, url) == first
    assert c.trust.find("beta", KeyKind.NODE_ENDPOINT, url) is None
    refused("key already recorded", c.trust.add_key, beta, KeyKind.WITNESS_ENDPOINT, url)
    as_node = c.trust.add_key(beta, KeyKind.NODE_ENDPOINT, url)
    assert as_node != first
    moved = c.trust.add_key(beta, KeyKind.WITNESS_ENDPOINT, b"https://w2.beta.example/" + b"p" * 488)
    assert len(known(c.trust.record("beta", moved)).value) == 512
    receipt = c.trust.retire_key(beta, first)
    ended = known(c.trust.record("beta", first))
    assert (ended.state, ended.valid_until) == (KeyState.RETIRED, block_of(receipt))
    assert not c.trust.is_valid("beta", first, block_of(receipt))
    assert c.trust.is_valid("beta", moved, block_of(receipt))
    refused("not a member", c.trust.add_key, c.outsider, KeyKind.WITNESS_ENDPOINT, b"https://o.example")

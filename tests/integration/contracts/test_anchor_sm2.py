"""AuditAnchor.anchor_signed: the log's SM2 signature over what is anchored, checked on chain with the precompile.

The signature is over ``chain.contracts.anchor_message`` (domain ‖ size ‖ root ‖ digest ‖ origin) with the ID
``1234567812345678``, under a LOG_KEY of the notary's member in the TrustDirectory. Signatures made by
``suite.sm2`` and by GmSSL (``gmssl-pyx``, an independent implementation) are accepted; a signature by another
key, over another root, a malformed one, or under a key that is not (or no longer) the member's log key is
refused with its reason. Plain ``anchor`` (the ``intl`` path) is unchanged on an AuditAnchor deployed without
``signed_only``, and refused on one deployed with it (every ``sm`` consortium's). Anvil has no SM2 precompile: there
every signature is refused, never accepted, and ``deploy_consortium`` refuses to deploy a signed-only AuditAnchor.
"""

from __future__ import annotations

from typing import Any

import gmssl_pyx
import pytest
from web3 import Web3

from chain.backend import EthTesterBackend
from chain.contracts import KeyKind, anchor_message, deploy_consortium
from chain.contracts.deploy import deploy_contract
from chain.errors import ChainError, MalformedError
from suite.sm2 import DEFAULT_ID, N, SM2PrivateKey, der_to_raw, raw_to_der
from tests.integration.contracts.contract_helpers import digest, known, refused
from tests.support.consortium import NodeBackend

ORIGIN = "sm.consortium.example/log"
LOG_KEY = SM2PrivateKey.generate()
OTHER_KEY = SM2PrivateKey.generate()
BAD = "bad SM2 signature of the log"


def has_precompile(c: Any) -> bool:
    """eth-tester and the consortium's node run the SM2-verify precompile; anvil does not."""
    return isinstance(c.backend, EthTesterBackend | NodeBackend)


def point(key: SM2PrivateKey) -> bytes:
    return key.public_key().public_bytes()


def register(c: Any, key: SM2PrivateKey = LOG_KEY) -> int:
    """Add ``key`` as a log key of the notary's member (op); returns its TrustDirectory index."""
    return int(c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, point(key)))


def args(size: int, root: bytes | None = None) -> tuple[str, int, bytes, bytes]:
    return ORIGIN, size, root or digest(f"root {size}"), digest(f"checkpoint {size}")


def signed(c: Any, size: int, key: SM2PrivateKey = LOG_KEY, signature: bytes | None = None) -> Any:
    a = args(size)
    sig = signature if signature is not None else key.sign(anchor_message(*a))
    return c.anchors.anchor_signed(c.signers["op"], *a, point(key), sig)


def test_the_message_is_fixed_binary() -> None:
    message = anchor_message("o", 258, b"\x11" * 32, b"\x22" * 32)
    assert message == b"consortium-ledger/anchor/v1\x00" + bytes(6) + b"\x01\x02" + b"\x11" * 32 + b"\x22" * 32 + b"o"
    with pytest.raises(MalformedError):
        anchor_message("o", 2**64, b"\x11" * 32, b"\x22" * 32)


def test_a_correct_signature_is_checked_and_recorded(consortium: Any) -> None:
    c = consortium
    index = register(c)
    if not has_precompile(c):
        refused(BAD, signed, c, 5)
        return
    receipt = signed(c, 5)
    (event,) = c.anchors.decode_events(receipt, "AnchorSigned")
    e = event["args"]
    assert bytes(e["origin_hash"]) == Web3.keccak(text=ORIGIN)
    assert (e["tree_size"], e["key_index"]) == (5, index)
    assert bytes(e["key_x"]) + bytes(e["key_y"]) == point(LOG_KEY)[1:]
    signature = bytes(e["r"]) + bytes(e["s"])
    # The signature the chain accepted verifies in GmSSL over the same message: the chain's check is SM2's.
    message = anchor_message(*args(5))
    assert gmssl_pyx.sm2_verify(point(LOG_KEY)[1:], message, raw_to_der(signature), DEFAULT_ID)
    info = known(c.anchors.at_size(ORIGIN, 5))
    assert (info.tree_size, info.root_hash, info.checkpoint_digest, info.notary) == (5, *args(5)[2:], "op")
    assert c.anchors.signature_key(ORIGIN, 5) == index
    (anchored,) = c.anchors.decode_events(receipt, "Anchored")
    assert anchored["args"]["tree_size"] == 5

    # A signature GmSSL makes is accepted too.
    theirs = gmssl_pyx.sm2_sign(LOG_KEY.private_bytes(), point(LOG_KEY)[1:], anchor_message(*args(6)), DEFAULT_ID)
    signed(c, 6, signature=der_to_raw(theirs))
    assert c.anchors.signature_key(ORIGIN, 6) == index


def test_wrong_signatures_are_refused_with_their_reason(consortium: Any) -> None:
    c = consortium
    register(c)
    op = c.signers["op"]
    a = args(7)
    # Signed by another key, presented under the log key.
    refused(BAD, c.anchors.anchor_signed, op, *a, point(LOG_KEY), OTHER_KEY.sign(anchor_message(*a)))
    # The log key's signature over another root.
    other_root = anchor_message(*args(7, root=digest("another root")))
    refused(BAD, c.anchors.anchor_signed, op, *a, point(LOG_KEY), LOG_KEY.sign(other_root))
    # Over another size, and under the empty signer ID (OpenSSL's default) rather than the profile's.
    refused(BAD, c.anchors.anchor_signed, op, *a, point(LOG_KEY), LOG_KEY.sign(anchor_message(*args(8))))
    refused(BAD, c.anchors.anchor_signed, op, *a, point(LOG_KEY), LOG_KEY.sign(anchor_message(*a), b""))
    # Malformed: r = 0, s = n, all zero.
    for sig in (bytes(32) + b"\x01" * 32, b"\x01" * 32 + N.to_bytes(32, "big"), bytes(64)):
        refused(BAD, c.anchors.anchor_signed, op, *a, point(LOG_KEY), sig)
    # A key that is not a log key of the notary's member, even with a valid signature of its own.
    refused(
        "not a log key of the notary's member",
        c.anchors.anchor_signed,
        op,
        *a,
        point(OTHER_KEY),
        OTHER_KEY.sign(anchor_message(*a)),
    )
    # Only a notary anchors, signed or not.
    refused("not a notary", c.anchors.anchor_signed, c.signers["alpha"], *a, point(LOG_KEY), LOG_KEY.sign(b"x"))
    assert c.anchors.count(ORIGIN) == 0
    with pytest.raises(MalformedError):
        c.anchors.anchor_signed(op, *a, point(LOG_KEY)[1:], bytes(64))


def test_a_retired_log_key_no_longer_anchors(consortium: Any) -> None:
    c = consortium
    index = register(c)
    c.trust.retire_key(c.signers["op"], index)
    refused("log key not valid at this block", signed, c, 9)


def test_plain_anchor_is_unchanged_and_unchecked(consortium: Any) -> None:
    c = consortium
    c.anchors.anchor(c.signers["op"], *args(3))
    assert known(c.anchors.latest(ORIGIN)).tree_size == 3
    assert c.anchors.signature_key(ORIGIN, 3) is None
    assert c.anchors.signature_key(ORIGIN, 4) is None
    if has_precompile(c):  # sizes keep increasing across both functions
        register(c)
        refused("tree size must increase", signed, c, 3)


def test_the_trust_directory_is_set_once_at_genesis(consortium: Any) -> None:
    c = consortium
    assert c.anchors.checks_signatures() is has_precompile(c)
    assert c.anchors.contract.functions.trust_directory().call() == c.trust.address
    refused("not the deployer", c.anchors.set_trust_directory, c.deployer, c.trust.address)
    refused("not the deployer", c.anchors.set_trust_directory, c.signers["op"], c.trust.address)


UNSIGNED = "unsigned anchors refused: use anchor_signed"


def test_a_signed_only_anchor_refuses_plain_anchors_and_takes_checked_ones(consortium: Any) -> None:
    c = consortium
    anchors = c.signed_only_anchors()
    assert anchors.signed_only() and not c.anchors.signed_only()
    assert anchors.trust_directory() == c.trust.address
    index = register(c)
    # Plain anchor, by the notary itself, of values its log key would sign: refused, and nothing is stored.
    refused(UNSIGNED, anchors.anchor, c.signers["op"], *args(5))
    refused(UNSIGNED, anchors.anchor, c.signers["alpha"], *args(5))
    assert anchors.count(ORIGIN) == 0 and anchors.latest(ORIGIN) is None
    a = args(5)
    if not has_precompile(c):  # no chain without the precompile anchors anything here: never unchecked
        refused(BAD, anchors.anchor_signed, c.signers["op"], *a, point(LOG_KEY), LOG_KEY.sign(anchor_message(*a)))
        assert anchors.count(ORIGIN) == 0
        return
    anchors.anchor_signed(c.signers["op"], *a, point(LOG_KEY), LOG_KEY.sign(anchor_message(*a)))
    assert known(anchors.latest(ORIGIN)).tree_size == 5
    assert anchors.signature_key(ORIGIN, 5) == index
    # Its refusals are anchor_signed's: another key's signature, a key not the member's.
    b = args(6)
    refused(BAD, anchors.anchor_signed, c.signers["op"], *b, point(LOG_KEY), OTHER_KEY.sign(anchor_message(*b)))
    refused(
        "not a log key of the notary's member",
        anchors.anchor_signed,
        c.signers["op"],
        *b,
        point(OTHER_KEY),
        OTHER_KEY.sign(anchor_message(*b)),
    )
    refused(UNSIGNED, anchors.anchor, c.signers["op"], *b)
    assert anchors.count(ORIGIN) == 1
    # The flag is immutable: no function sets it, so the deployed contract answers the same for ever.
    assert not [f for f in anchors.contract.abi if f.get("name", "").startswith("set_signed")]


def test_a_trust_directory_of_another_registry_is_refused(consortium: Any) -> None:
    c = consortium
    anchors = c.deploy_audit_anchor(signed_only=True)
    foreign = deploy_contract(c.backend, c.deployer, "TrustDirectory", c.deployment.addresses["DataAssetRegistry"])
    refused("trust directory of another registry", anchors.set_trust_directory, c.deployer, foreign)
    assert anchors.trust_directory() is None
    # Without its TrustDirectory a signed-only AuditAnchor anchors nothing at all.
    a = args(5)
    refused("no trust directory", anchors.anchor_signed, c.signers["op"], *a, point(LOG_KEY), LOG_KEY.sign(b"x"))


def test_deploy_consortium_with_signed_anchors(consortium: Any) -> None:
    """The genesis of an ``sm`` consortium: AuditAnchor deployed signed-only and pointed at the TrustDirectory; on a
    chain without the precompile nothing is deployed."""
    c = consortium
    if not has_precompile(c):
        before = c.backend.web3.eth.get_transaction_count(c.deployer.address)
        with pytest.raises(ChainError, match="no SM2-verify precompile"):
            deploy_consortium(c.backend, c.deployer, c.founders, threshold=2, signed_anchors=True)
        assert c.backend.web3.eth.get_transaction_count(c.deployer.address) == before
        return
    deployment = deploy_consortium(c.backend, c.deployer, c.founders, threshold=2, signed_anchors=True)
    anchors = deployment.anchors(c.backend)
    assert anchors.signed_only()
    assert anchors.trust_directory() == deployment.addresses["TrustDirectory"]
    refused(UNSIGNED, anchors.anchor, c.signers["op"], *args(5))

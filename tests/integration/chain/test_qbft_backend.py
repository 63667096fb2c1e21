"""The contract suite's "qbft" chain (``tests.support.consortium.QbftBackend``) is what it claims to be.

Four validators decide each block by QBFT, each proposing in its turn (a transaction sent to the first validator's
JSON-RPC reaches the proposer of the height); a receipt a client reads is in a block sealed by a quorum of the
validators; no empty block is made but the one that moves chain time; at the end every validator holds the chain.
"""

from __future__ import annotations

from chain.node.node import Node
from chain.seal import extra_data, verify_seals
from chain.tx import wait_receipt
from tests.support.consortium import Keys, QbftBackend, deploy_test_consortium
from tests.support.transfers import transfer


def sealed_by_a_quorum(node: Node, number: int) -> bytes:
    """The proposer (coinbase) of block ``number``, once its seals are checked against its parent's validators."""
    block, parent = node.block_by_number(number), node.block_by_number(number - 1)
    assert block is not None and parent is not None
    verify_seals(block.header, extra_data(parent.header).validators)  # raises below a quorum of valid seals
    return bytes(block.header.coinbase)


def test_each_block_is_decided_by_the_four_validators_in_turn_and_a_receipt_read_is_final() -> None:
    keys = Keys.create()
    backend = QbftBackend(keys.deployer)
    try:
        c = deploy_test_consortium(backend, keys)
        head = int(backend.node.head().block_number)
        proposers = [sealed_by_a_quorum(backend.node, n) for n in range(1, head + 1)]
        assert set(proposers) == set(extra_data(backend.node.head()).validators)  # each proposed: all were sent
        assert all(backend.node.block_by_number(n).transactions for n in range(1, head + 1))  # type: ignore[union-attr]
        alpha = keys.orgs["alpha"]
        for nonce in range(3):
            sent = bytes(backend.web3.eth.send_raw_transaction(transfer(alpha, nonce, backend.chain_id)))
            receipt = wait_receipt(backend, sent)
            sealed_by_a_quorum(backend.node, int(receipt["blockNumber"]))  # at the moment it is read
        before = c.now()
        number = int(backend.node.head().block_number)
        assert c.advance_time(3600) >= before + 3600
        empty = backend.node.block_by_number(number + 1)
        assert empty is not None and not empty.transactions and backend.node.head().block_number == number + 1
        sealed_by_a_quorum(backend.node, number + 1)
    finally:
        backend.close()  # asserts the four hold one chain and verify_chain is clean
    assert len({bytes(node.head().hash) for node in backend.nodes}) == 1

"""``chain.tx.transact`` when another sender of the same account took the nonce it holds: a notary's anchorer and a
command of its member send from one account in two processes, each tracking the nonce it gives next. The node
(ours, over JSON-RPC on loopback) refuses the later one's nonce; ``transact`` builds it again on the nonce asked
anew and sends it once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError

from chain.backend import Backend
from chain.tx import NONCE_RETRIES, Signer, nonce_refused, transact
from tests.support.consortium import NodeBackend

#: Where the other sender's transactions go: not where the command's go, so theirs are other transactions (the
#: same one signed twice would be one transaction, which the node already knows).
ELSEWHERE = Account.create().address


@pytest.fixture
def node() -> Iterator[NodeBackend]:
    backend = NodeBackend(Account.create())
    yield backend
    backend.close()


def test_a_nonce_another_process_took_is_asked_again_and_the_transaction_sent_once(node: NodeBackend) -> None:
    key = bytes(node.operator.key)
    command, anchorer = Signer.from_key(key), Signer.from_key(key)  # two processes' signers of one account
    first = command.next_nonce(node)  # the command has asked the chain, and tracks the nonce itself from here
    taken = transact(node, anchorer, ELSEWHERE, "0x", label="anchor")  # not the command's transaction
    assert taken["status"] == 1 and node.web3.eth.get_transaction(taken["transactionHash"])["nonce"] == first
    receipt = transact(node, command, command.address, "0x", label="command")
    assert receipt["status"] == 1
    sent = node.web3.eth.get_transaction(receipt["transactionHash"])
    assert sent["nonce"] == first + 1  # built again on the nonce the chain gave next
    assert node.web3.eth.get_transaction_count(command.account.address) == first + 2  # each transaction once
    assert command.next_nonce(node) == first + 2


def test_a_nonce_refused_every_time_raises_after_the_retries(node: NodeBackend) -> None:
    key = bytes(node.operator.key)
    other = Signer.from_key(key)
    sent: list[int] = []

    class Overtaken(Signer):
        """A sender each of whose nonces another sender of the account takes first."""

        def take_nonce(self, backend: Backend) -> int:
            nonce = super().take_nonce(backend)
            transact(backend, other, ELSEWHERE, "0x", label="other")
            sent.append(nonce)
            return nonce

    command = Overtaken(account=Account.from_key(key))
    with pytest.raises(Web3RPCError) as refused:
        transact(node, command, command.address, "0x", label="command")
    assert nonce_refused(refused.value), refused.value
    assert len(sent) == NONCE_RETRIES + 1 and len(set(sent)) == len(sent)  # each time a nonce asked anew


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ("transaction rejected: nonce 39 is not the next nonce 40 of 0xaFca34c1d43D2222D42E750017C95BD35d6f22f8", True),
        ("nonce too low: next nonce 5, tx nonce 4", True),  # geth, anvil
        ("Transaction nonce is too distant from current sender nonce; NONCE_TOO_LOW", True),  # Besu
        ("insufficient funds for gas * price + value", False),
        ("gas 1 is below the intrinsic gas 21000", False),
        ("replacement transaction underpriced", False),
    ],
)
def test_what_counts_as_a_nonce_refusal(answer: str, refused: bool) -> None:
    assert nonce_refused(Web3RPCError(answer)) is refused

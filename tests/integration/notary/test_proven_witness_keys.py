"""The witness and log keys ``verify evidence`` counts, proven (``network.witnesskeys.prove_witnesses``): the
TrustDirectory's records and the registry's statuses read by ``eth_getProof`` against the state roots of headers the
light client accepted from the founding validators make the same selection as the ``eth_call`` reads the explorer
keeps using (``ChainWitnessKeys.at_block``), and a node that changes one storage value of a proof is refused.

The world of ``test_evidence.py`` (a node process, an in-process notary with witnesses), made for this module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from chain.backend import RpcBackend
from chain.contracts.privatecheck import TrustedHeads
from chain.errors import ChainError
from chain.ids import Role
from network.logsetup import witness_policy
from network.witnesskeys import ChainWitnessKeys, prove_witnesses
from notary.logkeys import LogKey
from tests.integration.notary.test_evidence import Ledger, ledger

__all__ = ["ledger"]  # the module's own world, made by test_evidence.py's fixture

pytestmark = pytest.mark.process


class Lying:
    """A node that answers ``eth_getProof`` with the first storage value it proves changed by one."""

    def __init__(self, backend: RpcBackend) -> None:
        self.backend = backend
        self.lied = 0

    def request(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        answers = list(self.backend.batch(calls))
        for (method, _), answer in zip(calls, answers, strict=True):
            if method == "eth_getProof" and answer["storageProof"] and not self.lied:
                entry = answer["storageProof"][0]
                entry["value"] = hex(int(entry["value"], 16) + 1)
                self.lied += 1
        return answers


def described(key: LogKey) -> tuple[object, ...]:
    return key.verifier.name, key.verifier.key_id, key.valid_from, key.valid_until, key.compromised, key.index


def founders(ledger: Ledger) -> set[bytes]:
    return {bytes.fromhex(m.identity.account[2:]) for m in ledger.description.members if Role.VALIDATOR in m.roles}


def test_proven_keys_are_the_keys_read_and_a_changed_proof_is_refused(ledger: Ledger) -> None:
    ledger.submit(3)
    ledger.anchor(ledger.publish())
    backend = RpcBackend(ledger.chain.url)
    read = ChainWitnessKeys(ledger.description, backend)
    head_number = read.head()
    block = ledger.service.store.anchors(state="confirmed")[-1]["block_number"]
    assert block is not None
    anchor = int(block)
    heads = TrustedHeads(backend, founders(ledger))
    at, head = heads.at(anchor), heads.at(head_number)
    policy, orgs = witness_policy(ledger.description), frozenset(m.org for m in ledger.description.members)
    proven = prove_witnesses(heads, ledger.description, at, head, True, policy, orgs)
    chosen = read.at_block(anchor, anchored=True)
    assert (proven.keys, proven.policy, proven.block, proven.anchored) == (
        chosen.keys, chosen.policy, chosen.block, chosen.anchored,
    )  # fmt: skip
    assert proven.log_keys is not None and chosen.log_keys is not None
    assert [described(k) for k in proven.log_keys.keys] == [described(k) for k in chosen.log_keys.keys]
    assert set(proven.keys) == {"alpha", "op", "reg"} and proven.proven_at == head_number
    assert f"the records proven in the state of block {head_number}" in proven.describe()

    lying = Lying(backend)
    heads = TrustedHeads(lying, founders(ledger))
    at, head = heads.at(anchor), heads.at(head_number)
    with pytest.raises(ChainError):
        prove_witnesses(heads, ledger.description, at, head, True, policy, orgs)
    assert lying.lied == 1


def test_prepare_reads_and_proves_the_latest_anchor_before_any_answer(ledger: Ledger) -> None:
    """``ChainWitnessKeys.prepare``, as the explorer starts: the keys valid at the latest anchor's block, the headers
    walked to the head and that block proven back from there, so that the first answer about a call of that
    checkpoint walks no header and finds its keys kept."""
    ledger.submit(3)
    ledger.anchor(ledger.publish())
    anchored = ledger.service.store.anchors(state="confirmed")[-1]
    block, size = anchored["block_number"], anchored["size"]
    assert block is not None
    backend = RpcBackend(ledger.chain.url)
    heads = TrustedHeads(backend, founders(ledger))
    keys = ChainWitnessKeys(ledger.description, backend, heads=heads)
    head_number = keys.head()
    assert keys.prepare() == block
    assert heads.newest is not None and heads.newest.number >= head_number
    checked = heads.headers_checked
    proven = keys.proven_block(heads, block)
    assert proven.problem is None and proven.number == block
    assert keys.proven_block(heads, block) is proven and heads.headers_checked == checked  # kept: nothing walked
    chosen = keys.for_checkpoint(size)
    assert (chosen.block, chosen.anchored) == (block, True)
    assert keys.for_checkpoint(size) is chosen  # kept under the block's hash

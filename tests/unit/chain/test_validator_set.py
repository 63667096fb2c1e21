"""The validator set from ConsortiumRegistry (``Node.validators_after``, ``chain.node.blocks``): each block names
the set the registry lists on the state it leaves, and that set decides the next block. Admission by governance
adds a validator, the regulator's freeze removes one, each from the block after; a proposal naming another set
is refused; ``verify_chain`` re-derives every set."""

from __future__ import annotations

from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.errors import ChainError
from chain.ids import Role, name_to_bytes32
from chain.node import blocks
from chain.node.blocks import BlockRefusedError
from chain.node.node import Genesis, Node
from chain.node.verify import BlockVerificationError, verify_chain
from chain.seal import ExtraData, add_seals, extra_data, sign_seal
from tests.support.clock import FIXED_NOW_S
from tests.unit.chain.test_node import CHAIN_ID, deploy_data, registry_call, sign


def address(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


class Chain:
    """One node whose blocks the test seals with the keys of whatever set decides them."""

    def __init__(self, contract_mode: bool = True) -> None:
        self.accounts = {name: Account.create() for name in ("op", "alpha", "beta", "reg")}
        op = self.accounts["op"]
        self.genesis = Genesis(CHAIN_ID, (op.address,), op.address, FIXED_NOW_S - 100, validator_contract=contract_mode)
        self.node = Node(AtomicDB(), self.genesis, bytes(op.key), clock=lambda: float(FIXED_NOW_S))
        self.nonces = dict.fromkeys(self.accounts, 0)
        self.registry = Web3.to_checksum_address(self.genesis.registry_address)
        self.send("op", None, deploy_data("ConsortiumRegistry", 1, 86400))  # one approval admits
        for org, roles in (("op", Role.MEMBER | Role.OPERATOR | Role.VALIDATOR), ("alpha", Role.MEMBER)):
            member = registry_call(
                "bootstrap_member", name_to_bytes32(org), org, int(roles), b"\1" * 32, [self.accounts[org].address]
            )
            self.send("op", self.registry, member)
        reg = registry_call(
            "bootstrap_member", name_to_bytes32("reg"), "reg", int(Role.REGULATOR), b"\3" * 32,
            [self.accounts["reg"].address],
        )  # fmt: skip
        self.send("op", self.registry, reg)
        self.send("op", self.registry, registry_call("finish_bootstrap"))
        self.seal()

    def send(self, who: str, to: str | None, data: str) -> None:
        self.node.submit(sign(self.accounts[who], self.nonces[who], to, data))
        self.nonces[who] += 1

    def validators(self) -> tuple[bytes, ...]:
        return extra_data(self.node.head()).validators

    def seal(self) -> Any:
        """Build a block and seal it with every key of the set that decides it."""
        block = blocks.build(self.node, address(self.accounts["op"]), 0)
        assert block is not None
        keys = [a.key for a in self.accounts.values() if address(a) in self.validators()]
        sealed = add_seals(block.header, [sign_seal(block.header, bytes(k)) for k in keys])
        return blocks.append(self.node, block.copy(header=sealed))


def test_admission_adds_a_validator_from_the_next_block_and_a_freeze_removes_it() -> None:
    chain = Chain()
    op, beta = address(chain.accounts["op"]), address(chain.accounts["beta"])
    assert chain.validators() == (op,)  # the registry names the genesis set: nothing changes
    admit = registry_call(
        "propose_admit", name_to_bytes32("beta"), "Beta", int(Role.MEMBER | Role.VALIDATOR), b"\4" * 32,
        [chain.accounts["beta"].address],
    )  # fmt: skip
    chain.send("op", chain.registry, admit)  # the proposer's approval reaches the threshold of 1: admitted
    admitted = chain.seal()
    assert extra_data(admitted.header).validators == tuple(sorted((op, beta)))
    # the next block needs a quorum of both: op's seal alone no longer makes it
    chain.send("op", chain.registry, registry_call("propose_threshold", 1))
    block = blocks.build(chain.node, op, 0)
    assert block is not None
    alone = block.copy(header=add_seals(block.header, [sign_seal(block.header, bytes(chain.accounts["op"].key))]))
    with pytest.raises(BlockRefusedError, match="seals"):
        blocks.append(chain.node, alone)
    with pytest.raises(ChainError, match=r"a quorum of 2 validator\(s\), this node's account among them"):
        chain.node.seal()  # the node that sealed alone says why it no longer can
    chain.seal()  # both seal
    chain.send("reg", chain.registry, registry_call("suspend", name_to_bytes32("beta")))
    frozen = chain.seal()
    assert extra_data(frozen.header).validators == (op,)  # sealed by both; it names op alone for the next
    chain.send("op", chain.registry, registry_call("propose_threshold", 1))
    after = chain.seal()
    assert len(extra_data(after.header).seals) == 1
    report = verify_chain(chain.node.db)
    assert report.head == after.number


def forged_block(chain: Chain) -> Any:
    """The next block as op builds it, but naming op and alpha (no validator) as the set after it."""
    op, alpha = address(chain.accounts["op"]), address(chain.accounts["alpha"])
    chain.send("op", chain.registry, registry_call("propose_threshold", 1))
    block = blocks.build(chain.node, op, 0)
    assert block is not None
    forged = ExtraData(b"\0" * 32, tuple(sorted((op, alpha))), round=0).encode()
    return block.copy(header=block.header.copy(extra_data=forged))


def test_a_proposal_naming_another_set_than_the_registry_is_refused() -> None:
    chain = Chain()
    proposal = forged_block(chain)
    with pytest.raises(BlockRefusedError, match="another validator set than ConsortiumRegistry"):
        blocks.execute(chain.node, proposal)


def test_a_chain_whose_stored_block_names_a_forged_set_fails_verification() -> None:
    chain = Chain()
    block = forged_block(chain)
    sealed = add_seals(block.header, [sign_seal(block.header, bytes(chain.accounts["op"].key))])
    chain.node.chain.chaindb.persist_block(block.copy(header=sealed))  # written past every check
    with pytest.raises(BlockVerificationError, match="another validator set than ConsortiumRegistry"):
        verify_chain(chain.node.db)


def test_without_validator_contract_the_genesis_set_stays() -> None:
    chain = Chain(contract_mode=False)
    op = address(chain.accounts["op"])
    admit = registry_call(
        "propose_admit", name_to_bytes32("beta"), "Beta", int(Role.MEMBER | Role.VALIDATOR), b"\4" * 32,
        [chain.accounts["beta"].address],
    )  # fmt: skip
    chain.send("op", chain.registry, admit)
    assert extra_data(chain.seal().header).validators == (op,)
    assert verify_chain(chain.node.db).head == chain.node.head().block_number

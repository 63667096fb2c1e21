"""CPU per transaction of executing one block, as every node of the network executes it, in one process.

``python -m bench.exec_cpu`` deploys the consortium's contracts on the network of ``bench.qbft_cpu`` (four
validators and a follower in one process, on LMDB stores), admits pre-signed contract transactions of the
benchmark's mix (a third each: register an asset, create a grant, anchor a checkpoint) to one validator, then
executes blocks of them on its head again and again, as a validator checks a proposal (``chain.node.blocks``'s
execution, the trie nodes held as a proposal's are, then the validator set read from ConsortiumRegistry on the
state the block leaves), and prints the milliseconds of CPU (``time.process_time``) per transaction for each
block size: the least and the median of ``--runs`` runs, sizes taken in turn. Every run starts from the head's
state with cold caches, as each new block does on a node.

Before the runs, each block is executed once more by ``chain.node.vm.ReferenceVM`` (py-evm's own state, trie and
interpreter code, as ``consortium chain verify`` runs it) and the two blocks must be the same bytes (header:
state, transaction and receipt roots, gas used, bloom), every transaction must succeed, and the receipts must be
the same; ``--profile FILE`` writes a cProfile (CPU time) of the runs. ``--baseline`` alternates each run with
the chain as it executed before the cuts of ``docs/chain-execution.md``, ``--without CUT`` with the node's chain
less that one cut (``receipts``, ``fees``, ``proxies``, ``code``, ``slots``, ``root``), in the same
process. ``docs/chain-execution.md`` has the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any, cast

import rlp
from cached_property import cached_property  # type: ignore[import-untyped]
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.db.account import AccountDB
from eth.db.storage import StorageLookup
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.spurious_dragon.state import SpuriousDragonTransactionExecutor

from bench.qbft_cpu import Meter, deployed
from chain.node import blocks
from chain.node.evm import _GAS, InlineCodeStream, InlineComputation
from chain.node.node import Node
from chain.node.precompiles import ConsortiumComputation
from chain.node.vm import (
    ConsortiumState,
    ConsortiumTransactionExecutor,
    ConsortiumVM,
    _AccountDB,
    _BatchedStorageDB,
    _BatchedStorageLookup,
    _encode,
    chain_class,
)
from chain.seal import ExtraData, extra_data


class _BaselineStream(InlineCodeStream):
    """The inline opcodes as they were before CALLDATACOPY, CODECOPY and MCOPY ran inline."""

    gas_table = [-1 if opcode in (0x37, 0x39, 0x5E) else gas for opcode, gas in enumerate(_GAS)]  # noqa: RUF012


class _BaselineComputation(InlineComputation):
    opcodes = ConsortiumComputation.opcodes  # py-evm's SLOAD and SSTORE
    stream_class = _BaselineStream


class _PyEvmSlotsLookup(_BatchedStorageLookup):
    """The node's storage lookup with py-evm's key hashing (the key padded through a curried function) and read
    (through a new ``BatchTrie`` object at each read)."""

    __getitem__ = StorageLookup.__getitem__
    _decode_key = StorageLookup._decode_key


class _PyEvmSlotsStorageDB(_BatchedStorageDB):
    lookup_class = _PyEvmSlotsLookup


class _BaselineAccountDB(_AccountDB):
    __init__ = AccountDB.__init__  # py-evm's account trie
    _set_account = AccountDB._set_account  # py-evm's: the account encoded at every set
    get_code = AccountDB.get_code  # py-evm's: the code read through the journal at every message
    storage_class = _PyEvmSlotsStorageDB  # py-evm's slot reads
    state_root = AccountDB.state_root  # py-evm's: through the hashing wrapper's __getattr__


class _BaselineState(ConsortiumState):
    account_db_class = _BaselineAccountDB
    computation_class = _BaselineComputation
    transaction_executor_class = PragueTransactionExecutor  # type: ignore[assignment]  # py-evm's message building, with its debug line


class _PyEvmReceiptsVM(ConsortiumVM):
    """The node's VM with py-evm's receipts: the bloom made, checked and added through eth_bloom's filters, the
    receipt encoded through rlp's sedes."""

    make_receipt = vars(ByzantiumVM)["make_receipt"]
    validate_receipt = vars(ByzantiumVM)["validate_receipt"]
    add_receipt_to_header = ByzantiumVM.add_receipt_to_header
    encode_receipt = staticmethod(_encode)  # type: ignore[assignment]


class _PyEvmFeesExecutor(ConsortiumTransactionExecutor):
    """The node's executor with py-evm's refunds, fees and EIP-161 clearing, debug lines formatted."""

    finalize_computation = SpuriousDragonTransactionExecutor.finalize_computation


class _PyEvmProxiesComputation(InlineComputation):
    """The node's computation with py-evm's cached properties for its stack proxies (their coroutine check
    included)."""


for _klass in reversed(InlineComputation.__mro__[1:]):
    for _name, _attr in vars(_klass).items():
        if isinstance(_attr, cached_property):
            setattr(_PyEvmProxiesComputation, _name, _attr)
            setattr(_BaselineComputation, _name, _attr)


class _PyEvmCodeAccountDB(_AccountDB):
    """The node's account database with py-evm's code read: through the journal, the batch and the store at every
    message."""

    get_code = AccountDB.get_code


class _PyEvmSlotsAccountDB(_AccountDB):
    storage_class = _PyEvmSlotsStorageDB


class _PyEvmRootAccountDB(_AccountDB):
    """The node's account database with py-evm's state root read, through the hashing wrapper's ``__getattr__``."""

    state_root = AccountDB.state_root


def _node_vm_but(name: str, **state: Any) -> type[ConsortiumVM]:
    """The node's VM whose state class sets ``state``'s attributes: py-evm's piece in place of one cut."""
    state_class = type(f"_PyEvm{name}State", (ConsortiumState,), state)
    return cast("type[ConsortiumVM]", type(f"_PyEvm{name}VM", (ConsortiumVM,), {"_state_class": state_class}))


class _BaselineVM(_PyEvmReceiptsVM):
    _state_class = _BaselineState


#: The node's VM less one cut, by name (``--without``): what each cut is measured against, in one process.
WITHOUT: dict[str, type[ConsortiumVM]] = {
    "receipts": _PyEvmReceiptsVM,
    "fees": _node_vm_but("Fees", transaction_executor_class=_PyEvmFeesExecutor),
    "proxies": _node_vm_but("Proxies", computation_class=_PyEvmProxiesComputation),
    "code": _node_vm_but("Code", account_db_class=_PyEvmCodeAccountDB),
    "slots": _node_vm_but("Slots", account_db_class=_PyEvmSlotsAccountDB),
    "root": _node_vm_but("Root", account_db_class=_PyEvmRootAccountDB),
}


def baseline_chain(chain_id: int, db: Any, vm: type[ConsortiumVM] = _BaselineVM) -> Any:
    """The node's chain as it executed before the cuts this harness measured (``docs/chain-execution.md``,
    "CPU per transaction"), or with ``vm``, for alternating with the node's own in one process."""
    return type("BaselineChain", (chain_class(chain_id),), {"vm_configuration": ((0, vm),)})(db)


def _header(node: Node, parent: BlockHeaderAPI) -> BlockHeaderAPI:
    return node.chain.create_header_from_parent(
        parent,
        timestamp=parent.timestamp + 1,
        extra_data=ExtraData(b"\0" * 32, extra_data(parent).validators, round=0).encode(),
        coinbase=parent.coinbase,
    )


def execute(
    node: Node,
    chain: Any,
    parent: BlockHeaderAPI,
    transactions: list[SignedTransactionAPI],
    held: dict[bytes, bytes | None] | None = None,
) -> BlockAPI:
    """The block of ``transactions`` on ``parent`` executed with ``chain``'s VM, and the validator set read on the
    state it leaves, as a validator checks a proposal; its trie nodes held (in ``held``), never stored."""
    held = {} if held is None else held
    with blocks._holding(node, held):
        block = blocks._run(SimpleNamespace(chain=chain), parent, _header(node, parent), transactions,  # type: ignore[arg-type]
                            skip_invalid=False)  # fmt: skip
        node.validators_after(block.header, extra_data(parent).validators)
    return block


def check(node: Node, chain: Any, parent: BlockHeaderAPI, transactions: list[SignedTransactionAPI]) -> None:
    """``chain``'s block of ``transactions`` is the reference VM's, byte for byte, receipts included, and every
    transaction succeeded."""
    reference = chain_class(node.chain_id, reference=True)(node.db)
    held: dict[bytes, bytes | None] = {}
    ours = execute(node, chain, parent, transactions, held)
    theirs = execute(node, reference, parent, transactions, held)
    if rlp.encode(ours) != rlp.encode(theirs):
        raise RuntimeError(f"the node's block differs from the reference VM's: {ours.header} != {theirs.header}")
    if len(ours.transactions) != len(transactions):
        raise RuntimeError(f"{len(ours.transactions)} of {len(transactions)} transactions in the block")
    with blocks._holding(node, held):
        mine, reference_receipts = ours.get_receipts(node.chain.chaindb), theirs.get_receipts(reference.chaindb)
    if [rlp.encode(r) for r in mine] != [rlp.encode(r) for r in reference_receipts]:
        raise RuntimeError("the receipts differ from the reference VM's")
    failed = sum(1 for r in mine if r.state_root != b"\x01")
    if failed:
        raise RuntimeError(f"{failed} transactions failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100], help="transactions per block")
    parser.add_argument("--runs", type=int, default=10, help="runs per size")
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the runs to this file")
    parser.add_argument(
        "--baseline", action="store_true", help="alternate each run with one on the baseline chain (before the cuts)"
    )
    parser.add_argument(
        "--without",
        choices=sorted(WITHOUT),
        action="append",
        default=[],
        help="alternate each run with one on the node's chain less this cut (docs/chain-execution.md)",
    )
    args = parser.parse_args(argv)

    network, raws = deployed(Meter(), False, max(args.sizes))
    try:
        network.run_until(lambda: len(set(network.heads())) == 1 and not network.outbox)
        node = network.nodes[1]
        for raw in raws:
            node.submit(bytes.fromhex(raw[2:]), gossip=False)
        pending = list(node.mempool.pending.values())
        parent = node.head()
        chains = {"node": node.chain}
        if args.baseline:
            chains["baseline"] = baseline_chain(node.chain_id, node.db)
        for cut in args.without:
            chains[f"without {cut}"] = baseline_chain(node.chain_id, node.db, WITHOUT[cut])
        for chain in chains.values():
            for size in args.sizes:
                check(node, chain, parent, pending[:size])
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu: dict[tuple[str, int], list[float]] = {(name, size): [] for name in chains for size in args.sizes}
        for _ in range(args.runs):
            for size in args.sizes:
                for name, chain in chains.items():
                    if profile is not None:
                        profile.enable()
                    started = time.process_time()
                    execute(node, chain, parent, pending[:size])
                    cpu[name, size].append(time.process_time() - started)
                    if profile is not None:
                        profile.disable()
        if profile is not None:
            profile.dump_stats(args.profile)
    finally:
        network.close()
    print(f"ms of CPU per transaction, executing a block as a validator checks it ({args.runs} runs per size)")
    for (name, size), runs in cpu.items():
        least, median = 1000 * min(runs) / size, 1000 * statistics.median(runs) / size
        print(f"{name:>16}, blocks of {size:>4}: least {least:.3f}, median {median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

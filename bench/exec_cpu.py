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
the same; ``--profile FILE`` writes a cProfile (CPU time) of the runs. ``docs/chain-execution.md`` has the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI

from bench.qbft_cpu import Meter, deployed
from chain.node import blocks
from chain.node.node import Node
from chain.node.vm import chain_class
from chain.seal import ExtraData, extra_data


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


def check(node: Node, parent: BlockHeaderAPI, transactions: list[SignedTransactionAPI]) -> None:
    """The node's block of ``transactions`` is the reference VM's, byte for byte, receipts included, and every
    transaction succeeded."""
    reference = chain_class(node.chain_id, reference=True)(node.db)
    held: dict[bytes, bytes | None] = {}
    ours, theirs = (
        execute(node, node.chain, parent, transactions, held),
        execute(node, reference, parent, transactions, held),
    )
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
    args = parser.parse_args(argv)

    network, raws = deployed(Meter(), False, max(args.sizes))
    try:
        network.run_until(lambda: len(set(network.heads())) == 1 and not network.outbox)
        node = network.nodes[1]
        for raw in raws:
            node.submit(bytes.fromhex(raw[2:]), gossip=False)
        pending = list(node.mempool.pending.values())
        parent = node.head()
        for size in args.sizes:
            check(node, parent, pending[:size])
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu: dict[int, list[float]] = {size: [] for size in args.sizes}
        for _ in range(args.runs):
            for size in args.sizes:
                if profile is not None:
                    profile.enable()
                started = time.process_time()
                execute(node, node.chain, parent, pending[:size])
                cpu[size].append(time.process_time() - started)
                if profile is not None:
                    profile.disable()
        if profile is not None:
            profile.dump_stats(args.profile)
    finally:
        network.close()
    print(f"ms of CPU per transaction, executing a block as a validator checks it ({args.runs} runs per size)")
    for size, runs in cpu.items():
        least, median = 1000 * min(runs) / size, 1000 * statistics.median(runs) / size
        print(f"blocks of {size:>4}: least {least:.3f}, median {median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

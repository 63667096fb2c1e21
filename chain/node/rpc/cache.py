"""What the JSON-RPC server remembers between requests: recovered senders, decoded receipts, call answers.

Each is an LRU map (``chain.node.node.Lru``), safe to share between the server's request threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI

from chain.node.node import ExecutionRevertedError, Lru, Node
from chain.node.rpc.codec import BlockReceipts, CallArgs

#: Transactions whose recovered sender is remembered.
SENDER_CACHE_ENTRIES = 65_536
#: Blocks whose decoded receipts are remembered.
RECEIPT_CACHE_BLOCKS = 256
#: eth_call / eth_estimateGas results remembered, and the largest input and output worth remembering.
CALL_CACHE_ENTRIES = 4096
CALL_CACHE_MAX_BYTES = 16 * 1024


class SenderCache:
    """Recovered senders by transaction hash: signature recovery is slow."""

    def __init__(self, capacity: int = SENDER_CACHE_ENTRIES) -> None:
        self._senders: Lru[bytes, bytes] = Lru(capacity)

    def sender(self, tx: SignedTransactionAPI) -> bytes:
        sender = self._senders.get(tx.hash)
        if sender is None:
            sender = bytes(tx.sender)
            self._senders.put(tx.hash, sender)
        return sender


class ReceiptCache:
    """Decoded receipts by block hash: reading them decodes the block's receipt trie."""

    def __init__(self, node: Node, capacity: int = RECEIPT_CACHE_BLOCKS) -> None:
        self._node = node
        self._receipts: Lru[bytes, BlockReceipts] = Lru(capacity)

    def receipts(self, block: BlockAPI) -> BlockReceipts:
        receipts = self._receipts.get(block.hash)
        if receipts is None:
            with self._node.lock:
                receipts = BlockReceipts.of(list(block.get_receipts(self._node.chain.chaindb)))
            self._receipts.put(block.hash, receipts)
        return receipts


@dataclass(frozen=True, slots=True)
class _Reverted:
    """A cached revert, raised again on a cache hit."""

    data: bytes
    message: str


class CallCache:
    """Answers of ``Node.call`` and ``Node.estimate_gas``, kept for the node clock's second they were made in.

    Both execute in a child of ``header`` stamped with the node clock's second, so their answer is a function of
    (header, that second, inputs): repeating it within the second is exact, and dashboards that poll the same
    views get the answer without running py-evm again.
    """

    def __init__(self, node: Node, capacity: int = CALL_CACHE_ENTRIES) -> None:
        self._node = node
        self._calls: Lru[tuple[object, ...], bytes | int | _Reverted] = Lru(capacity)

    def run(self, kind: str, header: BlockHeaderAPI, args: CallArgs, gas: int | None) -> bytes | int:
        """Run a call (``kind`` "call") or an estimate ("estimate"), or answer it from the cache."""
        node = self._node
        second = int(node.clock())
        key = (kind, header.hash, second, args.sender, args.to, args.data, args.value, gas)
        cached = self._calls.get(key)
        if isinstance(cached, _Reverted):
            raise ExecutionRevertedError(cached.data, cached.message)
        if cached is not None:
            return cached
        answer: bytes | int | _Reverted
        try:
            if kind == "call":
                answer = node.call(args.sender, args.to, args.data, args.value, gas, header)
            else:
                answer = node.estimate_gas(args.sender, args.to, args.data, args.value, header)
        except ExecutionRevertedError as exc:
            answer = _Reverted(exc.data, str(exc))
        cacheable = len(args.data) <= CALL_CACHE_MAX_BYTES and (
            not isinstance(answer, bytes | _Reverted)
            or len(answer if isinstance(answer, bytes) else answer.data) <= CALL_CACHE_MAX_BYTES
        )
        if cacheable and int(node.clock()) == second:
            self._calls.put(key, answer)
        if isinstance(answer, _Reverted):
            raise ExecutionRevertedError(answer.data, answer.message)
        return answer

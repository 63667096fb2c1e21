"""The node's transactions waiting for a block: the pending ones, and those held for a nonce still to come.

A transaction a client submits must carry its sender's next nonce. One a peer passes on may arrive ahead of the
block that holds its predecessor (the peer appended that block first, and its client sent the next transaction
at once): it is *held*, bounded, and enters the pending set when a block brings its sender's nonce up to it, so
the next proposer has it when its turn comes instead of the round timing out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI

#: Transactions held for a later nonce, at most; beyond this a peer's transaction ahead of its turn is refused.
MAX_HELD = 4096
#: How far ahead of its sender's next nonce a held transaction may be.
MAX_AHEAD = 64


@dataclass(slots=True)
class Mempool:
    pending: dict[bytes, SignedTransactionAPI] = field(default_factory=dict)
    next_nonce: dict[bytes, int] = field(default_factory=dict)
    held: dict[bytes, SignedTransactionAPI] = field(default_factory=dict)

    def add(self, tx: SignedTransactionAPI) -> None:
        self.pending[tx.hash] = tx
        self.next_nonce[tx.sender] = tx.nonce + 1

    def hold(self, tx: SignedTransactionAPI, expected: int) -> bool:
        """Keep ``tx`` until its sender's nonce (now ``expected``) reaches it; False when the held set is full
        or the nonce is over :data:`MAX_AHEAD` ahead."""
        if len(self.held) >= MAX_HELD or tx.nonce - expected > MAX_AHEAD:
            return False
        self.held[tx.hash] = tx
        return True

    def known(self, tx_hash: bytes) -> bool:
        return tx_hash in self.pending or tx_hash in self.held

    def remove(self, hashes: Iterable[bytes]) -> None:
        """Forget transactions that a block included; pending nonces then follow from what is still pending."""
        for tx_hash in hashes:
            self.pending.pop(tx_hash, None)
            self.held.pop(tx_hash, None)
        nxt: dict[bytes, int] = {}
        for tx in self.pending.values():
            nxt[tx.sender] = max(nxt.get(tx.sender, 0), tx.nonce + 1)
        self.next_nonce = nxt

    def promote(self, nonce: Callable[[bytes], int]) -> int:
        """Move each held transaction whose nonce is now its sender's next (``nonce(sender)``, pending ones
        counted) to the pending set, in nonce order; drop those a block made stale. Returns how many moved."""
        moved = 0
        for tx in sorted(self.held.values(), key=lambda t: (t.sender, t.nonce)):
            expected = self.next_nonce.get(tx.sender)
            if expected is None:
                expected = nonce(tx.sender)
            if tx.nonce < expected:
                del self.held[tx.hash]
            elif tx.nonce == expected:
                del self.held[tx.hash]
                self.add(tx)
                moved += 1
        return moved

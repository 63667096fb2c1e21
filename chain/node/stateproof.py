"""Merkle proofs of an account and its storage slots against a block's state root: what ``eth_getProof``
(EIP-1186) answers.

The state is Ethereum's (Yellow Paper, section 4.1 and appendix D): the state trie maps keccak-256 of an address
to the RLP of ``[nonce, balance, storageRoot, codeHash]``, and an account's storage trie maps keccak-256 of a
slot's 32 bytes to the RLP of its value. A proof is the path of trie nodes from a root to a key
(``chain.node.trie.prove``); whoever holds the block header checks it with nothing but keccak-256 and RLP
(``chain.stateproof`` does, as does any EIP-1186 verifier).

The values reported are read from the proven leaves themselves, so a proof and its values cannot disagree. Trie
nodes are content-addressed and the node never deletes one, so every block's state stays provable; a node
missing from the store raises ``StateUnavailableError`` naming the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth.rlp.accounts import Account
from eth_utils.crypto import keccak
from rlp.sedes import big_endian_int
from trie.exceptions import MissingTrieNode

from chain.errors import ChainError
from chain.node import trie


class StateUnavailableError(ChainError):
    """The store lacks a trie node of the state asked for, so no proof can be made."""


@dataclass(frozen=True, slots=True)
class StorageProof:
    """One storage slot's value (0 when the slot was never written or was cleared) and its proof from the
    account's storage root; an empty proof when the storage trie is empty."""

    slot: int
    value: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AccountProof:
    """An account as the state root holds it, with its proof, and its slots' proofs. For an account that is not
    in the state (``exists`` false), nonce and balance are 0 and ``storage_root`` and ``code_hash`` are 32 zero
    bytes, as geth reports them since 1.13.4; the proof then shows the account's absence."""

    address: bytes
    exists: bool
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    proof: tuple[bytes, ...]
    storage: tuple[StorageProof, ...]


ZERO_HASH = b"\0" * 32


def prove(db: Any, state_root: bytes, block_number: int, address: bytes, slots: Sequence[int]) -> AccountProof:
    """The proof of ``address`` and of each of ``slots`` (in the order given) in the state of ``state_root``,
    block ``block_number``'s, whose trie nodes are in ``db``."""
    try:
        account_path = tuple(trie.prove(db, state_root, keccak(address)))
        encoded = trie.get(db, state_root, keccak(address))
        if not encoded:
            return AccountProof(
                address,
                False,
                0,
                0,
                ZERO_HASH,
                ZERO_HASH,
                account_path,
                tuple(StorageProof(slot, 0, ()) for slot in slots),
            )
        account = rlp.decode(encoded, sedes=Account)
        storage_root = bytes(account.storage_root)
        storage = []
        for slot in slots:
            key = keccak(slot.to_bytes(32, "big"))
            value = trie.get(db, storage_root, key)
            storage.append(
                StorageProof(
                    slot,
                    rlp.decode(value, sedes=big_endian_int) if value else 0,
                    tuple(trie.prove(db, storage_root, key)),
                )
            )
    except MissingTrieNode as exc:
        raise StateUnavailableError(
            f"the node does not hold the state of block {block_number} (state root 0x{state_root.hex()}): "
            f"trie node 0x{bytes(exc.missing_node_hash).hex()} is missing from its store"
        ) from exc
    return AccountProof(
        address,
        True,
        int(account.nonce),
        int(account.balance),
        storage_root,
        bytes(account.code_hash),
        account_path,
        tuple(storage),
    )


__all__ = ["ZERO_HASH", "AccountProof", "StateUnavailableError", "StorageProof", "prove"]

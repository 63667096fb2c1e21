"""The consortium's EVM rules: Prague execution on a free-gas, fixed-gas-limit chain with sealed headers.

- Base fee is always 0 and transactions may pay 0: member accounts need no balance.
- The block gas limit is fixed at genesis and never drifts.
- The extra data holds Besu's QBFT extra data with the validators' commit seals (``chain.seal``), larger than
  Ethereum's 32 bytes, and a block's hash is Besu's QBFT block hash: keccak-256 of the header with the round
  and the seals left out of its extra data (:class:`ConsortiumHeader`), so sealing does not change it.
- One precompile beyond Ethereum's: SM2 signature verification at ``0x…100a`` (``chain.node.precompiles``).

Otherwise the rules are Ethereum's; only the bookkeeping is faster: a block's storage writes and its transaction and
receipt tries are applied to their tries in batches (``chain.node.trie``), with the same roots py-trie gives, and
the commonest opcodes run inline in the interpreter's loop (``chain.node.evm``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, cast

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import (
    AccountStorageDatabaseAPI,
    AtomicDatabaseAPI,
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    WithdrawalAPI,
)
from eth.chains.base import Chain
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS, EMPTY_SHA3
from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.batch import BatchDB
from eth.db.cache import CacheDB
from eth.db.chain import ChainDB
from eth.db.hash_trie import HashTrie
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth.db.witness import MetaWitness
from eth.exceptions import HeaderNotFound
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.forks.berlin.receipts import TypedReceipt
from eth.vm.forks.berlin.transactions import AccessListTransaction, TypedTransaction
from eth.vm.forks.byzantium import EIP658_STATUS_CODES, ByzantiumVM
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.frontier.transactions import FrontierTransaction
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.forks.prague.transactions import SetCodeTransaction
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth.vm.forks.spurious_dragon._utils import collect_touched_accounts
from eth.vm.interrupt import MissingStorageTrieNode
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from eth_utils.exceptions import ValidationError
from eth_utils.hexadecimal import encode_hex
from rlp.sedes import CountableList
from rlp.sedes.serializable import BaseSerializable, make_immutable
from trie.exceptions import MissingTrieNode

from chain.node import trie
from chain.node.evm import InlineComputation
from chain.node.precompiles import ConsortiumComputation
from chain.seal import MAX_VALIDATORS, SEAL_BYTES, VANITY_BYTES, block_hash


def _shallow_copy(item: Any, changes: dict[str, Any]) -> Any:
    """``item.copy(**changes)`` for an rlp object whose constructor only stores its fields (our header, py-evm's
    account), less rlp's deep copy of every field not changed and the constructor's argument handling: an rlp
    object's fields are immutable (ints, bytes, tuples, rlp objects: the constructor makes every list a tuple, as
    this does with the changed values), so the copy shares them. py-evm copies the header at every transaction
    (its gas used and bloom) and an account at every balance or nonce change: 139 µs a header copy, 27 µs an
    account's, against 10 and 2.4 so."""
    cls = type(item)
    meta = cls._meta
    unknown = changes.keys() - set(meta.field_names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    copied = object.__new__(cls)
    for name, attr in zip(meta.field_names, meta.field_attrs, strict=True):
        setattr(copied, attr, make_immutable(changes[name]) if name in changes else getattr(item, attr))
    return copied


class ConsortiumHeader(PragueBlockHeader):
    """A Prague header whose hash is Besu's QBFT block hash (``chain.seal.block_hash``): the extra data's round
    and seals are left out, so a block keeps its hash when it is sealed, or proposed again in a later round."""

    @property
    def hash(self) -> Hash32:
        if self._hash is None:
            self._hash = block_hash(rlp.decode(rlp.encode(self)))
        return Hash32(self._hash)

    def copy(self, *args: Any, **kwargs: Any) -> ConsortiumHeader:
        if args:
            return cast(ConsortiumHeader, BaseSerializable.copy(self, *args, **kwargs))
        return cast(ConsortiumHeader, _shallow_copy(self, kwargs))


class ConsortiumBlock(PragueBlock):
    fields = [  # noqa: RUF012 - rlp.Serializable reads this class attribute
        ("header", ConsortiumHeader),
        ("transactions", CountableList(PragueBlock.transaction_builder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]

    def copy(self, *args: Any, **kwargs: Any) -> ConsortiumBlock:
        """rlp's copy, sharing the fields not changed (the header, every transaction) instead of deep-copying
        them; through the constructor, which gives a block its own empty ``block_requests`` as rlp's copy does."""
        if args:
            return cast(ConsortiumBlock, BaseSerializable.copy(self, *args, **kwargs))
        return type(self)(**{**self.as_dict(), **kwargs})


class ConsortiumChainDB(ChainDB):
    """py-evm's chain database, decoding stored headers as :class:`ConsortiumHeader`.

    py-evm decodes a header read by hash with one module-wide codec (``eth.vm.header.HeaderSedes``) that picks
    a class by field count, since the header's VM is not known before its number is; every lookup by hash goes
    through this one static method, so overriding it keeps the codec, and the process's other chains, as they
    are."""

    @staticmethod
    def _get_block_header_by_hash(db: Any, block_hash: Hash32) -> BlockHeaderAPI:
        try:
            header_rlp = db[block_hash]
        except KeyError:
            raise HeaderNotFound(f"No header with hash {encode_hex(block_hash)} found") from None
        return _decode_header(bytes(header_rlp))


@lru_cache(256)
def _decode_header(header_rlp: bytes) -> ConsortiumHeader:
    header: ConsortiumHeader = rlp.decode(header_rlp, sedes=ConsortiumHeader)
    return header


class _BatchedStorageLookup(StorageLookup):
    """py-evm's storage lookup over a ``BatchTrie``: the slots written in a block reach the trie together when the
    storage root is made, instead of one trie update per slot."""

    def _get_write_trie(self) -> Any:
        if self._trie_nodes_batch is None:
            self._trie_nodes_batch = BatchDB(self._db, read_through_deletes=True)
        if self._write_trie is None:
            self._write_trie = trie.BatchTrie(self._trie_nodes_batch, self._starting_root_hash)
        return self._write_trie

    def _get_read_trie(self) -> Any:
        if self._write_trie is not None:
            return self._write_trie
        return trie.BatchTrie(self._db, self._starting_root_hash)

    def _decode_key(self, key: bytes) -> bytes:
        """py-evm's (the slot's key padded to 32 bytes, hashed) with the padding by ``bytes.rjust`` itself rather
        than through py-evm's curried ``pad32`` (which calls the same), about a microsecond less for each slot
        read from the trie and each slot written to it."""
        return keccak(key.rjust(32, b"\0"))

    def __getitem__(self, key: bytes) -> bytes:
        """py-evm's (``StorageLookup.__getitem__``: the key hashed, looked up in the write trie if there is one,
        else in the trie at the starting root, a missing node raised as py-evm raises it), with the lookup at the
        starting root made by :func:`chain.node.trie.get` itself rather than through a ``BatchTrie`` object made
        for each read. A slot read the first time in a block comes here, through the two journals and the cache
        (``tests/unit/chain/test_slot_reads.py`` compares both with py-evm's, read by read)."""
        hashed_slot = self._decode_key(key)
        try:
            if self._write_trie is not None:
                return self._write_trie[hashed_slot]  # type: ignore[no-any-return]
            return trie.get(self._db, self._starting_root_hash, hashed_slot)
        except MissingTrieNode as exc:
            raise MissingStorageTrieNode(
                Hash32(exc.missing_node_hash),
                self._starting_root_hash,
                Hash32(exc.requested_key),
                exc.prefix,
                self._address,
            ) from exc

    def commit_to(self, db: Any) -> None:
        if self._write_trie is not None:
            self._write_trie.root_hash  # noqa: B018 - applies the pending writes before the batch is committed
        super().commit_to(db)


class _BatchedStorageDB(AccountStorageDB):
    lookup_class = _BatchedStorageLookup

    def __init__(self, db: AtomicDatabaseAPI, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        # The same pipeline as py-evm's (lookup, cache, locked changes, journal), over the batched lookup.
        self._storage_lookup = self.lookup_class(db, storage_root, address)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)


class _AccountTrie(trie.BatchTrie):
    """The account trie as py-evm's account database uses it (``HashTrie`` over it: keys are hashed addresses),
    batched as the storage tries are: accounts read through the decoded-node cache, and a block's account
    changes applied in one pass when the state root is made, with py-trie's roots."""

    @property
    def root_hash(self) -> bytes:
        return trie.BatchTrie.root_hash.fget(self)  # type: ignore[attr-defined,no-any-return]

    @root_hash.setter
    def root_hash(self, value: bytes) -> None:
        """py-trie's setter: writes before it are in the trie (applied first), then the trie is the one at
        ``value`` (a snapshot's root, when py-evm reverts to it)."""
        if self.root_hash != value:
            self._root = value

    @contextlib.contextmanager
    def squash_changes(self) -> Iterator[_AccountTrie]:
        """py-trie's squashed batch: the writes are held until the root is asked for anyway; a failure inside
        leaves the trie as it was."""
        before = dict(self._pending)
        try:
            yield self
        except BaseException:
            self._pending = before
            raise


class _AccountDB(AccountDB):
    storage_class = _BatchedStorageDB

    def __init__(self, db: AtomicDatabaseAPI, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        """py-evm's pipeline (``AccountDB.__init__``), with the account trie batched (:class:`_AccountTrie`)."""
        super().__init__(db, state_root)
        self._account_trie = _AccountTrie(self._batchtrie, state_root)
        self._trie = HashTrie(self._account_trie)  # type: ignore[arg-type]
        self._trie_logger = KeyAccessLoggerDB(self._trie, log_missing_keys=False)
        self._trie_cache = CacheDB(self._trie_logger)
        self._journaltrie = JournalDB(self._trie_cache)
        self._codes: dict[bytes, bytes] = {}

    @property
    def state_root(self) -> Hash32:
        """py-evm's (``self._trie.root_hash``), read from the account trie itself: py-evm's read goes through the
        hashing wrapper's ``__getattr__``, which Python calls only after the ordinary lookup has failed (an
        ``AttributeError`` raised and caught), and each message's snapshot asks for the root."""
        return Hash32(self._account_trie.root_hash)

    @state_root.setter
    def state_root(self, value: Hash32) -> None:
        AccountDB.state_root.fset(self, value)  # type: ignore[attr-defined]

    def get_code(self, address: Address) -> bytes:
        """py-evm's (``AccountDB.get_code``), with each code kept by its hash for the state's life (a block's
        execution) once read: py-evm reads a contract's code through the journal, the batch and the store at every
        message to it (each transaction, each call between contracts), and hands the interpreter a new bytes
        object each time, whose jump destinations are then looked up by hashing the whole code again. A code kept
        is served only once its hash is among the keys read from the store, where py-evm's read would find it and
        add nothing to the keys read; it is the code py-evm would read (content-addressed: py-evm stores a code
        only under its Keccak-256, and the store loses no key while a state is executed), and the code is marked
        accessed as py-evm marks it (``tests/unit/chain/test_code_reads.py`` compares them read by read)."""
        validate_canonical_address(address, title="Storage Address")
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        code = self._codes.get(code_hash)
        if code is not None and code_hash in self._get_accessed_node_hashes():
            self._accessed_bytecodes.add(address)
            return code
        code = AccountDB.get_code(self, address)
        self._codes[code_hash] = code
        return code

    def set_balance(self, address: Address, balance: int) -> None:
        """py-evm's, with the account copied shallow (:func:`_shallow_copy`)."""
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        self._set_account(address, _shallow_copy(self._get_account(address), {"balance": balance}))

    def set_nonce(self, address: Address, nonce: int) -> None:
        """py-evm's, with the account copied shallow (:func:`_shallow_copy`)."""
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        self._set_account(address, _shallow_copy(self._get_account(address), {"nonce": nonce}))

    def _set_account(self, address: Address, account: Any) -> None:
        """py-evm's, with the account's encoding kept on the account (rlp's own cache, which py-evm's explicit
        ``sedes=Account`` bypasses; the sedes inferred is the same class, so the bytes are): an account is set
        unchanged at every touch (each message to it, each call between contracts) and encoded again each time."""
        self._account_cache[address] = account
        self._journaltrie[address] = rlp.encode(account)

    def _get_accessed_node_hashes(self) -> Any:
        """py-evm answers with a copy of every key read so far, and asks at every code read (each transaction,
        each call between contracts) only to test one hash against it: the copies grew with the block, quadratic
        in its keys. The live set answers the same membership test."""
        return self._raw_store_db._keys_read

    def _get_meta_witness(self) -> MetaWitness:
        return MetaWitness(set(self._raw_store_db._keys_read), self._get_access_list())  # type: ignore[arg-type]

    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        if address not in self._account_stores:
            self._account_stores[address] = self.storage_class(
                self._raw_store_db, self._get_storage_root(address), address
            )
        return self._account_stores[address]


class _FeesExecutor(PragueTransactionExecutor):
    def finalize_computation(self, transaction: SignedTransactionAPI, computation: ComputationAPI) -> ComputationAPI:
        """py-evm's refunds and fees (``FrontierTransactionExecutor.finalize_computation``), less the debug lines it
        formats whether or not they are logged: the fee paid to the coinbase at every transaction (the coinbase's
        address in hex), a refund to the sender when there is one, each account deleted. ``ConsortiumTransaction
        Executor.finalize_computation`` calls it where py-evm's EIP-161 clearing calls Frontier's;
        ``tests/unit/chain/test_vm_copies.py`` checks both against py-evm's, statement by statement."""
        transaction_context = self.vm_state.get_transaction_context(transaction)

        gas_remaining = computation.get_gas_remaining()
        gas_used = transaction.gas - gas_remaining
        gas_refund = self.calculate_gas_refund(computation, gas_used)

        computation.data_floor_gas = self.calc_data_floor_gas(
            transaction,
            gas_used,
            gas_refund,
        )

        gas_refund_amount = (gas_refund + gas_remaining - computation.data_floor_gas) * transaction_context.gas_price
        if gas_refund_amount:
            self.vm_state.delta_balance(computation.msg.sender, gas_refund_amount)

        # Beneficiary Fees
        gas_used = transaction.gas - gas_remaining - gas_refund + computation.data_floor_gas
        transaction_fee = gas_used * self.vm_state.get_tip(transaction)

        self.vm_state.delta_balance(self.vm_state.coinbase, transaction_fee)

        # Process Self Destructs
        for account in computation.get_accounts_for_deletion():
            self.vm_state.delete_account(account)

        return computation


class ConsortiumTransactionExecutor(_FeesExecutor):
    def finalize_computation(self, transaction: SignedTransactionAPI, computation: ComputationAPI) -> ComputationAPI:
        """py-evm's (``SpuriousDragonTransactionExecutor.finalize_computation``: EIP-161's clearing of the empty
        accounts a transaction touched), less its debug line, over :class:`_FeesExecutor`'s."""
        computation = super().finalize_computation(transaction, computation)

        #
        # EIP161 state clearing
        #
        touched_accounts = collect_touched_accounts(computation)

        for account in touched_accounts:
            should_delete = self.vm_state.account_exists(account) and self.vm_state.account_is_empty(account)
            if should_delete:
                self.vm_state.delete_account(account)

        return computation

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        """py-evm's (``CancunTransactionExecutor.build_evm_message``, which Prague keeps), less the debug line it
        formats at every transaction whether or not it is logged: the transaction's repr, the contract's code in
        hex and a hash of the call data, about 2 % of executing a block. ``tests/unit/chain/test_vm_copies.py``
        checks that py-evm's method is still this one plus that line."""
        london_gas_fee = transaction.gas * self.vm_state.get_gas_price(transaction)
        blob_data_fee = (
            self.calc_data_fee(cast(BlobTransaction, transaction)) if transaction.type_id == BLOB_TX_TYPE else 0
        )
        self.vm_state.delta_balance(transaction.sender, -1 * (london_gas_fee + blob_data_fee))
        self.vm_state.increment_nonce(transaction.sender)
        msg_refund = self.calc_message_refund(transaction)
        message_gas = transaction.gas - transaction.intrinsic_gas
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address = generate_contract_address(
                transaction.sender, self.vm_state.get_nonce(transaction.sender) - 1
            )
            data = b""
            code = transaction.data
            is_delegation = False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        message = Message(
            gas=message_gas,
            to=transaction.to,
            sender=transaction.sender,
            value=transaction.value,
            data=data,
            code=code,
            create_address=contract_address,  # type: ignore[arg-type]  # None for a call, as py-evm passes it
            refund=msg_refund,
            is_delegation=is_delegation,
        )
        return message


#: py-evm's ``make_receipt`` of each transaction class the node executes: every one builds ``Receipt(status, gas
#: used, [Log(address, topics, data) ...])`` and lets the receipt compute its bloom (``tests/unit/chain/
#: test_receipts.py`` checks each against the first, statement by statement). A typed transaction wraps its inner
#: receipt (``TypedTransaction.make_receipt``).
_PLAIN_RECEIPTS = frozenset(
    cls.make_receipt
    for cls in (FrontierTransaction, AccessListTransaction, DynamicFeeTransaction, BlobTransaction, SetCodeTransaction)
)


@lru_cache(4096)
def bloom_bits(item: bytes) -> int:
    """The three bits ``item`` (a log's address or a topic's 32 bytes) sets in a bloom filter, as ``eth_bloom`` sets
    them: each of the first three pairs of bytes of its Keccak-256, big-endian, modulo 2048. Kept for the
    addresses and event signatures that recur in every block."""
    digest = keccak(item)
    return (
        (1 << (((digest[0] << 8) | digest[1]) & 2047))
        | (1 << (((digest[2] << 8) | digest[3]) & 2047))
        | (1 << (((digest[4] << 8) | digest[5]) & 2047))
    )


def logs_bloom(logs: Sequence[Any]) -> int:
    """The bloom filter of ``logs`` (objects with ``address`` and integer ``topics``), as py-evm's ``Receipt``
    computes it with ``eth_bloom.BloomFilter``: one object, a generator and a hash call per item less."""
    bloom = 0
    for log in logs:
        bloom |= bloom_bits(log.address)
        for topic in log.topics:
            bloom |= bloom_bits(topic.to_bytes(32, "big"))
    return bloom


def _encode(item: Any) -> bytes:
    return bytes(item.encode())


def receipt_rlp(receipt: ReceiptAPI) -> bytes:
    """``receipt.encode()`` for py-evm's receipts (``Receipt``, and a typed receipt's type byte before its inner
    one), with the node's trie-node RLP (``chain.node.trie.encode``) over the fields as rlp's sedes serialize them
    (the gas as a minimal big-endian integer, the bloom in 256 bytes, each topic in 32), instead of rlp's sedes
    objects and inferred serializers; any other receipt is encoded by itself."""
    prefix = b""
    inner = receipt
    if isinstance(receipt, TypedReceipt) and type(receipt).encode is TypedReceipt.encode:
        if not 0 < receipt.type_id < 0x80:
            return receipt.encode()
        prefix, inner = bytes((receipt.type_id,)), receipt._inner
    if type(inner) is not Receipt or not all(type(log) is Log for log in inner.logs):
        return receipt.encode()
    gas_used = inner.gas_used
    return prefix + trie.encode(
        [
            inner.state_root,
            gas_used.to_bytes((gas_used.bit_length() + 7) // 8, "big"),
            inner.bloom.to_bytes(256, "big"),
            [[log.address, [topic.to_bytes(32, "big") for topic in log.topics], log.data] for log in inner.logs],
        ]
    )


class ConsortiumState(PragueState):
    account_db_class = _AccountDB
    computation_class = InlineComputation
    transaction_executor_class = ConsortiumTransactionExecutor


class ConsortiumVM(PragueVM):
    block_class = ConsortiumBlock
    extra_data_max_bytes = VANITY_BYTES + 16 + MAX_VALIDATORS * (21 + SEAL_BYTES + 2) + 16
    _state_class = ConsortiumState
    #: How the receipt trie encodes a receipt (``bench.exec_cpu --without receipts`` measures py-evm's way)
    encode_receipt = staticmethod(receipt_rlp)

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        """As py-evm's, with the transaction, receipt (and withdrawal) tries built in one batch each and their
        nodes written to the store in one atomic batch: one durable write (one fsync) per block, not one per
        trie."""
        tries: list[tuple[str, Sequence[Any]]] = [("transaction_root", transactions), ("receipt_root", receipts)]
        if withdrawals:
            tries.append(("withdrawals_root", withdrawals))
        roots: dict[str, bytes] = {}
        all_nodes: dict[bytes, bytes] = {}
        for field, items in tries:
            encode = self.encode_receipt if field == "receipt_root" else _encode
            root, nodes = trie.root_and_nodes([encode(item) for item in items])
            all_nodes.update(nodes)
            roots[field] = root
        self.chaindb.persist_trie_data_dict(all_nodes)  # type: ignore[arg-type]
        block_fields: dict[str, Any] = {"transactions": transactions, "header": new_header.copy(**roots)}
        if withdrawals:
            block_fields["withdrawals"] = withdrawals
        return base_block.copy(**block_fields)

    @classmethod
    def make_receipt(
        cls,
        base_header: BlockHeaderAPI,
        transaction: SignedTransactionAPI,
        computation: Any,
        state: StateAPI,
    ) -> ReceiptAPI:
        """py-evm's (``ByzantiumVM.make_receipt`` and the transaction's ``make_receipt``), with the receipt's bloom
        computed by :func:`logs_bloom` and given to it, instead of by ``eth_bloom`` in its constructor (a filter
        object, a generator and a hash call per address and topic). A transaction class whose ``make_receipt`` is
        not one of py-evm's known ones gets py-evm's."""
        inner_tx = transaction._inner if isinstance(transaction, TypedTransaction) else transaction
        if type(inner_tx).make_receipt not in _PLAIN_RECEIPTS:
            return super().make_receipt(base_header, transaction, computation, state)
        gas_used = base_header.gas_used + cls.finalize_gas_used(transaction, computation)
        status = (
            EIP658_TRANSACTION_STATUS_CODE_FAILURE if computation.is_error else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
        )
        logs = [Log(address, topics, data) for address, topics, data in computation.get_log_entries()]
        receipt: ReceiptAPI = Receipt(state_root=status, gas_used=gas_used, logs=logs, bloom=logs_bloom(logs))
        if inner_tx is not transaction:
            receipt = transaction.receipt_builder.typed_receipt_class(transaction.type_id, receipt)  # type: ignore[attr-defined]
        return receipt

    @classmethod
    def validate_receipt(cls, receipt: ReceiptAPI) -> None:
        """py-evm's (``VM.validate_receipt``, then ``ByzantiumVM``'s status check), in the same order and with the
        same errors, each address and topic looked up in the bloom by :func:`bloom_bits`."""
        already_checked: set[Address | int] = set()
        bloom = receipt.bloom
        for log_idx, log in enumerate(receipt.logs):
            if log.address in already_checked:
                continue
            bits = bloom_bits(log.address)
            if bloom & bits != bits:
                raise ValidationError(
                    f"The address from the log entry at position {log_idx} is not present in the provided bloom filter."
                )
            already_checked.add(log.address)
        for log_idx, log in enumerate(receipt.logs):
            for topic_idx, topic in enumerate(log.topics):
                if topic in already_checked:
                    continue
                bits = bloom_bits(topic.to_bytes(32, "big"))
                if bloom & bits != bits:
                    raise ValidationError(
                        f"The topic at position {topic_idx} from the log entry at position {log_idx} is not present "
                        "in the provided bloom filter."
                    )
                already_checked.add(topic)
        if receipt.state_root not in EIP658_STATUS_CODES:
            raise ValidationError(
                "The receipt's `state_root` must be one of "
                f"[{encode_hex(EIP658_TRANSACTION_STATUS_CODE_SUCCESS)}, "
                f"{encode_hex(EIP658_TRANSACTION_STATUS_CODE_FAILURE)}].  Got: "
                f"{encode_hex(receipt.state_root)}"
            )

    def add_receipt_to_header(self, old_header: BlockHeaderAPI, receipt: ReceiptAPI) -> BlockHeaderAPI:
        """py-evm's (``ByzantiumVM``'s), or-ing the blooms as integers rather than through a filter object."""
        return old_header.copy(bloom=old_header.bloom | receipt.bloom, gas_used=receipt.gas_used)

    @classmethod
    def create_header_from_parent(  # type: ignore[override]
        cls, parent_header: BlockHeaderAPI | None, **header_params: Any
    ) -> BlockHeaderAPI:
        # py-evm refuses a base fee other than EIP-1559's from the parent (1 wei once a parent used more than half
        # its gas): let it compute that one, then set ours. validate_gas checks that every header says 0.
        header_params.pop("base_fee_per_gas", None)
        if parent_header is None:
            header_params["base_fee_per_gas"] = 0
        else:
            header_params.setdefault("gas_limit", parent_header.gas_limit)
        header = create_prague_header_from_parent(parent_header, **header_params)
        return ConsortiumHeader(**{**header.as_dict(), "base_fee_per_gas": 0})

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(f"gas limit changed from {parent_header.gas_limit} to {header.gas_limit}")
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0, got {header.base_fee_per_gas}")
        if header.gas_used > header.gas_limit:
            raise ValidationError(f"gas used {header.gas_used} exceeds the gas limit {header.gas_limit}")


class ReferenceState(PragueState):
    """py-evm's own Prague state and interpreter, with the consortium's precompiles."""

    computation_class = ConsortiumComputation


class ReferenceVM(ConsortiumVM):
    """The same rules over py-evm's own state, trie and interpreter code. ``consortium chain verify`` re-executes
    blocks with it, so that a block sealed with the batched tries and the inline opcodes is checked by code that
    shares neither. The precompiles are the node's (``chain.node.precompiles``): they are part of the rules."""

    _state_class = ReferenceState  # type: ignore[assignment]
    set_block_transactions_and_withdrawals = PragueVM.set_block_transactions_and_withdrawals  # type: ignore[assignment]
    # py-evm's receipts (the classmethods as defined, so that they bind to this class)
    make_receipt = vars(ByzantiumVM)["make_receipt"]
    validate_receipt = vars(ByzantiumVM)["validate_receipt"]
    add_receipt_to_header = ByzantiumVM.add_receipt_to_header


#: What a call may need beyond the gas it used when given all it wanted: the value-transfer stipend (geth adds it too).
_CALL_STIPEND = 2_300


def _gas_error(state: StateAPI, transaction: SignedTransactionAPI, gas: int) -> tuple[Any, int]:
    """Run ``transaction`` with ``gas`` on ``state`` and undo it: (the VM error or None, the gas it used)."""
    snapshot = state.snapshot()
    try:
        spoof = cast(SignedTransactionAPI, SpoofTransaction(transaction, gas=gas, gas_price=0))
        computation = state.apply_transaction(spoof)
        return (computation.error if computation.is_error else None), gas - computation.get_gas_remaining()
    finally:
        state.revert(snapshot)


def estimate_gas(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas ``transaction`` needs, as geth estimates it: run it once with the block's gas limit (an error there
    is the answer: it fails with any gas), then with what it used, scaled by 64/63 for EIP-150's withheld
    sixty-fourth plus the call stipend; if that is enough, it is the estimate (two runs, where py-evm's binary
    search takes about thirteen), else the binary search between the two decides. A plain transfer needs its
    intrinsic gas."""
    error, used = _gas_error(state, transaction, state.gas_limit)
    if error is not None:
        raise error
    if used <= transaction.intrinsic_gas:
        return int(transaction.intrinsic_gas)
    optimistic = min((used + _CALL_STIPEND) * 64 // 63, state.gas_limit)
    if _gas_error(state, transaction, optimistic)[0] is None:
        return optimistic
    low, high = used - 1, state.gas_limit  # low fails (at most what it used, less one), high succeeds
    while high - low > 1_000:
        middle = (low + high) // 2
        if _gas_error(state, transaction, middle)[0] is None:
            high = middle
        else:
            low = middle
    return high


def chain_class(chain_id: int, reference: bool = False) -> type[Chain]:
    """A py-evm Chain with our VM from genesis on, for ``chain_id``; with ``reference``, the ReferenceVM. Gas is
    estimated by :func:`estimate_gas`."""
    vm = ReferenceVM if reference else ConsortiumVM
    return type(
        "ConsortiumChain",
        (Chain,),
        {
            "chain_id": chain_id,
            "vm_configuration": ((0, vm),),
            "chaindb_class": ConsortiumChainDB,
            "gas_estimator": staticmethod(estimate_gas),
        },
    )


class TesterVM(PragueVM):
    """Ethereum's Prague, as eth-tester runs it, with the consortium's precompiles: contract tests on the
    in-process chain (``chain.backend.EthTesterBackend``) see the SM2-verify precompile the node runs."""

    _state_class = ReferenceState

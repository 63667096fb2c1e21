"""The embedded consortium chain node: py-evm state over a persistent store, a mempool, sealed blocks,
and permissioning against ConsortiumRegistry.

One lock guards the chain: JSON-RPC threads read and submit under it, and a block is made the head under it. A
block is executed without it (``chain.node.blocks``: on the state of the head it was built or proposed on, which
stays in the store), so transactions and reads go on while one executes; the lock is taken again to store the
result, if that head is still the head. A block is visible (as ``latest`` and by number) only after py-evm's
``persist_block`` batch has been committed to the store, which makes it durable, so every block ever reported is
on disk.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

import rlp
from eth.abc import AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import Chain
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.exceptions import Revert
from eth.rlp.accounts import Account
from eth.vm.spoof import SpoofTransaction
from eth_abi.abi import decode as abi_decode
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from chain.errors import ChainError, MalformedError
from chain.ids import MemberStatus, Role, bytes32_to_name, contract_address
from chain.node import blocks, trie
from chain.node.keccak import select_fast_keccak
from chain.node.mempool import Mempool
from chain.node.readcall import BlockContext, ReadCall, StateReader, UnsupportedError
from chain.node.vm import chain_class
from chain.seal import ExtraData, add_seals, extra_data, is_qbft_extra, sign_seal, verify_seals

GENESIS_KEY = b"consortium-node:genesis"
DEFAULT_GAS_LIMIT = 1_000_000_000
ACCOUNT_INFO = keccak(text="account_info(address)")[:4]
EMPTY_CODE_HASH = bytes(EMPTY_SHA3)
BOOTSTRAPPED = keccak(text="bootstrapped()")[:4]
VALIDATORS = keccak(text="validators()")[:4]
MAX_MEMPOOL = 50_000


class TransactionRefusedError(ChainError):
    """The node refused a transaction before it entered the mempool; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ExecutionRevertedError(ChainError):
    """An ``eth_call`` or gas estimate reverted; ``data`` is the revert data."""

    def __init__(self, data: bytes, message: str) -> None:
        self.data = data
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Genesis:
    """What the first block fixes for good: chain id, validators, the operator, the gas limit, and where later
    validator sets come from.

    With ``validator_contract`` (what ``consortium init`` writes), ConsortiumRegistry decides the set once it is
    bootstrapped: each block names, in its extra data, the validators the registry lists on the state the block
    leaves, and they decide the next block (``chain.node.blocks``). Without it (chains made before), the genesis
    set stays for good."""

    chain_id: int
    validators: tuple[str, ...]
    operator: str
    timestamp: int
    gas_limit: int = DEFAULT_GAS_LIMIT
    validator_contract: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        if not self.validator_contract:
            del data["validator_contract"]  # a genesis from before the field reads and writes as it was
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Genesis:
        data = json.loads(text)
        return cls(
            int(data["chain_id"]),
            tuple(data["validators"]),
            str(data["operator"]),
            int(data["timestamp"]),
            int(data["gas_limit"]),
            bool(data.get("validator_contract", False)),
        )

    @property
    def registry_address(self) -> bytes:
        """ConsortiumRegistry is the operator's first deployment (nonce 0): its address is known at genesis."""
        return contract_address(to_canonical_address(self.operator), 0)


K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


class Node:
    def __init__(
        self,
        db: AtomicDatabaseAPI,
        genesis: Genesis | None = None,
        sealer_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        reference_vm: bool = False,
        read_path: bool | None = None,
    ) -> None:
        """``reference_vm`` runs py-evm's own state, trie and interpreter code (``chain.node.vm.ReferenceVM``)
        instead of the node's batched tries and inline opcodes; ``consortium chain verify`` re-executes with it.
        ``read_path`` answers calls with ``chain.node.readcall`` where it can (by default unless ``reference_vm``).
        Building a node selects the process's Keccak-256 backend (``chain.node.keccak``)."""
        select_fast_keccak()
        self.db = db
        self.read_path = not reference_vm if read_path is None else read_path
        self.clock = clock
        self.lock = threading.RLock()
        stored = db.get(GENESIS_KEY) if db.exists(GENESIS_KEY) else None
        if stored is not None:
            self.genesis = Genesis.from_json(stored)
            if genesis is not None and genesis != self.genesis:
                raise ChainError("the store holds a different genesis than the one given: wrong data directory?")
            self.chain: Chain = chain_class(self.genesis.chain_id, reference_vm)(db)
            self._check_header_format()
            self._verify_head()
        else:
            if genesis is None:
                raise ChainError("empty store and no genesis given")
            self.genesis = genesis
            extra = ExtraData(b"\0" * 32, tuple(to_canonical_address(v) for v in genesis.validators))
            params = {
                "difficulty": 0,
                "gas_limit": genesis.gas_limit,
                "timestamp": genesis.timestamp,
                "extra_data": extra.encode(),
                "nonce": b"\0" * 8,
                "mix_hash": b"\0" * 32,
                "coinbase": b"\0" * 20,
            }
            self.chain = chain_class(genesis.chain_id, reference_vm).from_genesis(db, params, {})  # type: ignore[assignment,arg-type]
            db[GENESIS_KEY] = genesis.to_json().encode()
        self.sealer = PrivateKey(sealer_key) if sealer_key is not None else None
        #: Other keys the sealer may seal with, asked when the set names another account than its key's alone (an
        #: account rotated: ``chain.node.consensus.Consensus._follow_key`` does the same for a QBFT validator).
        self.other_sealers: Callable[[], Sequence[bytes]] | None = None
        # One VM for the whole chain, so one transaction format (``get_vm()`` would build a header to find it).
        self._transactions = self.chain.get_vm_class_for_block_number(BlockNumber(0)).get_transaction_builder()
        self.mempool = Mempool()
        # (head hash, ConsortiumRegistry's (storage root, code hash) there, whether it has code there,
        # (org, status, roles) by account, kept over heads while the registry's storage root and code hash stay)
        self._permission_cache: tuple[bytes, tuple[bytes, bytes], bool, dict[bytes, tuple[str, int, int]]] = (
            b"",
            (b"", b""),
            False,
            {},
        )
        self._call_states: tuple[tuple[bytes, int], Any, Any, ExitStack, StateReader, BlockContext] | None = None
        # Sealed blocks by hash, decoded: reading a block decodes every transaction from its trie, and receipts
        # and transactions are asked for by the hundred per block while clients wait for them.
        self._blocks: Lru[bytes, BlockAPI] = Lru(64)
        #: Blocks built or checked on the head, executed but not stored yet, by hash (``chain.node.blocks``).
        self.executed: Lru[bytes, BlockAPI] = Lru(16)
        #: The trie nodes executing each of them wrote (state, storage, transaction and receipt tries), held by
        #: the store until the block is stored with them (``Store.holding``); empty for a store in memory.
        self.executed_nodes: Lru[bytes, dict[bytes, bytes | None]] = Lru(16)
        #: Called with each raw transaction accepted from a client (``chain.node.peers`` passes it on).
        self.on_submit: Callable[[bytes], None] | None = None

    def _check_header_format(self) -> None:
        """Stores made before the chain took Besu's QBFT header format hold 4-item extra data, and their block
        hashes cover the seals: the node cannot serve them under the new hashing rule."""
        genesis = self.chain.get_canonical_block_header_by_number(BlockNumber(0))
        if not is_qbft_extra(bytes(genesis.extra_data)):
            raise ChainError(
                "this store was created before the chain took Besu's QBFT header format "
                "(its extra data is RLP [vanity, validators, round, seals], without the vote): its block hashes "
                "follow the old rule and cannot be served; create the consortium again with `consortium init` "
                "(see docs/consensus.md, 'Migrating a store')"
            )

    def _verify_head(self) -> None:
        """On reopening a store, the head must link to its parent and carry a quorum of its validators' seals
        (``consortium chain verify`` re-checks every block; this is the cheap check at every start)."""
        head = self.chain.get_canonical_head()
        if head.block_number == 0:
            return
        parent = self.chain.get_block_header_by_hash(head.parent_hash)
        if parent.block_number != head.block_number - 1:
            raise ChainError(
                f"stored head {head.block_number} does not link to its parent: run `consortium chain verify`"
            )
        verify_seals(head, extra_data(parent).validators)

    # -- reads --------------------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.genesis.chain_id

    def head(self) -> BlockHeaderAPI:
        with self.lock:
            return self.chain.get_canonical_head()

    def block_by_number(self, number: int) -> BlockAPI | None:
        with self.lock:
            if number < 0 or number > self.chain.get_canonical_head().block_number:
                return None
            return self._block(bytes(self.chain.chaindb.get_canonical_block_hash(BlockNumber(number))))

    def block_by_hash(self, block_hash: bytes) -> BlockAPI | None:
        with self.lock:
            try:
                block = self._block(block_hash)
            except Exception:  # HeaderNotFound and friends
                return None
            canonical = self.block_by_number(block.number)
            return block if canonical is not None and canonical.hash == block.hash else None

    def _block(self, block_hash: bytes) -> BlockAPI:
        block = self._blocks.get(block_hash)
        if block is None:
            block = self.chain.get_block_by_hash(Hash32(block_hash))
            self._blocks.put(block_hash, block)
        return block

    def remember(self, block: BlockAPI) -> None:
        """Keep ``block``, just stored, as the decoded block its hash reads: the receipt requests that follow a
        block would otherwise decode it again from its transaction trie, and recover every sender again."""
        self._blocks.put(bytes(block.hash), block)

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        with self.lock:
            try:
                number, index = self.chain.chaindb.get_transaction_index(Hash32(tx_hash))
            except Exception:  # TransactionNotFound
                return None
            return int(number), int(index)

    def receipt(self, tx_hash: bytes) -> tuple[BlockAPI, int, ReceiptAPI] | None:
        with self.lock:
            location = self.transaction_location(tx_hash)
            if location is None:
                return None
            block = self.block_by_number(location[0])
            assert block is not None  # a located transaction's block is canonical
            return block, location[1], block.get_receipts(self.chain.chaindb)[location[1]]

    def pending_raw(self) -> list[bytes]:
        """The pending transactions' raw bytes, each sender's in nonce order (held ones are not included)."""
        with self.lock:
            txs = sorted(self.mempool.pending.values(), key=lambda t: (t.sender, t.nonce))
        return [tx.encode() for tx in txs]

    def pending_transaction(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        with self.lock:
            return self.mempool.pending.get(tx_hash)

    def state_at(self, header: BlockHeaderAPI) -> Any:
        return self.chain.get_vm(header).state

    def nonce(self, address: bytes, pending: bool = False, header: BlockHeaderAPI | None = None) -> int:
        with self.lock:
            if pending and address in self.mempool.next_nonce:
                return self.mempool.next_nonce[address]
            account = self._account(header or self.head(), address)
            return 0 if account is None else int(account.nonce)

    def _account(self, header: BlockHeaderAPI, address: bytes) -> Account | None:
        """``address``'s account in ``header``'s (stored) state, read from its trie, None where there is none: what
        the state's account database reads, without building a VM and its state for one field."""
        encoded = trie.get(self.db, header.state_root, keccak(address))
        return rlp.decode(encoded, sedes=Account) if encoded else None

    # -- execution without a transaction --------------------------------------------------------------------

    @staticmethod
    def _spoof(vm: Any, state: Any, sender: bytes, to: bytes, data: bytes, value: int, gas: int) -> Any:
        """An unsigned transaction from ``sender`` with its next nonce in ``state``, as if signed by it."""
        nonce = state.get_nonce(Address(sender))
        unsigned = vm.create_unsigned_transaction(
            nonce=nonce, gas_price=0, gas=gas, to=Address(to), value=value, data=data
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _call_state(self, parent: BlockHeaderAPI) -> tuple[Any, Any, StateReader, BlockContext]:
        """The VM and the state that calls on top of ``parent`` run in (as if in its child, stamped with the
        clock's second), kept while calls keep coming for the same parent and second. Each call runs between a
        snapshot and its revert, so it leaves the state as it found it, and the next call finds the accounts, code
        and storage slots already read in the state's caches: about half the time of a call on a fresh state
        (``AccessGrants.check``: 2.2 against 4.2 ms)."""
        second = self._child_second(parent)
        key = (bytes(parent.hash), second)
        if self._call_states is not None and self._call_states[0] == key:
            return self._call_states[1], self._call_states[2], self._call_states[4], self._call_states[5]
        self._drop_call_state()
        vm = self.chain.get_vm(self._child_header(parent, second))
        stack = ExitStack()
        state = stack.enter_context(vm.in_costless_state())
        reader, block = StateReader(state), BlockContext(state.execution_context)
        self._call_states = (key, vm, state, stack, reader, block)
        return vm, state, reader, block

    def _drop_call_state(self) -> None:
        if self._call_states is not None:
            self._call_states[3].close()
            self._call_states = None

    def call(
        self,
        sender: bytes,
        to: bytes,
        data: bytes,
        value: int = 0,
        gas: int | None = None,
        header: BlockHeaderAPI | None = None,
    ) -> bytes:
        """Execute against a block's state without changing anything; a revert raises ExecutionRevertedError.

        The transaction is validated as py-evm validates one. Then ``chain.node.readcall`` answers it where it can;
        otherwise py-evm runs its message, without finalizing it: refunds and the fee to the block's sealer change
        nothing a call answers, and the state is reverted."""
        with self.lock:
            vm, state, reader, block = self._call_state(header or self.head())
            tx = self._spoof(vm, state, sender, to, data, value, gas or self.genesis.gas_limit)
            snapshot = state.snapshot()
            try:
                executor = state.get_transaction_executor()
                executor.validate_transaction(tx)
                answer = self._read_path_call(reader, block, tx) if self.read_path and not value and to else None
                if answer is None:
                    computation = executor.build_computation(executor.build_evm_message(tx), tx)
                    state.clear_transient_storage()
                    error = computation.error if computation.is_error else None
                    answer = error is None, bytes(computation.output), error
                state.revert(snapshot)
            except BaseException:
                self._drop_call_state()  # whatever the failure left in it, the next call starts afresh
                raise
            ok, output, error = answer
            if not ok:
                raise ExecutionRevertedError(output, _revert_message(output, error))
            return output

    @staticmethod
    def _read_path_call(reader: StateReader, block: BlockContext, tx: Any) -> tuple[bool, bytes, Any] | None:
        """(success, output, error) from ``chain.node.readcall``, or None where py-evm must run the call."""
        try:
            call = ReadCall(reader, block, bytes(tx.sender))
            ok, output, _ = call.run(bytes(tx.to), tx.data, tx.gas - tx.intrinsic_gas)
        except UnsupportedError:
            return None
        return ok, output, None if ok else Revert(output)

    def estimate_gas(
        self, sender: bytes, to: bytes, data: bytes, value: int = 0, header: BlockHeaderAPI | None = None
    ) -> int:
        with self.lock:
            at = self._child_header(header or self.head())
            vm = self.chain.get_vm(at)
            tx = self._spoof(vm, vm.state, sender, to, data, value, self.genesis.gas_limit)
            try:
                return int(self.chain.estimate_gas(tx, at))
            except Exception as exc:
                output = bytes(exc.args[0]) if exc.args and isinstance(exc.args[0], bytes) else b""  # Revert(data)
                raise ExecutionRevertedError(output, _revert_message(output, exc)) from exc

    def _child_second(self, header: BlockHeaderAPI) -> int:
        return max(int(self.clock()), header.timestamp + 1)

    def _child_header(self, header: BlockHeaderAPI, second: int | None = None) -> BlockHeaderAPI:
        """Calls run as if in the next block on top of ``header``, as Ethereum nodes do."""
        timestamp = self._child_second(header) if second is None else second
        return self.chain.create_header_from_parent(header, timestamp=timestamp)

    # -- permissioning --------------------------------------------------------------------------------------

    def member_of(self, account: bytes) -> tuple[str, int, int]:
        """(org, status, roles) of ``account`` per ConsortiumRegistry at the head.

        ConsortiumRegistry's ``account_info`` reads nothing but the registry's own storage (no block field, no
        other account, no balance: ``tests/unit/chain/test_node.py`` pins its source), so its answer is a
        function of the registry's code and storage. The answers are kept by the registry account's storage root
        and code hash, read from the head's state trie once per head (no VM state built for it): a head that did
        not touch the registry's storage keeps every answer, one that did (a member suspended, an account added)
        starts a cold cache."""
        head = self.head()
        cache_head, cache_key, registry_deployed, cache = self._permission_cache
        if cache_head != head.hash:
            key = self._registry_account(head)
            registry_deployed = key[1] != EMPTY_CODE_HASH
            if key != cache_key:
                cache = {}
            self._permission_cache = (head.hash, key, registry_deployed, cache)
        if account not in cache:
            if not registry_deployed:
                cache[account] = ("", 0, 0)
            else:
                out = self.call(account, self.genesis.registry_address, ACCOUNT_INFO + b"\0" * 12 + account)
                org, status, roles = abi_decode(["bytes32", "uint8", "uint256"], out)
                cache[account] = (bytes32_to_name(org), int(status), int(roles))
        return cache[account]

    def _registry_account(self, header: BlockHeaderAPI) -> tuple[bytes, bytes]:
        """(storage root, code hash) of ConsortiumRegistry's account in ``header``'s state, read from its trie."""
        account = self._account(header, self.genesis.registry_address)
        if account is None:
            return BLANK_ROOT_HASH, EMPTY_CODE_HASH
        return bytes(account.storage_root), bytes(account.code_hash)

    def validators_after(self, header: BlockHeaderAPI, current: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """The validator set that decides the block after ``header`` (executed: its state is in the store).

        Under a genesis with ``validator_contract``, once ConsortiumRegistry is bootstrapped: the accounts its
        ``validators()`` lists on ``header``'s state, sorted; ``current`` (the set that decided ``header``)
        while there is no registry yet, or if it names none (a chain without validators could never go on)."""
        if not self.genesis.validator_contract:
            return current
        with self.lock:
            try:
                if not self._bootstrapped(header):
                    return current
                out = self.call(b"\0" * 20, self.genesis.registry_address, VALIDATORS, header=header)
            except ExecutionRevertedError:  # a registry without validators(): the set cannot come from it
                return current
        (accounts,) = abi_decode(["address[]"], out)
        return tuple(sorted(to_canonical_address(a) for a in accounts)) or current

    def _bootstrapped(self, header: BlockHeaderAPI | None = None) -> bool:
        """Whether ConsortiumRegistry exists and its founders are registered (bootstrap finished), on
        ``header``'s state (the head's by default)."""
        registry = self.genesis.registry_address
        with self.lock:
            header = header or self.head()
            if not self.state_at(header).get_code(registry):
                return False
            return bool(int.from_bytes(self.call(b"\0" * 20, registry, BOOTSTRAPPED, header=header)[-32:], "big"))

    def check_permission(self, sender: bytes, to: bytes) -> None:
        """Refuse senders that are not active members, and deployments by anyone but an operator."""
        org, status, roles = self.member_of(sender)
        if status == MemberStatus.ACTIVE and (to != b"" or roles & Role.OPERATOR):
            return  # the common case, decided without the refusals' checksummed address
        who = to_checksum_address(sender)
        if org == "" and status == 0 and roles == 0:
            if sender == to_canonical_address(self.genesis.operator) and not self._bootstrapped():
                return  # genesis bootstrap: the operator deploys the contracts and registers the founders
            raise TransactionRefusedError(f"sender {who} is not an account of a consortium member")
        if status == MemberStatus.SUSPENDED:
            raise TransactionRefusedError(f"sender {who} belongs to suspended member {org}")
        if status != MemberStatus.ACTIVE:
            raise TransactionRefusedError(f"sender {who} belongs to {org}, which is no longer a member")
        raise TransactionRefusedError(f"contract deployment is reserved to the operator; {who} ({org}) is not one")

    # -- transactions ---------------------------------------------------------------------------------------

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        try:
            tx = self._transactions.decode(raw)
            check_signature(tx)
        except Exception as exc:
            raise MalformedError(f"not a valid signed transaction: {exc.__class__.__name__}: {exc}") from exc
        return tx

    def submit(self, raw: bytes, gossip: bool = True, hold: bool = False) -> bytes:
        """Validate and add a raw signed transaction to the mempool; returns its hash. With ``gossip`` (not for
        a transaction a peer passed on), it goes to ``on_submit`` too: the peers' mempools. With ``hold`` (for
        one a peer passed on), a nonce ahead of the sender's next is held until a block brings it up
        (``chain.node.mempool``) instead of refused."""
        tx = self.decode_transaction(raw)
        with self.lock:
            if self.mempool.known(tx.hash) or self.transaction_location(tx.hash) is not None:
                raise TransactionRefusedError(f"transaction 0x{tx.hash.hex()} already known")
            if len(self.mempool.pending) >= MAX_MEMPOOL:
                raise TransactionRefusedError("mempool full: retry after the next block")
            chain_id = getattr(tx, "chain_id", None)
            if chain_id is not None and chain_id != self.chain_id:
                raise TransactionRefusedError(f"chain id {chain_id} does not match this chain's {self.chain_id}")
            if chain_id is None:
                raise TransactionRefusedError("transactions without a chain id (pre-EIP-155) are refused")
            self.check_permission(tx.sender, tx.to)
            if tx.gas > self.genesis.gas_limit:
                raise TransactionRefusedError(f"gas {tx.gas} exceeds the block gas limit {self.genesis.gas_limit}")
            if tx.gas < tx.intrinsic_gas:
                raise TransactionRefusedError(f"gas {tx.gas} is below the intrinsic gas {tx.intrinsic_gas}")
            cost = tx.gas * getattr(tx, "max_fee_per_gas", getattr(tx, "gas_price", 0)) + tx.value
            if cost and cost > self.state_at(self.head()).get_balance(tx.sender):  # free-gas transactions cost 0
                raise TransactionRefusedError(
                    f"insufficient funds: {to_checksum_address(tx.sender)} needs {cost} wei "
                    "(send with a gas price of 0 on this free-gas chain)"
                )
            expected = self.nonce(tx.sender, pending=True)
            if tx.nonce > expected and hold and self.mempool.hold(tx, expected):
                return bytes(tx.hash)
            if tx.nonce != expected:
                raise TransactionRefusedError(
                    f"nonce {tx.nonce} is not the next nonce {expected} of {to_checksum_address(tx.sender)}"
                )
            self.mempool.add(tx)
            if gossip and self.on_submit is not None:
                self.on_submit(raw)
            return bytes(tx.hash)

    # -- sealing --------------------------------------------------------------------------------------------

    def seal(self, allow_empty: bool = False) -> BlockAPI | None:
        """Seal the pending transactions into a block with this node's key alone and make it the head; None if
        there was nothing to seal. (With several validators, QBFT builds, checks and appends blocks through
        ``chain.node.blocks`` instead.)"""
        if self.sealer is None:
            raise ChainError("this node has no sealing key")
        me = self.sealer.public_key.to_canonical_address()
        validators = extra_data(self.head()).validators
        if len(validators) == 1 and validators[0] != me and self.other_sealers is not None:
            rotated = next((PrivateKey(k) for k in self.other_sealers()
                            if PrivateKey(k).public_key.to_canonical_address() == validators[0]), None)  # fmt: skip
            if rotated is not None:
                self.sealer, me = rotated, validators[0]
        if validators != (me,):
            among = "among them" if me in validators else "not among them"
            raise ChainError(
                f"the next block needs a quorum of {len(validators)} validator(s), this node's account "
                f"{among}: it cannot seal alone; run each validator's node on the network (--peer-port)"
            )
        # Neither holds the lock while the block executes (``chain.node.blocks``): transactions keep coming in.
        block = blocks.build(self, me, 0, allow_empty=allow_empty)
        if block is None:
            return None
        sealed = add_seals(block.header, [sign_seal(block.header, self.sealer.to_bytes())])
        return blocks.append(self, blocks.with_header(block, sealed))


def check_signature(tx: SignedTransactionAPI) -> None:
    """py-evm's check of a transaction's signature (``check_signature_validity``, for every transaction type:
    recover the public key from the signature over the signing message, then verify the signature against it),
    keeping the recovered key's address as the transaction's ``sender``. py-evm's ``sender`` would encode the
    signing message and recover the same key from the same signature once more: that second recovery and
    encoding were a fifth of the CPU of admitting a transaction, on every node the transaction is gossiped to."""
    message = tx.get_message_for_signing()
    signature = Signature(vrs=(tx.y_parity, tx.r, tx.s))
    try:
        public_key = signature.recover_public_key_from_msg(message)
    except BadSignature as exc:
        raise ValidationError(f"Bad Signature: {exc}") from exc
    if not signature.verify_msg(message, public_key):
        raise ValidationError("Invalid Signature")
    tx.sender = Address(public_key.to_canonical_address())  # type: ignore[misc]  # the cached property's value


def _revert_message(output: bytes, error: object) -> str:
    """``execution reverted: <reason>`` for Error(string) revert data, as Ethereum nodes report it."""
    if output[:4] == bytes.fromhex("08c379a0"):
        try:
            (reason,) = abi_decode(["string"], output[4:])
            return f"execution reverted: {reason}"
        except Exception:  # malformed revert data: report it raw
            pass
    if output or isinstance(error, Revert):
        return "execution reverted"
    return f"execution failed: {error.__class__.__name__}"

"""Signing and sending transactions from a member's own key, on any backend.

Transactions are signed locally and sent with ``eth_sendRawTransaction``, so the same code runs on
eth-tester, anvil, Besu and the consortium's node. Before signing, the call is estimated: a refusal
comes back as :class:`ContractRevertError` with the contract's own reason and nothing is sent.
Fees follow the chain: on a free-gas consortium chain (base fee 0) transactions cost nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from chain.backend import Backend
from chain.errors import BackendError, ContractRevertError

if TYPE_CHECKING:  # eth-account and web3 are imported when a key signs: a read-only command never loads them
    from eth_account.signers.local import LocalAccount
    from web3.types import TxParams, TxReceipt

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 5, 4
#: How :func:`wait_receipt` asks for a receipt: at once, then after a pause that starts at the first and grows by
#: the factor up to the longest. A block of a consortium chain comes every second or so: a wait of one block asks
#: about twelve times instead of about a hundred (each ask costs the sender and the node a JSON-RPC request), and a
#: receipt is seen at most the longest pause after the node has it.
RECEIPT_POLL_FIRST_S: Final = 0.01
RECEIPT_POLL_FACTOR: Final = 1.5
RECEIPT_POLL_LONGEST_S: Final = 0.1


def receipt_pauses(
    first: float = RECEIPT_POLL_FIRST_S, factor: float = RECEIPT_POLL_FACTOR, longest: float = RECEIPT_POLL_LONGEST_S
) -> Iterator[float]:
    """The pauses between a waiter's asks for a receipt: ``first``, growing by ``factor``, then ``longest`` on."""
    pause = first
    while True:
        yield min(pause, longest)
        pause = min(pause * factor, longest)


@dataclass(slots=True)
class Signer:
    """A member account: its private key stays in this object, never in a message or repr."""

    account: LocalAccount
    _next_nonce: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sending: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_key(cls, key: bytes) -> Signer:
        from eth_account import Account

        return cls(account=Account.from_key(key))

    @property
    def address(self) -> str:
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def take_nonce(self, backend: Backend) -> int:
        """The next nonce, tracked locally after the first ask so a burst of sends needs no round-trips."""
        with self._lock:
            if self._next_nonce is None:
                self._next_nonce = int(backend.web3.eth.get_transaction_count(self.account.address, "pending"))
            nonce = self._next_nonce
            self._next_nonce += 1
            return nonce

    def next_nonce(self, backend: Backend) -> int:
        """The nonce :meth:`take_nonce` gives next, without taking it."""
        with self._lock:
            if self._next_nonce is None:
                self._next_nonce = int(backend.web3.eth.get_transaction_count(self.account.address, "pending"))
            return self._next_nonce

    def forget_nonce(self) -> None:
        """Ask the chain again next time (after a send failed before reaching the mempool)."""
        with self._lock:
            self._next_nonce = None

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Held from taking a nonce to handing the signed transaction to the node: threads sharing this signer (a
        notary's anchorer and a command of the same account in one process) send in nonce order, so a node, which
        takes only the next nonce of an account, never sees a later one first."""
        with self._sending:
            yield


def revert_errors() -> tuple[type[Exception], ...]:
    """What a revert raises: web3's error over JSON-RPC, and eth-tester's own in process. Both (and py-evm under
    eth-tester, a second of CPU to import) are looked up, not imported: if nothing loaded one, nothing raises its
    error."""
    found = (
        getattr(sys.modules.get(module), name, None)
        for module, name in (("web3.exceptions", "ContractLogicError"), ("eth_tester.exceptions", "TransactionFailed"))
    )
    return tuple(error for error in found if error is not None)


def revert_reason(exc: Exception) -> str:
    """The contract's reason from a revert error, without the node's prefix."""
    message = str(getattr(exc, "message", None) or exc)
    for prefix in ("execution reverted: ", "execution reverted"):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    return message.strip() or "reverted without a reason"


def fee_fields(backend: Backend) -> dict[str, int]:
    """EIP-1559 fee fields: no tip, room for the base fee to double; all zero on a free-gas chain."""
    base_fee = int(backend.web3.eth.get_block("latest").get("baseFeePerGas", 0))
    return {"maxFeePerGas": 2 * base_fee, "maxPriorityFeePerGas": 0}


#: The fee fields of every transaction on the consortium's own chain, whose base fee is always 0 (its nodes refuse
#: a header with any other, ``chain.node.vm``): what :func:`fee_fields` answers there.
FREE_GAS: Final[Mapping[str, int]] = {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}

_FEES: ContextVar[Mapping[str, int] | None] = ContextVar("chain.tx fees", default=None)


@contextmanager
def known_fees(fees: Mapping[str, int] | None) -> Iterator[None]:
    """Within the block (of this thread or task), every transaction built without fees of its own takes ``fees``
    instead of asking the chain's latest block for them (:func:`fee_fields`, one request each): for a chain whose
    fees are known, such as the consortium's own (:data:`FREE_GAS`). None changes nothing."""
    token = _FEES.set(fees if fees is not None else _FEES.get())
    try:
        yield
    finally:
        _FEES.reset(token)


def build_transaction(
    backend: Backend,
    signer: Signer,
    to: str | None,
    data: str,
    *,
    label: str = "",
    gas: int | None = None,
    fees: dict[str, int] | None = None,
) -> TxParams:
    """Estimate (turning a refusal into ContractRevertError), then fill in every field to sign."""
    call: dict[str, Any] = {"from": signer.account.address, "data": data, "value": 0}
    if to is not None:
        call["to"] = to
    if gas is None:
        try:
            estimate = int(backend.web3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except revert_errors() as exc:
            raise ContractRevertError(revert_reason(exc), label) from exc
        gas = estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN
    tx: dict[str, Any] = {**call, "gas": gas, "chainId": backend.chain_id, "type": 2}
    known = fees if fees is not None else _FEES.get()
    tx.update(known if known is not None else fee_fields(backend))
    tx["nonce"] = signer.take_nonce(backend)
    return tx  # type: ignore[return-value]


def send_transaction(backend: Backend, signer: Signer, tx: TxParams) -> bytes:
    """Sign and send; returns the transaction hash."""
    signed = signer.account.sign_transaction(tx)  # type: ignore[arg-type]
    try:
        return bytes(backend.web3.eth.send_raw_transaction(signed.raw_transaction))
    except Exception:
        signer.forget_nonce()
        raise


def wait_receipt(
    backend: Backend,
    tx_hash: bytes,
    label: str = "",
    timeout: float = 60.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> TxReceipt:
    """Wait for the receipt, asking at once and then after each of :func:`receipt_pauses`; a transaction that
    reverted in its block raises ContractRevertError, none within ``timeout`` seconds BackendError."""
    from hexbytes import HexBytes
    from web3.exceptions import TransactionNotFound

    deadline = clock() + timeout
    pauses = receipt_pauses()
    while True:
        try:
            receipt = backend.web3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            left = deadline - clock()
            if left <= 0:
                raise BackendError(f"transaction 0x{tx_hash.hex()} not mined within {timeout:.0f} s") from None
            sleep(min(next(pauses), left))
            continue
        if receipt["status"] != 1:
            raise ContractRevertError(_replay_reason(backend, tx_hash, receipt), label)
        return receipt


#: How many times :func:`transact` builds a transaction again after a node refused its nonce.
NONCE_RETRIES: Final = 3
#: What nodes answer for a nonce another transaction took: this project's node ("nonce 7 is not the next nonce 8
#: of 0x..."), geth, Besu and anvil ("nonce too low"; Besu also "NONCE_TOO_LOW").
_NONCE_REFUSALS: Final = ("is not the next nonce", "nonce too low", "NONCE_TOO_LOW")


def nonce_refused(exc: BaseException) -> bool:
    """Whether a node refused a transaction for its nonce: another sender of the same account (another process:
    a notary's anchorer and a command of its member) took it first, or a transaction of ours was dropped. The
    transaction never reached the pool, so building it again on a nonce asked anew sends it once."""
    text = str(exc)
    return any(refusal in text for refusal in _NONCE_REFUSALS)


def transact(backend: Backend, signer: Signer, to: str | None, data: str, label: str = "") -> TxReceipt:
    """Estimate, sign, send and wait: the whole life of one transaction. Within :func:`pipelined`, the wait
    is left to the first read of the receipt, or to the end of the pipeline. A send whose nonce the node refuses
    (:func:`nonce_refused`) is built again, estimate and nonce anew, up to :data:`NONCE_RETRIES` times."""
    for attempt in range(NONCE_RETRIES + 1):
        with signer.sending():
            tx = build_transaction(backend, signer, to, data, label=label)
            try:
                tx_hash = send_transaction(backend, signer, tx)  # which forgets the nonce when it raises
            except Exception as exc:
                if attempt < NONCE_RETRIES and nonce_refused(exc):
                    continue
                raise
        break
    pending = _PIPELINE.get()
    if pending is None:
        return wait_receipt(backend, tx_hash, label)
    receipt = PendingReceipt(backend, tx_hash, label)
    pending.append(receipt)
    return cast("TxReceipt", receipt)


class PendingReceipt(Mapping[str, Any]):
    """The receipt of a transaction sent within :func:`pipelined`: the first read waits for it (a revert then
    raises :class:`ContractRevertError`, as :func:`wait_receipt` does)."""

    def __init__(self, backend: Backend, tx_hash: bytes, label: str) -> None:
        self.backend, self.tx_hash, self.label = backend, tx_hash, label
        self._receipt: TxReceipt | None = None

    def wait(self) -> TxReceipt:
        if self._receipt is None:
            self._receipt = wait_receipt(self.backend, self.tx_hash, self.label)
        return self._receipt

    def __getitem__(self, key: str) -> Any:
        return self.wait()[key]  # type: ignore[literal-required]

    def __iter__(self) -> Iterator[str]:
        return iter(self.wait())

    def __len__(self) -> int:
        return len(self.wait())


_PIPELINE: ContextVar[list[PendingReceipt] | None] = ContextVar("chain.tx pipeline", default=None)


@contextmanager
def pipelined() -> Iterator[None]:
    """Send transactions without waiting for each: every :func:`transact` in the block (of this thread or
    task) is estimated, signed and sent at once, and the block waits for all their receipts as it ends, raising
    the first revert. The transactions land in as few blocks as the chain makes, instead of one block each.

    Each is estimated on the latest state, so none may depend on another of the same block: one that does goes
    in a later ``pipelined`` block. Transactions of one signer keep their nonce order."""
    pending: list[PendingReceipt] = []
    token = _PIPELINE.set(pending)
    try:
        yield
    finally:
        _PIPELINE.reset(token)
    for receipt in pending:
        receipt.wait()


def _replay_reason(backend: Backend, tx_hash: bytes, receipt: TxReceipt) -> str:
    """Why a mined transaction reverted: replay it as a call on the state before its block."""
    from hexbytes import HexBytes

    tx = backend.web3.eth.get_transaction(HexBytes(tx_hash))
    call: dict[str, Any] = {"from": tx["from"], "to": tx.get("to"), "data": tx["input"], "gas": tx["gas"]}
    try:
        backend.web3.eth.call(call, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
    except revert_errors() as exc:
        return revert_reason(exc)
    except Exception as exc:  # the node cannot replay (pruned state): say so rather than guess
        return f"reverted (reason unavailable: {exc.__class__.__name__})"
    return "reverted (out of gas or reason unavailable)"

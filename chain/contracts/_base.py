"""What every typed contract client shares: reads, transactions and decoded events."""

from __future__ import annotations

from typing import Any

from web3.contract import Contract
from web3.types import BlockIdentifier, EventData, TxReceipt

from chain.backend import Backend
from chain.errors import ContractRevertError, MalformedError
from chain.tx import Signer, revert_errors, revert_reason, transact
from contracts import load_artifact

#: eth_getLogs ranges are bounded by most nodes; ask in windows of this many blocks.
LOG_WINDOW = 5_000


def check_digest(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise MalformedError(f"{what} must be 32 bytes")
    return bytes(value)


class ContractClient:
    """A deployed contract of ours at ``address`` on ``backend``."""

    NAME = ""

    def __init__(self, backend: Backend, address: str) -> None:
        self.backend = backend
        self.address = backend.web3.to_checksum_address(address)
        self.contract: Contract = backend.web3.eth.contract(address=self.address, abi=load_artifact(self.NAME).abi)

    def _call(self, fn: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call(block_identifier=block)
        except revert_errors() as exc:
            raise ContractRevertError(revert_reason(exc), f"{self.NAME}.{fn}") from exc

    def _transact(self, signer: Signer, fn: str, *args: Any) -> TxReceipt:
        data = getattr(self.contract.functions, fn)(*args)._encode_transaction_data()
        return transact(self.backend, signer, self.address, data, f"{self.NAME}.{fn}")

    def encode(self, fn: str, *args: Any) -> str:
        """Calldata of ``fn(*args)``, for callers that batch their own transactions."""
        return str(getattr(self.contract.functions, fn)(*args)._encode_transaction_data())

    def events(
        self,
        event: str,
        from_block: int = 0,
        to_block: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[EventData]:
        """Decoded logs of ``event`` in a block range, fetched in bounded windows."""
        last = int(self.backend.web3.eth.block_number) if to_block is None else to_block
        out: list[EventData] = []
        start = from_block
        while start <= last:
            end = min(start + LOG_WINDOW - 1, last)
            out.extend(
                getattr(self.contract.events, event).get_logs(from_block=start, to_block=end, argument_filters=filters)
            )
            start = end + 1
        return out

    def decode_events(self, receipt: TxReceipt, event: str) -> list[EventData]:
        from web3.logs import DISCARD

        return list(getattr(self.contract.events, event)().process_receipt(receipt, errors=DISCARD))

"""What every typed contract client shares: reads, transactions and decoded events.

Reads are encoded and decoded here with eth-abi, from the contract's ABI, and sent with the backend's
``eth_call``; their results have the shapes web3 gives (one output as itself, several as a list, arrays as
lists, addresses checksummed). Transactions and events go through a web3 contract object made at first use, so
a read-only command never imports web3.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from chain.backend import Backend
from chain.errors import ContractRevertError, MalformedError
from chain.tx import Signer, revert_errors, revert_reason, transact
from contracts import load_artifact

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import BlockIdentifier, EventData, TxReceipt

#: eth_getLogs ranges are bounded by most nodes; ask in windows of this many blocks.
LOG_WINDOW = 5_000


def check_digest(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise MalformedError(f"{what} must be 32 bytes")
    return bytes(value)


@dataclass(frozen=True, slots=True)
class _Function:
    """One function of a contract's ABI, ready to encode a call and decode its answer."""

    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[dict[str, Any], ...]

    def encode(self, args: tuple[Any, ...]) -> bytes:
        from eth_abi.abi import encode

        return self.selector + encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> Any:
        """The answer shaped as web3's ``ContractFunction.call`` returns it."""
        from eth_abi.abi import decode

        decoded = decode([_abi_type(o) for o in self.outputs], data)
        values = [_web3_shape(o, v) for o, v in zip(self.outputs, decoded, strict=True)]
        return values[0] if len(values) == 1 else values


def _abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter: tuples spelled out from their components."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def _web3_shape(param: dict[str, Any], value: Any) -> Any:
    from eth_utils.address import to_checksum_address

    def shape(kind: str, value: Any) -> Any:
        if kind.endswith("]"):
            element = kind[: kind.rindex("[")]
            return [shape(element, v) for v in value]
        if kind == "tuple":
            return tuple(_web3_shape(c, v) for c, v in zip(param["components"], value, strict=True))
        if kind == "address":
            return to_checksum_address(value)
        return value

    return shape(str(param["type"]), value)


@cache
def _functions(name: str) -> dict[tuple[str, int], _Function]:
    """The functions of contract ``name`` by name and argument count, parsed once per process."""
    from eth_utils.crypto import keccak

    table: dict[tuple[str, int], _Function] = {}
    for item in load_artifact(name).abi:
        if item.get("type") != "function":
            continue
        inputs = tuple(_abi_type(p) for p in item["inputs"])
        selector = keccak(text=f"{item['name']}({','.join(inputs)})")[:4]
        key = (str(item["name"]), len(inputs))
        assert key not in table, f"{name}.{key[0]} has two overloads of {key[1]} arguments"
        table[key] = _Function(selector, inputs, tuple(item["outputs"]))
    return table


class ContractClient:
    """A deployed contract of ours at ``address`` on ``backend``."""

    NAME = ""

    def __init__(self, backend: Backend, address: str) -> None:
        from eth_utils.address import to_checksum_address

        self.backend = backend
        self.address = to_checksum_address(address)

    @cached_property
    def contract(self) -> Contract:
        """The web3 contract object, for transactions and events (made at first use: it imports web3)."""
        return self.backend.web3.eth.contract(address=self.address, abi=load_artifact(self.NAME).abi)

    def _call(self, fn: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        function = _functions(self.NAME).get((fn, len(args)))
        assert function is not None, f"{self.NAME} has no function {fn} of {len(args)} arguments"
        try:
            return function.decode(self.backend.call(self.address, function.encode(args), block))
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

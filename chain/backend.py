"""One interface, several chains.

A :class:`Backend` is anything that gives a connected :class:`web3.Web3`: the in-process py-evm chain of
eth-tester (fast unit tests, state lives in memory only) or any Ethereum JSON-RPC URL (anvil, Hyperledger
Besu, the consortium's own node). Everything above this module talks to chains only through it.

Reads (``eth_call`` and the latest block's time) also have a method of their own: over JSON-RPC they are one
HTTP request each, without web3, whose import alone costs about a second of CPU, so a read-only command
(``consortium member list``) never loads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from chain.errors import BackendError

if TYPE_CHECKING:
    import httpx
    from web3 import Web3
    from web3.types import BlockIdentifier

#: What an eth-tester genesis gives each funded account: enough to never run out in tests or demos.
GENESIS_BALANCE_WEI = 10**30


class Backend(Protocol):
    """A connected chain."""

    @property
    def web3(self) -> Web3: ...

    @property
    def chain_id(self) -> int: ...

    @property
    def description(self) -> str: ...

    def call(self, to: str, data: bytes, block: BlockIdentifier = "latest") -> bytes:
        """``eth_call``: what the contract at ``to`` returns for calldata ``data``; a revert raises one of
        :func:`chain.tx.revert_errors`."""
        ...

    def block_time(self) -> int:
        """The latest block's timestamp."""
        ...

    def close(self) -> None: ...


class EthTesterBackend:
    """py-evm in this process, through eth-tester; every transaction is mined into its own block."""

    def __init__(self, funded_accounts: Iterable[str] = ()) -> None:
        from eth_tester import EthereumTester, PyEVMBackend  # heavy import, only when used
        from eth_utils.address import to_canonical_address
        from web3 import Web3
        from web3.providers.eth_tester import EthereumTesterProvider

        # eth-tester's own first account stays funded: it is the implicit sender of eth_call.
        state = dict(PyEVMBackend.generate_genesis_state(num_accounts=1))
        for a in funded_accounts:
            state[to_canonical_address(a)] = {
                "balance": GENESIS_BALANCE_WEI,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
        from chain.node.vm import TesterVM  # Prague with the consortium's precompiles, as the node runs them

        backend = PyEVMBackend(genesis_state=state, vm_configuration=((0, TesterVM),))
        self._tester = EthereumTester(backend)
        self._web3 = Web3(EthereumTesterProvider(self._tester))
        self._chain_id = int(self._web3.eth.chain_id)

    @property
    def web3(self) -> Web3:
        return self._web3

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def description(self) -> str:
        return "in-process py-evm (eth-tester, not persisted)"

    def call(self, to: str, data: bytes, block: BlockIdentifier = "latest") -> bytes:
        return bytes(self._web3.eth.call({"to": to, "data": data}, block))

    def block_time(self) -> int:
        return int(self._web3.eth.get_block("latest")["timestamp"])

    def close(self) -> None:
        """Nothing to release: the chain goes with the object."""


class RpcBackend:
    """Any Ethereum JSON-RPC 2.0 endpoint over HTTP.

    Reads (:meth:`call`, :meth:`block_time`) and the chain id are plain JSON-RPC requests on a pooled httpx
    client. Everything else goes through :attr:`web3`, made at its first use: web3's default middleware, plus
    blocks whose extra data exceeds Ethereum's 32 bytes, and web3's retries of failed requests. The chain id is
    asked at once, so an endpoint that does not answer raises BackendError here; the provider keeps it, so the
    middleware's checks of each call answer from it instead of asking the node again.

    Failed reads are retried as web3 retries its own (five times, from 0.125 s, doubling), except with
    ``lean=True``: a connection for reads on a hot path, such as the gateway's grant decisions, where a back-off
    (about 2 s) would turn "the chain is down" into a slow answer instead of an immediate one; give it a short
    ``timeout``. Its web3, if ever used, has no middleware (web3's default stack costs about 2.5 ms a call) and no
    retries either. With ``chain_id`` given, nothing is asked of the endpoint until the first read.
    """

    RETRIES = 5
    BACKOFF_S = 0.125

    def __init__(self, url: str, timeout: float = 30.0, *, lean: bool = False, chain_id: int | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"chain URL must start with http:// or https://, got {url!r}")
        self._url = url
        self._timeout = timeout
        self._lean = lean
        self._web3: Web3 | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        if chain_id is not None:
            self._chain_id = chain_id
            return
        try:
            self._chain_id = int(self._request("eth_chainId", []), 16)
        except Exception as exc:  # httpx's errors and a malformed answer alike: the node is not there
            raise BackendError(
                f"cannot reach the chain at {url}: {exc.__class__.__name__}; "
                "is the node running (`consortium up DIR`) and the URL right?"
            ) from exc

    @property
    def web3(self) -> Web3:
        with self._lock:
            if self._web3 is None:
                self._web3 = self._connect_web3()
            return self._web3

    def _connect_web3(self) -> Web3:
        from web3 import HTTPProvider, Web3
        from web3.middleware import ExtraDataToPOAMiddleware
        from web3.types import RPCEndpoint

        if self._lean:
            provider = HTTPProvider(
                self._url, request_kwargs={"timeout": self._timeout}, exception_retry_configuration=None
            )
            return Web3(provider, middleware=[])
        # web3 asks eth_chainId before each call it validates (two requests per read instead of one); a node's
        # chain id never changes, so the provider answers it from its cache, filled here with the one we know.
        provider = HTTPProvider(
            self._url,
            request_kwargs={"timeout": self._timeout},
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        web3 = Web3(provider)
        # Consortium chains (our node, Besu QBFT) carry validator seals in extraData, beyond Ethereum's 32 bytes.
        web3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        return web3

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def url(self) -> str:
        return self._url

    @property
    def description(self) -> str:
        return f"JSON-RPC {self._url}"

    def call(self, to: str, data: bytes, block: BlockIdentifier = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        result = self._request("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag])
        return bytes.fromhex(str(result).removeprefix("0x"))

    def block_time(self) -> int:
        block = self._request("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def block_timestamp(self, number: int) -> int:
        """The timestamp of block ``number``, read as plain JSON-RPC (a lean web3 has no middleware for the
        seals a consortium chain carries in the extra data)."""
        block = self._request("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            raise BackendError(f"the chain at {self._url} has no block {number}")
        return int(block["timestamp"], 16)

    def _request(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request; an error answer raises as web3 would raise it (a revert as ContractLogicError)."""
        import httpx

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout)
            http = self._http
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        for attempt in range(1 if self._lean else self.RETRIES + 1):
            try:
                response = http.post(self._url, json=payload)
                response.raise_for_status()
                break
            except (httpx.TransportError, httpx.HTTPStatusError):
                if attempt == (0 if self._lean else self.RETRIES):
                    raise
                time.sleep(self.BACKOFF_S * 2**attempt)
        answer = response.json()
        if "error" in answer:
            _raise_rpc_error(method, answer)
        return answer["result"]

    def close(self) -> None:
        """HTTP connections are pooled (by httpx for reads, by web3 for the rest) and closed with the process."""


def _raise_rpc_error(method: str, answer: dict[str, Any]) -> None:
    """Raise a JSON-RPC error answer as web3 does: a revert of ``eth_call`` with web3's own ContractLogicError
    and message (web3 is imported for it: a revert is not a start-up path), anything else as BackendError."""
    if method == "eth_call":
        from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert

        raise_contract_logic_error_on_revert(answer)  # type: ignore[arg-type]
    raise BackendError(f"the chain refused {method}: {answer['error']}")

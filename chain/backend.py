"""One interface, several chains.

A :class:`Backend` is anything that gives a connected :class:`web3.Web3`: the in-process py-evm chain of
eth-tester (fast unit tests, state lives in memory only) or any Ethereum JSON-RPC URL (anvil, Hyperledger
Besu, the consortium's own node). Everything above this module talks to chains only through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint

from chain.errors import BackendError

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

    def close(self) -> None: ...


class EthTesterBackend:
    """py-evm in this process, through eth-tester; every transaction is mined into its own block."""

    def __init__(self, funded_accounts: Iterable[str] = ()) -> None:
        from eth_tester import EthereumTester, PyEVMBackend  # heavy import, only when used
        from eth_utils.address import to_canonical_address

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

    def close(self) -> None:
        """Nothing to release: the chain goes with the object."""


class RpcBackend:
    """Any Ethereum JSON-RPC 2.0 endpoint over HTTP.

    By default a connection for every use: web3's default middleware, plus blocks whose extra data exceeds
    Ethereum's 32 bytes, web3's retries of failed requests, and the chain id asked at once, so an endpoint that
    does not answer raises BackendError here. The provider keeps that chain id: the middleware's checks of each
    call answer from it instead of asking the node again.

    ``lean=True`` is a connection for reads on a hot path, such as the gateway's grant decisions: no middleware
    (web3's default stack costs about 2.5 ms a call) and no retries (web3's back-off, about 2 s, would turn "the
    chain is down" into a slow answer instead of an immediate one); give it a short ``timeout``. With
    ``chain_id`` given, nothing is asked of the endpoint until the first read.
    """

    def __init__(self, url: str, timeout: float = 30.0, *, lean: bool = False, chain_id: int | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"chain URL must start with http:// or https://, got {url!r}")
        self._url = url
        if lean:
            provider = HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
            self._web3 = Web3(provider, middleware=[])
        else:
            # web3 asks eth_chainId before each call it validates (two requests per read instead of one); a
            # node's chain id never changes, so the provider answers it from its cache after the first time.
            provider = HTTPProvider(
                url,
                request_kwargs={"timeout": timeout},
                cache_allowed_requests=True,
                cacheable_requests={RPCEndpoint("eth_chainId")},
            )
            self._web3 = Web3(provider)
            # Consortium chains (our node, Besu QBFT) carry validator seals in extraData, beyond Ethereum's 32 bytes.
            self._web3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        if chain_id is not None:
            self._chain_id = chain_id
            return
        try:
            self._chain_id = int(self._web3.eth.chain_id)
        except Exception as exc:  # requests' and web3's errors alike: the node is not there
            raise BackendError(
                f"cannot reach the chain at {url}: {exc.__class__.__name__}; "
                "is the node running (`consortium up DIR`) and the URL right?"
            ) from exc

    @property
    def web3(self) -> Web3:
        return self._web3

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def url(self) -> str:
        return self._url

    @property
    def description(self) -> str:
        return f"JSON-RPC {self._url}"

    def close(self) -> None:
        """HTTP connections are pooled by web3 and closed with the process."""

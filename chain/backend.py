"""One interface, several chains.

A :class:`Backend` is anything that gives a connected :class:`web3.Web3`: the in-process py-evm chain of
eth-tester (fast unit tests, state lives in memory only) or any Ethereum JSON-RPC URL (anvil, Hyperledger
Besu, the consortium's own node). Everything above this module talks to chains only through it.

Reads (``eth_call`` and the latest block's time) also have a method of their own: over JSON-RPC they are one
HTTP request each, without web3, whose import alone costs about a second of CPU, so a read-only command
(``consortium member list``) never loads it.

A node that serves its JSON-RPC to members only (``consortium node --rpc-cert``) is reached at an ``https`` URL
with a member's certificate: :class:`ClientTls` (certificate, key, the CAs that issued the node's certificate),
used by the reads and by web3 alike. A refusal (HTTP 401 or 403 with a JSON-RPC error object) raises
:class:`~chain.errors.BackendError` with the node's reason, and is not retried.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from chain.errors import BackendError, BatchAnswerError, ChainError, RpcAnswerError
from chain.tlsfiles import ReloadingContext, generation

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

    def storage_at(self, address: str, slot: int, block: int) -> object:
        """The storage word at ``slot`` of ``address`` in block ``block`` (eth-tester's own call: web3 hands it a
        block number as hex text, which it refuses)."""
        return self._tester.get_storage_at(address, hex(slot), block)

    def block_time(self) -> int:
        return int(self._web3.eth.get_block("latest")["timestamp"])

    def close(self) -> None:
        """Nothing to release: the chain goes with the object."""


def reloading_client_context(
    cert: Path | str, key: Path | str, password: bytes | None, *, cafile: str | None = None, cadata: str | None = None
) -> ReloadingContext:
    """``ssl.create_default_context(cafile=…, cadata=…)`` with ``cert`` and ``key`` presented and followed
    (:class:`chain.tlsfiles.ReloadingContext`); ``ssl.SSLError`` or ``OSError`` if they cannot be loaded now."""
    context = ReloadingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=cafile, cadata=cadata)
    context.present(cert, key, password)
    return context


@dataclass(frozen=True)
class ClientTls:
    """A member's client certificate for a node's JSON-RPC over HTTPS: ``cert`` and ``key`` (PEM files; an
    encrypted key is opened with ``password``; neither: no certificate, for a node's public methods), and the CAs
    the node's certificate chains to, as a file (``ca_file``) or PEM text (``ca_pem``, e.g. the member CAs of
    ``consortium.json``); nothing else is trusted."""

    cert: Path | None
    key: Path | None
    ca_file: Path | None = None
    ca_pem: str | None = None
    password: bytes | None = None

    def context(self) -> ssl.SSLContext:
        """The client's TLS context; :class:`BackendError` saying which file cannot be used."""
        if self.ca_file is None and not self.ca_pem:
            raise BackendError("a client certificate for the chain needs the CAs of the node's certificate")
        cafile, cadata = None if self.ca_file is None else str(self.ca_file), self.ca_pem or None
        try:
            if self.cert is not None and self.key is not None:
                # the certificate followed in its file (a CA rotated re-issues it); its password given as a callable,
                # never None: with None OpenSSL would prompt on the terminal for an encrypted key
                return reloading_client_context(self.cert, self.key, self.password, cafile=cafile, cadata=cadata)
            context = ssl.create_default_context(cafile=cafile, cadata=cadata)
        except (OSError, ssl.SSLError) as exc:
            raise BackendError(f"cannot use the chain client certificate {self.cert} with {self.key}: {exc}") from None
        return context


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
    retries either. With ``chain_id`` given, nothing is asked of the endpoint until the first read; with
    ``defer=True`` neither, and the chain id is asked when first wanted (a follower made before its node is up).
    With ``tls`` (an ``https`` URL) every request presents that client certificate.

    :meth:`batch` sends JSON-RPC batches of at most :attr:`MAX_BATCH_REQUESTS` requests; :meth:`request` and
    :meth:`batch` take ``retries`` for one call (the explorer's chain follower retries ``eth_blockNumber`` as web3
    did, four times, and its batches not at all: its own rounds retry them).
    """

    RETRIES = 5
    BACKOFF_S = 0.125
    #: Most requests in one JSON-RPC batch (our node takes 1,000, Besu 1,024 by default).
    MAX_BATCH_REQUESTS = 500

    def __init__(
        self,
        url: str,
        timeout: float = 30.0,
        *,
        lean: bool = False,
        chain_id: int | None = None,
        tls: ClientTls | None = None,
        defer: bool = False,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"chain URL must start with http:// or https://, got {url!r}")
        if tls is not None and not url.startswith("https://"):
            raise BackendError(f"a client certificate is for an https chain URL, not {url!r}")
        self._url = url
        self.tls = tls  # a connection of its own to the same node (the gateway's lean reads) presents the same
        self._ssl = None if tls is None else tls.context()
        self._timeout = timeout
        self._lean = lean
        self._web3: Web3 | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        #: The standard library's connection of :meth:`head_number` on a lean backend, kept open between polls.
        self._plain: http.client.HTTPConnection | None = None
        self._plain_lock = threading.Lock()
        self._plain_generation = generation(self._ssl)  # of the context, when the connection was made
        self._chain_id: int | None = chain_id
        if chain_id is None and not defer:
            self._chain_id = self._ask_chain_id()

    def _ask_chain_id(self) -> int:
        """``eth_chainId``; :class:`BackendError` saying why the node cannot be used."""
        url = self._url
        try:
            return int(self._request("eth_chainId", []), 16)
        except BackendError:
            raise
        except Exception as exc:  # httpx's errors and a malformed answer alike: the node is not there
            if _tls_failure(exc) == "unverified":
                raise BackendError(
                    f"cannot verify the TLS certificate of the chain at {url} ({exc}): give the CAs it chains to "
                    "(the CLI trusts the member CAs of consortium.json, or --chain-ca)"
                ) from exc
            if _tls_failure(exc) == "refused":
                raise BackendError(
                    f"the chain at {url} refused the TLS handshake ({exc}): a node serving members only accepts "
                    "certificates issued by a member CA of the consortium"
                ) from exc
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

        session = None if self._ssl is None else _requests_session(self._ssl, self._url)
        if self._lean:
            provider = HTTPProvider(
                self._url,
                request_kwargs={"timeout": self._timeout},
                exception_retry_configuration=None,
                session=session,
            )
            return Web3(provider, middleware=[])
        # web3 asks eth_chainId before each call it validates (two requests per read instead of one); a node's
        # chain id never changes, so the provider answers it from its cache, filled here with the one we know.
        provider = HTTPProvider(
            self._url,
            request_kwargs={"timeout": self._timeout},
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
            session=session,
        )
        web3 = Web3(provider)
        # Consortium chains (our node, Besu QBFT) carry validator seals in extraData, beyond Ethereum's 32 bytes.
        web3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        return web3

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._ask_chain_id()
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

    def request(self, method: str, params: list[Any], *, retries: int | None = None) -> Any:
        """One JSON-RPC request of any method, the node's own (``consortium_nodeStatus``) too: its result. An
        error answer or a refusal raises :class:`~chain.errors.RpcAnswerError` with the node's reason and error
        object (a revert of ``eth_call`` as web3 would raise it); an unreachable node raises httpx's error, after
        ``retries`` retries (default: the backend's)."""
        return self._request(method, params, retries)

    def head_number(self) -> int:
        """The chain's head block number: one ``eth_blockNumber``. On a lean backend over plain HTTP or with a
        TLS context of its own, as the chain view's watcher and the trust views poll it several times a second,
        the request goes on a standard library connection kept open between polls (:meth:`_plain_request`):
        about 0.45 ms of CPU a poll every 0.1 s, against about 1.2 ms through httpx's client (docs/gateway.md)."""
        if self._lean and (self._ssl is not None or self._url.startswith("http://")):
            return int(str(self._plain_request("eth_blockNumber")), 16)
        return int(str(self._request("eth_blockNumber", [])), 16)

    def _plain_request(self, method: str) -> Any:
        """One JSON-RPC request without parameters on :attr:`_plain`, answered and refused as :meth:`_request`
        answers; no retries (lean), except that a kept connection the node closed meanwhile (its idle timeout, a
        restart) is opened again once: nothing of the request was served."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
        parts = urlsplit(self._url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with self._plain_lock:
            if generation(self._ssl) != self._plain_generation:  # a certificate re-issued: a new connection
                self._drop_plain()
                self._plain_generation = generation(self._ssl)
            for attempt in range(2):
                kept = self._plain is not None
                if self._plain is None:
                    host, port = parts.hostname or "", parts.port
                    self._plain = (
                        http.client.HTTPConnection(host, port, timeout=self._timeout)
                        if self._ssl is None
                        else http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._ssl)
                    )
                try:
                    self._plain.request("POST", target, body, {"Content-Type": "application/json"})
                    response = self._plain.getresponse()
                    status, data = response.status, response.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    self._drop_plain()
                    if not kept or attempt:
                        raise ConnectionError(f"the chain at {self._url} closed the connection: {exc}") from exc
                except http.client.HTTPException as exc:  # not an OSError: a malformed answer
                    self._drop_plain()
                    raise BackendError(f"the chain at {self._url} answered {method} unreadably: {exc}") from exc
                except BaseException:
                    self._drop_plain()
                    raise
        if status in (401, 403):
            _raise_refusal_of(self._url, method, status, data.decode("utf-8", "replace"))
        if not 200 <= status < 300:
            raise BackendError(f"the chain at {self._url} answered {method} with HTTP {status}")
        answer = json.loads(data)
        if not isinstance(answer, dict):
            raise BackendError(f"the chain at {self._url} answered {method} with no JSON-RPC object")
        if "error" in answer:
            _raise_rpc_error(method, answer)
        return answer["result"]

    def _drop_plain(self) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None

    def batch(
        self, calls: Sequence[tuple[str, list[Any]]], *, answers: bool = False, retries: int | None = None
    ) -> list[Any]:
        """Several JSON-RPC requests in batches (JSON-RPC 2.0) of at most :attr:`MAX_BATCH_REQUESTS`: their
        results, in the order of ``calls``. An error answer to any of them raises as :meth:`request` raises it;
        with ``answers=True`` nothing is raised for it: each request's answer object is returned as the node gave
        it (``result`` or ``error``), for a caller that tolerates some failing (the explorer's chain follower and
        a node without ``eth_getBlockReceipts``). A batch refused whole (one error object) or not answered exactly
        once per request raises :class:`~chain.errors.BatchAnswerError`; an unreachable node raises httpx's
        error, after ``retries`` retries (default: the backend's)."""
        out: list[Any] = []
        for start in range(0, len(calls), self.MAX_BATCH_REQUESTS):
            part = calls[start : start + self.MAX_BATCH_REQUESTS]
            for (method, _), answer in zip(part, self._batch_answers(part, retries), strict=True):
                if answers:
                    out.append(answer)
                    continue
                if "error" in answer:
                    _raise_rpc_error(method, answer)
                out.append(answer.get("result"))
        return out

    def _batch_answers(self, calls: Sequence[tuple[str, list[Any]]], retries: int | None) -> list[dict[str, Any]]:
        """One batch's answer objects, in the order of ``calls``."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self._post(payload, calls[0][0], retries)
        n = len(calls)
        if not isinstance(answers, list):
            error = answers.get("error") if isinstance(answers, dict) else answers
            raise BatchAnswerError(f"the chain at {self._url} refused a batch of {n} requests: {error}", n, None, error)
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if len(answers) != n or sorted(k for k in by_id if isinstance(k, int)) != list(range(n)):
            raise BatchAnswerError(
                f"the chain at {self._url} answered a batch of {n} requests with {len(answers)} answers, not one each",
                n,
                len(answers),
            )
        return [by_id[i] for i in range(n)]

    def node_status(self) -> dict[str, Any] | None:
        """The consortium node's ``consortium_nodeStatus`` (head, round, peers, sync and quorum), or None from a
        node that answers it with an error (anvil, Besu: no such method; a node refusing this client) or not with
        an object. An unreachable node raises httpx's error."""
        try:
            status = self._request("consortium_nodeStatus", [])
        except RpcAnswerError:
            return None
        return dict(status) if isinstance(status, dict) else None

    def _request(self, method: str, params: list[Any], retries: int | None = None) -> Any:
        """One JSON-RPC request; an error answer raises as web3 would raise it (a revert as ContractLogicError)."""
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, method, retries)
        if "error" in answer:
            _raise_rpc_error(method, answer)
        return answer["result"]

    def _post(self, payload: Any, method: str, retries: int | None = None) -> Any:
        """POST one JSON-RPC body, retried as the class says (``retries`` times if given); the decoded answer."""
        import httpx

        from chain.tlsclient import tls_client

        with self._lock:
            if self._http is None:  # a certificate re-issued in its file: new connections (chain.tlsclient)
                self._http = tls_client(self._ssl or True, timeout=self._timeout)
            http = self._http
        if retries is None:
            retries = 0 if self._lean else self.RETRIES
        for attempt in range(retries + 1):
            try:
                response = http.post(self._url, json=payload)
                if response.status_code in (401, 403):
                    _raise_refusal(self._url, method, response)
                response.raise_for_status()
                break
            except (httpx.TransportError, httpx.HTTPStatusError):
                if attempt == retries:
                    raise
                time.sleep(self.BACKOFF_S * 2**attempt)
        return response.json()

    def close(self) -> None:
        """Close the pooled connection of the raw reads (httpx's), for a backend made for one question; a later read
        opens another. web3's connections stay pooled and are closed with the process."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()


def read_errors() -> tuple[type[Exception], ...]:
    """What a failed read of the chain may raise: httpx's errors (reads over JSON-RPC), requests' and web3's (web3
    and the requests session under it, once a process has used them), OSError, ChainError and ValueError. For
    ``except read_errors():``, evaluated when an exception is matched: requests' and web3's classes join only when
    their modules have been imported, since nothing can raise them before, so that catching them does not import
    web3 (about half a second of CPU) into a process that only reads."""
    import httpx

    found: list[type[Exception]] = [httpx.HTTPError, OSError, ChainError, ValueError]
    requests_errors = sys.modules.get("requests.exceptions")
    if requests_errors is not None:
        found.append(requests_errors.RequestException)
    web3_errors = sys.modules.get("web3.exceptions")
    if web3_errors is not None:
        found.append(web3_errors.Web3Exception)
    return tuple(found)


def head_number(backend: Backend) -> int:
    """The chain's head block number: over JSON-RPC one plain ``eth_blockNumber`` (web3's request stack costs
    several times the request itself, and a watcher asks this several times a second), else web3's."""
    if isinstance(backend, RpcBackend):
        return backend.head_number()
    return int(backend.web3.eth.block_number)


def block_hash(backend: Backend, number: int) -> bytes:
    """The hash of block ``number`` on the chain the backend reads now: over JSON-RPC one plain
    ``eth_getBlockByNumber`` without its transactions (web3's request stack costs more than the request), else
    web3's. :class:`BackendError` when the chain has no such block."""
    if isinstance(backend, RpcBackend):
        block = backend.request("eth_getBlockByNumber", [hex(number), False])
        if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
            raise BackendError(f"the chain at {backend.url} has no block {number}")
        return bytes.fromhex(block["hash"].removeprefix("0x"))
    return bytes(backend.web3.eth.get_block(number)["hash"])


def logs_of(backend: Backend, first: int, last: int, addresses: Sequence[str]) -> list[dict[str, Any]]:
    """The logs that ``addresses`` emitted in blocks ``first`` to ``last``, undecoded: over JSON-RPC one plain
    ``eth_getLogs`` (each log as the node answered it: ``address`` in hex), else web3's."""
    if isinstance(backend, RpcBackend):
        answer = backend.request(
            "eth_getLogs", [{"fromBlock": hex(first), "toBlock": hex(last), "address": list(addresses)}]
        )
        if not isinstance(answer, list):
            raise BackendError(f"the chain at {backend.url} answered eth_getLogs with {type(answer).__name__}")
        return [dict(entry) for entry in answer]
    found = backend.web3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": list(addresses)})  # type: ignore[typeddict-item]
    return [dict(entry) for entry in found]


def _raise_refusal(url: str, method: str, response: Any) -> None:
    """A node that does not admit this client: its reason, from the JSON-RPC error object it answered
    (``response``: httpx's or requests')."""
    _raise_refusal_of(url, method, response.status_code, response.text)


def _raise_refusal_of(url: str, method: str, status: int, text: str) -> None:
    """:func:`_raise_refusal` from the answer's status and text."""
    try:
        reason = str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        reason = text[:300] or f"HTTP {status}"
    raise RpcAnswerError(f"the chain at {url} refused {method} (HTTP {status}): {reason}", reason)


def _tls_failure(exc: BaseException) -> str | None:
    """How a TLS handshake failed, if ``exc`` (or what caused it) says it did: ``unverified`` (this client
    cannot verify the server's certificate) or ``refused`` (the server sent an alert: it refused ours)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            return "unverified"
        if isinstance(seen, ssl.SSLError) or "alert" in text.lower():
            return "refused"
        seen = seen.__cause__ or seen.__context__
    return None


def _requests_session(context: ssl.SSLContext, url: str) -> Any:
    """A requests session (web3's HTTP) whose https connections use ``context``: its client certificate, and its
    CAs as the only ones trusted. A refusal (401, 403) raises :class:`BackendError` with the node's reason, as the
    reads do, instead of web3's bare HTTP error."""
    import json

    import requests
    from requests.adapters import HTTPAdapter

    def refused(response: Any, *_args: Any, **_kwargs: Any) -> None:
        if response.status_code in (401, 403):
            try:
                method = str(json.loads(response.request.body)["method"])
            except (ValueError, KeyError, TypeError):
                method = "a request"
            _raise_refusal(url, method, response)

    class _ContextAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, ssl_context=context, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            """Nothing: ``context`` verifies, against its own CAs (requests would add its default bundle)."""

    class _RenewingSession(requests.Session):
        """Its pooled connections closed once ``context`` loaded its certificate files again, so that the next
        requests present the certificate re-issued (``chain.tlsclient``); one in use is discarded when returned."""

        made = generation(context)

        def request(self, *args: Any, **kwargs: Any) -> Any:
            now = generation(context)
            if now != self.made:
                self.made = now
                self.close()
            return super().request(*args, **kwargs)

    session = _RenewingSession()
    session.mount("https://", _ContextAdapter())
    session.hooks["response"].append(refused)
    return session


def _raise_rpc_error(method: str, answer: dict[str, Any]) -> None:
    """Raise a JSON-RPC error answer as web3 does: a revert of ``eth_call`` with web3's own ContractLogicError
    and message (web3 is imported for it: a revert is not a start-up path), anything else as BackendError."""
    if method == "eth_call":
        from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert

        raise_contract_logic_error_on_revert(answer)  # type: ignore[arg-type]
    error = answer["error"]
    reason = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    raise RpcAnswerError(f"the chain refused {method}: {error}", reason, error)

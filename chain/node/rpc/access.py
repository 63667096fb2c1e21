"""Who may use a node's JSON-RPC when it serves it over TLS: the consortium's members, and anyone for the
methods of an explicit public subset.

A node's JSON-RPC serves every block, receipt and log, and runs ``eth_call`` on any state: what the chain holds
is for the members (docs/confidentiality.md, "The chain"). With TLS (``consortium node --rpc-cert``) the server
*asks* each client for a certificate without requiring one (``CERT_OPTIONAL``), so that a client without one
completes the handshake and gets an answer that says why it is refused, rather than a TLS alert.

Who is a member is not decided here: :attr:`RpcAccess.admit`, given by whoever starts the node (``cli.node``,
with ``network.certificates.CallerAuthenticator`` over the member CAs and CRLs and the registry of the node's own
chain, ``network.nodeaccess``), takes the client certificate's DER (None without one) and returns its org, or
raises :class:`~chain.node.rpc.errors.RpcRefusedError` saying why. This module applies it to each request:

- a member's request may call every method;
- anyone else may call the methods of :attr:`RpcAccess.public` only: a body (one request or a batch) whose every
  method is public is answered as usual; any other body is answered with the refusal's HTTP status (401 without
  a certificate, 403 with a certificate that is not a member's) and one JSON-RPC error object whose message is
  the reason (:func:`refused_body`);
- ``GET /health`` answers anyone else its status code and ``{"ok": ...}`` only; ``GET /metrics`` is refused.

The public subset is explicit, with no default and no wildcard, and read-only: :func:`public_methods` refuses a
write method (:data:`WRITE_METHODS`) and a method the node does not serve.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from chain.node.rpc.envelope import check_nesting, dump
from chain.node.rpc.errors import RpcConfigError, RpcError, RpcRefusedError, error_object

#: The client certificate's DER (None: no certificate) -> the member org; raises ``RpcRefusedError``.
Admit = Callable[[bytes | None], str]

#: Methods that change the chain or sign: never in a public subset. Of the node's own methods only
#: eth_sendRawTransaction writes; the others are named so that a list written for another client is refused
#: with the reason, not as unknown.
WRITE_METHODS = frozenset(
    {"eth_sendRawTransaction", "eth_sendTransaction", "eth_signTransaction", "eth_sign", "personal_sign"}
)


def public_methods(names: Iterable[str], served: Collection[str] | None = None) -> frozenset[str]:
    """The public subset named by ``names`` (empty strings ignored); :class:`RpcConfigError` for a write method or,
    given the methods the node ``served``, one it does not serve (the server checks that again as it starts)."""
    chosen = frozenset(n.strip() for n in names if n.strip())
    writes = sorted(chosen & WRITE_METHODS)
    if writes:
        raise RpcConfigError(
            f"{', '.join(writes)} cannot be public: the public subset is read-only; a member sends transactions "
            "with its certificate"
        )
    unknown = sorted(chosen - frozenset(served if served is not None else chosen))
    if unknown:
        raise RpcConfigError(f"this node serves no method {', '.join(unknown)}: it cannot be made public")
    return chosen


@dataclass(frozen=True, slots=True)
class RpcAccess:
    """The rule: ``admit`` names a member's org or raises why not; ``public`` are the methods anyone may call."""

    admit: Admit
    public: frozenset[str] = frozenset()

    def refusal(self, der: bytes | None) -> RpcRefusedError | None:
        """Why the client presenting ``der`` is not a member, or None when it is."""
        try:
            self.admit(der)
        except RpcRefusedError as exc:
            return exc
        return None

    def all_public(self, body: bytes) -> bool:
        """Whether every method ``body`` names is public (False for a body that does not name each one)."""
        if not self.public:
            return False
        methods = requested_methods(body)
        return methods is not None and all(m in self.public for m in methods)


def requested_methods(body: bytes) -> list[str] | None:
    """The method names of a JSON-RPC body, one request or a batch; None when it is not JSON, is an empty
    batch, or a request names no method."""
    request = _parsed(body)
    requests = request if isinstance(request, list) else [request]
    names = [r.get("method") if isinstance(r, dict) else None for r in requests]
    if not names or not all(isinstance(n, str) for n in names):
        return None
    return [str(n) for n in names]


def refused_body(body: bytes, refusal: RpcRefusedError) -> bytes:
    """The answer to a refused body: one JSON-RPC error object, with the request's id when it is one request."""
    request_id: Any = None
    request = _parsed(body)
    if isinstance(request, dict) and isinstance(request.get("id"), str | int):
        request_id = request["id"]
    return dump({"jsonrpc": "2.0", "id": request_id, "error": error_object(refusal)})


def _parsed(body: bytes) -> Any:
    """The JSON of ``body``, or None when it is not JSON or is nested deeper than the envelope accepts: the json
    module's C parser recurses once per level, and a body of 100,000 ``[`` from anyone would otherwise overflow
    the stack and kill the node (``envelope.check_nesting``)."""
    try:
        check_nesting(body)
        return json.loads(body)
    except (RpcError, ValueError, RecursionError):
        return None

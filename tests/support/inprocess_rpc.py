"""JSON-RPC to a node in this process, through the node's own request handler (``RpcServer.handle``), without a
socket: single requests and batches as a client sends them over HTTP; ``Tamper`` lets a test change what the
node answers, to play a node that lies."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from chain.errors import RpcAnswerError
from chain.node.rpc import RpcServer

#: (method, params, result) -> the result the lying node answers instead.
Tamper = Callable[[str, list[Any], Any], Any]


class InProcessRpc:
    def __init__(self, rpc: RpcServer, tamper: Tamper | None = None) -> None:
        self.rpc = rpc
        self.tamper = tamper
        self.requests: list[str] = []

    def request(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        raw = self.rpc.handle(json.dumps(body).encode())
        assert raw is not None
        answers = {a["id"]: a for a in json.loads(raw)}
        results = []
        for i, (method, params) in enumerate(calls):
            self.requests.append(method)
            if "error" in answers[i]:
                raise RpcAnswerError(f"{method}: {answers[i]['error']['message']}", answers[i]["error"]["message"])
            result = answers[i]["result"]
            results.append(result if self.tamper is None else self.tamper(method, params, result))
        return results

"""The equivocation evidence the consortium's chain nodes kept (``qbft_getEquivocations``, ``chain.qbft.evidence``),
gathered from every node the explorer can reach and checked here before it is shown: the explorer trusts no node
for any of it.

A validator that equivocates towards some nodes only (two messages, each to a different half of the network) is
recorded by the nodes that received both and by no other: the explorer's own node alone may hold nothing. So
:class:`EquivocationBook` asks each node of its ``sources`` (its own chain node, then the other nodes
``nodes/nodes.json`` lists, then those only the chain lists, at their peer route:
``network.equivocationsources.equivocation_sources``) side by side, each within ``timeout`` seconds, so a page waits
at most about one timeout whatever the number of nodes and however many hang. It asks at most every ``max_age``
seconds (when the page asks, not in the background: an idle explorer asks nothing), one ask at a time: the page
that finds the last answer old waits for the new one, a page that comes while that ask is in flight gets the last
answer at once (or, before the first answer, waits for that same ask instead of making another).

:meth:`EquivocationBook.view` merges the records: one with the same validator, height, round, type and the same
two message bodies (in either order) from several nodes is one record listing the nodes that reported it
(``nodes``). It checks each one with ``verify_equivocation`` from its two signed message bodies alone (both decode,
both signatures recover the record's validator, same height, round and type, different content), against the
validator set of its height when the explorer has indexed that height's parent block (its seals name the set:
``set_checked``). A record that fails is not listed as evidence: it is listed apart, under ``refused``, with the
node that served it and the reason, since a node that serves a false record is itself worth knowing about.

Each node is reported under ``nodes`` with whether it answered at the last ask; one that does not answer (down,
too slow, lacking the method: anvil, Besu, a node started alone) or answers something other than a list is listed
with its error and the records of its last good answer, if any, and hides nothing the others answered. ``source``
is the explorer's own node's status, as before.

Each record listed carries both bodies (hex, as received), so the page can hand it out as the JSON of
``qbft_getEquivocations`` for ``consortium chain equivocations --file F --verify``. Their number and size are
each node's bounds (``chain.qbft.evidence.KEEP`` records, ``KEEP_BYTES`` of bodies) times the nodes asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from chain.errors import MalformedError
from chain.qbft.evidence import Equivocation, InvalidEvidenceError, verify_equivocation
from network.equivocationsources import OWN, Fetch, NodeSource

#: Seconds an answer of the nodes is reused for.
MAX_AGE_S = 10.0
#: Seconds each node has to answer; the nodes are asked side by side, so a page waits about this long at most.
TIMEOUT_S = 3.0
Sources = Callable[[], Sequence[NodeSource]]


def parse_answer(answer: object) -> list[Equivocation | MalformedError]:
    """The records of a ``qbft_getEquivocations`` result, each parsed or the reason it does not parse;
    :class:`MalformedError` if the answer is not a list."""
    if not isinstance(answer, list):
        raise MalformedError(f"qbft_getEquivocations answered a {type(answer).__name__}, not a list")
    parsed: list[Equivocation | MalformedError] = []
    for item in answer:
        try:
            if not isinstance(item, dict):
                raise MalformedError(f"a record is a JSON object, not a {type(item).__name__}")
            parsed.append(Equivocation.from_json(item))
        except MalformedError as exc:
            parsed.append(exc)
    return parsed


@dataclass
class _Node:
    """What one node answered: the records of its last good answer, and the error of the last ask if it failed."""

    name: str
    own: bool
    records: list[Equivocation | MalformedError] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one node answered at one ask: its records, or None and why not."""

    name: str
    records: list[Equivocation | MalformedError] | None
    error: str | None


def _error(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:300]


class EquivocationBook:
    """The records of every node of ``sources`` (or of the one node ``fetch`` asks), fetched side by side and
    cached."""

    def __init__(
        self,
        fetch: Fetch | None = None,
        *,
        sources: Sources | None = None,
        max_age: float = MAX_AGE_S,
        timeout: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        if (fetch is None) == (sources is None):
            raise ValueError("give the book one node's fetch or the sources of every node: one of them")
        if sources is None:
            assert fetch is not None
            sources = _one(NodeSource(OWN, fetch, own=True))
        self.sources = sources
        self.max_age, self.timeout, self.clock = max_age, timeout, clock
        # guards the fields below and is never held while a node is asked: a page that finds an ask in flight
        # shows the last answer at once instead of waiting behind it
        self._lock = threading.Lock()
        self._nodes: dict[str, _Node] = {}
        self._order: list[str] = []
        self._fetched_at: float | None = None
        self._asking: threading.Event | None = None  # the ask in flight, set when it ends
        self._answered = False  # an ask has ended: there is an answer to show

    def _refresh(self) -> None:
        """Ask the nodes if the last ask is ``max_age`` old, one ask at a time: the page that finds it old asks and
        waits for the answer; a page that comes while that ask is in flight shows the last answer without waiting,
        or waits for that ask when there is none yet."""
        with self._lock:
            now, asking = self.clock(), self._asking
            if asking is None:
                if self._fetched_at is not None and now - self._fetched_at < self.max_age:
                    return
                self._fetched_at = now
                self._asking = done = threading.Event()
            answered = self._answered
        if asking is not None:
            if not answered:
                asking.wait()  # bounded: the ask in flight waits ``timeout`` seconds at most for the nodes
            return
        try:
            sources, answers = self._ask()
            with self._lock:
                self._take(sources, answers)
        finally:
            with self._lock:
                self._asking, self._answered = None, True
            done.set()

    def _ask(self) -> tuple[list[NodeSource] | _Node, list[_Answer]]:
        """The nodes to ask (or, when their list cannot be read, a node saying so) and their answers: every node
        asked side by side; ``timeout`` seconds at most in all, not waiting for one that hangs longer."""
        try:
            sources = list(self.sources())
        except Exception as exc:  # the list of nodes cannot be read: said under a node of its own
            return _Node("node list", own=False, error=_error(exc)), []
        if not sources:
            return sources, []
        pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="equivocations")
        try:
            asked: dict[Future[object], NodeSource] = {pool.submit(s.fetch): s for s in sources}
            wait_for(asked, timeout=self.timeout)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        answers = []
        for future, source in asked.items():
            if not future.done():
                answers.append(_Answer(source.name, None, f"no answer within {self.timeout:g} s"))
            elif (failed := future.exception()) is not None:  # down, or lacks the method
                answers.append(_Answer(source.name, None, _error(failed)))
            else:
                try:
                    answers.append(_Answer(source.name, parse_answer(future.result()), None))
                except MalformedError as garbage:  # not a list
                    answers.append(_Answer(source.name, None, _error(garbage)))
        return sources, answers

    def _take(self, sources: list[NodeSource] | _Node, answers: Sequence[_Answer]) -> None:
        """Keep the answers of an ask (under the lock): a node that failed keeps the records of its last good
        answer; nodes no longer listed are forgotten."""
        if isinstance(sources, _Node):  # the list of nodes cannot be read
            self._order, self._nodes = [sources.name], {sources.name: sources}
            return
        self._order = [s.name for s in sources]
        self._nodes = {n: self._nodes[n] for n in self._order if n in self._nodes}
        for source in sources:
            self._nodes.setdefault(source.name, _Node(source.name, source.own))
        for answer in answers:
            node = self._nodes[answer.name]
            if answer.records is not None:
                node.records = answer.records
            node.error = answer.error

    def view(
        self, validators_at: Callable[[int], Sequence[str] | None], org_of: Callable[[str], str | None]
    ) -> dict[str, Any]:
        """``{equivocations: [...], refused: [{index, reason, node}], source: {ok, error}, nodes: [{name, own, ok,
        error, records}]}``: each record that proves its equivocation, once whichever nodes reported it, in the
        order first seen (the nodes in order, each answer in its order), with the nodes that reported it
        (``nodes``), its place in the first one's answer (``index``) and its validator named by the member holding
        its account; ``validators_at(n)`` is the set block ``n`` names (the set of height ``n + 1``), None if the
        explorer has not indexed it."""
        self._refresh()
        with self._lock:
            nodes = [self._nodes[name] for name in self._order]
            answers = [(node.name, list(node.records)) for node in nodes]
            statuses = [
                {"name": n.name, "own": n.own, "ok": n.error is None, "error": n.error, "records": len(n.records)}
                for n in nodes
            ]
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        refused: list[dict[str, Any]] = []
        verdicts: dict[tuple[Any, ...], tuple[str | None, bool]] = {}
        for name, records in answers:
            for index, record in enumerate(records):
                if isinstance(record, MalformedError):
                    refused.append({"index": index, "reason": str(record), "node": name})
                    continue
                key = _key(record)
                if key not in verdicts:
                    verdicts[key] = _verdict(record, validators_at)
                reason, set_checked = verdicts[key]
                if reason is not None:
                    refused.append({"index": index, "reason": reason, "node": name})
                    continue
                if key in merged:
                    if name not in merged[key]["nodes"]:
                        merged[key]["nodes"].append(name)
                    continue
                address = str(to_checksum_address(record.validator))
                merged[key] = {
                    "index": index,
                    "validator": {"address": address, "org": org_of(address)},
                    "height": record.height,
                    "round": record.round,
                    "type": record.code.name,
                    "set_checked": set_checked,
                    "record": record.to_json(),
                    "nodes": [name],
                }
        own = next((s for s in statuses if s["own"]), None)
        source = {"ok": own["ok"], "error": own["error"]} if own else {"ok": False, "error": "no chain node to ask"}
        return {"equivocations": list(merged.values()), "refused": refused, "source": source, "nodes": statuses}


def _one(source: NodeSource) -> Sources:
    return lambda: (source,)


def _key(record: Equivocation) -> tuple[Any, ...]:
    """The same conflict, whichever node received it and in which order it received the two messages."""
    first, second = sorted((record.first, record.second))
    return (record.validator, record.height, record.round, record.code, first, second)


def _verdict(record: Equivocation, validators_at: Callable[[int], Sequence[str] | None]) -> tuple[str | None, bool]:
    """None if ``record`` proves its equivocation (against its height's set when indexed), else why not; and
    whether it was checked against that set."""
    named = validators_at(record.height - 1) if record.height > 0 else None
    try:
        verify_equivocation(record, None if named is None else _raw_set(named))
    except (InvalidEvidenceError, ValueError) as exc:
        return str(exc), named is not None
    return None, named is not None


def _raw_set(addresses: Sequence[str]) -> list[bytes]:
    raw = []
    for address in addresses:
        if not isinstance(address, str) or len(address) != 42 or not address.startswith("0x"):
            raise ValueError(f"the indexed validator set holds {address!r}, not an address")
        raw.append(bytes.fromhex(address[2:]))
    return raw


def validators_from_index(blocks: Callable[..., Sequence[Mapping[str, Any]]]) -> Callable[[int], list[str] | None]:
    """``validators_at`` for :meth:`EquivocationBook.view` from the chain index's ``blocks(before=, limit=)``: the
    set block ``n``'s seals name, None when the block is not indexed or carries no set."""

    def validators_at(number: int) -> list[str] | None:
        rows = blocks(before=number + 1, limit=1)
        if not rows or int(rows[0]["number"]) != number:
            return None
        seals = rows[0].get("seals")
        named = seals.get("validators") if isinstance(seals, Mapping) else None
        return [str(v) for v in named] if isinstance(named, list) else None

    return validators_at

"""The equivocation evidence the explorer's chain node kept (``qbft_getEquivocations``, ``chain.qbft.evidence``),
checked here before it is shown: the explorer trusts the node for none of it.

:class:`EquivocationBook` asks the node for its records at most every ``max_age`` seconds (when the page asks,
not in the background: an idle explorer asks nothing), and :meth:`EquivocationBook.view` checks each one with
``verify_equivocation`` from its two signed message bodies alone (both decode, both signatures recover the
record's validator, same height, round and type, different content), against the validator set of its height
when the explorer has indexed that height's parent block (its seals name the set: ``set_checked``). A record
that fails is not listed as evidence: it is listed apart, under ``refused``, with the reason, since a node that
serves a false record is itself worth knowing about.

Each record listed carries both bodies (hex, as received), so the page can hand it out as the JSON of
``qbft_getEquivocations`` for ``consortium chain equivocations --file F --verify``. Their number and size are
the node's bounds (``chain.qbft.evidence.KEEP`` records, ``KEEP_BYTES`` of bodies).

A node that does not answer the method (anvil, Besu, a node started alone) or cannot be reached gives
``source.ok = false`` with the reason and the records of the last good answer, if any.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eth_utils.address import to_checksum_address

from chain.errors import MalformedError
from chain.qbft.evidence import Equivocation, InvalidEvidenceError, verify_equivocation

#: Seconds an answer of the node is reused for.
MAX_AGE_S = 10.0

Fetch = Callable[[], object]


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


class EquivocationBook:
    """The node's records, fetched with ``fetch`` (its ``qbft_getEquivocations`` result) and cached."""

    def __init__(self, fetch: Fetch, *, max_age: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic):
        self.fetch, self.max_age, self.clock = fetch, max_age, clock
        self._lock = threading.Lock()
        self._records: list[Equivocation | MalformedError] = []
        self._fetched_at: float | None = None
        self._error: str | None = None

    def _refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if self._fetched_at is not None and now - self._fetched_at < self.max_age:
                return
            self._fetched_at = now
            try:
                self._records = parse_answer(self.fetch())
                self._error = None
            except Exception as exc:  # the node is down, lacks the method or answers garbage: say so, keep the last
                self._error = f"{exc.__class__.__name__}: {exc}"[:300]

    def view(
        self, validators_at: Callable[[int], Sequence[str] | None], org_of: Callable[[str], str | None]
    ) -> dict[str, Any]:
        """``{equivocations: [...], refused: [{index, reason}], source: {ok, error}}``: each record that proves
        its equivocation, in the node's order (``index``: its place in the node's answer), with its validator
        named by the member holding its account; ``validators_at(n)`` is the set block ``n`` names (the set of
        height ``n + 1``), None if the explorer has not indexed it."""
        self._refresh()
        with self._lock:
            records, error = list(self._records), self._error
        listed: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            if isinstance(record, MalformedError):
                refused.append({"index": index, "reason": str(record)})
                continue
            named = validators_at(record.height - 1) if record.height > 0 else None
            try:
                verify_equivocation(record, None if named is None else _raw_set(named))
            except (InvalidEvidenceError, ValueError) as exc:
                refused.append({"index": index, "reason": str(exc)})
                continue
            address = str(to_checksum_address(record.validator))
            listed.append(
                {
                    "index": index,
                    "validator": {"address": address, "org": org_of(address)},
                    "height": record.height,
                    "round": record.round,
                    "type": record.code.name,
                    "set_checked": named is not None,
                    "record": record.to_json(),
                }
            )
        return {"equivocations": listed, "refused": refused, "source": {"ok": error is None, "error": error}}


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

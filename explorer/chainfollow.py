"""Keeps the chain index current: a thread that reads new blocks over plain Ethereum JSON-RPC and indexes them.

Only standard methods are used (``eth_blockNumber``, ``eth_getBlockByNumber`` with full transactions,
``eth_getBlockReceipts``, or ``eth_getTransactionReceipt`` on a node without it), sent in JSON-RPC batches
through the project's one JSON-RPC client (``chain.backend.RpcBackend``), whose answers are the node's raw
JSON: the same follower reads our node, anvil or Besu. Each round fetches up to ``max_blocks`` blocks after the
index's head, at most :data:`BATCH_BLOCKS` per batch, and indexes them one SQLite transaction per block, in
order.

Decoding (:class:`ContractDecoder`) uses the committed ABIs of our four contracts at the addresses of
consortium.json: a transaction to one of them becomes ``function`` and ``args``, a deployment of one of them
``constructor`` and its arguments, a log ``event`` and ``args``. Arguments are made JSON-safe: addresses in
checksum form, bytes as 0x-hex, and the ``bytes32`` fields that hold short names (org, asset, purpose,
center, unit, api ids: ``chain.ids``) as their text (None for the empty name). Anything else (other
contracts, a call that does not decode) is kept with ``contract``/``function``/``args`` None.

Seals (:func:`block_seals`): on a chain whose header extra data is QBFT's (``chain.seal``: ours, or a Besu
QBFT network's), the signers are recovered from the commit digest of the header rebuilt from its JSON fields
(which must hash to the block hash), named by the member that holds each account, and counted against the
quorum of the parent's validator set; the proposer (the block's beneficiary) is named the same way. A chain
without QBFT seals (anvil) gives ``seals: None``.

Our sealed chain has instant finality; on another chain the follower stays ``confirmations`` blocks behind
the head and checks that each block's parent hash is the hash of the block indexed before it. A mismatch
means the chain reorganised below the indexed head (or the index belongs to another chain): indexing stops
for good, with the reason in ``status["last_error"]``; the index must be deleted and rebuilt. Transient
failures (node unreachable, a block that changed while being read) are retried at the next round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypedDict, cast

import rlp
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address

from chain.backend import RpcBackend
from chain.errors import BatchAnswerError, ChainError, RpcAnswerError
from chain.ids import bytes32_to_name, check_name
from chain.seal import SEAL_FORMAT, ExtraData, block_hash, quorum
from chain.seal import signers as seal_signers
from contracts import CONTRACT_NAMES, load_artifact

if TYPE_CHECKING:
    from chain.backend import ClientTls
from explorer.chainindex import ChainIndex
from explorer.errors import ChainDivergedError, FollowError
from notary.evidence import encode_header

log = logging.getLogger(__name__)

#: Blocks fetched in one JSON-RPC batch (and their receipts in a second one).
BATCH_BLOCKS = 100
#: Most blocks one round of the thread indexes before it looks at the chain's head again.
ROUND_BLOCKS = 500
#: Retries of a failed ``eth_blockNumber`` within a round (from 0.125 s, doubling: web3's, as before); a batch is
#: not retried within its round, the next round retries it.
HEAD_RETRIES = 4
#: Most seconds between retries after a failed round.
MAX_BACKOFF = 10.0

#: ``bytes32`` arguments of our contracts that hold a short name (``chain.ids``) rather than a digest or id.
NAME_ARGS = frozenset(
    {
        "org",
        "asset",
        "grantee",
        "grantor",
        "purpose",
        "by_org",
        "proposer",
        "from_org",
        "to_org",
        "owner",
        "center",
        "unit",
        "api",
        "provider",
        "notary",
    }
)


# -- decoding ---------------------------------------------------------------------------------------------------


def _hexstr(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _bytes(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise FollowError(f"expected 0x-hex data, got {value!r}")
    return bytes.fromhex(value[2:])


def _quantity(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise FollowError(f"expected a hex quantity, got {value!r}")
    return int(value, 16)


@lru_cache(maxsize=4096)
def _checksum(address: str | bytes) -> str:
    """Checksum form of an address; the same few accounts and contracts recur in every block."""
    return str(to_checksum_address(address))


def _name_or_hex(raw: bytes) -> str | None:
    """A short name stored as bytes32: its text, None for the empty name, 0x-hex if it is not a name."""
    try:
        text = bytes32_to_name(raw)
        return check_name(text) if text else None
    except ValueError:  # MalformedError, or UnicodeDecodeError for bytes that are not ASCII
        return _hexstr(raw)


def json_value(name: str, abi_type: str, value: Any) -> Any:
    """An ABI-decoded value made JSON-safe (see the module docstring)."""
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [json_value(name, inner, v) for v in value]
    if isinstance(value, tuple):
        return [json_value(name, "", v) for v in value]
    if abi_type == "bytes32" and name in NAME_ARGS:
        return _name_or_hex(bytes(value))
    if isinstance(value, bytes | bytearray):
        return _hexstr(bytes(value))
    if abi_type == "address":
        return _checksum(value)
    return value


def json_type(name: str, abi_type: str) -> Any:
    """The type of what :func:`json_value` makes of a value of ``abi_type`` named ``name``: what the explorer's
    API documents for each argument (``explorer.api.eventschema``)."""
    if abi_type.endswith("]"):
        return list[json_type(name, abi_type[: abi_type.rindex("[")])]  # type: ignore[misc]
    if abi_type.startswith("("):
        return list[Any]
    if abi_type == "bytes32" and name in NAME_ARGS:
        return str | None
    if abi_type == "bool":
        return bool
    if abi_type.startswith(("uint", "int")):
        return int
    return str  # address (checksummed), bytes (0x-hex), string (or, indexed, the 0x-hex hash that is its topic)


@dataclass(frozen=True, slots=True)
class _Abi:
    name: str
    inputs: tuple[tuple[str, str, bool], ...]  # (name, type, indexed)

    @property
    def types(self) -> list[str]:
        return [t for _, t, _ in self.inputs]


def _abi(entry: Mapping[str, Any]) -> _Abi:
    return _Abi(
        str(entry.get("name", entry["type"])),
        tuple((str(i["name"]), collapse_if_tuple(dict(i)), bool(i.get("indexed"))) for i in entry.get("inputs", ())),
    )


class ContractDecoder:
    """Decodes calls, deployments and logs of our contracts at the given addresses, and at ``retired`` ones
    (address → name: an AuditAnchor the consortium anchored on before, ``consortium.json``'s
    ``retired_anchors``), whose calls and logs decode as those of the contract of that name."""

    def __init__(self, contracts: Mapping[str, str], retired: Mapping[str, str] | None = None) -> None:
        unknown = (set(contracts) | set((retired or {}).values())) - set(CONTRACT_NAMES)
        if unknown:
            raise ValueError(f"unknown contract(s) {', '.join(sorted(unknown))}: ours are {', '.join(CONTRACT_NAMES)}")
        self.names = {str(address).lower(): name for address, name in (retired or {}).items()}
        self.names.update((str(address).lower(), name) for name, address in contracts.items())
        self._functions: dict[tuple[str, bytes], _Abi] = {}
        self._events: dict[tuple[str, bytes], _Abi] = {}
        self._constructors: dict[str, tuple[_Abi, bytes]] = {}
        for name in contracts:
            artifact = load_artifact(name)
            for entry in artifact.abi:
                if entry["type"] == "function":
                    self._functions[(name, bytes(function_abi_to_4byte_selector(cast(Any, entry))))] = _abi(entry)
                elif entry["type"] == "event" and not entry.get("anonymous"):
                    self._events[(name, bytes(event_abi_to_log_topic(cast(Any, entry))))] = _abi(entry)
                elif entry["type"] == "constructor":
                    self._constructors[name] = (_abi(entry), _bytes(artifact.bytecode))
            if name not in self._constructors:
                self._constructors[name] = (_Abi("constructor", ()), _bytes(artifact.bytecode))

    def contract_at(self, address: str | None) -> str | None:
        return None if address is None else self.names.get(address.lower())

    def decode_call(self, contract: str, data: bytes) -> tuple[str, dict[str, Any]] | None:
        """``(function, args)`` of calldata to ``contract``; None if it is not one of its calls."""
        fn = self._functions.get((contract, data[:4]))
        if fn is None:
            return None
        try:
            values = abi_decode(fn.types, data[4:])
        except (DecodingError, ValueError, OverflowError):
            return None
        return fn.name, {n: json_value(n, t, v) for (n, t, _), v in zip(fn.inputs, values, strict=True)}

    def decode_deployment(self, contract: str, data: bytes) -> dict[str, Any] | None:
        """The constructor arguments of a deployment of ``contract``; None if the code is not its artifact's."""
        ctor, bytecode = self._constructors[contract]
        if not data.startswith(bytecode):
            return None
        try:
            values = abi_decode(ctor.types, data[len(bytecode) :])
        except (DecodingError, ValueError, OverflowError):
            return None
        return {n: json_value(n, t, v) for (n, t, _), v in zip(ctor.inputs, values, strict=True)}

    def decode_log(self, contract: str, topics: Sequence[bytes], data: bytes) -> tuple[str, dict[str, Any]] | None:
        """``(event, args)`` of a log of ``contract``; None if it is not one of its events."""
        if not topics:
            return None
        ev = self._events.get((contract, topics[0]))
        if ev is None:
            return None
        indexed = [(n, t) for n, t, i in ev.inputs if i]
        plain = [(n, t) for n, t, i in ev.inputs if not i]
        if len(topics) != len(indexed) + 1:
            return None
        try:
            values = dict(zip([n for n, _ in plain], abi_decode([t for _, t in plain], data), strict=True))
            for (n, t), topic in zip(indexed, topics[1:], strict=True):
                dynamic = t in ("string", "bytes") or t.endswith("]") or t.startswith("(")
                values[n] = topic if dynamic else abi_decode([t], topic)[0]  # a dynamic value's topic is its hash
        except (DecodingError, ValueError, OverflowError):
            return None
        return ev.name, {n: json_value(n, t, values[n]) for n, t, _ in ev.inputs}


# -- seals ------------------------------------------------------------------------------------------------------


def block_seals(
    block: Mapping[str, Any],
    parent_validators: Sequence[str] | None,
    org_of: Callable[[str], str | None],
) -> dict[str, Any] | None:
    """What a block's extra data says about its seals, or None when it is not our seal format.

    ``{format, round, validators (the set that seals the next block), proposer: {address, org}, signers:
    [{address, org}], threshold (seals needed from the parent's set), valid}``; ``proposer`` is the block's
    beneficiary (``miner``), the validator that proposed it (None when the block names none); ``threshold`` and
    ``valid`` are None for block 0 (no seals needed) and when the parent's set is unknown. ``note`` says why
    signers could not be recovered. Rows indexed before ``proposer`` was recorded lack the key."""
    try:
        extra = ExtraData.decode(_bytes(block.get("extraData")))
    except (ChainError, ValueError):
        return None
    out: dict[str, Any] = {
        "format": SEAL_FORMAT,
        "round": extra.round,
        "validators": [_checksum(v) for v in extra.validators],
        "proposer": _proposer(block.get("miner"), org_of),
        "signers": [],
        "threshold": None,
        "valid": None,
    }
    try:
        header = encode_header(dict(block))
    except (ChainError, KeyError, ValueError) as exc:
        out["note"] = f"the header could not be rebuilt from its fields ({exc})"
        return out
    fields = rlp.decode(header)
    if _hexstr(block_hash(fields)) != str(block.get("hash", "")).lower():
        out["note"] = "the header rebuilt from its fields does not hash to the block hash (unknown fork?)"
        return out
    signers = [to_checksum_address(a) for a in seal_signers(fields, extra)]
    out["signers"] = [{"address": a, "org": org_of(a)} for a in signers]
    if _quantity(block.get("number")) > 0 and parent_validators is not None:
        allowed = {a.lower() for a in parent_validators}
        valid = {a.lower() for a in signers} & allowed
        out["threshold"] = quorum(len(allowed))
        out["valid"] = len(valid) >= out["threshold"]
    return out


def _proposer(miner: Any, org_of: Callable[[str], str | None]) -> dict[str, Any] | None:
    """The block's beneficiary as ``{address, org}``; None when it is missing or not an address."""
    if not isinstance(miner, str):
        return None
    try:
        address = _checksum(miner)
    except ValueError:
        return None
    return {"address": address, "org": org_of(address)}


# -- the follower -----------------------------------------------------------------------------------------------


#: A block in JSON-RPC form and its receipts (None when they do not belong to it).
_Fetched = tuple[Mapping[str, Any], list[Mapping[str, Any]] | None]


@dataclass(slots=True)
class _Tip:
    """The last indexed block, which the next one must extend."""

    number: int
    hash: str
    validators: list[str] | None


class ChainFollowerStatus(TypedDict):
    """What :attr:`ChainFollower.status` reports (the explorer's health relays it)."""

    head_seen: int | None
    indexed_head: int
    last_error: str | None
    last_sync_ms: int | None
    halted: bool
    running: bool


class ChainFollower:
    """A daemon thread indexing new blocks into ``index``; ``sync_once`` does one round in the caller's thread."""

    def __init__(
        self,
        index: ChainIndex,
        rpc_url: str,
        contracts: Mapping[str, str],
        *,
        poll: float = 0.5,
        confirmations: int = 0,
        timeout: float = 30.0,
        tls: ClientTls | None = None,
        retired: Mapping[str, str] | None = None,
    ) -> None:
        if confirmations < 0:
            raise ValueError("confirmations must be 0 or more")
        self.index = index
        self.rpc_url = rpc_url
        self.poll = poll
        self.confirmations = confirmations
        self.decoder = ContractDecoder(contracts, retired)
        # with ``tls``, the requests present a member's client certificate (a node serving members only); nothing is
        # asked of the node before the first round
        self._rpc = RpcBackend(rpc_url, timeout, tls=tls, defer=True)
        #: Whether receipts are read a block at a time (eth_getBlockReceipts); turned off when the node lacks it.
        self.block_receipts = True
        self._tip: _Tip | None = None
        self._halted: str | None = None
        self._sync_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._status: ChainFollowerStatus = {
            "head_seen": None,
            "indexed_head": index.head(),
            "last_error": None,
            "last_sync_ms": None,
            "halted": False,
            "running": False,
        }
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- status and thread ------------------------------------------------------------------------------------

    @property
    def status(self) -> ChainFollowerStatus:
        """``{head_seen, indexed_head, last_error, last_sync_ms (epoch ms of the last good round), halted,
        running}``: a copy, safe to read from any thread."""
        with self._status_lock:
            return self._status.copy()

    def _set(self, **values: Any) -> None:
        with self._status_lock:
            self._status.update(cast(ChainFollowerStatus, values))  # keyword names of ChainFollowerStatus

    def start(self) -> None:
        """Follow the chain in a daemon thread until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="chain-follower", daemon=True)
        self._set(running=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current round."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._set(running=False)

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    added = self.sync_once(ROUND_BLOCKS)
                    failures = 0
                except ChainDivergedError:
                    return
                except Exception:  # reported in status by sync_once; retried with backoff
                    failures += 1
                    self._stopping.wait(min(MAX_BACKOFF, self.poll * 2**failures))
                    continue
                if added < ROUND_BLOCKS:  # caught up with the head
                    self._stopping.wait(self.poll)
        finally:
            self._set(running=False)

    # -- one round --------------------------------------------------------------------------------------------

    def sync_once(self, max_blocks: int = ROUND_BLOCKS) -> int:
        """Index the blocks after the index's head, up to the chain's head less the confirmations (at most
        ``max_blocks``); returns how many were added. Failures are raised and recorded in ``status``."""
        with self._sync_lock:
            if self._halted is not None:
                raise ChainDivergedError(self._halted)
            added = 0
            try:
                head_seen = _quantity(self._call("eth_blockNumber", []))
                self._set(head_seen=head_seen)
                first = self.index.head() + 1
                last = min(head_seen - self.confirmations, first + max_blocks - 1)
                for start in range(first, last + 1, BATCH_BLOCKS):
                    end = min(last, start + BATCH_BLOCKS - 1)
                    count = self._index_fetched(self._fetch(start, end))
                    added += count
                    if count < end - start + 1:  # the rest is not there (yet): next round
                        break
            except ChainDivergedError as exc:
                self._halted = str(exc)
                self._set(last_error=str(exc), halted=True, indexed_head=self.index.head())
                log.error("chain follower stopped: %s", exc)
                raise
            except Exception as exc:
                message = f"{exc.__class__.__name__}: {exc}"[:500]
                if self.status["last_error"] != message:
                    log.warning("chain follower: %s", message)
                self._set(last_error=message, indexed_head=self.index.head())
                raise
            self._set(last_error=None, indexed_head=self.index.head(), last_sync_ms=int(time.time() * 1000))
            return added

    def _fetch(self, first: int, last: int) -> list[_Fetched]:
        """Blocks ``first..last`` with their receipts, up to the first that does not exist (yet); the receipts
        are None for a block that changed while it was read."""
        blocks = self._batch([("eth_getBlockByNumber", [hex(n), True]) for n in range(first, last + 1)])
        present = []
        for n, block in zip(range(first, last + 1), blocks, strict=True):
            if block is None:
                break
            if _quantity(block.get("number")) != n:
                raise FollowError(f"asked for block {n}, the node answered block {block.get('number')}")
            present.append(block)
        return list(zip(present, self._receipts(present), strict=True))

    def _index_fetched(self, fetched: Sequence[_Fetched]) -> int:
        """Index fetched blocks in order; returns how many."""
        added = 0
        for block, receipts in fetched:
            if receipts is None:
                if added == 0:
                    raise FollowError(f"block {block['number']} changed while being read (its receipts differ)")
                break
            self._index_block(block, receipts)
            added += 1
        return added

    def _tip_now(self) -> _Tip | None:
        head = self.index.head()
        if self._tip is None or self._tip.number != head:
            rows = self.index.blocks(before=head + 1, limit=1)
            if not rows:
                self._tip = None
            else:
                seals = rows[0]["seals"]
                validators = seals.get("validators") if isinstance(seals, dict) else None
                self._tip = _Tip(rows[0]["number"], rows[0]["hash"], validators)
        return self._tip

    def _index_block(self, block: Mapping[str, Any], receipts: Sequence[Mapping[str, Any]]) -> None:
        number = _quantity(block["number"])
        block_hash = str(block["hash"]).lower()
        parent_hash = str(block["parentHash"]).lower()
        tip = self._tip_now()
        if tip is not None and (tip.number != number - 1 or tip.hash != parent_hash):
            raise ChainDivergedError(
                f"block {number} has parent {parent_hash}, but the index holds block {tip.number} with hash "
                f"{tip.hash}: the chain changed below the indexed head (or the index is of another chain); "
                "delete the index to rebuild it"
                + ("" if self.confirmations else ", and follow with confirmations on a chain that can reorganise")
            )
        timestamp = _quantity(block["timestamp"])
        seals = block_seals(block, None if tip is None else tip.validators, self.index.account_org)
        transactions: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for tx, receipt in zip(block["transactions"], receipts, strict=True):
            decoded, logs = self._decode(tx, receipt)
            transactions.append(decoded)
            events.extend(logs)
        self.index.add_block(
            {"number": number, "hash": block_hash, "parent_hash": parent_hash, "timestamp": timestamp, "seals": seals},
            transactions,
            events,
        )
        self._tip = _Tip(number, block_hash, None if seals is None else seals["validators"])
        self._set(indexed_head=number)

    def _decode(self, tx: Mapping[str, Any], receipt: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        tx_hash = str(tx["hash"]).lower()
        to = tx.get("to")
        created = receipt.get("contractAddress") if to is None else None
        contract = self.decoder.contract_at(to if to is not None else created)
        function: str | None = None
        args: dict[str, Any] | None = None
        data = _bytes(tx.get("input", tx.get("data", "0x")))
        if contract is not None and to is not None:
            call = self.decoder.decode_call(contract, data)
            if call is not None:
                function, args = call
        elif contract is not None:
            args = self.decoder.decode_deployment(contract, data)
            function = None if args is None else "constructor"
        status = receipt.get("status")
        decoded = {
            "hash": tx_hash,
            "index": _quantity(tx["transactionIndex"]),
            "from": _checksum(tx["from"]),
            "to": None if to is None else _checksum(to),
            "contract": contract,
            "function": function,
            "args": args,
            "status": None if status is None else _quantity(status),
            "created": None if created is None else _checksum(created),
        }
        events = []
        for entry in receipt.get("logs", ()):
            address = str(entry["address"])
            source = self.decoder.contract_at(address)
            event = None
            if source is not None:
                event = self.decoder.decode_log(source, [_bytes(t) for t in entry["topics"]], _bytes(entry["data"]))
            events.append(
                {
                    "tx_hash": tx_hash,
                    "log_index": _quantity(entry["logIndex"]),
                    "address": _checksum(address),
                    "contract": source if event is not None else None,
                    "event": None if event is None else event[0],
                    "args": None if event is None else event[1],
                }
            )
        return decoded, events

    # -- JSON-RPC ---------------------------------------------------------------------------------------------

    def _call(self, method: str, params: list[Any]) -> Any:
        try:
            return self._rpc.request(method, params, retries=HEAD_RETRIES)
        except RpcAnswerError as exc:
            if exc.error is None:  # a refusal of this client over HTTP: the node's reason, as it is
                raise
            raise FollowError(f"{method}: {exc.error}") from None

    def _batch_raw(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Mapping[str, Any]]:
        """The raw responses of ``calls``, in order, sent in batches of at most the client's
        ``MAX_BATCH_REQUESTS`` (500: our node takes 1,000, Besu 1,024 by default)."""
        try:
            return cast(list[Mapping[str, Any]], self._rpc.batch(calls, answers=True, retries=0))
        except BatchAnswerError as exc:
            if exc.answers is None:  # the whole batch was refused
                raise FollowError(f"the node refused a batch of {exc.requests} requests: {exc.error}") from None
            raise FollowError(f"a batch of {exc.requests} requests got {exc.answers} answers") from None

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        results = []
        for (method, _), response in zip(calls, self._batch_raw(calls), strict=True):
            if "error" in response:
                raise FollowError(f"{method}: {response['error']}")
            results.append(response.get("result"))
        return results

    def _receipts(self, blocks: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]] | None]:
        """Each block's receipts in transaction order; None for a block whose receipts do not match it."""
        busy = [b for b in blocks if b["transactions"]]
        by_hash: dict[str, list[Mapping[str, Any]] | None] = {}
        if busy and self.block_receipts:
            responses = self._batch_raw([("eth_getBlockReceipts", [b["number"]]) for b in busy])
            if any(r.get("error", {}).get("code") == -32601 for r in responses):
                log.info("the node has no eth_getBlockReceipts: reading receipts one transaction at a time")
                self.block_receipts = False
            else:
                for b, r in zip(busy, responses, strict=True):
                    if "error" in r:
                        raise FollowError(f"eth_getBlockReceipts {b['number']}: {r['error']}")
                    by_hash[b["hash"]] = r.get("result")
        if busy and not self.block_receipts:
            calls = [("eth_getTransactionReceipt", [tx["hash"]]) for b in busy for tx in b["transactions"]]
            results = iter(self._batch(calls))
            for b in busy:
                by_hash[b["hash"]] = [next(results) for _ in b["transactions"]]
        out: list[list[Mapping[str, Any]] | None] = []
        for b in blocks:
            receipts = by_hash.get(b["hash"], []) if b["transactions"] else []
            if receipts is None or not _receipts_match(b, receipts):
                out.append(None)
            else:
                out.append(receipts)
        return out


def _receipts_match(block: Mapping[str, Any], receipts: Sequence[Mapping[str, Any] | None]) -> bool:
    if len(receipts) != len(block["transactions"]):
        return False
    for tx, receipt in zip(block["transactions"], receipts, strict=True):
        if receipt is None or str(receipt.get("transactionHash", "")).lower() != str(tx["hash"]).lower():
            return False
        if str(receipt.get("blockHash", "")).lower() != str(block["hash"]).lower():
            return False
    return True

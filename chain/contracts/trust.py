"""Client of TrustDirectory: each member's key records (CA certificates, revoked serials, account, witness,
gateway and log keys, node and witness endpoints), valid from a block and, once ended, until a block."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, cast

from eth_utils.abi import event_abi_to_log_topic

from chain.backend import logs_of
from chain.contracts._base import ContractClient, _functions
from chain.errors import MalformedError
from chain.ids import OrgId, bytes32_to_name, name_to_bytes32
from chain.tx import Signer

if TYPE_CHECKING:
    from eth_typing import ABIEvent
    from web3.types import BlockIdentifier, TxReceipt

#: The largest value a record holds (a CA certificate's DER is stored whole).
MAX_VALUE = 2048


#: The directory's events that each make one change (``change_count`` + 1), naming the record (org, index).
CHANGE_EVENTS = ("KeyAdded", "KeyRetired", "KeyCompromised")


def _topic_bytes(topic: object) -> bytes:
    """A log topic as the node answered it (hex) or as web3 gives it (bytes)."""
    if isinstance(topic, str):
        raw = bytes.fromhex(topic.removeprefix("0x"))
    elif isinstance(topic, bytes | bytearray):
        raw = bytes(topic)
    else:
        raise MalformedError(f"a log topic of type {type(topic).__name__}")
    if len(raw) != 32:
        raise MalformedError(f"a log topic of {len(raw)} bytes, not 32")
    return raw


class KeyKind(IntEnum):
    CA_CERT = 1  # the DER of a CA certificate that issues the member's identities
    REVOKED_SERIAL = 2  # the serial number (big-endian, minimal) of a certificate of the member's CA
    ACCOUNT = 3  # a 20-byte account address
    WITNESS_KEY = 4  # the raw public key the member's witness cosigns with
    GATEWAY_KEY = 5  # the raw public key the member's gateways sign batches and reads with
    LOG_KEY = 6  # the raw public key a notary signs the log's checkpoints with
    NODE_ENDPOINT = 7  # a URL of the member's chain node (UTF-8)
    WITNESS_ENDPOINT = 8  # the URL (UTF-8) a notary sends the member's witness its checkpoints at

    @property
    def label(self) -> str:
        """The kind as the CLI and the files name it: ``ca-cert``, ``witness-endpoint``…"""
        return self.name.lower().replace("_", "-")


class KeyState(IntEnum):
    OPEN = 0
    RETIRED = 1
    COMPROMISED = 2


@dataclass(frozen=True, slots=True)
class KeyRecord:
    org: OrgId
    index: int
    kind: KeyKind
    value: bytes
    valid_from: int  # the first block at which the key is valid
    valid_until: int | None  # the first block at which it no longer is (None: not ended)
    state: KeyState
    added_at: int  # the block that recorded it
    ended_by: OrgId | None  # the org that retired it (itself) or declared it compromised (a regulator)

    def valid_at(self, block: int) -> bool:
        """Whether the key was (or will be) valid at ``block``: ``valid_from <= block < valid_until``."""
        if block < self.valid_from:
            return False
        return self.valid_until is None or block < self.valid_until


def serial_bytes(serial: int) -> bytes:
    """A certificate serial as the directory stores it: big-endian, minimal, at most 20 bytes (RFC 5280)."""
    if not isinstance(serial, int) or not 0 < serial < 2**160:
        raise MalformedError(f"a certificate serial must be 1..2^160-1, got {serial!r}")
    return serial.to_bytes((serial.bit_length() + 7) // 8, "big")


def _value(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or not 0 < len(value) <= MAX_VALUE:
        raise MalformedError(f"a key record's value must be 1-{MAX_VALUE} bytes")
    return bytes(value)


def _block(block: int | None) -> int:
    if block is None:
        return 0
    if not isinstance(block, int) or block < 0:
        raise MalformedError(f"a block number must be a non-negative integer, got {block!r}")
    return block


def add_key_calldata(kind: KeyKind, value: bytes, valid_from: int | None = None) -> bytes:
    """The calldata of ``TrustDirectory.add_key(kind, value, valid_from)``, made with no chain (a transaction signed
    where no node is reachable: ``network.keyrelay``)."""
    return _functions(TrustDirectoryClient.NAME)[("add_key", 3)].encode((int(kind), _value(value), _block(valid_from)))


def parse_add_key_calldata(data: bytes) -> tuple[KeyKind, bytes, int]:
    """(kind, value, valid_from) of ``add_key`` calldata; :class:`MalformedError` for any other call or bytes that
    do not decode."""
    from eth_abi.abi import decode
    from eth_abi.exceptions import DecodingError

    function = _functions(TrustDirectoryClient.NAME)[("add_key", 3)]
    if data[:4] != function.selector:
        raise MalformedError("not a call of TrustDirectory.add_key")
    try:
        kind, value, valid_from = decode(list(function.inputs), data[4:])
        return KeyKind(kind), _value(bytes(value)), int(valid_from)
    except (DecodingError, ValueError, OverflowError) as exc:
        raise MalformedError(f"TrustDirectory.add_key calldata that does not decode: {exc}") from None


class TrustDirectoryClient(ContractClient):
    NAME = "TrustDirectory"

    # -- reads --
    def orgs(self, block: BlockIdentifier = "latest") -> list[OrgId]:
        """The orgs that have at least one record, in the order of their first one."""
        n = int(self._call("org_count", block=block))
        return [OrgId(bytes32_to_name(bytes(self._call("org_at", i, block=block)))) for i in range(n)]

    def record_count(self, org: str, block: BlockIdentifier = "latest") -> int:
        return int(self._call("record_count", name_to_bytes32(org, "org id"), block=block))

    def record(self, org: str, index: int, block: BlockIdentifier = "latest") -> KeyRecord | None:
        raw = self._call("record", name_to_bytes32(org, "org id"), index, block=block)
        if raw[0] == 0:
            return None
        ended_by = bytes32_to_name(bytes(raw[6]))
        return KeyRecord(
            org=OrgId(org),
            index=index,
            kind=KeyKind(raw[0]),
            value=bytes(raw[1]),
            valid_from=int(raw[2]),
            valid_until=None if raw[4] == KeyState.OPEN else int(raw[3]),
            state=KeyState(raw[4]),
            added_at=int(raw[5]),
            ended_by=OrgId(ended_by) if ended_by else None,
        )

    def records(self, org: str, block: BlockIdentifier = "latest") -> list[KeyRecord]:
        out = []
        for i in range(self.record_count(org, block)):
            rec = self.record(org, i, block)
            if rec is not None:
                out.append(rec)
        return out

    def find(self, org: str, kind: KeyKind, value: bytes, block: BlockIdentifier = "latest") -> int | None:
        """The index of ``org``'s record of this kind and value, None if there is none."""
        found, index = self._call("find", name_to_bytes32(org, "org id"), int(kind), _value(value), block=block)
        return int(index) if found else None

    def is_valid(self, org: str, index: int, at_block: int, block: BlockIdentifier = "latest") -> bool:
        return bool(self._call("is_valid", name_to_bytes32(org, "org id"), index, at_block, block=block))

    def change_count(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("change_count", block=block))

    def follow_state(self, block: BlockIdentifier = "latest") -> tuple[int, tuple[int, ...]]:
        """(change count, the registry status of each org of :meth:`orgs`, in order): what a follower compares at
        each block, in one call."""
        count, statuses = self._call("follow_state", block=block)
        return int(count), tuple(int(s) for s in statuses)

    def last_change_block(self, block: BlockIdentifier = "latest") -> int:
        return int(self._call("last_change_block", block=block))

    def changed_records(self, first: int, last: int) -> list[tuple[OrgId, int]]:
        """The record each change of blocks ``first`` to ``last`` made or altered, as (org, index), in the chain's
        order: one per change (``change_count`` counts them), read from the events that say so (``KeyAdded``,
        ``KeyRetired``, ``KeyCompromised``, each naming its org and index in its topics) in one ``eth_getLogs``."""
        topics = self._change_topics()
        out: list[tuple[OrgId, int]] = []
        for entry in logs_of(self.backend, first, last, [self.address]):
            found = [_topic_bytes(t) for t in entry.get("topics") or ()]
            if not found or found[0] not in topics:
                continue  # BootstrapFinished: no change
            if len(found) != 3:
                raise MalformedError(f"a {self.NAME} change event with {len(found)} topics, not 3")
            out.append((OrgId(bytes32_to_name(found[1])), int.from_bytes(found[2], "big")))
        return out

    def _change_topics(self) -> frozenset[bytes]:
        events = [cast("ABIEvent", abi) for abi in self.contract.abi if abi.get("type") == "event"]
        return frozenset(event_abi_to_log_topic(abi) for abi in events if abi.get("name") in CHANGE_EVENTS)

    # -- genesis --
    def bootstrap_key(self, signer: Signer, org: str, kind: KeyKind, value: bytes) -> TxReceipt:
        return self._transact(signer, "bootstrap_key", name_to_bytes32(org, "org id"), int(kind), _value(value))

    def finish_bootstrap(self, signer: Signer) -> TxReceipt:
        return self._transact(signer, "finish_bootstrap")

    # -- a member's own keys --
    def add_key(self, signer: Signer, kind: KeyKind, value: bytes, valid_from: int | None = None) -> int:
        """Add a key of the signer's member, valid from ``valid_from`` (None: the block that records it);
        returns its index."""
        receipt = self._transact(signer, "add_key", int(kind), _value(value), _block(valid_from))
        return int(self.decode_events(receipt, "KeyAdded")[0]["args"]["index"])

    def submit_key(self, signer: Signer, kind: KeyKind, value: bytes, valid_from: int | None = None) -> TxReceipt:
        """:meth:`add_key` without reading the index back: it can go in a ``chain.tx.pipelined`` block."""
        return self._transact(signer, "add_key", int(kind), _value(value), _block(valid_from))

    def retire_key(self, signer: Signer, index: int, valid_until: int | None = None) -> TxReceipt:
        """End a key of the signer's member at ``valid_until`` (None: the block that records it)."""
        return self._transact(signer, "retire_key", index, _block(valid_until))

    def revoke_serial(self, signer: Signer, serial: int) -> int:
        """Revoke a certificate of the signer's member's CA; returns the record's index."""
        receipt = self._transact(signer, "revoke_serial", serial_bytes(serial))
        return int(self.decode_events(receipt, "KeyAdded")[0]["args"]["index"])

    # -- supervision --
    def declare_compromised(self, signer: Signer, org: str, index: int, as_of_block: int) -> TxReceipt:
        """A regulator declares ``org``'s key ``index`` compromised from block ``as_of_block`` on."""
        return self._transact(signer, "declare_compromised", name_to_bytes32(org, "org id"), index, _block(as_of_block))

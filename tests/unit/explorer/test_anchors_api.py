"""``GET /api/v1/anchors`` in process: each anchor says whether AuditAnchor checked the log key's signature on it
(``signature``), from the explorer's chain index. The index holds the anchor transactions' logs as the chain
follower decodes them: ``Anchored`` and ``AnchorSigned`` logs ABI-encoded from AuditAnchor's artifact and decoded
by ``explorer.chainfollow.ContractDecoder``, then stored in a real ``ChainIndex``; the checkpoints and their anchor
records are in a real ``CallIndex``, as the log follower stores what the notary lists."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient

from contracts import load_artifact
from explorer.api import Explorer, Limits, create_app
from explorer.api.schemas import AnchoredCheckpoint
from explorer.calls import CallIndex
from explorer.chainfollow import ContractDecoder
from explorer.chainindex import ChainIndex
from network.logins import LoginError, Person
from notary.storage.base import AnchorJSON, CheckpointJSON

TOKEN = "good"
NAME = "test-consortium"
ORIGIN = f"{NAME}/audit-log"
ANCHOR = "0x" + "aa" * 20  # AuditAnchor's address in consortium.json
OTHER_CONTRACT = "0x" + "bb" * 20  # not ours: its logs are stored undecoded
RETIRED = "0x" + "dd" * 20  # an AuditAnchor the consortium anchored on before (consortium.json's retired_anchors)
NOTARY = "0x" + "cc" * 20


class StandInLogins:
    def authenticate(self, authorization: str | None) -> Person:
        if authorization != f"Bearer {TOKEN}":
            raise LoginError("invalid_token", "not a token of ours")
        return Person(org="alpha", name="p", role="compliance", identity="ab" * 32, display_name="p", expires_ms=0)


def _event_abi(name: str) -> dict[str, Any]:
    return next(e for e in load_artifact("AuditAnchor").abi if e["type"] == "event" and e["name"] == name)


def encoded_log(name: str, values: dict[str, Any]) -> tuple[list[bytes], bytes]:
    """The topics and data of an AuditAnchor log, as the EVM writes them."""
    abi = _event_abi(name)
    topics = [bytes(event_abi_to_log_topic(cast(Any, abi)))]
    topics += [abi_encode([i["type"]], [values[i["name"]]]) for i in abi["inputs"] if i["indexed"]]
    plain = [i for i in abi["inputs"] if not i["indexed"]]
    return topics, abi_encode([i["type"] for i in plain], [values[i["name"]] for i in plain])


def anchored(origin: str, size: int) -> tuple[list[bytes], bytes]:
    return encoded_log(
        "Anchored",
        {
            "origin_hash": keccak(text=origin), "tree_size": size, "origin": origin, "root_hash": b"\x01" * 32,
            "checkpoint_digest": b"\x02" * 32, "notary": b"op".ljust(32, b"\x00"),
        },
    )  # fmt: skip


def anchor_signed(origin: str, size: int) -> tuple[list[bytes], bytes]:
    return encoded_log(
        "AnchorSigned",
        {
            "origin_hash": keccak(text=origin), "tree_size": size, "key_index": 0, "key_x": b"\x03" * 32,
            "key_y": b"\x04" * 32, "r": b"\x05" * 32, "s": b"\x06" * 32,
        },
    )  # fmt: skip


#: The anchor transactions, one a block: what each emitted, (address, log) per log, in order.
TX = {size: f"0x{size:064x}" for size in (5, 6, 10, 20, 30, 40, 50, 60)}
LOGS: dict[int, list[tuple[str, tuple[list[bytes], bytes]]]] = {
    5: [(RETIRED, anchored(ORIGIN, 5))],  # on the retired AuditAnchor: decoded too, unchecked
    6: [(RETIRED, anchored(ORIGIN, 6)), (ANCHOR, anchor_signed(ORIGIN, 6))],  # the two logs of two contracts
    10: [(ANCHOR, anchored(ORIGIN, 10))],  # a plain anchor: unchecked
    20: [(ANCHOR, anchored(ORIGIN, 20)), (ANCHOR, anchor_signed(ORIGIN, 20))],  # anchor_signed: checked
    30: [],  # failed: no log
    40: [(ANCHOR, anchored(ORIGIN, 40)), (ANCHOR, anchor_signed(ORIGIN, 41))],  # a signature of another size
    50: [(ANCHOR, anchored("other/audit-log", 50)), (ANCHOR, anchor_signed("other/audit-log", 50))],  # other log
    60: [(ANCHOR, anchored(ORIGIN, 60)), (OTHER_CONTRACT, anchor_signed(ORIGIN, 60))],  # not our AuditAnchor's
}
NOT_INDEXED = 70  # its transaction is not in the chain index yet


def fill_chain(index: ChainIndex) -> None:
    decoder = ContractDecoder({"AuditAnchor": ANCHOR}, {RETIRED: "AuditAnchor"})
    for number, (size, logs) in enumerate(LOGS.items()):
        tx = {"hash": TX[size], "index": 0, "from": NOTARY, "to": ANCHOR, "contract": "AuditAnchor",
              "function": None, "args": None, "status": 0 if size == 30 else 1}  # fmt: skip
        events = []
        for log_index, (address, (topics, data)) in enumerate(logs):
            contract = decoder.contract_at(address)
            decoded = None if contract is None else decoder.decode_log(contract, topics, data)
            event, args = decoded if decoded is not None else (None, None)
            events.append({"tx_hash": TX[size], "log_index": log_index, "contract": contract if decoded else None,
                           "event": event, "args": args, "address": address})  # fmt: skip
        block = {"number": number, "hash": f"0x{number:064x}", "parent_hash": f"0x{number - 1:064x}",
                 "timestamp": 1_795_000_000 + number, "seals": None}  # fmt: skip
        index.add_block(block, [tx], events)


def fill_checkpoints(index: CallIndex) -> None:
    rows: list[CheckpointJSON] = []
    for size in (*LOGS, NOT_INDEXED):
        tx_hash = TX.get(size, f"0x{size:064x}")
        anchor: AnchorJSON = {"size": size, "tx_hash": tx_hash, "nonce": size,
                              "state": "failed" if size == 30 else "confirmed", "sent_ms": 1, "block_number": None,
                              "block_hash": None, "confirmed_ms": None}  # fmt: skip
        rows.append({"size": size, "root": base64.b64encode(bytes([size]) * 32).decode(), "time_ms": size,
                     "published_ms": size, "cosigners": [], "note": "note", "anchor": anchor})  # fmt: skip
    rows.append(
        {
            "size": 80,
            "root": base64.b64encode(b"\x00" * 32).decode(),
            "time_ms": 80,
            "published_ms": 80,
            "cosigners": [],
            "note": "note",
            "anchor": None,
        }
    )  # fmt: skip  (not anchored: not listed)
    index.put_checkpoints(rows)


@pytest.fixture(params=["sm", "intl"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    chain, calls = ChainIndex(tmp_path / "chain.db"), CallIndex(tmp_path / "calls.db")
    fill_chain(chain)
    fill_checkpoints(calls)
    stand_in = SimpleNamespace(
        auth=StandInLogins(), recorder=None, limits=Limits(), chain=chain, calls=calls,
        state=SimpleNamespace(snapshot=None), description=SimpleNamespace(name=NAME, crypto=request.param),
    )  # fmt: skip
    with TestClient(create_app(cast(Explorer, stand_in)), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c
    chain.close()
    calls.close()


def test_each_anchor_says_whether_its_signature_was_checked_on_chain(client: TestClient) -> None:
    answer = client.get("/api/v1/anchors")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["crypto"] in ("sm", "intl")
    assert {a["size"]: a["signature"] for a in body["anchors"]} == {
        70: "unknown",  # not indexed yet
        60: "unchecked",  # an AnchorSigned log, but from another contract than the consortium's AuditAnchor
        50: "unknown",  # the transaction's logs are of another origin
        40: "unchecked",  # the AnchorSigned log names another size
        30: "unknown",  # failed
        20: "checked",
        10: "unchecked",
        6: "unchecked",  # an AnchorSigned log of another contract than the Anchored one's
        5: "unchecked",
    }
    assert all(set(AnchoredCheckpoint.model_fields) <= set(a) for a in body["anchors"])
    assert [a["size"] for a in client.get("/api/v1/anchors", params={"limit": 2}).json()["anchors"]] == [70, 60]

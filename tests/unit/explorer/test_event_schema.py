"""The explorer's API documents the arguments of every event our contracts emit: each event of the compiled ABIs
(``contracts/artifacts/*.json``, read here as files) has its variant of ``ChainEvent`` in the OpenAPI document,
with its contract and name as constants and its inputs, in order, as the properties of ``args``; and a log of
each event, decoded as the chain follower decodes it, passes through the model into the same JSON, byte for
byte. The document is built in process and the logs are encoded here; nothing is served."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest
from eth_abi.abi import encode as abi_encode
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from pydantic import TypeAdapter, ValidationError

from contracts import ARTIFACT_DIR
from explorer.api import Explorer, Limits, create_app
from explorer.api.eventschema import ChainEvent
from explorer.chainfollow import NAME_ARGS, ContractDecoder

ADDRESSES = {
    "ConsortiumRegistry": "0x" + "11" * 20,
    "DataAssetRegistry": "0x" + "22" * 20,
    "AccessGrants": "0x" + "33" * 20,
    "AuditAnchor": "0x" + "44" * 20,
    "TrustDirectory": "0x" + "55" * 20,
}


def compiled(kind: str) -> list[tuple[str, Any]]:
    """``(contract, ABI entry)`` of every entry of ``kind`` (event, function, constructor) of every compiled
    artifact."""
    found = []
    for path in sorted(ARTIFACT_DIR.glob("*.json")):
        abi = json.loads(path.read_text(encoding="utf-8"))["abi"]
        found += [(path.stem, entry) for entry in abi if entry["type"] == kind]
    return found


EVENTS: list[tuple[str, ABIEvent]] = compiled("event")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    stand_in = SimpleNamespace(auth=None, recorder=None, limits=Limits())
    return create_app(cast(Explorer, stand_in)).openapi()


def test_the_artifacts_hold_the_events_of_all_our_contracts() -> None:
    assert {contract for contract, _ in EVENTS} == set(ADDRESSES)
    assert len(EVENTS) >= 31


def variants(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The variants of a member's history items (``ChainEvent``), by their constant contract and event."""
    schemas = spec["components"]["schemas"]
    items = schemas["MemberDetail"]["properties"]["history"]["items"]
    found = {}
    for choice in items["oneOf"]:
        variant = schemas[choice["$ref"].rsplit("/", 1)[1]]
        props = variant["properties"]
        found[(props["contract"]["const"], props["event"]["const"])] = variant
    return found


def test_every_compiled_event_is_documented_with_its_arguments(spec: dict[str, Any]) -> None:
    documented = variants(spec)
    schemas = spec["components"]["schemas"]
    assert set(documented) == {(contract, entry["name"]) for contract, entry in EVENTS}
    for contract, entry in EVENTS:
        variant = documented[(contract, entry["name"])]
        assert list(variant["properties"]) == [
            "block_number", "timestamp", "tx_hash", "log_index", "contract", "event", "args",
        ]  # fmt: skip
        args = schemas[variant["properties"]["args"]["$ref"].rsplit("/", 1)[1]]
        assert list(args["properties"]) == [i["name"] for i in entry["inputs"]], (contract, entry["name"])
        assert args["additionalProperties"] is False
        for i in entry["inputs"]:
            prop = args["properties"][i["name"]]
            assert prop["description"].startswith(i["type"]), (contract, entry["name"], i["name"])
            wanted = "integer" if i["type"].startswith(("uint", "int")) else "string"
            assert wanted in json.dumps(prop), (contract, entry["name"], i["name"], prop)


def sample(name: str, abi_type: str, n: int) -> Any:
    """A value of ``abi_type`` for the argument ``name``, the n-th of its event."""
    if abi_type == "bytes32" and name in NAME_ARGS:
        return f"org-{n}".encode().ljust(32, b"\0") if n % 2 else bytes(32)  # the empty name: null
    if abi_type.startswith("bytes"):
        return bytes([n + 1]) * 32
    if abi_type == "address":
        return "0x" + f"{n + 1:02x}" * 20
    if abi_type == "string":
        return f"text {n}"
    assert abi_type.startswith(("uint", "int")), abi_type
    return 200 + n


def encoded_log(entry: ABIEvent) -> tuple[list[bytes], bytes]:
    """The topics and data of a log of ``entry``'s event with sample values."""
    topics = [bytes(event_abi_to_log_topic(entry))]
    plain_types, plain_values = [], []
    for n, i in enumerate(entry["inputs"]):
        value = sample(i["name"], i["type"], n)
        if i.get("indexed"):
            topics.append(keccak(text=value) if i["type"] == "string" else abi_encode([i["type"]], [value]))
        else:
            plain_types.append(i["type"])
            plain_values.append(value)
    return topics, abi_encode(plain_types, plain_values)


@pytest.mark.parametrize(("contract", "entry"), EVENTS, ids=[f"{c}.{e['name']}" for c, e in EVENTS])
def test_a_decoded_event_passes_through_its_model_unchanged(contract: str, entry: ABIEvent) -> None:
    topics, data = encoded_log(entry)
    decoded = ContractDecoder(ADDRESSES).decode_log(contract, topics, data)
    assert decoded is not None and decoded[0] == entry["name"]
    event = {
        "block_number": 7, "timestamp": 1_765_000_000, "tx_hash": "0x" + "ab" * 32, "log_index": 2,
        "contract": contract, "event": entry["name"], "args": decoded[1],
    }  # fmt: skip
    adapter = TypeAdapter(ChainEvent)
    assert adapter.dump_json(adapter.validate_python(event)) == json.dumps(event, separators=(",", ":")).encode()


def test_an_event_with_an_argument_it_does_not_have_is_refused() -> None:
    adapter = TypeAdapter(ChainEvent)
    event = {
        "block_number": 7, "timestamp": 1, "tx_hash": "0x", "log_index": 0,
        "contract": "TrustDirectory", "event": "BootstrapFinished", "args": {"record_count": 3},
    }  # fmt: skip
    adapter.validate_python(event)
    with pytest.raises(ValidationError, match="member_count"):  # the registry's BootstrapFinished, not this one
        adapter.validate_python({**event, "args": {"member_count": 3, "threshold": 2}})
    with pytest.raises(ValidationError, match="not an event of our contracts"):
        adapter.validate_python({**event, "event": "Transfer"})

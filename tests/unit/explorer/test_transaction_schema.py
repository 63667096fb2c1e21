"""A transaction's model (``explorer.api.eventschema.Transaction``; that the OpenAPI document has a variant of it
for each function and constructor of the compiled ABIs is ``test_explorer_openapi``'s): a
transaction of each call, its calldata encoded here and decoded as the chain follower decodes it, with a log of
each event of its contract, passes through the model into the same JSON; and a redacted transaction
(``explorer.access.redact_transaction``) passes through unchanged, with no argument in it, while one that carries
an argument is refused. The document is built in process; nothing is served."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_typing import ABIConstructor, ABIEvent, ABIFunction
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from pydantic import TypeAdapter, ValidationError

from contracts import ARTIFACT_DIR
from explorer import access
from explorer.api.eventschema import Transaction
from explorer.chainfollow import NAME_ARGS, ContractDecoder
from explorer.chainindex import TransactionLog, TransactionRow
from tests.unit.explorer.test_event_schema import ADDRESSES, compiled

FUNCTIONS: list[tuple[str, ABIFunction]] = compiled("function")
CONSTRUCTORS: list[tuple[str, ABIConstructor]] = compiled("constructor")
EVENTS: list[tuple[str, ABIEvent]] = compiled("event")
ADAPTER: TypeAdapter[Any] = TypeAdapter(Transaction)


def sample(name: str, abi_type: str, n: int) -> Any:
    """A value of ``abi_type`` for the argument ``name``, the n-th of its entry."""
    if abi_type.endswith("[]"):
        return [sample(name, abi_type[:-2], n + k) for k in range(2)]
    if abi_type == "bytes32" and name in NAME_ARGS:
        return f"org-{n}".encode().ljust(32, b"\0") if n % 2 else bytes(32)  # the empty name: null
    if abi_type.startswith("bytes"):
        return bytes([n + 1]) * (32 if abi_type == "bytes32" else 5)
    if abi_type == "address":
        return "0x" + f"{n + 1:02x}" * 20
    if abi_type == "string":
        return f"text {n}"
    if abi_type == "bool":
        return n % 2 == 1
    assert abi_type.startswith(("uint", "int")), abi_type
    return 200 + n


def encoded(entry: ABIFunction | ABIConstructor) -> bytes:
    types = [collapse_if_tuple(dict(i)) for i in entry["inputs"]]
    return abi_encode(types, [sample(i["name"], i["type"], n) for n, i in enumerate(entry["inputs"])])


def log(contract: str, entry: ABIEvent, log_index: int) -> TransactionLog:
    """A log of ``entry``'s event with sample values, as the chain follower decodes it."""
    topics = [bytes(event_abi_to_log_topic(entry))]
    plain = [i for i in entry["inputs"] if not i.get("indexed")]
    for n, i in enumerate(entry["inputs"]):
        if i.get("indexed"):
            topics.append(abi_encode([i["type"]], [sample(i["name"], i["type"], n)]))
    data = abi_encode(
        [i["type"] for i in plain], [sample(i["name"], i["type"], entry["inputs"].index(i)) for i in plain]
    )
    decoded = ContractDecoder(ADDRESSES).decode_log(contract, topics, data)
    assert decoded is not None
    return {"log_index": log_index, "contract": contract, "event": decoded[0], "args": decoded[1],
            "address": ADDRESSES[contract]}  # fmt: skip


def transaction(contract: str, function: str | None, args: Any, events: Sequence[TransactionLog]) -> TransactionRow:
    return {
        "hash": "0x" + "ab" * 32, "block_number": 7, "index": 0, "from": "0x" + "0a" * 20,
        "to": ADDRESSES[contract], "contract": contract, "function": function, "args": args, "status": 1,
        "created": None, "timestamp": 1_765_000_000, "events": list(events),
    }  # fmt: skip


def through(tx: Mapping[str, Any]) -> bytes:
    """``tx`` as the API answers it (``response_model_exclude_unset``)."""
    return ADAPTER.dump_json(ADAPTER.validate_python(tx), by_alias=True, exclude_unset=True)


def plain(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize(("contract", "entry"), FUNCTIONS, ids=[f"{c}.{e['name']}" for c, e in FUNCTIONS])
def test_a_decoded_call_passes_through_its_model_unchanged(contract: str, entry: ABIFunction) -> None:
    selector = bytes(function_abi_to_4byte_selector(entry))
    call = ContractDecoder(ADDRESSES).decode_call(contract, selector + encoded(entry))
    assert call is not None and call[0] == entry["name"]
    events = [log(contract, e, n) for n, (c, e) in enumerate(EVENTS) if c == contract]
    tx = transaction(contract, call[0], call[1], events)
    assert through(tx) == plain(tx)
    row = {k: v for k, v in tx.items() if k != "events"}  # a block's row: no events, no ``redacted``
    assert through(row) == plain(row)


@pytest.mark.parametrize(("contract", "entry"), CONSTRUCTORS, ids=[c for c, _ in CONSTRUCTORS])
def test_a_decoded_deployment_passes_through_its_model_unchanged(contract: str, entry: ABIConstructor) -> None:
    artifact = json.loads((ARTIFACT_DIR / f"{contract}.json").read_text(encoding="utf-8"))
    code = bytes.fromhex(artifact["bytecode"].removeprefix("0x"))
    args = ContractDecoder(ADDRESSES).decode_deployment(contract, code + encoded(entry))
    assert args is not None
    tx = {**transaction(contract, "constructor", args, []), "to": None, "created": ADDRESSES[contract]}
    assert through(tx) == plain(tx)


def grant_transaction() -> TransactionRow:
    """A ``create_private_grant`` call with its ``PrivateGrantCreated`` log, decoded."""
    (entry,) = [e for c, e in FUNCTIONS if c == "AccessGrants" and e["name"] == "create_private_grant"]
    (event,) = [e for c, e in EVENTS if c == "AccessGrants" and e["name"] == "PrivateGrantCreated"]
    selector = bytes(function_abi_to_4byte_selector(entry))
    call = ContractDecoder(ADDRESSES).decode_call("AccessGrants", selector + encoded(entry))
    assert call is not None
    return transaction("AccessGrants", call[0], call[1], [log("AccessGrants", event, 3)])


def test_a_redacted_transaction_passes_through_unchanged_and_shows_no_argument() -> None:
    whole = grant_transaction()
    redacted = access.redact_transaction(whole)
    answered = through(redacted)
    assert answered == plain(redacted)
    shown = json.loads(answered)
    assert shown["args"] is None and [e["args"] for e in shown["events"]] == [None]
    assert (shown["contract"], shown["function"], shown["redacted"]) == ("AccessGrants", "create_private_grant", True)
    args, event_args = whole["args"], whole["events"][0]["args"]
    assert args is not None and event_args is not None
    hidden = {json.dumps(v) for v in [*args.values(), *event_args.values()] if v}
    assert not {v for v in hidden if v in answered.decode()}
    row = whole.copy()
    del row["events"]  # a block's row
    row = access.redact_transaction(row)
    assert through(row) == plain(row)


def test_a_redacted_transaction_with_an_argument_is_refused() -> None:
    redacted = access.redact_transaction(grant_transaction())
    whole = grant_transaction()
    with pytest.raises(ValidationError, match="args"):
        ADAPTER.validate_python({**redacted, "args": whole["args"]})
    with pytest.raises(ValidationError, match="args"):
        ADAPTER.validate_python({**redacted, "events": whole["events"]})


def test_an_undecoded_transaction_and_log_pass_through_and_a_wrong_call_is_refused() -> None:
    undecoded = {**transaction("AccessGrants", None, None, []), "to": "0x" + "99" * 20, "contract": None}
    undecoded["events"] = [{"log_index": 0, "contract": None, "event": None, "args": None, "address": undecoded["to"]}]
    assert through(undecoded) == plain(undecoded)
    call = grant_transaction()
    with pytest.raises(ValidationError, match="not a call of our contracts"):
        ADAPTER.validate_python({**call, "function": "transfer"})
    with pytest.raises(ValidationError, match="extra"):
        ADAPTER.validate_python({**call, "args": {**(call["args"] or {}), "grantee": "beta"}})
    with pytest.raises(ValidationError, match="not an event of our contracts"):
        ADAPTER.validate_python({**call, "events": [{**call["events"][0], "event": "Transfer"}]})

"""Our contracts' events and calls as the explorer's API answers them: one pydantic model per event and per
function (and constructor) of the committed ABIs (``contracts/artifacts``), built from those ABIs, so the OpenAPI
document describes the arguments of every event the contracts emit and of every call they take, and cannot drift
from them.

A :class:`ChainEvent` is one of these models, told apart by its ``contract`` and ``event`` (two contracts have a
``BootstrapFinished``): ``ChainEvent`` in the document is a ``oneOf`` of them, each with its ``contract`` and
``event`` as constants and its ``args`` as an object of the event's inputs, in the ABI's order, typed as
``explorer.chainfollow.json_value`` writes them (:func:`explorer.chainfollow.json_type`). The models only describe
the answer: an event's JSON is written as the chain index holds it, key for key.

A :class:`Transaction` is one of a model per call (``contract`` and ``function`` constants, ``args`` the
function's inputs), per deployment (``function`` the constant ``constructor``), an undecoded transaction (not to
one of our contracts, or a call that does not decode: ``function`` and ``args`` null) and a ``redacted`` one
(``explorer.access.redact_transaction``: ``args`` null, and each event's ``args`` null); its events
(:class:`TransactionEvent`) are likewise one model per event of our contracts, with the same ``args`` models as
:class:`ChainEvent`'s, or an undecoded log (``contract``, ``event`` and ``args`` null).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, create_model

from contracts import CONTRACT_NAMES, load_artifact
from explorer.chainfollow import NAME_ARGS, json_type


class ChainEventBase(BaseModel):
    """One of our contracts' decoded events: where it is, and what it says."""

    block_number: int
    timestamp: int
    tx_hash: str
    log_index: int
    contract: str
    event: str
    args: BaseModel


class EventArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _described(name: str, abi_type: str, indexed: bool) -> str:
    if abi_type == "bytes32" and name in NAME_ARGS:
        how = "a short name (chain.ids) as its text, null for the empty name, 0x-hex if it is not a name"
    elif abi_type == "address":
        how = "the address, checksummed"
    elif abi_type == "string" and indexed:
        how = "0x-hex: the topic, the keccak256 of the text"
    elif abi_type.startswith(("uint", "int", "bool", "string")):
        how = "as decoded"
    else:
        how = "0x-hex"
    return f"{abi_type}{', indexed' if indexed else ''}: {how}"


def event_abis() -> list[tuple[str, Mapping[str, Any]]]:
    """``(contract, ABI entry)`` of every (non-anonymous) event of our contracts, in the artifacts' order: what
    ``explorer.chainfollow.ContractDecoder`` decodes."""
    return [
        (contract, entry)
        for contract in CONTRACT_NAMES
        for entry in load_artifact(contract).abi
        if entry["type"] == "event" and not entry.get("anonymous")
    ]


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def args_model(name: str, entry: Mapping[str, Any], doc: str) -> type[EventArgs]:
    """The model of the arguments of the ABI ``entry`` (an event, a function or a constructor): its inputs in the
    ABI's order, each typed as the chain follower writes it; no other key."""
    fields: dict[str, Any] = {
        str(i["name"]): (
            json_type(str(i["name"]), str(i["type"])),
            Field(description=_described(str(i["name"]), str(i["type"]), bool(i.get("indexed")))),
        )
        for i in entry.get("inputs", ())
    }
    model = create_model(name, __base__=EventArgs, **fields)
    model.__doc__ = doc
    return model


def _event_model(contract: str, event: str, args: type[EventArgs]) -> type[ChainEventBase]:
    model = create_model(
        f"{contract}{event}",
        __base__=ChainEventBase,
        contract=(_constant(contract), ...),
        event=(_constant(event), ...),
        args=(args, ...),
    )
    model.__doc__ = f"{contract}'s {event} event."
    return model


def _constant(value: str) -> Any:
    """``Literal[value]``, for a value known at run time."""
    return Literal.__getitem__(value)


def _tag(value: Any) -> str:
    """The variant of an event, a dict or a model: ``<contract>.<event>``."""
    return f"{_get(value, 'contract')}.{_get(value, 'event')}"


#: The model of the arguments of each event, by ``(contract, event)``.
EVENT_ARGS: dict[tuple[str, str], type[EventArgs]] = {
    (contract, str(entry["name"])): args_model(
        f"{contract}{entry['name']}Args",
        entry,
        f"The arguments of {contract}'s {entry['name']} event, in the ABI's order.",
    )
    for contract, entry in event_abis()
}


def _tagged_union(
    models: Mapping[tuple[str, str], type[BaseModel]],
    tag: Callable[[Any], str],
    error_type: str,
    error_message: str,
    **others: type[BaseModel],
) -> Any:
    """A union that ``tag`` discriminates: each of ``models`` tagged ``<contract>.<name>``, then each of ``others``
    tagged by its keyword; a value ``tag`` names no member of is refused with ``error_type``."""
    choices = [Annotated[m, Tag(f"{c}.{n}")] for (c, n), m in models.items()]
    choices += [Annotated[m, Tag(t)] for t, m in others.items()]
    return Annotated[
        Union[tuple(choices)],  # noqa: UP007
        Discriminator(tag, custom_error_type=error_type, custom_error_message=error_message),
    ]


#: The model of each event, by ``(contract, event)``.
EVENT_MODELS: dict[tuple[str, str], type[ChainEventBase]] = {
    key: _event_model(*key, args) for key, args in EVENT_ARGS.items()
}

if TYPE_CHECKING:
    ChainEvent = ChainEventBase
else:
    #: One of our contracts' decoded events, the model its contract and event name pick.
    ChainEvent = _tagged_union(EVENT_MODELS, _tag, "unknown_event", "not an event of our contracts")


def call_abis() -> list[tuple[str, Mapping[str, Any]]]:
    """``(contract, ABI entry)`` of every function and the constructor of our contracts, in the artifacts' order:
    what ``explorer.chainfollow.ContractDecoder`` decodes a transaction's calldata against (a contract without a
    constructor in its ABI is deployed with no arguments: its entry here has none)."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for contract in CONTRACT_NAMES:
        abi = load_artifact(contract).abi
        found += [(contract, e) for e in abi if e["type"] == "function"]
        found += [(contract, e) for e in abi if e["type"] == "constructor"] or [(contract, {"type": "constructor"})]
    return found


def _function(entry: Mapping[str, Any]) -> str:
    """A transaction's ``function``: the function's name, or ``constructor`` for a deployment."""
    return "constructor" if entry["type"] == "constructor" else str(entry["name"])


#: The model of the arguments of each call and deployment, by ``(contract, function)`` (``constructor``).
CALL_ARGS: dict[tuple[str, str], type[EventArgs]] = {
    (contract, _function(entry)): args_model(
        f"{contract}DeploymentArgs" if entry["type"] == "constructor" else f"{contract}{_pascal(_function(entry))}Args",
        entry,
        f"The arguments of {contract}'s {_function(entry)}, in the ABI's order.",
    )
    for contract, entry in call_abis()
}


class TransactionEventBase(BaseModel):
    """A log of a transaction: decoded where one of our contracts emitted it."""

    log_index: int
    contract: str | None
    event: str | None
    args: BaseModel | None
    address: str | None


class UndecodedLog(TransactionEventBase):
    """A log that is not an event of our contracts."""

    contract: None
    event: None
    args: None


class RedactedLog(TransactionEventBase):
    """A log of a redacted transaction: which event of which contract, without its arguments."""

    args: None


class TransactionBase(BaseModel):
    """A transaction, decoded where it calls one of our contracts; another firm's grant is ``redacted``."""

    hash: str
    block_number: int
    index: int
    from_: str | None = Field(alias="from")
    to: str | None
    contract: str | None
    function: str | None
    args: BaseModel | None
    status: int | None
    created: str | None
    timestamp: int
    events: list[Any] = Field(default_factory=list, description="in a block's list: redacted only")
    redacted: bool = False


def _log_tag(value: Any) -> str:
    """The variant of a transaction's log: ``undecoded``, or ``<contract>.<event>``."""
    if _get(value, "event") is None:
        return "undecoded"
    return f"{_get(value, 'contract')}.{_get(value, 'event')}"


def _call_tag(value: Any) -> str:
    """The variant of a transaction: ``redacted``, ``undecoded``, or ``<contract>.<function>``."""
    if _get(value, "redacted"):
        return "redacted"
    if _get(value, "function") is None:
        return "undecoded"
    return f"{_get(value, 'contract')}.{_get(value, 'function')}"


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def _log_model(contract: str, event: str, args: type[BaseModel]) -> type[TransactionEventBase]:
    model = create_model(
        f"{contract}{event}Log",
        __base__=TransactionEventBase,
        contract=(_constant(contract), ...),
        event=(_constant(event), ...),
        args=(args, ...),
    )
    model.__doc__ = f"A log of {contract}'s {event} event."
    return model


#: The model of a transaction's log of each event, by ``(contract, event)``: its ``args`` are the event's.
LOG_MODELS: dict[tuple[str, str], type[TransactionEventBase]] = {
    key: _log_model(*key, args) for key, args in EVENT_ARGS.items()
}

if TYPE_CHECKING:
    _Log = TransactionEventBase
else:
    _Log = _tagged_union(LOG_MODELS, _log_tag, "unknown_event", "not an event of our contracts", undecoded=UndecodedLog)


class TransactionEvent(RootModel[_Log]):
    """A transaction's log: the model of its contract's event, or an undecoded log (one ``TransactionEvent`` in
    the document, which every transaction's ``events`` refer to)."""


class UndecodedTransaction(TransactionBase):
    """A transaction that is not to one of our contracts, or whose calldata does not decode as one of its calls."""

    function: None
    args: None
    events: list[TransactionEvent] = Field(default_factory=list, description="in a block's list: redacted only")
    redacted: Literal[False] = False


class RedactedTransaction(TransactionBase):
    """A transaction about another firm's grant (``explorer.access.redact_transaction``): which call of which
    contract, and which events, without any of their arguments."""

    args: None
    events: list[RedactedLog] = Field(default_factory=list)
    redacted: Literal[True]


def _call_model(contract: str, function: str, args: type[BaseModel]) -> type[TransactionBase]:
    deployment = function == "constructor"
    model = create_model(
        f"{contract}Deployment" if deployment else f"{contract}{_pascal(function)}Call",
        __base__=TransactionBase,
        contract=(_constant(contract), ...),
        function=(_constant(function), ...),
        args=(args, ...),
        events=(
            list[TransactionEvent],
            Field(default_factory=list, description="in a block's list: redacted only"),
        ),
        redacted=(Literal[False], False),
    )
    model.__doc__ = f"A deployment of {contract}." if deployment else f"A call of {contract}'s {function}."
    return model


#: The model of a transaction of each call and deployment, by ``(contract, function)`` (``constructor``).
CALL_MODELS: dict[tuple[str, str], type[TransactionBase]] = {
    key: _call_model(*key, args) for key, args in CALL_ARGS.items()
}

if TYPE_CHECKING:
    _Transaction = TransactionBase
else:
    _Transaction = _tagged_union(
        CALL_MODELS,
        _call_tag,
        "unknown_call",
        "not a call of our contracts",
        undecoded=UndecodedTransaction,
        redacted=RedactedTransaction,
    )


class Transaction(RootModel[_Transaction]):
    """A transaction: the model of its contract's call or deployment, an undecoded one, or a redacted one."""


__all__ = [
    "CALL_ARGS", "CALL_MODELS", "EVENT_ARGS", "EVENT_MODELS", "LOG_MODELS", "ChainEvent", "ChainEventBase", "EventArgs",
    "RedactedLog", "RedactedTransaction", "Transaction", "TransactionBase", "TransactionEvent", "UndecodedLog",
    "UndecodedTransaction", "args_model", "call_abis", "event_abis",
]  # fmt: skip

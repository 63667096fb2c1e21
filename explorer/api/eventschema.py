"""Our contracts' events as the explorer's API answers them: one pydantic model per event of the committed ABIs
(``contracts/artifacts``), built from those ABIs, so the OpenAPI document describes the arguments of every
event the contracts emit and cannot drift from them.

A :class:`ChainEvent` is one of these models, told apart by its ``contract`` and ``event`` (two contracts have a
``BootstrapFinished``): ``ChainEvent`` in the document is a ``oneOf`` of them, each with its ``contract`` and
``event`` as constants and its ``args`` as an object of the event's inputs, in the ABI's order, typed as
``explorer.chainfollow.json_value`` writes them (:func:`explorer.chainfollow.json_type`). The models only describe
the answer: an event's JSON is written as the chain index holds it, key for key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

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


def _event_model(contract: str, entry: Mapping[str, Any]) -> type[ChainEventBase]:
    event = str(entry["name"])
    fields: dict[str, Any] = {
        str(i["name"]): (
            json_type(str(i["name"]), str(i["type"])),
            Field(description=_described(str(i["name"]), str(i["type"]), bool(i.get("indexed")))),
        )
        for i in entry.get("inputs", ())
    }
    args = create_model(f"{contract}{event}Args", __base__=EventArgs, **fields)
    args.__doc__ = f"The arguments of {contract}'s {event} event, in the ABI's order."
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
    if isinstance(value, Mapping):
        return f"{value.get('contract')}.{value.get('event')}"
    return f"{getattr(value, 'contract', None)}.{getattr(value, 'event', None)}"


#: The model of each event, by ``(contract, event)``.
EVENT_MODELS: dict[tuple[str, str], type[ChainEventBase]] = {
    (contract, str(entry["name"])): _event_model(contract, entry) for contract, entry in event_abis()
}

if TYPE_CHECKING:
    ChainEvent = ChainEventBase
else:
    #: One of our contracts' decoded events, the model its contract and event name pick.
    ChainEvent = Annotated[
        Union[tuple(Annotated[m, Tag(f"{c}.{e}")] for (c, e), m in EVENT_MODELS.items())],  # noqa: UP007
        Discriminator(_tag, custom_error_type="unknown_event", custom_error_message="not an event of our contracts"),
    ]

__all__ = ["EVENT_MODELS", "ChainEvent", "ChainEventBase", "EventArgs", "event_abis"]

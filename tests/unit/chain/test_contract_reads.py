"""Contract reads decoded without web3 (``chain.contracts._base``) have the values and shapes web3's
``ContractFunction.call`` gives, for every function of every contract: web3's own normalisation is the
reference."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode, encode
from web3 import Web3
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract

from chain.contracts._base import _abi_type, _functions
from contracts import CONTRACT_NAMES, load_artifact

ACCOUNT = Web3.to_checksum_address("0x" + "ab" * 20)


def sample(kind: str, components: list[dict[str, Any]] | None = None) -> Any:
    """A value of ABI type ``kind``: two elements for each array, so lists and tuples show."""
    if kind.endswith("]"):
        element = kind[: kind.rindex("[")]
        size = kind[kind.rindex("[") + 1 : -1]
        return [sample(element, components) for _ in range(int(size) if size else 2)]
    if kind == "tuple":
        assert components is not None
        return tuple(sample(c["type"], c.get("components")) for c in components)
    if kind == "address":
        return ACCOUNT
    if kind == "bool":
        return True
    if kind == "string":
        return "Jinghua Securities Co., Ltd. (京华证券)"
    if kind == "bytes":
        return b"\x01\x02\x03"
    if kind.startswith("bytes"):
        return bytes(range(int(kind[5:])))
    if kind.startswith(("uint", "int")):
        return 7
    raise AssertionError(f"no sample for {kind}")


def web3_result(outputs: list[dict[str, Any]], data: bytes) -> Any:
    """What web3's ``call_contract_function`` makes of ``data`` (web3/contract/utils.py)."""
    types = [_abi_type(o) for o in outputs]
    normalized = map_abi_data(BASE_RETURN_NORMALIZERS, types, decode(types, data))
    return normalized[0] if len(normalized) == 1 else normalized


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, item)
        for name in CONTRACT_NAMES
        for item in load_artifact(name).abi
        if item.get("type") == "function" and item["outputs"]
    ]


@pytest.mark.parametrize(("name", "item"), _cases(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_a_read_decodes_as_web3_decodes_it(name: str, item: dict[str, Any]) -> None:
    function = _functions(name)[(item["name"], len(item["inputs"]))]
    values = [sample(o["type"], o.get("components")) for o in item["outputs"]]
    data = encode([_abi_type(o) for o in item["outputs"]], values)
    ours, theirs = function.decode(data), web3_result(item["outputs"], data)
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # the same types all the way down: lists, tuples, checksummed addresses


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_a_call_is_encoded_as_web3_encodes_it(name: str) -> None:
    contract: type[Contract] = Web3().eth.contract(abi=load_artifact(name).abi)
    for item in load_artifact(name).abi:
        if item.get("type") != "function":
            continue
        args = [sample(i["type"], i.get("components")) for i in item["inputs"]]
        ours = _functions(name)[(item["name"], len(args))].encode(tuple(args))
        theirs = contract.encode_abi(item["name"], args=args)
        assert "0x" + ours.hex() == theirs, item["name"]

"""Helpers shared by the contract test suite: digests, refusals, raw sends, names read back from chain."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from chain.errors import ContractRevertError
from chain.ids import bytes32_to_name
from chain.tx import transact

T = TypeVar("T")


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def refused(reason: str, action: Callable[..., Any], *args: Any) -> None:
    """``action(*args)`` is refused by the contract with exactly ``reason``."""
    with pytest.raises(ContractRevertError) as info:
        action(*args)
    assert info.value.reason == reason


def send(c: Any, client: Any, signer: Any, fn: str, *args: Any) -> Any:
    """Send ``fn(*args)`` as raw calldata, past any client-side check; returns the receipt."""
    return transact(c.backend, signer, client.address, client.encode(fn, *args), f"{client.NAME}.{fn}")


def name(raw: bytes) -> str:
    return bytes32_to_name(bytes(raw))


def known(value: T | None) -> T:
    """A view's answer that the test expects to exist (a member, proposal, asset, grant, anchor...)."""
    assert value is not None
    return value

"""``chain.backend.read_errors``: what the gateway's chain view and the trust view catch from a failed read. web3's
and requests' errors count once their modules are imported (nothing can raise them before), so catching them
imports neither."""

from __future__ import annotations

import sys

import httpx
import pytest
import requests
from web3.exceptions import TransactionNotFound, Web3Exception, Web3RPCError

from chain.backend import read_errors
from chain.errors import BackendError, ChainError, MalformedError


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        requests.ConnectionError("refused"),
        Web3RPCError("nonce too low"),
        TransactionNotFound("none"),
        ConnectionResetError("reset"),
        BackendError("cannot reach the chain"),
        MalformedError("a word of 65 digits"),
        ValueError("bad hex"),
    ],
)
def test_every_failure_of_a_read_is_caught(error: Exception) -> None:
    try:
        raise error
    except read_errors() as caught:
        assert caught is error


def test_a_bug_is_not_a_failed_read() -> None:
    with pytest.raises(KeyError):
        try:
            raise KeyError("a bug")
        except read_errors():
            pytest.fail("a KeyError is not a failed read")


def test_web3s_and_requests_errors_count_only_once_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {Web3Exception, requests.RequestException} <= set(read_errors())
    monkeypatch.delitem(sys.modules, "web3.exceptions")
    monkeypatch.delitem(sys.modules, "requests.exceptions")
    assert set(read_errors()) == {httpx.HTTPError, OSError, ChainError, ValueError}

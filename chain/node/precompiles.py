"""The consortium's precompile beyond Ethereum's: SM2 signature verification at ``0x…100a``.

Input: ``x (32) ‖ y (32) ‖ r (32) ‖ s (32) ‖ message`` (any length): the signer's public key as two 32-byte
big-endian coordinates, the signature's r and s, then the message itself. The precompile computes
e = SM3(Z_A ‖ message) with the signer ID ``1234567812345678`` (GB/T 32918.2 §6.1, GB/T 35276 §5.2) and checks
the signature through ``suite.sm2``.

Output: the 32-byte word 1 when the signature is valid for exactly that message, key and ID; otherwise empty, as
Ethereum's ecrecover and EIP-7951's P256VERIFY answer. Input shorter than 128 bytes, a point off the curve or
coordinates not below p, r or s outside [1, n - 1] all answer empty: the call itself succeeds and the caller
decides. Only running out of gas fails the call.

Gas: ``SM2_VERIFY_GAS + SM2_VERIFY_WORD_GAS`` per 32-byte word of the message (rounded up), charged before the
input is read. ``docs/national-suite.md`` gives the reasons for the address, the layout and the price.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.abc import ComputationAPI
from eth.vm.forks.prague.computation import PragueComputation
from eth_typing import Address

from suite.sm2 import DEFAULT_ID, SM2Error, SM2PublicKey

SM2_VERIFY_ADDRESS = Address((0x100A).to_bytes(20, "big"))
SM2_VERIFY_GAS = 15_000  # about 0.65 ms of work at the rate the node executes contracts (docs/national-suite.md)
SM2_VERIFY_WORD_GAS = 12
#: Bytes of the fixed part of the input: x, y, r, s.
SM2_VERIFY_HEAD = 128
VALID = (1).to_bytes(32, "big")


def sm2_verify_gas(input_size: int) -> int:
    """The gas of one call with ``input_size`` bytes of input; the message is what follows the first 128."""
    message_words = (max(0, input_size - SM2_VERIFY_HEAD) + 31) // 32
    return SM2_VERIFY_GAS + SM2_VERIFY_WORD_GAS * message_words


def sm2_signature_valid(data: bytes) -> bool:
    """Whether ``data`` (the precompile's input) holds a valid SM2 signature of its message; malformed is invalid."""
    if len(data) < SM2_VERIFY_HEAD:
        return False
    try:
        key = SM2PublicKey.from_bytes(b"\x04" + data[:64])
        key.verify(data[64:128], data[SM2_VERIFY_HEAD:], DEFAULT_ID)
    except SM2Error:  # InvalidSignatureError too; every refusal of the input is one
        return False
    return True


def sm2_verify(computation: ComputationAPI) -> ComputationAPI:
    data = computation.msg.data_as_bytes
    computation.consume_gas(sm2_verify_gas(len(data)), reason="SM2 verify precompile")
    if sm2_signature_valid(data):
        computation.output = VALID
    return computation


PRECOMPILES: dict[Address, Callable[[ComputationAPI], Any]] = {
    **PragueComputation.get_precompiles(),
    SM2_VERIFY_ADDRESS: sm2_verify,
}


class ConsortiumComputation(PragueComputation):
    """py-evm's Prague computation with the consortium's precompiles: Ethereum's and SM2 verification."""

    _precompiles = PRECOMPILES

# pragma version 0.4.3
"""
@title SM2Check (tests only)
@notice Calls the SM2-verify precompile at 0x100a, as a contract of the consortium would: `check` with a static
        call (a view, which the node's read path must hand to py-evm), `record` with a plain call in a transaction,
        keeping the verdict and the gas the call took.
"""

SM2_VERIFY: constant(address) = 0x000000000000000000000000000000000000100A
MAX_MESSAGE: constant(uint256) = 1024

last_verdict: public(bool)
last_gas: public(uint256)
records: public(uint256)


event Checked:
    verdict: bool
    gas: uint256


@internal
@view
def _valid(success: bool, output: Bytes[32]) -> bool:
    # Valid only on the 32-byte word 1: an empty answer (a refusal, or a chain without the precompile) is not.
    return success and len(output) == 32 and convert(output, uint256) == 1


@external
@view
def check(x: bytes32, y: bytes32, r: bytes32, s: bytes32, message: Bytes[MAX_MESSAGE]) -> bool:
    success: bool = False
    output: Bytes[32] = b""
    success, output = raw_call(
        SM2_VERIFY, concat(x, y, r, s, message), max_outsize=32, is_static_call=True, revert_on_failure=False
    )
    return self._valid(success, output)


@external
def record(x: bytes32, y: bytes32, r: bytes32, s: bytes32, message: Bytes[MAX_MESSAGE]) -> bool:
    data: Bytes[128 + MAX_MESSAGE] = concat(x, y, r, s, message)
    success: bool = False
    output: Bytes[32] = b""
    before: uint256 = msg.gas
    success, output = raw_call(SM2_VERIFY, data, max_outsize=32, revert_on_failure=False)
    spent: uint256 = before - msg.gas
    verdict: bool = self._valid(success, output)
    self.last_verdict = verdict
    self.last_gas = spent
    self.records += 1
    log Checked(verdict=verdict, gas=spent)
    return verdict

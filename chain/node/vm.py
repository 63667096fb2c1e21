"""The consortium's EVM rules: Prague execution on a free-gas, fixed-gas-limit chain with sealed headers.

- Base fee is always 0 and transactions may pay 0: member accounts need no balance.
- The block gas limit is fixed at genesis and never drifts.
- The extra data holds QBFT-style validator seals (``chain.node.seal``), larger than Ethereum's 32 bytes.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI
from eth.chains.base import Chain
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth_utils.exceptions import ValidationError

from chain.node.seal import MAX_VALIDATORS, SEAL_BYTES, VANITY_BYTES


class ConsortiumVM(PragueVM):
    extra_data_max_bytes = VANITY_BYTES + 16 + MAX_VALIDATORS * (21 + SEAL_BYTES + 2) + 16

    @classmethod
    def create_header_from_parent(  # type: ignore[override]
        cls, parent_header: BlockHeaderAPI | None, **header_params: Any
    ) -> BlockHeaderAPI:
        header_params["base_fee_per_gas"] = 0
        if parent_header is not None:
            header_params.setdefault("gas_limit", parent_header.gas_limit)
        return create_prague_header_from_parent(parent_header, **header_params)  # type: ignore[no-any-return]

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(f"gas limit changed from {parent_header.gas_limit} to {header.gas_limit}")
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0, got {header.base_fee_per_gas}")
        if header.gas_used > header.gas_limit:
            raise ValidationError(f"gas used {header.gas_used} exceeds the gas limit {header.gas_limit}")


def chain_class(chain_id: int) -> type[Chain]:
    """A py-evm Chain with our VM from genesis on, for ``chain_id``."""
    return type("ConsortiumChain", (Chain,), {"chain_id": chain_id, "vm_configuration": ((0, ConsortiumVM),)})

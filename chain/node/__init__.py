"""The consortium's own chain node: persistent py-evm, sealed blocks, permissioning, JSON-RPC."""

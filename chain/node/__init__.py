"""The consortium's own chain node: persistent py-evm, sealed blocks, permissioning, JSON-RPC.

Importing this package does nothing else: the node's Keccak-256 backend is selected when a node is built
(``chain.node.keccak``), and the block seal format, which verifiers need without the node, is ``chain.seal``.
"""

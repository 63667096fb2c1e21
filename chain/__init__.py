"""Everything that speaks EVM. Importing it defers py_ecc's BLS12-381 tables, which web3 would otherwise build in
every process for key files we never use (``chain._lazy_bls``)."""

from chain._lazy_bls import defer as _defer_bls

_defer_bls()

"""py_ecc's BLS12-381 code, loaded when it is first used instead of whenever web3 is imported.

eth-account imports eth-keyfile, and eth-keyfile imports py_ecc's BLS12-381 modules at its top, for version-4
(BLS) key files: ``from py_ecc.bls import G2ProofOfPossession`` and ``from py_ecc.bls12_381 import
curve_order``. Nothing here reads or writes such files, yet building those modules' tables costs about half a
second of CPU in every process that imports web3: every CLI command, and each of the processes that ``consortium
up`` starts.

:func:`defer` puts two stand-ins in ``sys.modules`` before that import happens. ``py_ecc.bls``'s
``G2ProofOfPossession`` is a proxy that imports the real module at its first use; ``py_ecc.bls12_381`` answers
``curve_order`` (the order of the BLS12-381 groups, a constant of the curve) and imports the real module for any
other name. Either way the real module then replaces its stand-in in ``sys.modules``, so later imports get the
real one.

py-evm builds the same tables a second way: ``eth.precompiles`` imports its BLS12-381 precompiles (EIP-2537, which
Prague, our node's fork, registers at 0x0b to 0x11), and they import py_ecc's pairing code, about 0.3 s of CPU in
every node process and every process that runs a contract in process, for precompiles no contract of ours calls.
So ``eth.precompiles.bls12_381`` has a stand-in too, made by an import finder when py-evm imports it, whose seven
precompiles load the real ones at their first run.

``tests/integration/chain/test_lazy_bls.py`` checks the constant against py_ecc, a BLS key file end to end, and a
BLS precompile run by our node against py_ecc.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Any

#: r, the order of BLS12-381's G1 and G2 (py_ecc.bls12_381.curve_order).
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

#: py-evm's EIP-2537 precompiles (Prague's 0x0b to 0x11), as ``eth.precompiles`` imports them.
PRECOMPILES_MODULE = "eth.precompiles.bls12_381"
PRECOMPILES = (
    "bls12_g1_add",
    "bls12_g1_msm",
    "bls12_map_fp_to_g1",
    "bls12_g2_add",
    "bls12_g2_msm",
    "bls12_map_fp2_to_g2",
    "bls12_pairing_check",
)


def _real(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if isinstance(module, _StandIn):
        del sys.modules[name]
        module = None
    if name == PRECOMPILES_MODULE:
        _PrecompilesFinder.released = True  # from now on the import finds the real module
    return module if module is not None else importlib.import_module(name)


class _StandIn(types.ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        # A package's path, found without importing anything: ``from py_ecc.bls import X`` asks for it, and
        # py-evm imports submodules (``py_ecc.bls.hash_to_curve``) through it.
        top, *inner = name.split(".")
        spec = importlib.util.find_spec(top)
        locations = spec.submodule_search_locations if spec is not None else None
        self.__path__ = [os.path.join(p, *inner) for p in locations or ()]

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(_real(self.__name__), attribute)


class _Deferred:
    """Stands for ``module.name`` until an attribute of it is used."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(getattr(_real(self._module), self._name), attribute)


def _precompile(name: str) -> Any:
    """Stands for py-evm's precompile ``name`` of ``eth.precompiles.bls12_381`` and loads it at its first run."""

    def run(computation: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(_real(PRECOMPILES_MODULE), name)(computation, *args, **kwargs)

    run.__name__ = run.__qualname__ = name
    return run


class _PrecompilesFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers the import of ``eth.precompiles.bls12_381`` with its stand-in, until the real one is needed.

    A finder rather than an entry in ``sys.modules``: the stand-in then exists only in a process that imports
    py-evm's precompiles, and a process that never does (a read-only command) has no ``eth`` module of any kind."""

    released = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != PRECOMPILES_MODULE or _PrecompilesFinder.released:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        precompiles = _StandIn(PRECOMPILES_MODULE)
        for name in PRECOMPILES:
            setattr(precompiles, name, _precompile(name))
        return precompiles

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def defer() -> None:
    """Install the stand-ins, unless py_ecc's BLS modules are already imported. Idempotent."""
    if "py_ecc.bls" not in sys.modules:
        bls = _StandIn("py_ecc.bls")
        setattr(bls, "G2ProofOfPossession", _Deferred("py_ecc.bls", "G2ProofOfPossession"))  # noqa: B010
        sys.modules["py_ecc.bls"] = bls
    if "py_ecc.bls12_381" not in sys.modules:
        curve = _StandIn("py_ecc.bls12_381")
        setattr(curve, "curve_order", CURVE_ORDER)  # noqa: B010
        sys.modules["py_ecc.bls12_381"] = curve
    if PRECOMPILES_MODULE not in sys.modules and not any(isinstance(f, _PrecompilesFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PrecompilesFinder())

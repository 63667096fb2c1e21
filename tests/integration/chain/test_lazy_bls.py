"""py_ecc's BLS12-381 code is deferred by ``import chain`` (``chain._lazy_bls``) and still works when used: a
BLS (version 4) key file made through the stand-ins matches one made with py_ecc imported first; py-evm's BLS
precompiles import their submodules, and our node runs one as py_ecc computes it; the curve order the stand-in
answers is py_ecc's. Each case runs in a fresh interpreter, where nothing has imported py_ecc yet."""

from __future__ import annotations

import json
import subprocess
import sys

KEYFILE = (
    "from eth_keyfile import create_keyfile_json, decode_keyfile_json\n"
    "key = (12345).to_bytes(32, 'big')\n"
    "made = create_keyfile_json(key, b'pw', version=4, kdf='pbkdf2', iterations=2)\n"
    "assert decode_keyfile_json(made, b'pw') == key\n"
)


def run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_web3_through_chain_builds_no_bls_tables() -> None:
    seen = run("import json, sys\nimport chain.backend, chain.contracts\nprint(json.dumps({'m': sorted(sys.modules)}))")
    modules = seen["m"]
    assert isinstance(modules, list)
    loaded = [m for m in modules if m.startswith(("py_ecc.optimized_bls12_381", "py_ecc.bls."))]
    assert loaded == []


def test_a_bls_key_file_is_the_same_with_the_stand_ins_as_without() -> None:
    deferred = run("import json\nimport chain.backend\n" + KEYFILE + "print(json.dumps({'pubkey': made['pubkey']}))")
    plain = run("import json\nimport py_ecc.bls\n" + KEYFILE + "print(json.dumps({'pubkey': made['pubkey']}))")
    assert deferred["pubkey"] == plain["pubkey"] and len(str(plain["pubkey"])) == 96


def test_py_evm_imports_its_bls_precompiles_and_the_real_modules_replace_the_stand_ins() -> None:
    seen = run(
        "import json, sys\nimport chain.backend\nimport chain.node.vm\n"
        "from eth.precompiles import bls12_381\nimport py_ecc.bls\n"
        "print(json.dumps({'basic': py_ecc.bls.G2Basic.__name__, 'kind': type(sys.modules['py_ecc.bls']).__name__}))"
    )
    assert seen == {"basic": "G2Basic", "kind": "module"}


def test_the_stand_ins_curve_order_is_py_eccs() -> None:
    seen = run(
        "import json, sys\nfrom chain._lazy_bls import CURVE_ORDER\nimport py_ecc.bls12_381\n"
        "py_ecc.bls12_381.field_modulus  # any other name loads the real module in the stand-in's place\n"
        "real = sys.modules['py_ecc.bls12_381']\n"
        "print(json.dumps({'same': CURVE_ORDER == real.curve_order, 'kind': type(real).__name__}))"
    )
    assert seen == {"same": True, "kind": "module"}


#: EIP-2537's encoding of BLS12-381's G1 generator: x then y, each 48 bytes left-padded to 64.
G1_X = 0x17F1D3A73197D7942695638C4FA9AC0FC3688C4F9774B905A14E3A3F171BAC586C55E83FF97A1AEFFB3AF00ADB22C6BB
G1_Y = 0x08B3F481E3AAA0F1A09E30ED741D8AE4FCF5E095D5D00AF600DB18CB2C04B3EDD03CC744A2888AE40CAA232946C5E7E1


def test_our_node_loads_no_bls_tables_until_a_bls_precompile_runs_and_then_answers_as_py_ecc() -> None:
    generator = G1_X.to_bytes(64, "big") + G1_Y.to_bytes(64, "big")
    seen = run(
        "import json, sys, time\n"
        "from chain.node.node import Genesis, Node\n"  # first, as a node process does: eth's import is deferred
        "from eth.db.atomic import AtomicDB\n"
        "from eth_account import Account\n"
        "a = Account.create()\n"
        "node = Node(AtomicDB(), Genesis(20261, (a.address,), a.address, int(time.time()) - 100), bytes(a.key))\n"
        "before = sorted(m for m in sys.modules if m.startswith('py_ecc.optimized_bls12_381'))\n"
        f"out = node.call(bytes.fromhex(a.address[2:]), bytes(19) + b'\\x0b', bytes.fromhex('{generator.hex() * 2}'))\n"
        "print(json.dumps({'before': before, 'loaded': 'py_ecc.optimized_bls12_381' in sys.modules, 'out': out.hex()}))"
    )
    from py_ecc.optimized_bls12_381 import optimized_curve  # here, in the test's own process

    x, y = optimized_curve.normalize(optimized_curve.multiply(optimized_curve.G1, 2))
    assert seen["before"] == [] and seen["loaded"] is True
    assert seen["out"] == (int(x).to_bytes(64, "big") + int(y).to_bytes(64, "big")).hex()  # G1ADD(G, G) = 2G

"""The salt vault survives ``kill -9``: a process making a new epoch key for day after day is killed at a random
moment; every salt it handed out (printed only after its key was durable) is the one the reopened vault gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.submit.vault import DAY_MS, SaltVault

START = 1_795_000_000_000

CHILD = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from notary.submit.vault import DAY_MS, SaltVault

key = load_pem_private_key(Path(sys.argv[2]).read_bytes(), None)
vault = SaltVault.for_gateway_key(Path(sys.argv[1]), "alpha", key, clock=lambda: 0.0)
day = 0
while True:
    time_ms = {start} + day * DAY_MS
    print(f"{{time_ms}} {{vault.salt(f'e-{{day}}', time_ms).hex()}}", flush=True)
    day += 1
"""


def test_every_salt_handed_out_before_a_kill_is_the_reopened_vaults(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    folder = tmp_path / "vault"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(start=START), str(folder), str(key_file)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert child.stdout is not None
    handed = []
    for line in child.stdout:
        handed.append(line.split())
        if len(handed) == 40 + int.from_bytes(os.urandom(1), "big") % 40:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    vault = SaltVault.for_gateway_key(folder, "alpha", key, clock=lambda: 0.0)
    for day, (time_ms, salt) in enumerate(handed):
        assert vault.reveal(f"e-{day}", int(time_ms)).hex() == salt
    days = vault.days()
    assert len(days) >= len(handed)  # the killed process may have made one more
    for i in range(len(days)):  # every key on disk (consecutive days) is whole and decrypts
        vault.reveal("x", START + i * DAY_MS)

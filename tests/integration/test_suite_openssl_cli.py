"""SM2 signatures against the `openssl` command line (OpenSSL 3), with the signer ID given as `-sigopt distid:`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from suite.sm2 import DEFAULT_ID, InvalidSignatureError, SM2PrivateKey, raw_to_der

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, timeout=30, check=False)


def test_openssl_verifies_ours_and_we_verify_openssl(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    (tmp_path / "pub.pem").write_bytes(key.public_key().to_pem())
    (tmp_path / "message").write_bytes(b"checkpoint 42")
    (tmp_path / "ours.der").write_bytes(raw_to_der(key.sign(b"checkpoint 42")))
    distid = f"distid:{DEFAULT_ID.decode()}"

    verified = _openssl(
        "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt", distid,
        "-signature", str(tmp_path / "ours.der"), str(tmp_path / "message"),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    # Without the ID OpenSSL hashes the empty one: our signature must not verify there.
    empty = _openssl(
        "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"),
        "-signature", str(tmp_path / "ours.der"), str(tmp_path / "message"),
    )  # fmt: skip
    assert empty.returncode != 0

    signed = _openssl(
        "dgst", "-sm3", "-sign", str(tmp_path / "key.pem"), "-sigopt", distid,
        "-out", str(tmp_path / "theirs.der"), str(tmp_path / "message"),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    theirs = (tmp_path / "theirs.der").read_bytes()
    key.public_key().verify_der(theirs, b"checkpoint 42")
    with pytest.raises(InvalidSignatureError):
        key.public_key().verify_der(theirs, b"checkpoint 42", b"")


def test_a_key_openssl_generated_and_encrypted_with_aes_loads(tmp_path: Path) -> None:
    generated = _openssl("genpkey", "-algorithm", "SM2", "-aes-256-cbc", "-pass", "pass:secret")
    assert generated.returncode == 0, generated.stderr
    key = SM2PrivateKey.from_pem(generated.stdout, b"secret")
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    public = _openssl("pkey", "-in", str(tmp_path / "key.pem"), "-pubout")
    assert public.returncode == 0, public.stderr
    assert public.stdout == key.public_key().to_pem()

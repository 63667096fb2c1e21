"""SM4 (GB/T 32907-2016) for encryption at rest: an authenticated box in GCM mode and a passphrase-derived key.

`seal` is SM4-GCM (GB/T 32907 block cipher in NIST SP 800-38D mode, as RFC 8998 uses it) with a fresh random
96-bit nonce. The sealed bytes are, exactly::

    nonce (12 bytes) || ciphertext (len(plaintext) bytes) || tag (16 bytes)

`derive_key` is PBKDF2 (RFC 8018 §5.2) with HMAC-SM3 (GB/T 32905) as its pseudo-random function, giving a 16-byte
SM4 key. SM4 itself comes from OpenSSL through `cryptography`.

`iterations_setting` is how many PBKDF2 iterations what is written now gets (an encrypted key file of either suite,
an `sm` vault key): `DEFAULT_ITERATIONS`, or the operator's `$CONSORTIUM_KDF_ITERATIONS` (its older name
`$CONSORTIUM_SM_KDF_ITERATIONS` is read when it is unset) from `MIN_SETTING` up. What is read takes the count its
file states, whatever the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from suite.errors import SM4Error

KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
MIN_SALT = 8  # RFC 8018 §4.1: at least eight octets
MAX_ITERATIONS = 10_000_000  # a cap, so that a stored iteration count cannot stall the reader
DEFAULT_ITERATIONS = 200_000  # PBKDF2 rounds of what is written: about 0.08 s of CPU here (HMAC-SM3)
MIN_SETTING = 10_000  # the fewest an operator may set (a vault key sealed with fewer is refused on reading)
ITERATIONS_ENV = "CONSORTIUM_KDF_ITERATIONS"
OLD_ITERATIONS_ENV = "CONSORTIUM_SM_KDF_ITERATIONS"  # its name when it set the SM2 key files' cost only


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise SM4Error(f"an SM4 key is {KEY_SIZE} bytes, not {len(key)}")


def seal(key: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
    """Encrypt and authenticate `plaintext` (and authenticate `associated`) under the 16-byte `key`."""
    _check_key(key)
    nonce = os.urandom(NONCE_SIZE)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + ciphertext + encryptor.tag


def open_(key: bytes, sealed: bytes, associated: bytes = b"") -> bytes:
    """The plaintext of `seal(key, plaintext, associated)`; `SM4Error` if anything differs or was changed."""
    _check_key(key)
    if len(sealed) < NONCE_SIZE + TAG_SIZE:
        raise SM4Error(f"a sealed box is at least {NONCE_SIZE + TAG_SIZE} bytes, not {len(sealed)}")
    nonce, ciphertext, tag = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:-TAG_SIZE], sealed[-TAG_SIZE:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise SM4Error(
            "the sealed box does not open: wrong key or associated data, or the bytes were changed"
        ) from None


def derive_key(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    """A 16-byte SM4 key from `passphrase`: PBKDF2-HMAC-SM3 (RFC 8018 §5.2) over `salt` and `iterations`."""
    if len(salt) < MIN_SALT:
        raise SM4Error(f"the salt is {len(salt)} bytes; use at least {MIN_SALT} random bytes")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise SM4Error(f"the iteration count {iterations} is not between 1 and {MAX_ITERATIONS}")
    return PBKDF2HMAC(hashes.SM3(), KEY_SIZE, salt, iterations).derive(passphrase)


def iterations_setting(environ: Mapping[str, str] | None = None, default: int = DEFAULT_ITERATIONS) -> int:
    """The PBKDF2 iterations for a key written now: ``$CONSORTIUM_KDF_ITERATIONS``, or when it is unset
    ``$CONSORTIUM_SM_KDF_ITERATIONS`` (of ``environ``, by default the process's), a whole number from `MIN_SETTING`
    to `MAX_ITERATIONS`, else ``default``; `SM4Error` naming the variable for any other value."""
    env = os.environ if environ is None else environ
    name = ITERATIONS_ENV if ITERATIONS_ENV in env else OLD_ITERATIONS_ENV
    text = env.get(name)
    if text is None:
        return default
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not MIN_SETTING <= int(value) <= MAX_ITERATIONS:
        raise SM4Error(
            f"${name} is {text!r}: give a whole number of PBKDF2 iterations from {MIN_SETTING:,} to "
            f"{MAX_ITERATIONS:,} (unset: {DEFAULT_ITERATIONS:,})"
        )
    return int(value)

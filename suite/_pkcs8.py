"""PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 §3) with PBES2 (RFC 8018 §6.2), written with a chosen iteration count.

`encrypt` writes SM4-CBC under a PBKDF2-HMAC-SM3 key (the national suite's SM2 key files); `encrypt_aes` writes
AES-256-CBC under a PBKDF2-HMAC-SHA256 key (every other key file: CA, identity, TLS and account keys under both
suites, the Ed25519 keys of `intl`), the scheme OpenSSL writes by default but with the operator's iteration count
instead of OpenSSL's fixed 2,048 (which `cryptography` offers no way to change for PKCS#8). OpenSSL reads what
`encrypt_aes` writes; only `encrypt`'s scheme is read here (`decrypt`).

OpenSSL 3.0 knows SM4-CBC but not HMAC-SM3 as a PBKDF2 PRF (`openssl pkcs8 -v2prf hmacWithSM3` needs 3.2), so
this module writes and reads that one scheme itself. The bytes written are, exactly::

    SEQUENCE {                                   -- EncryptedPrivateKeyInfo
      SEQUENCE {                                 -- AlgorithmIdentifier
        OID 1.2.840.113549.1.5.13                -- PBES2
        SEQUENCE {
          SEQUENCE { OID 1.2.840.113549.1.5.12   -- PBKDF2
                     SEQUENCE { OCTET STRING salt (16), INTEGER iterations,
                                SEQUENCE { OID 1.2.156.10197.1.401.3.1, NULL } } }   -- hmacWithSM3
          SEQUENCE { OID 1.2.156.10197.1.104.2, OCTET STRING iv (16) } } }            -- sm4-cbc
      OCTET STRING SM4-CBC(PKCS#8 PrivateKeyInfo, PKCS#7 padding) }

For `encrypt`, hmacWithSM3 is GM/T 0091-2020 Table A.1's OID, the one OpenSSL 3.2 and later name `hmacWithSM3`;
on reading, the older 1.2.156.10197.1.401.2 (HMAC-SM3 in GmSSL) is accepted too. Any other PBES2 choice is left
to OpenSSL.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from suite import _der
from suite.errors import SM2Error, SuiteError
from suite.sm4 import KEY_SIZE, MAX_ITERATIONS, derive_key

OID_PBES2 = _der.oid("1.2.840.113549.1.5.13")
OID_PBKDF2 = _der.oid("1.2.840.113549.1.5.12")
OID_SM4_CBC = _der.oid("1.2.156.10197.1.104.2")
OID_HMAC_SM3 = _der.oid("1.2.156.10197.1.401.3.1")
OID_HMAC_SM3_GMSSL = _der.oid("1.2.156.10197.1.401.2")
OID_AES256_CBC = _der.oid("2.16.840.1.101.3.4.1.42")
OID_HMAC_SHA256 = _der.oid("1.2.840.113549.2.9")
AES_KEY_SIZE = 32
_NULL = b"\x05\x00"
SALT_SIZE = 16
BLOCK = 16


def _pbes2(prf: bytes, cipher: bytes, salt: bytes, iterations: int, iv: bytes, ciphertext: bytes) -> bytes:
    kdf = _der.sequence(
        OID_PBKDF2, _der.sequence(_der.octet_string(salt), _der.integer(iterations), _der.sequence(prf, _NULL))
    )
    scheme = _der.sequence(cipher, _der.octet_string(iv))
    algorithm = _der.sequence(OID_PBES2, _der.sequence(kdf, scheme))
    return _der.sequence(algorithm, _der.octet_string(ciphertext))


def _cbc_encrypt(algorithm: algorithms.AES | algorithms.SM4, iv: bytes, plaintext: bytes) -> bytes:
    """CBC with PKCS#7 padding (RFC 8018 §6.2.1 step 4), as PBES2 prescribes."""
    pad = BLOCK - len(plaintext) % BLOCK
    encryptor = Cipher(algorithm, modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()


def encrypt(private_key_info: bytes, password: bytes, iterations: int) -> bytes:
    """EncryptedPrivateKeyInfo DER of the PKCS#8 `private_key_info`, in the exact shape of the module docstring."""
    salt, iv = os.urandom(SALT_SIZE), os.urandom(BLOCK)
    key = derive_key(password, salt, iterations)
    ciphertext = _cbc_encrypt(algorithms.SM4(key), iv, private_key_info)
    return _pbes2(OID_HMAC_SM3, OID_SM4_CBC, salt, iterations, iv, ciphertext)


def encrypt_aes(private_key_info: bytes, password: bytes, iterations: int) -> bytes:
    """EncryptedPrivateKeyInfo DER of `private_key_info`: the shape of the module docstring with hmacWithSHA256
    (RFC 8018 §B.1.2) as the PBKDF2 function and aes256-CBC (RFC 8018 §B.2.5) as the scheme, a 32-byte key."""
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise SuiteError(f"the PBKDF2 iteration count {iterations} is not between 1 and {MAX_ITERATIONS}")
    salt, iv = os.urandom(SALT_SIZE), os.urandom(BLOCK)
    key = PBKDF2HMAC(hashes.SHA256(), AES_KEY_SIZE, salt, iterations).derive(password)
    ciphertext = _cbc_encrypt(algorithms.AES(key), iv, private_key_info)
    return _pbes2(OID_HMAC_SHA256, OID_AES256_CBC, salt, iterations, iv, ciphertext)


def decrypt(encrypted: bytes, password: bytes) -> bytes | None:
    """The PrivateKeyInfo inside `encrypted`, or None when it uses a scheme other than PBES2/SM4/HMAC-SM3."""
    try:
        outer = _der.Reader(encrypted, "EncryptedPrivateKeyInfo")
        info = outer.read_sequence("body")
        outer.end()
        algorithm = info.read_sequence("encryptionAlgorithm")
        ciphertext = info.read(_der.OCTET_STRING)
        info.end()
        if algorithm.read_oid() != OID_PBES2:
            return None
        params = algorithm.read_sequence("PBES2-params")
        algorithm.end()
        kdf = params.read_sequence("keyDerivationFunc")
        scheme = params.read_sequence("encryptionScheme")
        params.end()
        if kdf.read_oid() != OID_PBKDF2 or scheme.read_oid() != OID_SM4_CBC:
            return None
        iv = scheme.read(_der.OCTET_STRING)
        scheme.end()
        pbkdf2 = kdf.read_sequence("PBKDF2-params")
        kdf.end()
        salt = pbkdf2.read(_der.OCTET_STRING)
        iterations = pbkdf2.read_integer()
        if pbkdf2.peek_tag() == _der.INTEGER and pbkdf2.read_integer() != KEY_SIZE:
            raise SM2Error(f"the PBKDF2 key length is not the {KEY_SIZE} bytes of an SM4 key")
        if pbkdf2.peek_tag() is None:
            return None  # the default PRF, HMAC-SHA1
        prf = pbkdf2.read_sequence("prf")
        pbkdf2.end()
        if prf.read_oid() not in (OID_HMAC_SM3, OID_HMAC_SM3_GMSSL):
            return None
        if prf.peek_tag() is not None:
            if prf.read(0x05) != b"":
                raise SM2Error("the HMAC-SM3 parameters are not NULL")
            prf.end()
    except _der.DERError as e:
        raise SM2Error(f"not a valid encrypted PKCS#8 key: {e}") from e
    if len(iv) != BLOCK:
        raise SM2Error(f"the SM4-CBC IV is {len(iv)} bytes, not {BLOCK}")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise SM2Error(f"the PBKDF2 iteration count {iterations} is not between 1 and {MAX_ITERATIONS}")
    if len(salt) < 8:
        raise SM2Error(f"the PBKDF2 salt is {len(salt)} bytes, fewer than 8")
    if not ciphertext or len(ciphertext) % BLOCK:
        raise SM2Error("the encrypted key is not a whole number of SM4 blocks")
    key = derive_key(password, salt, iterations)
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise SM2Error("wrong password (or the encrypted key is corrupted)")
    return padded[:-pad]

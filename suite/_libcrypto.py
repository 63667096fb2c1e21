"""A small ctypes binding to OpenSSL 3's libcrypto for SM2 (GB/T 32918.2) signing and verifying with SM3.

The `cryptography` package refuses SM2 keys, so this module declares the dozen EVP functions it needs, loads
libcrypto once, checks every return code, turns the thread's OpenSSL error queue into an `SM2Error` and frees
every object it makes. Nothing mutable is shared between calls: each sign or verify makes its own contexts, and an
`EVP_PKEY` (reference-counted, read-only once built) is the only object that outlives a call.

The signer ID (GB/T 35276 §5.2, the ID hashed into ZA) is always set explicitly on the key context before the
digest-sign or digest-verify starts: OpenSSL's own default is the empty ID, which other implementations do not use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from collections.abc import Sequence
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_ulong, c_void_p
from typing import Final

from suite.errors import SM2Error

_BIO_CTRL_INFO = 3  # BIO_get_mem_data is BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
_NID_SM2 = 1172  # obj_mac.h
_POINT_CONVERSION_COMPRESSED = 2
_POINT_CONVERSION_UNCOMPRESSED = 4
_BN_FLG_CONSTTIME = 0x04


def _declare(lib: ctypes.CDLL) -> None:
    table: dict[str, tuple[type | None, list[type]]] = {
        "ERR_get_error": (c_ulong, []),
        "ERR_error_string_n": (None, [c_ulong, c_char_p, c_size_t]),
        "ERR_clear_error": (None, []),
        "BIO_new_mem_buf": (c_void_p, [c_void_p, c_int]),
        "BIO_s_mem": (c_void_p, []),
        "BIO_new": (c_void_p, [c_void_p]),
        "BIO_ctrl": (ctypes.c_long, [c_void_p, c_int, ctypes.c_long, c_void_p]),
        "BIO_free": (c_int, [c_void_p]),
        "BN_bn2binpad": (c_int, [c_void_p, c_char_p, c_int]),
        "BN_clear_free": (None, [c_void_p]),
        "EVP_sm3": (c_void_p, []),
        "EVP_PKEY_free": (None, [c_void_p]),
        "EVP_PKEY_is_a": (c_int, [c_void_p, c_char_p]),
        "EVP_PKEY_get0_type_name": (c_char_p, [c_void_p]),
        "EVP_PKEY_get_bn_param": (c_int, [c_void_p, c_char_p, POINTER(c_void_p)]),
        "EVP_PKEY_get_octet_string_param": (c_int, [c_void_p, c_char_p, c_char_p, c_size_t, POINTER(c_size_t)]),
        "EVP_PKEY_CTX_new": (c_void_p, [c_void_p, c_void_p]),
        "EVP_PKEY_CTX_new_from_name": (c_void_p, [c_void_p, c_char_p, c_char_p]),
        "EVP_PKEY_CTX_free": (None, [c_void_p]),
        "EVP_PKEY_CTX_set1_id": (c_int, [c_void_p, c_void_p, c_int]),
        "EVP_PKEY_keygen_init": (c_int, [c_void_p]),
        "EVP_PKEY_generate": (c_int, [c_void_p, POINTER(c_void_p)]),
        "EVP_PKEY_encrypt_init": (c_int, [c_void_p]),
        "EVP_PKEY_encrypt": (c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_PKEY_decrypt_init": (c_int, [c_void_p]),
        "EVP_PKEY_decrypt": (c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_MD_CTX_new": (c_void_p, []),
        "EVP_MD_CTX_free": (None, [c_void_p]),
        "EVP_MD_CTX_set_pkey_ctx": (None, [c_void_p, c_void_p]),
        "EVP_DigestSignInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestSign": (c_int, [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]),
        "EVP_DigestVerifyInit": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EVP_DigestVerify": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]),
        "d2i_PUBKEY": (c_void_p, [c_void_p, POINTER(c_char_p), ctypes.c_long]),
        "d2i_AutoPrivateKey": (c_void_p, [c_void_p, POINTER(c_char_p), ctypes.c_long]),
        "PEM_read_bio_PrivateKey": (c_void_p, [c_void_p, c_void_p, c_void_p, c_char_p]),
        "BN_bin2bn": (c_void_p, [c_char_p, c_int, c_void_p]),
        "BN_set_flags": (None, [c_void_p, c_int]),
        "BN_CTX_new": (c_void_p, []),
        "BN_CTX_free": (None, [c_void_p]),
        "EC_GROUP_new_by_curve_name": (c_void_p, [c_int]),
        "EC_POINT_new": (c_void_p, [c_void_p]),
        "EC_POINT_clear_free": (None, [c_void_p]),
        "EC_POINT_oct2point": (c_int, [c_void_p, c_void_p, c_char_p, c_size_t, c_void_p]),
        "EC_POINT_point2oct": (c_size_t, [c_void_p, c_void_p, c_int, c_char_p, c_size_t, c_void_p]),
        "EC_POINT_mul": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "EC_POINT_is_at_infinity": (c_int, [c_void_p, c_void_p]),
        "EC_POINTs_make_affine": (c_int, [c_void_p, c_size_t, c_void_p, c_void_p]),
        "BN_new": (c_void_p, []),
        "BN_free": (None, [c_void_p]),
        "BN_MONT_CTX_new": (c_void_p, []),
        "BN_MONT_CTX_set": (c_int, [c_void_p, c_void_p, c_void_p]),
        "BN_mod_exp_mont": (c_int, [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]),
        "PEM_write_bio_PKCS8PrivateKey": (
            c_int,
            [c_void_p, c_void_p, c_void_p, c_char_p, c_int, c_void_p, c_void_p],
        ),
    }
    for name, (restype, argtypes) in table.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


@functools.cache
def _lib() -> ctypes.CDLL:
    """libcrypto, loaded and declared on first use (not at import)."""
    path = ctypes.util.find_library("crypto")
    if path is None:
        raise SM2Error("OpenSSL's libcrypto was not found: SM2 needs OpenSSL 3.0 or later")
    lib = ctypes.CDLL(path)
    if not hasattr(lib, "EVP_PKEY_CTX_new_from_name"):
        raise SM2Error(f"{path} is older than OpenSSL 3.0: SM2 needs OpenSSL 3.0 or later")
    _declare(lib)
    return lib


def _error(what: str) -> SM2Error:
    """An `SM2Error` carrying (and clearing) this thread's OpenSSL error queue."""
    lib = _lib()
    reasons = []
    buf = ctypes.create_string_buffer(256)
    while code := lib.ERR_get_error():
        lib.ERR_error_string_n(code, buf, len(buf))
        reasons.append(buf.value.decode("ascii", "replace"))
    return SM2Error(f"{what}: {'; '.join(reasons) or 'no reason given by OpenSSL'}")


class PKey:
    """An owned `EVP_PKEY *`, freed when this object is collected."""

    __slots__ = ("__weakref__", "pointer")

    def __init__(self, pointer: int) -> None:
        self.pointer = pointer
        weakref.finalize(self, _lib().EVP_PKEY_free, pointer)


def _owned(pointer: int | None, what: str) -> PKey:
    if not pointer:
        raise _error(what)
    lib = _lib()
    if lib.EVP_PKEY_is_a(pointer, b"SM2") != 1:
        name = lib.EVP_PKEY_get0_type_name(pointer)
        lib.EVP_PKEY_free(pointer)
        kind = name.decode("ascii", "replace") if name else "unknown"
        raise SM2Error(f"{what}: the key is a {kind} key, not an SM2 key")
    return PKey(pointer)


def generate() -> PKey:
    lib = _lib()
    lib.ERR_clear_error()
    ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise _error("cannot make an SM2 key context")
    try:
        pointer = c_void_p()
        if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, byref(pointer)) != 1:
            raise _error("SM2 key generation failed")
        return _owned(pointer.value, "SM2 key generation")
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


def _decode(decoder: str, der: bytes, what: str) -> PKey:
    """An SM2 key from ``der`` through libcrypto's ``d2i_*`` function ``decoder``."""
    lib = _lib()
    lib.ERR_clear_error()
    cursor = c_char_p(der)
    return _owned(getattr(lib, decoder)(None, byref(cursor), len(der)), what)


def load_private_der(pkcs8: bytes) -> PKey:
    """A private key from an unencrypted PKCS#8 PrivateKeyInfo."""
    return _decode("d2i_AutoPrivateKey", pkcs8, "cannot read the PKCS#8 private key")


def load_private_pem(pem: bytes, password: bytes | None) -> PKey:
    """A private key from any PEM OpenSSL reads, decrypted with `password` (a NUL-free byte string)."""
    lib = _lib()
    lib.ERR_clear_error()
    bio = lib.BIO_new_mem_buf(pem, len(pem))
    if not bio:
        raise _error("cannot make a memory BIO")
    try:
        # With no callback, OpenSSL takes the last argument as the NUL-terminated passphrase.
        pointer = lib.PEM_read_bio_PrivateKey(bio, None, None, password if password is not None else b"")
        return _owned(pointer, "cannot read the private key (wrong password, or not a PKCS#8 key)")
    finally:
        lib.BIO_free(bio)


def load_public_der(spki: bytes) -> PKey:
    """A public key from a SubjectPublicKeyInfo."""
    return _decode("d2i_PUBKEY", spki, "cannot read the SubjectPublicKeyInfo")


def private_scalar(key: PKey) -> bytes:
    """The private scalar d, 32 bytes big-endian."""
    lib = _lib()
    lib.ERR_clear_error()
    bn = c_void_p()
    if lib.EVP_PKEY_get_bn_param(key.pointer, b"priv", byref(bn)) != 1:
        raise _error("the key has no private scalar")
    try:
        out = ctypes.create_string_buffer(32)
        if lib.BN_bn2binpad(bn, out, 32) != 32:
            raise _error("the private scalar does not fit in 32 bytes")
        return out.raw
    finally:
        lib.BN_clear_free(bn)


def public_point(key: PKey) -> bytes:
    """The public point as OpenSSL encodes it (uncompressed for the keys this suite builds)."""
    lib = _lib()
    lib.ERR_clear_error()
    out = ctypes.create_string_buffer(133)
    size = c_size_t()
    if lib.EVP_PKEY_get_octet_string_param(key.pointer, b"pub", out, len(out), byref(size)) != 1:
        raise _error("the key has no public point")
    return out.raw[: size.value]


def pkcs8_pem(key: PKey) -> bytes:
    """The key as an unencrypted PKCS#8 PEM, in OpenSSL's encoding."""
    lib = _lib()
    lib.ERR_clear_error()
    bio = lib.BIO_new(lib.BIO_s_mem())
    if not bio:
        raise _error("cannot make a memory BIO")
    try:
        if lib.PEM_write_bio_PKCS8PrivateKey(bio, key.pointer, None, None, 0, None, None) != 1:
            raise _error("cannot write the private key")
        data = c_char_p()
        size = lib.BIO_ctrl(bio, _BIO_CTRL_INFO, 0, byref(data))
        return ctypes.string_at(data, size)
    finally:
        lib.BIO_free(bio)


def _digest_context(key: PKey, signer_id: bytes, verify: bool) -> tuple[int, int]:
    """(EVP_MD_CTX, EVP_PKEY_CTX) ready to sign or verify with SM3 under `signer_id`; the caller frees both."""
    lib = _lib()
    pctx = lib.EVP_PKEY_CTX_new(key.pointer, None)
    if not pctx:
        raise _error("cannot make a key context")
    mdctx = lib.EVP_MD_CTX_new()
    if not mdctx:
        lib.EVP_PKEY_CTX_free(pctx)
        raise _error("cannot make a digest context")
    try:
        if lib.EVP_PKEY_CTX_set1_id(pctx, signer_id, len(signer_id)) <= 0:
            raise _error("cannot set the SM2 signer ID")
        # The digest context borrows pctx (it will not free it), so the ID set above is the one hashed into ZA.
        lib.EVP_MD_CTX_set_pkey_ctx(mdctx, pctx)
        init = lib.EVP_DigestVerifyInit if verify else lib.EVP_DigestSignInit
        if init(mdctx, None, lib.EVP_sm3(), None, key.pointer) != 1:
            raise _error("cannot start an SM2-with-SM3 " + ("verification" if verify else "signature"))
    except BaseException:
        lib.EVP_MD_CTX_free(mdctx)
        lib.EVP_PKEY_CTX_free(pctx)
        raise
    return mdctx, pctx


def sign(key: PKey, message: bytes, signer_id: bytes) -> bytes:
    """The DER signature SEQUENCE{r, s} (GM/T 0009 §7.3) of `message` under `signer_id`."""
    lib = _lib()
    lib.ERR_clear_error()
    mdctx, pctx = _digest_context(key, signer_id, verify=False)
    try:
        out = ctypes.create_string_buffer(80)  # at most 72 bytes: SEQUENCE of two 33-byte INTEGERs
        size = c_size_t(len(out))
        if lib.EVP_DigestSign(mdctx, out, byref(size), message, len(message)) != 1:
            raise _error("SM2 signing failed")
        return out.raw[: size.value]
    finally:
        lib.EVP_MD_CTX_free(mdctx)
        lib.EVP_PKEY_CTX_free(pctx)


def verify(key: PKey, der_signature: bytes, message: bytes, signer_id: bytes) -> bool:
    """Whether `der_signature` is valid; an error inside OpenSSL (not a mismatch) raises."""
    lib = _lib()
    lib.ERR_clear_error()
    mdctx, pctx = _digest_context(key, signer_id, verify=True)
    try:
        result = lib.EVP_DigestVerify(mdctx, der_signature, len(der_signature), message, len(message))
        if result == 1:
            return True
        # 0 is a mismatch; a negative result can also be a signature OpenSSL could not decode. Both are "no",
        # because the caller has already checked the encoding and the ranges of r and s.
        lib.ERR_clear_error()
        return False
    finally:
        lib.EVP_MD_CTX_free(mdctx)
        lib.EVP_PKEY_CTX_free(pctx)


def _crypt(key: PKey, data: bytes, decrypt: bool) -> bytes:
    lib = _lib()
    lib.ERR_clear_error()
    what = "SM2 decryption" if decrypt else "SM2 encryption"
    pctx = lib.EVP_PKEY_CTX_new(key.pointer, None)
    if not pctx:
        raise _error("cannot make a key context")
    try:
        init, run = (
            (lib.EVP_PKEY_decrypt_init, lib.EVP_PKEY_decrypt)
            if decrypt
            else (lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt)
        )
        if init(pctx) != 1:
            raise _error(f"cannot start {what}")
        size = c_size_t(0)
        if run(pctx, None, byref(size), data, len(data)) != 1:  # the size the output needs at most
            raise _error(f"{what} failed")
        out = ctypes.create_string_buffer(size.value)
        if run(pctx, out, byref(size), data, len(data)) != 1:
            raise _error(f"{what} failed")
        return out.raw[: size.value]
    finally:
        lib.EVP_PKEY_CTX_free(pctx)


def encrypt(key: PKey, plaintext: bytes) -> bytes:
    """SM2 public-key encryption (GB/T 32918.4, SM3 as its hash and KDF) of ``plaintext``: OpenSSL's DER
    ciphertext SEQUENCE{x, y, C3, C2} (GM/T 0009 §7.2)."""
    return _crypt(key, plaintext, decrypt=False)


def decrypt(key: PKey, ciphertext: bytes) -> bytes:
    """The plaintext of an SM2 ciphertext of :func:`encrypt`; raises SM2Error if it does not open with ``key``."""
    return _crypt(key, ciphertext, decrypt=True)


@functools.cache
def _sm2_group() -> int:
    """The SM2 curve's EC_GROUP, built once and kept for the process (read-only once built)."""
    group = _lib().EC_GROUP_new_by_curve_name(_NID_SM2)
    if not group:
        raise _error("OpenSSL has no SM2 curve group")
    return int(group)


#: Products made affine together (one field inversion for the lot, Montgomery's trick) and held at once: a cap on
#: the OpenSSL points a call keeps alive.
_BATCH: Final = 1024


def sm2_multiply(scalar: bytes, point: bytes) -> bytes | None:
    """scalar·point on the SM2 curve by ``EC_POINT_mul``, points as 65-byte uncompressed ``04 || x || y``; None for
    the point at infinity (:func:`sm2_multiply_many` for one point, its product uncompressed)."""
    return sm2_multiply_many(scalar, [point], compressed=False)[0]


def sm2_multiply_many(scalar: bytes, points: Sequence[bytes], *, compressed: bool) -> list[bytes | None]:
    """scalar·P for each point P on the SM2 curve by ``EC_POINT_mul``, in order; None for the point at infinity.

    A point is given in any form ``EC_POINT_oct2point`` reads (``04 || x || y``, or compressed), which checks that
    it is on the curve; a product comes back compressed (33 bytes, ``02``/``03 || x``) or uncompressed (65 bytes).
    For one point and no generator term OpenSSL runs its Montgomery ladder, meant to take the same time for every
    scalar of the group's size; the scalar is flagged constant-time and cleared after. One BN_CTX and one scalar
    serve the whole call, and the products of up to :data:`_BATCH` points are made affine together
    (``EC_POINTs_make_affine``: one inversion, not one per point) before they are encoded: that work is on the
    products, which the caller sends out, not on the scalar."""
    lib = _lib()
    lib.ERR_clear_error()
    group = _sm2_group()
    form, size = (_POINT_CONVERSION_COMPRESSED, 33) if compressed else (_POINT_CONVERSION_UNCOMPRESSED, 65)
    ctx = lib.BN_CTX_new()
    bn = lib.BN_bin2bn(scalar, len(scalar), None)
    p = lib.EC_POINT_new(group)
    products = (c_void_p * min(len(points), _BATCH))()
    out = ctypes.create_string_buffer(size)
    results: list[bytes | None] = []
    try:
        if not (ctx and bn and p):
            raise _error("cannot allocate for an SM2 scalar multiplication")
        lib.BN_set_flags(bn, _BN_FLG_CONSTTIME)
        for start in range(0, len(points), _BATCH):
            chunk = points[start : start + _BATCH]
            for i, point in enumerate(chunk):
                if not products[i]:
                    products[i] = lib.EC_POINT_new(group)
                    if not products[i]:
                        raise _error("cannot allocate for an SM2 scalar multiplication")
                if lib.EC_POINT_oct2point(group, p, point, len(point), ctx) != 1:
                    raise _error("OpenSSL refuses the point")
                if lib.EC_POINT_mul(group, products[i], None, p, bn, ctx) != 1:
                    raise _error("SM2 scalar multiplication failed")
            if lib.EC_POINTs_make_affine(group, len(chunk), products, ctx) != 1:
                raise _error("cannot make the products affine")
            for i in range(len(chunk)):
                if lib.EC_POINT_is_at_infinity(group, products[i]) == 1:
                    results.append(None)
                    continue
                if lib.EC_POINT_point2oct(group, products[i], form, out, size, ctx) != size:
                    raise _error("cannot encode the product")
                results.append(out.raw)
        return results
    finally:
        for product in products:
            if product:
                lib.EC_POINT_clear_free(product)
        for free, pointer in ((lib.EC_POINT_clear_free, p), (lib.BN_clear_free, bn)):
            if pointer:
                free(pointer)
        if ctx:
            lib.BN_CTX_free(ctx)


@functools.cache
def _montgomery(modulus: int) -> tuple[int, int]:
    """(the modulus as a BIGNUM, its BN_MONT_CTX), built once per odd modulus and kept for the process: read-only
    once built, so calls on any thread share them. Only the curves' field primes come here."""
    lib = _lib()
    size = (modulus.bit_length() + 7) // 8
    ctx = lib.BN_CTX_new()
    m = lib.BN_bin2bn(modulus.to_bytes(size, "big"), size, None)
    mont = lib.BN_MONT_CTX_new()
    try:
        if not (ctx and m and mont) or lib.BN_MONT_CTX_set(mont, m, ctx) != 1:
            raise _error("cannot set up Montgomery arithmetic")
    finally:
        if ctx:
            lib.BN_CTX_free(ctx)
    return int(m), int(mont)


def mod_exp_many(bases: Sequence[int], exponent: int, modulus: int) -> list[int]:
    """base^exponent mod modulus for each base in [0, modulus), by ``BN_mod_exp_mont`` (an odd modulus).

    Not constant-time (a sliding window over the exponent, and the bases as they come): for public exponents and
    values that are not secret scalars, as the field's square roots in hash-to-curve and point decoding are."""
    if modulus % 2 == 0 or modulus < 3:
        raise ValueError("mod_exp_many needs an odd modulus above 2")
    lib = _lib()
    lib.ERR_clear_error()
    m, mont = _montgomery(modulus)
    size = (modulus.bit_length() + 7) // 8
    esize = max(1, (exponent.bit_length() + 7) // 8)
    ctx = lib.BN_CTX_new()
    e = lib.BN_bin2bn(exponent.to_bytes(esize, "big"), esize, None)
    a = lib.BN_new()
    r = lib.BN_new()
    out = ctypes.create_string_buffer(size)
    results = []
    try:
        if not (ctx and e and a and r):
            raise _error("cannot allocate for a modular exponentiation")
        for base in bases:
            if not 0 <= base < modulus:
                raise ValueError("mod_exp_many: a base is not in [0, modulus)")
            if not lib.BN_bin2bn(base.to_bytes(size, "big"), size, a):
                raise _error("cannot read a base")
            if lib.BN_mod_exp_mont(r, a, e, m, ctx, mont) != 1:
                raise _error("modular exponentiation failed")
            if lib.BN_bn2binpad(r, out, size) != size:
                raise _error("cannot write a power")
            results.append(int.from_bytes(out.raw, "big"))
        return results
    finally:
        for pointer in (r, a, e):
            if pointer:
                lib.BN_free(pointer)
        if ctx:
            lib.BN_CTX_free(ctx)

"""SM2 digital signatures (GB/T 32918.2-2016) with SM3 (GB/T 32905-2016) on the recommended curve (GB/T 32918.5).

A signature covers e = SM3(ZA || M), where ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA) binds the signer's
public key and signer ID (GB/T 32918.2 §5.5). The signer ID is always explicit: `DEFAULT_ID` is GB/T 35276-2017
§5.2's `1234567812345678`, the one GmSSL and BouncyCastle use; OpenSSL's own default (the empty ID) is never used
unless asked for.

Encodings:
- a signature is 64 bytes `r || s` (32 bytes each, big-endian), or the DER `SEQUENCE { INTEGER r, INTEGER s }` of
  GM/T 0009-2012 §7.3 (`sign_der`, `verify_der`, `raw_to_der`, `der_to_raw`);
- a public key is the 65-byte uncompressed point `04 || x || y`, or a SubjectPublicKeyInfo with id-ecPublicKey and
  the SM2 curve OID 1.2.156.10197.1.301 (GM/T 0009 §7.1), in DER or PEM;
- a private key is its 32-byte scalar d (1 <= d < n - 1), or PKCS#8 PEM, plain or encrypted with SM4-CBC under a
  PBKDF2-HMAC-SM3 key (see `suite._pkcs8`).

Malformed input raises `SM2Error`; a well-formed signature that does not verify raises `InvalidSignatureError`, a
subclass. Signing and verifying run in OpenSSL's libcrypto (`suite._libcrypto`); ZA is also computed here, from the
curve constants, so that it can be checked against the standard's example.

:func:`known_answer_sign` signs with a nonce k the caller gives, computed here in Python integers (GB/T 32918.2
§6.1), so that the standard's worked example reproduces its published r and s. It is for known-answer tests only:
no production code calls it (a test checks that), and every signature the system makes comes from
:meth:`SM2PrivateKey.sign`, OpenSSL with a fresh random k.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from suite import _der, _libcrypto, _pkcs8, sm4
from suite.errors import InvalidSignatureError, SM2Error

__all__ = [
    "DEFAULT_ID",
    "InvalidSignatureError",
    "SM2Error",
    "SM2PrivateKey",
    "SM2PublicKey",
    "der_to_raw",
    "known_answer_sign",
    "raw_to_der",
    "za",
]

DEFAULT_ID = b"1234567812345678"  # GB/T 35276-2017 §5.2 default signer ID

# The recommended curve, GB/T 32918.5-2017 §3: y^2 = x^3 + ax + b over F_p, base point G of prime order n.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

# ENTL is the ID's length in bits, in two bytes, so 8191 bytes would fit; OpenSSL refuses an ID of 8191 bytes or
# more (it checks len >= 0xFFFF / 8), so the suite's limit is one byte lower, the same for signing, verifying and ZA.
MAX_ID_BYTES = 8190
PEM_ITERATIONS = sm4.DEFAULT_ITERATIONS  # PBKDF2-HMAC-SM3 rounds for an encrypted PEM unless the operator sets others

_OID_EC_PUBLIC_KEY = _der.oid("1.2.840.10045.2.1")
_OID_SM2 = _der.oid("1.2.156.10197.1.301")
_ALGORITHM = _der.sequence(_OID_EC_PUBLIC_KEY, _OID_SM2)
# SubjectPublicKeyInfo = SEQUENCE { AlgorithmIdentifier, BIT STRING (no unused bits) 04 || x || y }
_SPKI_PREFIX = _der.sequence(_ALGORITHM, _der.tlv(_der.BIT_STRING, bytes(66)))[:-65]
_PEM = re.compile(rb"\A\s*-----BEGIN ([A-Z ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----\s*\Z")


def _check_id(signer_id: bytes) -> None:
    if len(signer_id) > MAX_ID_BYTES:
        raise SM2Error(
            f"the signer ID is {len(signer_id)} bytes; at most {MAX_ID_BYTES} are accepted "
            "(SM2 hashes its bit length in 16 bits)"
        )


def _pem_decode(data: bytes, labels: tuple[str, ...]) -> tuple[str, bytes]:
    """(label, DER) of the one PEM block in `data`, whose label must be one of `labels`."""
    match = _PEM.match(data)
    if match is None:
        raise SM2Error("not a PEM block: expected one '-----BEGIN ...-----' ... '-----END ...-----' block")
    label = match.group(1).decode("ascii")
    if label not in labels:
        wanted = " or ".join(repr(x) for x in labels)
        raise SM2Error(f"the PEM block is {label!r}, expected {wanted}")
    try:
        return label, base64.b64decode(re.sub(rb"\s", b"", match.group(2)), validate=True)
    except binascii.Error as e:
        raise SM2Error(f"the PEM block's base64 is broken: {e}") from e


def _pem_encode(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label.encode(), lines, label.encode())


def der_to_raw(sig: bytes) -> bytes:
    """The 64-byte `r || s` of a GM/T 0009 §7.3 DER signature; only the distinguished encoding is accepted."""
    try:
        outer = _der.Reader(sig, "DER signature")
        body = outer.read_sequence("SEQUENCE")
        outer.end()
        r, s = body.read_integer(), body.read_integer()
        body.end()
    except _der.DERError as e:
        raise SM2Error(f"not a DER SM2 signature: {e}") from e
    return _rs_bytes(r, s)


def _rs_bytes(r: int, s: int) -> bytes:
    for name, value in (("r", r), ("s", s)):
        if not 1 <= value < N:
            raise SM2Error(f"the signature's {name} is {'zero' if value == 0 else 'not below the curve order n'}")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(sig: bytes) -> bytes:
    """The DER `SEQUENCE { INTEGER r, INTEGER s }` (GM/T 0009 §7.3) of a 64-byte `r || s`."""
    if len(sig) != 64:
        raise SM2Error(f"a raw SM2 signature is 64 bytes (r || s), not {len(sig)}")
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    _rs_bytes(r, s)
    return _der.sequence(_der.integer(r), _der.integer(s))


class SM2PublicKey:
    """An SM2 public key: a point of the recommended curve other than the point at infinity."""

    __slots__ = ("_pkey", "_point")

    def __init__(self, point: bytes, pkey: _libcrypto.PKey) -> None:
        self._point = point
        self._pkey = pkey

    @classmethod
    def from_bytes(cls, point: bytes) -> SM2PublicKey:
        """From the 65-byte uncompressed point `04 || x || y` (GB/T 32918.1 §4.2.9); the point must be on the curve."""
        if len(point) != 65 or point[0] != 0x04:
            raise SM2Error(f"an SM2 public key is 65 bytes 04 || x || y, not {len(point)} bytes starting {point[:1]!r}")
        x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
        if x >= P or y >= P:
            raise SM2Error("the public key's coordinates are not below the field prime p")
        if (y * y - (x * x * x + A * x + B)) % P:
            raise SM2Error("the public key is not a point on the SM2 curve")
        return cls(bytes(point), _libcrypto.load_public_der(_SPKI_PREFIX + point))

    @classmethod
    def from_der(cls, spki: bytes) -> SM2PublicKey:
        """From a DER SubjectPublicKeyInfo: id-ecPublicKey, the SM2 curve, the uncompressed point."""
        if len(spki) == len(_SPKI_PREFIX) + 65 and spki.startswith(_SPKI_PREFIX):
            return cls.from_bytes(spki[len(_SPKI_PREFIX) :])
        # Let OpenSSL say what it is, for the message; an SM2 key in another form is still refused.
        _libcrypto.load_public_der(spki)
        raise SM2Error("the SubjectPublicKeyInfo is an SM2 key but not in its canonical form (uncompressed point)")

    @classmethod
    def from_pem(cls, data: bytes) -> SM2PublicKey:
        """From a 'PUBLIC KEY' PEM block holding a SubjectPublicKeyInfo."""
        return cls.from_der(_pem_decode(data, ("PUBLIC KEY",))[1])

    def public_bytes(self) -> bytes:
        """The 65-byte uncompressed point `04 || x || y`."""
        return self._point

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER: SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 04 || x || y }."""
        return _SPKI_PREFIX + self._point

    def to_pem(self) -> bytes:
        return _pem_encode("PUBLIC KEY", self.to_der())

    def verify(self, signature: bytes, message: bytes, signer_id: bytes = DEFAULT_ID) -> None:
        """Check a 64-byte `r || s` signature; `InvalidSignatureError` if it does not verify, `SM2Error` if bad."""
        self.verify_der(raw_to_der(signature), message, signer_id)

    def verify_der(self, signature: bytes, message: bytes, signer_id: bytes = DEFAULT_ID) -> None:
        """Check a DER signature (GM/T 0009 §7.3); `InvalidSignatureError` if it does not verify."""
        _check_id(signer_id)
        der_to_raw(signature)  # refuses a non-canonical encoding and r, s out of [1, n - 1]
        if not _libcrypto.verify(self._pkey, signature, message, signer_id):
            raise InvalidSignatureError(
                f"the SM2 signature does not verify for this message, public key {self._point[1:9].hex()}... "
                f"and signer ID {signer_id[:32]!r}"
            )

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 public-key encryption (GB/T 32918.4, SM3 as hash and KDF): the DER ciphertext of GM/T 0009 §7.2."""
        return _libcrypto.encrypt(self._pkey, plaintext)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self._point.hex()})"


class SM2PrivateKey:
    """An SM2 private key: a scalar d with 1 <= d < n - 1 (GB/T 32918.1 §6.1), and its public key dG."""

    __slots__ = ("_pkey", "_public")

    def __init__(self, pkey: _libcrypto.PKey) -> None:
        self._pkey = pkey
        self._public = SM2PublicKey.from_bytes(_libcrypto.public_point(pkey))

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A fresh key from OpenSSL's random generator."""
        return cls(_libcrypto.generate())

    @classmethod
    def from_bytes(cls, d: bytes) -> SM2PrivateKey:
        """From the 32-byte big-endian scalar d; 1 <= d < n - 1 is checked."""
        if len(d) != 32:
            raise SM2Error(f"an SM2 private key is 32 bytes, not {len(d)}")
        scalar = int.from_bytes(d, "big")
        if not 1 <= scalar < N - 1:
            raise SM2Error("the SM2 private key is not in [1, n - 2]")
        # RFC 5915 ECPrivateKey without the public point (OpenSSL computes it), wrapped in a PKCS#8 PrivateKeyInfo.
        ec_private_key = _der.sequence(_der.integer(1), _der.octet_string(d))
        info = _der.sequence(_der.integer(0), _ALGORITHM, _der.octet_string(ec_private_key))
        return cls(_libcrypto.load_private_der(info))

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> SM2PrivateKey:
        """From a PKCS#8 PEM: 'PRIVATE KEY', or 'ENCRYPTED PRIVATE KEY' with `password`."""
        label, der = _pem_decode(data, ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"))
        if label == "PRIVATE KEY":
            if password is not None:
                raise SM2Error("the private key is not encrypted, but a password was given")
            pkey = _libcrypto.load_private_der(der)
        else:
            if password is None:
                raise SM2Error("the private key is encrypted: give its password")
            if b"\x00" in password:
                raise SM2Error("the password contains a NUL byte")
            inner = _pkcs8.decrypt(der, password)
            if inner is None:
                pkey = _libcrypto.load_private_pem(data, password)
            else:
                try:
                    pkey = _libcrypto.load_private_der(inner)
                except SM2Error as e:
                    # About one wrong password in 256 still leaves valid CBC padding; what it decrypts to is noise.
                    raise SM2Error("wrong password (or the encrypted key is corrupted)") from e
        # Rebuild from the scalar alone, so a stored public point cannot disagree with d.
        return cls.from_bytes(_libcrypto.private_scalar(pkey))

    def private_bytes(self) -> bytes:
        """The 32-byte big-endian scalar d."""
        return _libcrypto.private_scalar(self._pkey)

    def private_bytes_raw(self) -> bytes:
        """The scalar d, as :meth:`private_bytes`, under the name ``cryptography``'s raw keys give it, so that code
        deriving a secret from a key's raw private bytes (the gateway's digest salt) takes an SM2 key as well."""
        return self.private_bytes()

    def to_pem(self, password: bytes | None = None, iterations: int | None = None) -> bytes:
        """PKCS#8 PEM; with a password, PBES2 with SM4-CBC and PBKDF2-HMAC-SM3 (`iterations` rounds; by default
        the operator's setting, `suite.sm4.iterations_setting`, `PEM_ITERATIONS` unless set)."""
        plain = _libcrypto.pkcs8_pem(self._pkey)
        if password is None:
            return plain
        if not password or b"\x00" in password:
            raise SM2Error("the password must be non-empty and contain no NUL byte")
        info = _pem_decode(plain, ("PRIVATE KEY",))[1]
        rounds = sm4.iterations_setting(default=PEM_ITERATIONS) if iterations is None else iterations
        return _pem_encode("ENCRYPTED PRIVATE KEY", _pkcs8.encrypt(info, password, rounds))

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, message: bytes, signer_id: bytes = DEFAULT_ID) -> bytes:
        """The 64-byte `r || s` signature of `message` under `signer_id`."""
        _check_id(signer_id)
        return der_to_raw(_libcrypto.sign(self._pkey, message, signer_id))

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of an SM2 ciphertext (:meth:`SM2PublicKey.encrypt`); SM2Error if it does not open."""
        return _libcrypto.decrypt(self._pkey, ciphertext)

    def sign_der(self, message: bytes, signer_id: bytes = DEFAULT_ID) -> bytes:
        """The DER signature SEQUENCE { r, s } (GM/T 0009 §7.3) of `message` under `signer_id`."""
        return raw_to_der(self.sign(message, signer_id))

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public.public_bytes().hex()})"


def za(public_key: SM2PublicKey, signer_id: bytes = DEFAULT_ID) -> bytes:
    """ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GB/T 32918.2 §5.5, ENTL the ID's bit length."""
    _check_id(signer_id)
    h = hashlib.new("sm3")
    h.update((len(signer_id) * 8).to_bytes(2, "big") + signer_id)
    for value in (A, B, GX, GY):
        h.update(value.to_bytes(32, "big"))
    h.update(public_key.public_bytes()[1:])
    return h.digest()


def known_answer_sign(key: SM2PrivateKey, message: bytes, k: int, signer_id: bytes = DEFAULT_ID) -> bytes:
    """The 64-byte ``r || s`` of ``message`` under ``signer_id`` with the nonce ``k`` given: FOR KNOWN-ANSWER TESTS
    ONLY, never for a signature anyone relies on. A k that is known, reused or guessable gives the private key away
    (d = (k - s) / (s + r) mod n), and this arithmetic is in Python integers, not constant-time.

    GB/T 32918.2-2016 §6.1: e = SM3(ZA || M); (x1, y1) = kG (OpenSSL's ``EC_POINT_mul``, as ``suite.sm2group``);
    r = (e + x1) mod n, refused if r = 0 or r + k = n; s = ((1 + d)^-1 * (k - r * d)) mod n, refused if s = 0. The
    standard draws another k in those cases; here the caller chose k, so it is refused with ``SM2Error``."""
    if not 1 <= k < N:
        raise SM2Error("the nonce k is not in [1, n - 1]")
    e = int.from_bytes(hashlib.new("sm3", za(key.public_key(), signer_id) + message).digest(), "big")
    generator = b"\x04" + GX.to_bytes(32, "big") + GY.to_bytes(32, "big")
    point = _libcrypto.sm2_multiply(k.to_bytes(32, "big"), generator)
    assert point is not None  # 1 <= k < n and G has order n
    x1 = int.from_bytes(point[1:33], "big")
    r = (e + x1) % N
    if r == 0 or r + k == N:
        raise SM2Error("this nonce k gives r = 0 or r + k = n (GB/T 32918.2 §6.1 A5): choose another")
    d = int.from_bytes(key.private_bytes(), "big")
    s = pow(1 + d, -1, N) * (k - r * d) % N
    if s == 0:
        raise SM2Error("this nonce k gives s = 0 (GB/T 32918.2 §6.1 A6): choose another")
    return _rs_bytes(r, s)

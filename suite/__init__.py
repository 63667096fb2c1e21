"""The cryptographic suites a consortium runs on, and the national suite's primitives.

A consortium picks one suite for all its members:

- ``intl``: the international algorithms the ledger began with (secp256k1 and Ed25519 signatures, SHA-256 and
  Keccak-256, AES-GCM for keys at rest), implemented elsewhere in the project;
- ``sm``: the Chinese national commercial algorithms, in this package:

  - ``suite.sm2``: SM2 signatures with SM3 (GB/T 32918.2, GB/T 32918.5 curve; GB/T 35276 signer ID; GM/T 0009
    encodings): member, node and notary signing keys; and SM2 public-key encryption (GB/T 32918.4, OpenSSL's,
    GM/T 0009's DER ciphertext): a PSI job's secret to the owner (``privacy.suites``);
  - SM3 (GB/T 32905): hashing, through ``hashlib.new("sm3")``;
  - ``suite.sm4``: SM4-GCM sealing and a PBKDF2-HMAC-SM3 passphrase key (GB/T 32907): keys and secrets at rest,
    and the SM4-CBC encryption of PKCS#8 private keys;
  - ``suite.sm2group``: the SM2 curve's group for protocols other than signing: compressed points with
    validation, scalar multiplication, RFC 9380 hash-to-curve with our suite ``SM2_XMD:SM3_SSWU_RO_``;
  - ``suite.x509``: SM2 X.509 certificates and CRLs (RFC 5280 as GM/T 0015 profiles it): issue, parse, verify a
    path.

Errors all derive from ``suite.errors.SuiteError``.
"""

from __future__ import annotations

SUITES = ("intl", "sm")


def check_suite(name: str) -> str:
    """`name` if it is a known suite; otherwise ValueError naming the choices."""
    if name not in SUITES:
        raise ValueError(f"unknown cryptographic suite {name!r}: choose one of {', '.join(SUITES)}")
    return name

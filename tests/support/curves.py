"""P-256 (SEC 2 §2.4.2; FIPS 186-4 D.1.2.3) as a :class:`suite.sm2group.Curve`, so that the map and hash-to-curve
written for any prime p ≡ 3 mod 4 are checked against RFC 9380's own P-256 vectors (Appendix J.1.1): Z = −10 is
the RFC's value for P-256 (§8.2)."""

from __future__ import annotations

from suite.sm2group import Curve

__all__ = ["P256"]

_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256 = Curve(
    "P-256",
    _P256_P,
    _P256_P - 3,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    _P256_P - 10,
    "sha256",
)

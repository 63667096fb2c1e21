"""privacy.smvrf: ECVRF-SM2-SM3-SSWU (our suite in RFC 9381's structure): proofs verify, forgeries fail, keys and
points are validated; its RFC 6979 nonce over P-256 gives RFC 6979's own k; Gamma = x·H by independent arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysmx.SM2 import _SM2 as pysmx_sm2

from privacy import smvrf
from privacy.errors import MalformedError, VerificationError, VrfError
from suite import sm2group
from suite.sm2group import SM2
from tests.support.curves import P256

SK = bytes.fromhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
# Our suite's vectors, as docs/national-suite.md lists them: alpha, pi, beta (public key below)
PK = "0357744271cea7d618858286b96b2a77ca6162559b00e7f1d5bd88226b45b6d076"
VECTORS = [
    (
        b"sample",
        "03714202c25b3d2bcfe281bc3680f8cf5fe3cbdb7f43a66c93c8044f35568df445"
        "9f7a55f799a2d97ff1448e0044bca610"
        "6d134e7d1a6ccfb63431da5b3697fe581b44b68623a5273960d4e14e8fed494c",
        "8e8496c170d4379f48e5b4691796fff7e8228b9339fc413c916d380537281193",
    ),
    (
        b"test",
        "029487a90cfd51e84add567194a9cf0690a530826d1d690caf23338e90371814b6"
        "156b5e0b2038aa01325a7bc4d6fc870f"
        "fc7ced32eeacf1b09be91c5f4525ad24e14426d2d38c3efc07eb777b966a39f0",
        "adf8933c92b13fa724f1def89d7f6042c6cf3e67809c16dcc388cda84b5172eb",
    ),
]
_KEYS = st.integers(1, SM2.n - 1).map(lambda x: x.to_bytes(32, "big"))


def test_rfc6979_nonce_over_p256_gives_rfc_6979_appendix_a25() -> None:
    # RFC 6979 A.2.5: P-256, SHA-256, the key above, message "sample"
    k = smvrf.rfc6979_nonce(int.from_bytes(SK, "big"), b"sample", P256)
    assert k == 0xA6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60
    r = sm2group.multiply(P256, k, P256.generator)
    assert r is not None and r[0] % P256.n == 0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716


@pytest.mark.parametrize(("alpha", "pi", "beta"), VECTORS)
def test_suite_vectors(alpha: bytes, pi: str, beta: str) -> None:
    assert smvrf.public_key(SK).hex() == PK
    assert smvrf.prove(SK, alpha).hex() == pi
    assert smvrf.verify(bytes.fromhex(PK), bytes.fromhex(pi), alpha).hex() == beta
    assert smvrf.proof_to_hash(bytes.fromhex(pi)).hex() == beta == smvrf.output(SK, alpha).hex()


def test_gamma_is_x_times_h_by_independent_arithmetic() -> None:
    alpha = b"sample"
    h = sm2group.encode_to_curve(bytes.fromhex(PK) + alpha, b"ECVRF_" + smvrf.H2C_SUITE_NU + smvrf.SUITE)
    gamma = sm2group.decode_point(smvrf.prove(SK, alpha)[:33])
    expected = pysmx_sm2.kG(int.from_bytes(SK, "big"), f"{h[0]:064x}{h[1]:064x}", 64)
    assert f"{gamma[0]:064x}{gamma[1]:064x}" == expected


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_KEYS, st.binary(max_size=40), st.binary(max_size=40))
def test_proofs_verify_and_bind_key_and_input(sk: bytes, alpha: bytes, other: bytes) -> None:
    pk = smvrf.public_key(sk)
    pi = smvrf.prove(sk, alpha)
    assert len(pi) == smvrf.PROOF_SIZE and len(pk) == smvrf.PUBLIC_KEY_SIZE
    assert smvrf.prove(sk, alpha) == pi  # deterministic nonce
    assert smvrf.verify(pk, pi, alpha) == smvrf.output(sk, alpha)
    if other != alpha:
        with pytest.raises(VrfError):
            smvrf.verify(pk, pi, other)
        assert smvrf.output(sk, other) != smvrf.output(sk, alpha)
    wrong_key = smvrf.public_key((int.from_bytes(sk, "big") % (SM2.n - 1) + 1).to_bytes(32, "big"))
    if wrong_key != pk:
        with pytest.raises(VrfError):
            smvrf.verify(wrong_key, pi, alpha)


@pytest.mark.parametrize("position", [0, 1, 20, 33, 40, 48, 49, 70, 80])
def test_a_flipped_bit_anywhere_fails(position: int) -> None:
    pi = bytearray(bytes.fromhex(VECTORS[0][1]))
    pi[position] ^= 0x01
    with pytest.raises(VrfError):
        smvrf.verify(bytes.fromhex(PK), bytes(pi), b"sample")


def test_refusals_of_malformed_keys_and_proofs() -> None:
    pk, pi = bytes.fromhex(PK), bytes.fromhex(VECTORS[0][1])
    off_curve = next(x for x in range(1, 100) if pow((x**3 + SM2.a * x + SM2.b) % SM2.p, (SM2.p - 1) // 2, SM2.p) != 1)
    bad_point = b"\x02" + off_curve.to_bytes(32, "big")
    for key, message in [
        (b"\x00", "point at infinity"),
        (bad_point, "no point of the SM2 curve"),
        (b"\x04" + pk[1:] + bytes(32), "33 bytes"),
    ]:
        with pytest.raises(VrfError, match=message) as info:
            smvrf.verify(key, pi, b"sample")
        assert isinstance(info.value, VerificationError)
    with pytest.raises(VrfError, match="Gamma is not a valid point"):
        smvrf.verify(pk, bad_point + pi[33:], b"sample")
    with pytest.raises(VrfError, match="not 81"):
        smvrf.verify(pk, pi[:-1], b"sample")
    with pytest.raises(VrfError, match="s is not below"):
        smvrf.verify(pk, pi[:49] + SM2.n.to_bytes(32, "big"), b"sample")
    for sk in (bytes(32), SM2.n.to_bytes(32, "big"), b"\x01" * 31):
        with pytest.raises(MalformedError):
            smvrf.prove(sk, b"x")

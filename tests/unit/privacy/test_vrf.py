"""privacy.vrf against RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI, examples 16-18), against the
plain-Python reference of tests/support, and where its point decoding is stricter than the RFC's."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import vrf
from privacy.errors import VrfError
from tests.support import ecvrf_reference as ref

VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d97"
        "27d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
        "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af02679"
        "8e8f81cd2e333de5cdf4f3e140fdd8ae",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465"
        "301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
        "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848"
        "a0bef4553a41befc57663b56373a5031",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0"
        "e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
        "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241"
        "578be7217ba85a2687f7a0310b2df19f",
    ),
]


@pytest.mark.parametrize(("sk", "pk", "alpha", "pi", "beta"), VECTORS)
def test_rfc9381_example(sk: str, pk: str, alpha: str, pi: str, beta: str) -> None:
    secret, public, a = bytes.fromhex(sk), bytes.fromhex(pk), bytes.fromhex(alpha)
    assert vrf.public_key(secret) == public
    assert vrf.prove(secret, a) == bytes.fromhex(pi)
    assert vrf.verify(public, bytes.fromhex(pi), a) == bytes.fromhex(beta)
    assert vrf.output(secret, a) == bytes.fromhex(beta)


def test_wrong_input_key_or_proof_fails() -> None:
    _, pk, alpha, pi, _ = (bytes.fromhex(v) for v in VECTORS[1])
    with pytest.raises(VrfError):
        vrf.verify(pk, pi, b"\x73")
    with pytest.raises(VrfError):
        vrf.verify(bytes.fromhex(VECTORS[0][1]), pi, alpha)
    for i in (0, 33, 60):
        bad = bytearray(pi)
        bad[i] ^= 1
        with pytest.raises(VrfError):
            vrf.verify(pk, bytes(bad), alpha)
    with pytest.raises(VrfError):
        vrf.verify(bytes(32), pi, alpha)  # y = 0 does not decode; the identity (01 00..) is of small order
    with pytest.raises(VrfError):
        vrf.verify(b"\x01" + bytes(31), pi, alpha)


@settings(max_examples=8, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=40))
def test_same_as_the_reference(secret: bytes, alpha: bytes) -> None:
    public, pi = vrf.public_key(secret), vrf.prove(secret, alpha)
    assert public == ref.public_key(secret)
    assert pi == ref.prove(secret, alpha)
    beta = ref.verify(public, pi, alpha)
    assert vrf.verify(public, pi, alpha) == beta == vrf.output(secret, alpha) == vrf.proof_to_hash(pi)
    assert vrf.Evaluator(secret).output(alpha) == beta and vrf.Evaluator(secret).public_key == public


def _y(value: int, sign: int = 0) -> bytes:
    return (value | sign << 255).to_bytes(32, "little")


EDGE_ENCODINGS = [
    ("y=0", _y(0)),  # a point of order 4
    ("y=1", _y(1)),  # the identity
    ("y=1,x<0", _y(1, 1)),  # x = 0 with the sign bit set: RFC 8032 refuses, libsodium reads the identity
    ("y=p-1", _y(ref.P - 1)),
    ("y=p-1,x<0", _y(ref.P - 1, 1)),
    ("y=p", _y(ref.P)),  # y ≥ p: RFC 8032 refuses, libsodium reduces it
    ("y=p+1", _y(ref.P + 1)),
    ("y=2^255-1", _y(2**255 - 1)),
    ("y=2", _y(2)),
    ("y=3", _y(3)),
]


@pytest.mark.parametrize("encoding", [e for _, e in EDGE_ENCODINGS], ids=[name for name, _ in EDGE_ENCODINGS])
def test_hash_to_curve_candidates_decode_as_rfc8032(encoding: bytes) -> None:
    point = ref.decode(encoding)
    expected = None if point is None else ref.encode(ref.multiply(8, point))
    assert vrf._candidate_point(encoding) == expected


def test_hash_to_curve_candidates_from_hashes() -> None:
    decoded = 0
    for n in range(64):
        encoding = hashlib.sha512(b"candidate %d" % n).digest()[:32]
        point = ref.decode(encoding)
        expected = None if point is None else ref.encode(ref.multiply(8, point))
        assert vrf._candidate_point(encoding) == expected
        decoded += point is not None
    assert 16 < decoded < 48  # about half of all strings decode


def _order_8_point() -> ref.Point:
    for n in range(16):
        point = ref.decode(hashlib.sha512(b"torsion %d" % n).digest()[:32])
        if point is not None:
            torsion = ref.multiply(ref.Q, point)
            if not ref.equal(ref.multiply(4, torsion), ref.IDENTITY):
                return torsion
    raise AssertionError("no point of order 8 found")


def test_points_with_a_small_order_component_are_refused() -> None:
    """Stricter than RFC 9381, which accepts such a key (§5.4.5) and such a Gamma; see privacy.vrf."""
    secret, alpha = bytes(range(32)), b"torsion"
    public, pi = vrf.public_key(secret), vrf.prove(secret, alpha)
    torsion = _order_8_point()
    bent_key = ref.encode(ref.add(ref.decode(public) or ref.IDENTITY, torsion))
    assert not ref.equal(ref.multiply(8, ref.decode(bent_key) or ref.IDENTITY), ref.IDENTITY)  # the RFC takes it
    with pytest.raises(VrfError, match="prime-order subgroup"):
        vrf.verify(bent_key, pi, alpha)
    # Gamma + T: the RFC decodes it and gives the same beta (8·T = 0); privacy.vrf refuses the proof
    gamma = ref.decode(pi[:32])
    assert gamma is not None
    bent_pi = ref.encode(ref.add(gamma, torsion)) + pi[32:]
    assert ref.proof_to_hash(bent_pi) == ref.proof_to_hash(pi)
    with pytest.raises(VrfError, match="prime-order subgroup"):
        vrf.proof_to_hash(bent_pi)
    with pytest.raises(VrfError, match="prime-order subgroup"):
        vrf.verify(public, bent_pi, alpha)


def test_zero_scalars_are_refused() -> None:
    secret, alpha = bytes(range(32)), b"zero"
    public, pi = vrf.public_key(secret), vrf.prove(secret, alpha)
    for forged in (pi[:32] + bytes(16) + pi[48:], pi[:48] + bytes(32)):
        with pytest.raises(VrfError):
            vrf.verify(public, forged, alpha)
    with pytest.raises(VrfError, match="below the group order"):
        vrf.verify(public, pi[:48] + b"\xff" * 32, alpha)

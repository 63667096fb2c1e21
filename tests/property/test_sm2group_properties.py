"""suite.sm2group's fast paths against its slow references, for random inputs, over the SM2 curve and P-256.

The fast paths (RFC 9380's straight-line map with its exponentiations in libcrypto, the batched sums, decoding
and multiplication) must give what the plain descriptions give, point for point and refusal for refusal:
``map_to_curve_many`` against ``map_to_curve`` (§6.6.2 as written), ``hash_to_curve_many`` against
``hash_to_curve_reference``, ``decode_points`` against ``decode_point_reference``, ``multiply_and_encode``
against ``multiply_python``, ``_libcrypto.mod_exp_many`` against ``pow``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite import _libcrypto, sm2group
from suite.sm2group import SM2, Curve, PointError
from tests.support.curves import P256

CURVES = [SM2, P256]
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _field(c: Curve) -> st.SearchStrategy[int]:
    """Field elements, the edges (0, 1, −1) and the exceptional u of the map (tv2 = 0) among them."""
    return st.one_of(st.integers(0, c.p - 1), st.sampled_from([0, 1, c.p - 1, 2, c.p - 2]))


@pytest.mark.parametrize("c", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(data=st.data())
def test_the_straight_line_map_is_the_plain_map(c: Curve, data: st.DataObject) -> None:
    us = data.draw(st.lists(_field(c), max_size=8))
    assert sm2group.map_to_curve_many(us, c) == [sm2group.map_to_curve(u, c) for u in us]


@pytest.mark.parametrize("c", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(msgs=st.lists(st.binary(max_size=48), max_size=6), dst=st.binary(min_size=1, max_size=40))
def test_hash_to_curve_many_is_the_reference(c: Curve, msgs: list[bytes], dst: bytes) -> None:
    fast = sm2group.hash_to_curve_many(msgs, dst, c)
    assert fast == [sm2group.hash_to_curve_reference(m, dst, c) for m in msgs]
    assert [sm2group.hash_to_curve(m, dst, c) for m in msgs] == fast
    (u,) = sm2group.hash_to_field(dst, 1, dst, c)
    assert sm2group.encode_to_curve(dst, dst, c) == sm2group.map_to_curve(u, c)


def _encodings(c: Curve) -> st.SearchStrategy[bytes]:
    """Compressed encodings of points, and bytes that are almost one: any x (on the curve or not), x ≥ p,
    another prefix, another length."""
    size = c.field_bytes
    x = st.one_of(st.integers(0, c.p - 1), st.integers(c.p, 2 ** (8 * size) - 1))
    return st.one_of(
        st.tuples(st.sampled_from([2, 3]), x).map(lambda t: bytes([t[0]]) + t[1].to_bytes(size, "big")),
        st.binary(min_size=size + 1, max_size=size + 1),
        st.binary(max_size=size + 2),
    )


Outcome = list[tuple[int, int]] | tuple[str, int | None]


def _decoded(decode: Callable[[], list[tuple[int, int]]]) -> Outcome:
    """The points, or the refusal's message and index."""
    try:
        return decode()
    except PointError as exc:
        return (str(exc), exc.index)


def _decoded_by_reference(encodings: list[bytes], c: Curve) -> Outcome:
    points = []
    for i, e in enumerate(encodings):
        try:
            points.append(sm2group.decode_point_reference(e, c))
        except PointError as exc:
            return (str(exc), i)
    return points


@pytest.mark.parametrize("c", CURVES, ids=lambda c: c.name)
@_SETTINGS
@given(data=st.data())
def test_decode_points_is_the_reference(c: Curve, data: st.DataObject) -> None:
    encodings = data.draw(st.lists(_encodings(c), max_size=6))
    assert _decoded(lambda: sm2group.decode_points(encodings, c)) == _decoded_by_reference(encodings, c)
    for e in encodings:
        reference = _decoded_by_reference([e], c)
        single = _decoded(lambda e=e: [sm2group.decode_point(e, c)])  # type: ignore[misc]
        assert single == (reference if isinstance(reference, list) else (reference[0], None))


@pytest.mark.parametrize("c", CURVES, ids=lambda c: c.name)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_multiply_and_encode_is_the_python_double_and_add(c: Curve, data: st.DataObject) -> None:
    k = data.draw(st.one_of(st.integers(1, c.n - 1), st.sampled_from([1, 2, c.n - 1, c.n + 1])))
    msgs = data.draw(st.lists(st.binary(max_size=8), max_size=3))
    points = [*sm2group.hash_to_curve_many(msgs, b"multiply", c), c.generator]
    expected = [sm2group.encode_point(sm2group.multiply_python(c, k, p), c) for p in points]
    assert sm2group.multiply_and_encode(c, k, points) == expected


@given(bases=st.lists(st.integers(0, SM2.p - 1), max_size=8), exponent=st.integers(0, 2**260))
@_SETTINGS
def test_mod_exp_many_is_pow(bases: list[int], exponent: int) -> None:
    assert _libcrypto.mod_exp_many(bases, exponent, SM2.p) == [pow(b, exponent, SM2.p) for b in bases]


def test_multiply_and_encode_refuses_a_zero_scalar_and_keeps_order_across_batches() -> None:
    g = SM2.generator
    with pytest.raises(PointError, match="infinity"):
        sm2group.multiply_and_encode(SM2, SM2.n, [g])
    assert sm2group.multiply_and_encode(SM2, 0, []) == []
    # more points than one batch of libcrypto products (_libcrypto._BATCH), each product in its place: 2·(i·G)
    # against (2i)·G, the multiples of G by repeated addition (about 0.4 s of CPU)
    multiples = [g]
    while len(multiples) < 2 * (_libcrypto._BATCH + 3):
        point = sm2group.add(SM2, multiples[-1], g)
        assert point is not None
        multiples.append(point)
    count = _libcrypto._BATCH + 3
    expected = [sm2group.encode_point(multiples[2 * i + 1]) for i in range(count)]
    assert sm2group.multiply_and_encode(SM2, 2, multiples[:count]) == expected

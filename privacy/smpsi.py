"""Two-party private set intersection for a consortium on the national suite: commutative encryption over SM2.

``privacy.psi`` runs ``openmined.psi``, fixed to P-256; this module is the ``sm`` counterpart of its core, built on
national primitives only (``suite.sm2group``):

- identifiers are normalised as under ``intl`` and keyed per job with HMAC-SM3 under a job key derived with
  HKDF over HMAC-SM3 (``privacy.identifiers`` with ``suite="sm"``);
- each keyed identifier k is mapped to the SM2 curve with ``hash_to_curve`` of our suite ``SM2_XMD:SM3_SSWU_RO_``
  (RFC 9380 structure, docs/national-suite.md) under the domain separation tag :data:`H2C_DST`;
- each party draws a blinding scalar in [1, n − 1] for the job: the client sends a·H(k) for its set, the server
  answers with b·(a·H(k)) in the same order and with b·H(k') for its own set, sorted by encoding; the client
  computes a·(b·H(k')) and keeps each identifier whose a·b·H(k) is among them. Scalar multiplication on a group of
  prime order commutes, so equal keyed identifiers, and (but for a collision of the random oracle, about 2^-256)
  only they, meet;
- points travel compressed (GB/T 32918.1 §4.2.9, 33 bytes) and every received point is validated before use
  (:func:`~suite.sm2group.decode_point`: on the curve, not the identity; the curve's cofactor is 1, so that is the
  subgroup check); a message with one bad point is refused whole with :class:`~privacy.errors.InvalidPointError`
  naming it.

Semi-honest, one-sided output, as ``privacy.psi``: the client learns the intersection and the server's input size;
the server learns the client's input size. Message bytes (integers big-endian):

- request: 4-byte count n, then n points (a·H(k_i), in the client's order);
- response: 4-byte count n, then n points (b·a·H(k_i), same order), 4-byte count m, then m points (b·H(k'_j),
  sorted by their bytes).

``privacy.psi`` runs these messages as the payloads of a job under ``sm`` (``privacy.suites``: ``blind``,
``element``, ``format_points``, ``parse_points``), with the job secret SM2-encrypted to the owner, the message
headers, the SM2-signed record and the ECVRF-SM2-SM3 commitments of ``privacy.disclosure``; :class:`SmPsiClient`
and :class:`SmPsiServer` run the core alone over a given job key (the tests and ``bench/smpsi.py``).
For the record it offers :func:`commit_keyed`, a Merkle root over SM3 (``notary.log.hashing.SM3``) of a set's
sorted keyed identifiers; docs/privacy.md says what that does and does not let a party prove.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from notary.log.hashing import SM3, Hash32
from privacy.errors import InputTooLargeError, InvalidPointError, MalformedError, RefusedError
from privacy.identifiers import key_identifiers, normalise_set
from suite import sm2group
from suite.sm2group import POINT_SIZE, SM2, PointError

PROTOCOL: Final = "ecdh-psi-sm2"
IMPLEMENTATION: Final = "consortium-ledger smpsi 1"
#: RFC 9380 §3.1 domain separation tag of the protocol's hash-to-curve (suite SM2_XMD:SM3_SSWU_RO_).
H2C_DST: Final = b"CONSORTIUM-LEDGER-PSI-V01-CS01-with-SM2_XMD:SM3_SSWU_RO_"
_U32: Final = struct.Struct(">I")


def element(keyed: bytes) -> tuple[int, int]:
    """H(k): the curve point of one keyed identifier."""
    return sm2group.hash_to_curve(keyed, H2C_DST)


def elements(keyed: Sequence[bytes]) -> list[tuple[int, int]]:
    """H(k) of each keyed identifier, in order (:func:`element` of each, computed together)."""
    return sm2group.hash_to_curve_many(keyed, H2C_DST)


def blind(scalar: int, points: Sequence[tuple[int, int]]) -> list[bytes]:
    """scalar·P for each point, encoded (one libcrypto call for the lot: ``sm2group.multiply_and_encode``)."""
    return sm2group.multiply_and_encode(SM2, scalar, points)


def _check_scalar(scalar: int) -> int:
    if not 0 < scalar < SM2.n:
        raise MalformedError("a blinding scalar must be in [1, n - 1] of the SM2 curve")
    return scalar


def format_points(points: Sequence[bytes]) -> bytes:
    """4-byte count ‖ the points' bytes."""
    return _U32.pack(len(points)) + b"".join(points)


def parse_points(data: bytes, offset: int, field: str, max_count: int) -> tuple[list[tuple[int, int]], int]:
    """The validated points of a count-prefixed list at ``offset`` and the offset after it.

    Refuses a truncated list (MalformedError), a count over ``max_count`` (RefusedError ``count_mismatch``) and any
    element that is not a valid point (InvalidPointError naming its index)."""
    if len(data) < offset + 4:
        raise MalformedError(f"{field}: the message ends before the list's 4-byte count")
    (count,) = _U32.unpack_from(data, offset)
    if count > max_count:
        raise RefusedError("count_mismatch", f"{field} holds {count} points, more than the {max_count} allowed")
    start = offset + 4
    end = start + count * POINT_SIZE
    if len(data) < end:
        raise MalformedError(f"{field}: {count} points need {count * POINT_SIZE} bytes; the message is shorter")
    try:
        points = sm2group.decode_points(
            [data[start + i * POINT_SIZE : start + (i + 1) * POINT_SIZE] for i in range(count)]
        )
    except PointError as exc:
        raise InvalidPointError(field, exc.index or 0, str(exc)) from exc
    return points, end


def commit_keyed(keyed: Sequence[bytes]) -> Hash32:
    """The Merkle root over SM3 (RFC 9162's tree, ``notary.log.hashing.SM3``) of the sorted keyed identifiers."""
    return SM3.root_of([SM3.leaf(k) for k in sorted(keyed)])


@dataclass(frozen=True, slots=True)
class SmPsiOutcome:
    """What the client holds after the protocol."""

    intersection: tuple[str, ...]  # the client's identifiers (normal form) the server also holds, sorted
    server_count: int  # the number of elements in the server's set
    input_root: Hash32  # commit_keyed of the client's keyed identifiers
    result_root: Hash32  # commit_keyed of the intersection's keyed identifiers


class SmPsiClient:
    """The party that learns the intersection; ``identifiers`` are raw (normalised here)."""

    def __init__(self, job_key: bytes, identifiers: Sequence[str], max_input: int, *, scalar: int | None = None):
        self._ids = normalise_set(identifiers)
        if len(self._ids) > max_input:
            raise InputTooLargeError("client", len(self._ids), max_input)
        self._max_input = max_input
        self._keyed = key_identifiers(job_key, self._ids, "sm")
        self._scalar = _check_scalar(scalar) if scalar is not None else sm2group.random_scalar()
        self._request: bytes | None = None

    @property
    def input_root(self) -> Hash32:
        return commit_keyed(self._keyed)

    def request(self) -> bytes:
        """The request message (module docstring)."""
        if self._request is None:
            self._request = format_points(blind(self._scalar, elements(self._keyed)))
        return self._request

    def finish(self, response: bytes) -> SmPsiOutcome:
        """Read the response: the intersection. Refuses a response that does not answer the request's elements."""
        if self._request is None:
            raise MalformedError("finish() before request(): there is no request this response could answer")
        doubled, offset = parse_points(response, 0, "response.client_elements", len(self._ids))
        if len(doubled) != len(self._ids):
            raise RefusedError(
                "count_mismatch", f"the response answers {len(doubled)} elements; the request sent {len(self._ids)}"
            )
        server_points, end = parse_points(response, offset, "response.server_elements", self._max_input)
        if end != len(response):
            raise MalformedError(f"the response has {len(response) - end} bytes after its last point")
        theirs = set(blind(self._scalar, server_points))
        mine = [sm2group.encode_point(p) for p in doubled]
        hits = [i for i, enc in enumerate(mine) if enc in theirs]
        return SmPsiOutcome(
            intersection=tuple(sorted(self._ids[i] for i in hits)),
            server_count=len(server_points),
            input_root=self.input_root,
            result_root=commit_keyed([self._keyed[i] for i in hits]),
        )


class SmPsiServer:
    """The party that holds the identifier set; it learns the client's input size only."""

    def __init__(self, job_key: bytes, identifiers: Sequence[str], max_input: int, *, scalar: int | None = None):
        self._ids = normalise_set(identifiers)
        if len(self._ids) > max_input:
            raise InputTooLargeError("server", len(self._ids), max_input)
        self._max_input = max_input
        self._keyed = key_identifiers(job_key, self._ids, "sm")
        self._scalar = _check_scalar(scalar) if scalar is not None else sm2group.random_scalar()

    @property
    def input_root(self) -> Hash32:
        return commit_keyed(self._keyed)

    def respond(self, request: bytes) -> bytes:
        """Answer a request; refuses one over the cap (InputTooLargeError), with a bad point or trailing bytes."""
        if len(request) >= 4:
            (claimed,) = _U32.unpack_from(request)
            if claimed > self._max_input:
                raise InputTooLargeError("client", claimed, self._max_input)
        points, end = parse_points(request, 0, "request.client_elements", self._max_input)
        if end != len(request):
            raise MalformedError(f"the request has {len(request) - end} bytes after its last point")
        doubled = blind(self._scalar, points)
        own = sorted(blind(self._scalar, elements(self._keyed)))
        return format_points(doubled) + format_points(own)

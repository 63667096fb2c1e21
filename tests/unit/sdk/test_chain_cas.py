"""A ``MemberClient`` that follows the member CAs valid on chain (``from_directory(..., follow_chain=True)`` gives it
its view's ``ca_certs``): asked at most once a second of its clock, before a call; the gateways' pool made anew,
trusting the CAs of the bundle and the chain's, only when they changed; the pool before closed at the next change.
In process: no handshake is made (the TLS contexts are looked at, not used)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sdk import MemberClient
from tests.support.clock import FIXED_NOW
from tests.support.memory_member import memory_member


def _ca(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(FIXED_NOW - timedelta(days=1))
        .not_valid_after(FIXED_NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


def _trusted(client: MemberClient) -> set[bytes]:
    return {bytes(c) for c in client._context.get_ca_certs(binary_form=True)}


def test_the_chains_cas_are_trusted_from_the_first_call_and_followed_at_most_once_a_second(tmp_path: Path) -> None:
    first, second = _ca("ca.alpha"), _ca("ca.delta")
    unusable = b"\x30\x03\x02\x01\x01"  # DER OpenSSL does not load as a certificate
    cas, seconds = [first, unusable], [100.0]
    asked: list[int] = []

    def chain_cas() -> list[bytes]:
        asked.append(1)
        return list(cas)

    with memory_member(tmp_path, clock=lambda: seconds[0], chain_cas=chain_cas) as client:
        before = client._http
        assert first not in _trusted(client) and not asked  # asked at a call, not at construction
        pool = client._gateways()
        assert pool is not before and first in _trusted(client) and len(asked) == 1  # what OpenSSL cannot use: left out
        seconds[0] = 100.5
        cas.append(second)
        assert client._gateways() is pool and len(asked) == 1  # within the second: not asked
        seconds[0] = 101.0
        renewed = client._gateways()
        assert renewed is not pool and {first, second} <= _trusted(client) and len(asked) == 2
        assert not pool.is_closed  # a call in flight on it ends as it began: closed at the next change
        seconds[0] = 102.0
        assert client._gateways() is renewed and len(asked) == 3  # asked again, unchanged: the same pool
        cas.remove(first)  # retired on chain
        seconds[0] = 103.0
        last = client._gateways()
        assert last is not renewed and first not in _trusted(client) and pool.is_closed
    assert last.is_closed and renewed.is_closed

"""Member CAs and node certificates for tests of TLS links, shaped as ``network.identity`` issues them, and the
contexts a node and a stranger would build from them.

Each node's org (``org0``, ``org1``, ... unless named) has its own CA, ``O=<org>, OU=<org>, CN=ca.<org>``; the
bundle ``ca.pem`` holds them all, as ``nodes/ca-bundle.pem`` does. A node certificate is ``CN=node.<org>,
OU=<org>`` with serverAuth and clientAuth and SAN 127.0.0.1, what ``chain.node.peerauth`` admits.
:meth:`Pki.issue` makes any other end-entity certificate of an org's CA (a person's, a gateway's).

Every certificate is valid from an hour before ``now`` to a day after it: by default the fixed instant
``tests.support.clock.FIXED_NOW``, for tests in which nothing checks validity against a clock; a test that makes
real TLS handshakes passes the machine's time, since OpenSSL checks validity there at the real now."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.node.peerauth import NodeCertificates
from tests.support.clock import FIXED_NOW

NODE_USAGES = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


@dataclass
class Pki:
    ca: Path  # the bundle of every org's CA
    certs: list[tuple[Path, Path]]  # (cert, key) per node
    root: Path
    orgs: list[str]
    _cas: dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = field(default_factory=dict)
    now: dt.datetime = FIXED_NOW  # the certificates are valid from an hour before it to a day after

    def server(self, i: int) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(*map(str, self.certs[i]))
        return context

    def client(self, i: int | None) -> ssl.SSLContext:
        """A client context with node ``i``'s certificate, or with none (a stranger that trusts the CA)."""
        return self.client_with(None if i is None else self.certs[i])

    def client_with(self, pair: tuple[Path, Path] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if pair is not None:
            context.load_cert_chain(*map(str, pair))
        return context

    def rule(self, orgs: Sequence[str] | None = None) -> NodeCertificates:
        """The peer server's rule over this bundle (``orgs``: those that run a node; None: any)."""
        return NodeCertificates.from_bundle(self.ca.read_bytes(), orgs)

    def issue(
        self,
        org: str,
        name: x509.Name,
        usages: Sequence[x509.ObjectIdentifier],
        file: str,
        *,
        issuer: str | None = None,
    ) -> tuple[Path, Path]:
        """A certificate of ``name`` with extendedKeyUsage ``usages``, issued by the CA of ``issuer`` (by default
        ``org``'s), written as ``<file>.pem`` and ``<file>.key``."""
        ca, ca_key = self._cas[issuer or org]
        key = ec.generate_private_key(ec.SECP256R1())
        now = self.now
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        cert_path, key_path = self.root / f"{file}.pem", self.root / f"{file}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_path.write_bytes(pem)
        return cert_path, key_path


def member_name(org: str, common_name: str) -> x509.Name:
    """``O=<org>, OU=<org>, CN=<common name>``, as ``network.identity`` names an org's certificates."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_pki(root: Path, nodes: int, orgs: Sequence[str] | None = None, *, now: dt.datetime = FIXED_NOW) -> Pki:
    """A CA per org and a node certificate for each of ``nodes`` nodes, node ``i`` of ``orgs[i]``, valid around
    ``now``."""
    names = list(orgs) if orgs is not None else [f"org{i}" for i in range(nodes)]
    assert len(names) == nodes
    pki = Pki(root / "ca.pem", [], root, names, now=now)
    bundle = b""
    for org in names:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = member_name(org, f"ca.{org}")
        ca = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        pki._cas[org] = (ca, ca_key)
        bundle += ca.public_bytes(serialization.Encoding.PEM)
    pki.ca.write_bytes(bundle)
    for i, org in enumerate(names):
        pki.certs.append(pki.issue(org, member_name(org, f"node.{org}"), NODE_USAGES, f"node{i}"))
    return pki

"""Member PKI for the tests of network.certificates: real org identities (``create_org_identity``) and
certificates issued by their CAs, in a consortium of acme, globex and initech. Outside it: umbrella (a CA nobody
listed) and a second "acme" created elsewhere, whose CA has the very subject of the real acme's CA but another key
(a forger).

Certificates are issued around the fixed instant :data:`NOW` and checked at it (``World.auth``); a test whose
certificates meet a check that reads the real clock (OpenSSL in a real TLS handshake) builds the world around the
real now instead (``build_world(..., now=...)``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chain.ids import OrgId, Role
from network.certificates import CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_server_certificate,
    load_org_public,
    user_paths,
)
from tests.support.clock import FIXED_NOW

PASS = b"gateway-auth-passphrase"
NOW = FIXED_NOW  # around which the certificates are issued, unless build_world is told another instant
CREATED = NOW - timedelta(days=1)  # when the orgs' CAs were created
MEMBERS = {"acme": "ACME Securities", "globex": "Globex Capital", "initech": "Initech Trading"}


@dataclass
class World:
    root: Path  # the consortium directory: orgs/<org>/...
    outside: Path  # another directory: umbrella, and the forger's "acme"
    description: ConsortiumDescription
    status: dict[str, str] = field(default_factory=dict)
    now: datetime = NOW  # the instant the certificates were issued around

    def cert(self, org: str, name: str, root: Path | None = None) -> Path:
        return user_paths(root or self.root, OrgId(org), name).cert

    def key(self, org: str, name: str, root: Path | None = None) -> Path:
        return user_paths(root or self.root, OrgId(org), name).key

    def der(self, org: str, name: str, root: Path | None = None) -> bytes:
        return pem_to_der(self.cert(org, name, root).read_bytes())

    def auth(self, clock: Callable[[], datetime] | None = None, **kwargs: object) -> CallerAuthenticator:
        return CallerAuthenticator(
            self.description,
            self.root,
            self.status.get,
            clock=clock or (lambda: self.now + timedelta(minutes=5)),
            **kwargs,  # type: ignore[arg-type]
        )


def pem_to_der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def der_to_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def ca_of(root: Path, org: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    paths = OrgPaths.of(root, OrgId(org))
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASS)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()), key


def craft(
    root: Path,
    org: str,
    *,
    ou: str,
    eku: list[x509.ObjectIdentifier] | None = None,
    ca: bool = False,
    key_cert_sign: bool = False,
) -> bytes:
    """A certificate signed by the CA of ``org`` in ``root`` with whatever the test needs; its DER."""
    ca_cert, ca_key = ca_of(root, org)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Crafted"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"crafted@{ou}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, key_cert_sign, False, False, False), critical=True
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def build_world(root: Path, outside: Path, now: datetime = NOW) -> World:
    """The consortium of acme, globex and initech in ``root``, umbrella and the forged acme in ``outside``, their
    certificates issued around ``now`` (the CAs a day before it)."""
    created = now - timedelta(days=1)
    for org, name in MEMBERS.items():
        create_org_identity(root, OrgId(org), name, PASS, now=created)
    create_org_identity(outside, OrgId("umbrella"), "Umbrella Corp", PASS, now=created)
    create_org_identity(outside, OrgId("acme"), MEMBERS["acme"], PASS, now=created)  # same CA subject, other key
    description = ConsortiumDescription(
        name="auth test",
        chain_id=1,
        chain_kind="local",
        chain_url="http://127.0.0.1:9",
        contracts={},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={},
        members=tuple(
            MemberDescription(OrgId(org), name, Role.MEMBER, load_org_public(root, OrgId(org)))
            for org, name in MEMBERS.items()
        ),
    )
    for org, user in [("acme", "alice"), ("acme", "carol"), ("acme", "dave"), ("globex", "bob")]:
        issue_identity(root, OrgId(org), user, PASS, now=now - timedelta(hours=1))
    for org, user in [("initech", "erin"), ("initech", "frank")]:
        issue_identity(root, OrgId(org), user, PASS, now=now - timedelta(hours=1))
    issue_identity(root, OrgId("acme"), "old", PASS, now=now, not_before=now - timedelta(days=400), days=30)
    issue_identity(root, OrgId("acme"), "early", PASS, now=now, not_before=now + timedelta(days=10))
    issue_identity(outside, OrgId("umbrella"), "zed", PASS, now=now - timedelta(hours=1))
    issue_identity(outside, OrgId("acme"), "mallory", PASS, now=now - timedelta(hours=1))
    issue_server_certificate(root, OrgId("acme"), PASS, now=now - timedelta(hours=1))
    return World(root, outside, description, {"acme": "active", "globex": "active", "initech": "active"}, now)

"""Layout, certificate, CRL, PEM and file helpers of :mod:`network.identity`.

Private: import the public names (``OrgPaths``, the validity constants) from ``network.identity``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.errors import MalformedError
from chain.ids import OrgId, check_name
from suite import _pkcs8, sm4

CA_VALIDITY_YEARS: Final = 10
ADMIN_VALIDITY_YEARS: Final = 2
ADMIN_NAME: Final = "Admin"
ENCRYPTED_PEM_HEADER: Final = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
PRIVATE_FILE_MODE: Final = 0o600
PUBLIC_FILE_MODE: Final = 0o644
PRIVATE_DIR_MODE: Final = 0o700
PUBLIC_DIR_MODE: Final = 0o755
MAX_DISPLAY_NAME: Final = 64  # ub-organization-name of RFC 5280

_HEX32 = re.compile(r"[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class OrgPaths:
    """Where the files of one org's identity live (see :mod:`network.identity`)."""

    org_id: OrgId
    org_dir: Path
    ca_cert: Path
    ca_key: Path
    msp_ca_cert: Path
    admin_cert: Path
    sign_cert: Path
    identity_key: Path
    user_ca_cert: Path
    account_key: Path
    account_address: Path
    witness_key: Path
    witness_pub: Path
    gateway_key: Path
    gateway_pub: Path
    notary_key: Path
    notary_pub: Path

    @classmethod
    def of(cls, root: Path, org_id: OrgId) -> OrgPaths:
        """The layout of ``org_id`` under ``root/orgs/<org id>``; a bad org id raises MalformedError."""
        return cls.at(Path(root) / "orgs" / check_name(org_id, "org id"), org_id)

    @classmethod
    def at(cls, org_dir: Path, org_id: OrgId) -> OrgPaths:
        """The layout of ``org_id`` in the directory ``org_dir``."""
        admin = f"Admin@{check_name(org_id, 'org id')}"
        user = org_dir / "users" / admin / "msp"
        keys = org_dir / "keys"
        return cls(
            org_id=org_id,
            org_dir=org_dir,
            ca_cert=org_dir / "ca" / "ca-cert.pem",
            ca_key=org_dir / "ca" / "ca-key.pem",
            msp_ca_cert=org_dir / "msp" / "cacerts" / "ca-cert.pem",
            admin_cert=org_dir / "msp" / "admincerts" / f"{admin}.pem",
            sign_cert=user / "signcerts" / "cert.pem",
            identity_key=user / "keystore" / "key.pem",
            user_ca_cert=user / "cacerts" / "ca-cert.pem",
            account_key=keys / "account.pem",
            account_address=keys / "account.address",
            witness_key=keys / "witness.pem",
            witness_pub=keys / "witness.pub",
            gateway_key=keys / "gateway.pem",
            gateway_pub=keys / "gateway.pub",
            notary_key=keys / "notary.pem",
            notary_pub=keys / "notary.pub",
        )

    def private_dirs(self) -> tuple[Path, ...]:
        """The directories holding private keys (mode 0o700)."""
        return (self.ca_key.parent, self.identity_key.parent, self.account_key.parent)

    @property
    def gateway_key_previous(self) -> Path:
        """The gateway key before the last rotation, kept until that key is retired (``gateway rotate-key``)."""
        return self.gateway_key.with_name("gateway.previous.pem")

    @property
    def ca_cross(self) -> Path:
        """The cross certificates from the org's CA back to the CA ``consortium.json`` lists, after a rotation
        (``identity rotate-ca``): appended to every TLS certificate the CA issues, for callers trusting that one."""
        return self.ca_cert.with_name("ca-cross.pem")

    @property
    def ca_previous(self) -> Path:
        """The CA certificate before the last rotation (``identity rotate-ca``), to revoke what it issued."""
        return self.ca_cert.with_name("ca-cert.previous.pem")

    @property
    def sm2_ca_cert(self) -> Path:
        """The org's SM2 identity CA certificate (an ``sm`` consortium's): it issues people's SM2 certificates."""
        return self.ca_cert.with_name("sm2-ca.pem")

    @property
    def sm2_ca_key(self) -> Path:
        """The SM2 identity CA's key: PKCS#8 encrypted with PBES2, PBKDF2-HMAC-SM3 and SM4-CBC, mode 0o600."""
        return self.ca_cert.with_name("sm2-ca.key")

    @property
    def sm2_ca_previous(self) -> Path:
        """The SM2 identity CAs the current one replaced (``identity rotate-ca --sm2``), newest first: to revoke what
        they issued, and to know the SM2 CA ``consortium.json`` (or the admission request) lists as this one's
        predecessor."""
        return self.ca_cert.with_name("sm2-ca.previous.pem")

    @property
    def sm2_crl(self) -> Path:
        """The SM2 identity CA's revocation list (SM2-with-SM3), written at the first revocation."""
        return self.ca_cert.with_name("sm2-crl.pem")

    @property
    def users_dir(self) -> Path:
        """Where the identities issued by the org's CA live, one ``<name>@<org>`` folder each."""
        return self.org_dir / "users"

    @property
    def crl(self) -> Path:
        """The org's X.509 revocation list, signed by its CA."""
        return self.org_dir / "msp" / "crls" / "crl.pem"

    @property
    def gateway_tls_cert(self) -> Path:
        """The TLS server certificate of the org's gateway."""
        return self.org_dir / "gateway" / "tls" / "cert.pem"

    @property
    def gateway_tls_key(self) -> Path:
        """Its private key (encrypted); the ``tls`` directory is 0o700."""
        return self.org_dir / "gateway" / "tls" / "key.pem"

    def service_tls(self, service: str) -> tuple[Path, Path]:
        """The TLS certificate of the org's ``service`` (``gateway``, ``node``, ``notary``...) and its private key
        (encrypted), under ``<service>/tls/`` (0o700); the caller checks ``service``."""
        tls = self.org_dir / service / "tls"
        return tls / "cert.pem", tls / "key.pem"

    @property
    def node_tls_cert(self) -> Path:
        """The TLS certificate of the org's chain node, for its links with the other nodes (server and client)."""
        return self.org_dir / "node" / "tls" / "cert.pem"

    @property
    def node_tls_key(self) -> Path:
        """Its private key (encrypted); the ``tls`` directory is 0o700."""
        return self.org_dir / "node" / "tls" / "key.pem"


@dataclass(frozen=True, slots=True)
class UserPaths:
    """Where the files of one identity issued by an org's CA live: ``users/<name>@<org>/msp/...``."""

    org_id: OrgId
    name: str
    user_dir: Path
    msp_dir: Path
    cert: Path
    key: Path
    ca_cert: Path

    @classmethod
    def of(cls, org: OrgPaths, name: str) -> UserPaths:
        """The layout of identity ``name`` of ``org`` (the caller checks ``name``)."""
        user_dir = org.users_dir / f"{name}@{org.org_id}"
        msp = user_dir / "msp"
        return cls(
            org_id=org.org_id,
            name=name,
            user_dir=user_dir,
            msp_dir=msp,
            cert=msp / "signcerts" / "cert.pem",
            key=msp / "keystore" / "key.pem",
            ca_cert=msp / "cacerts" / "ca-cert.pem",
        )


# ---------------------------------------------------------------------------------------------- certificates


def build_ca_cert(key: ec.EllipticCurvePrivateKey, display_name: str, org_id: str, now: datetime) -> x509.Certificate:
    """Self-signed CA ``O=<display name>, OU=<org id>, CN=ca.<org id>``, CA:true pathlen 0, 10 years."""
    name = subject(display_name, org_id, f"ca.{org_id}")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(add_years(now, CA_VALIDITY_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def build_admin_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    display_name: str,
    org_id: str,
    now: datetime,
) -> x509.Certificate:
    """``CN=Admin@<org id>`` issued by ``ca_cert``: CA:false, digitalSignature, clientAuth, 2 years."""
    not_after = min(add_years(now, ADMIN_VALIDITY_YEARS), ca_cert.not_valid_after_utc)
    return build_client_cert(ca_key, ca_cert, key, display_name, org_id, ADMIN_NAME, now, not_after)


def build_client_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    display_name: str,
    org_id: str,
    name: str,
    not_before: datetime,
    not_after: datetime,
    role: str | None = None,
) -> x509.Certificate:
    """Identity ``CN=<name>@<org id>`` issued by ``ca_cert``: CA:false, digitalSignature, clientAuth, SAN URI
    ``consortium://<org id>/<name>``; with ``role``, the subject also holds ``title=<role>`` (the caller checks
    the role)."""
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"consortium://{org_id}/{name}")])
    dn = subject(display_name, org_id, f"{name}@{org_id}", role=role)
    builder = _issued(ca_cert, dn, key, not_before, not_after)
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return _key_ids(builder, ca_cert, key).add_extension(san, critical=False).sign(ca_key, hashes.SHA256())


def build_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    display_name: str,
    org_id: str,
    hostnames: Sequence[str],
    ips: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
    not_before: datetime,
    not_after: datetime,
    service: str = "gateway",
) -> x509.Certificate:
    """The TLS certificate ``CN=<service>.<org id>`` issued by ``ca_cert``: CA:false, digitalSignature, SAN DNS
    names and IP addresses. A gateway's is for serverAuth; a chain node's (``service="node"``) for serverAuth
    and clientAuth, since a node both serves its peers and calls them over mutual TLS."""
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names += [x509.IPAddress(ip) for ip in ips]
    builder = _issued(ca_cert, subject(display_name, org_id, f"{service}.{org_id}"), key, not_before, not_after)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if service == "node" else [])
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    builder = _key_ids(builder, ca_cert, key).add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _issued(
    ca_cert: x509.Certificate,
    name: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    """The start of every end-entity certificate of an org CA: a random serial, CA:false, digitalSignature."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True), critical=True)
    )


def _key_ids(
    builder: x509.CertificateBuilder, ca_cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    """Subject and authority key identifiers."""
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)


def build_crl(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[tuple[int, datetime]],
    number: int,
    last_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL of ``ca_cert`` listing ``(serial, revocation date)`` pairs, with CRL number ``number``."""
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(last_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def crl_number(crl: x509.CertificateRevocationList) -> int:
    """The CRL number extension of ``crl`` (0 when absent)."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def display_name_of(cert: x509.Certificate) -> str:
    """The ``O`` of a certificate subject: the firm's display name."""
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(values) != 1:
        raise MalformedError(f"{cert.subject.rfc4514_string()}: expected one O (organisation name) attribute")
    return str(values[0].value)


def subject(display_name: str, org_id: str, common_name: str, *, role: str | None = None) -> x509.Name:
    """``O=<display name>, OU=<org id>[, title=<role>], CN=<common name>``, in that order (RFC 4514 strings
    show it reversed: ``CN=...,2.5.4.12=<role>,OU=...,O=...``)."""
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, display_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_id),
    ]
    if role is not None:
        attributes.append(x509.NameAttribute(NameOID.TITLE, role))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def titles(cert: x509.Certificate) -> list[str]:
    """The ``title`` (X.520, OID 2.5.4.12) attributes of a certificate subject: where a person's role is."""
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.TITLE)]


def key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February in a non-leap year
        return when.replace(year=when.year + years, day=28)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def org_units(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]


# ---------------------------------------------------------------------------------------------- PEM and keys


def parse_cert(pem: str | bytes, what: str = "certificate") -> x509.Certificate:
    """Parse a PEM holding exactly one X.509 certificate; anything else raises :class:`MalformedError`."""
    if isinstance(pem, str):
        try:
            data = pem.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedError(f"{what}: PEM text must be ASCII") from None
    elif isinstance(pem, bytes):
        data = pem
    else:
        raise MalformedError(f"{what}: expected PEM text, got {type(pem).__name__}")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise MalformedError(f"{what}: not a PEM-encoded X.509 certificate") from None
    if len(certs) != 1:
        raise MalformedError(f"{what}: expected one certificate in the PEM, found {len(certs)}")
    return certs[0]


def cert_pem(cert: x509.Certificate) -> str:
    """The canonical PEM text of ``cert`` (64-column base64, ``\\n`` line ends, final newline)."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def canonical_pem(pem: str, what: str) -> str:
    """Re-encode a one-certificate PEM canonically (so that equal certificates compare equal)."""
    return cert_pem(parse_cert(pem, what))


def der_fingerprint(cert: x509.Certificate) -> bytes:
    """SHA-256 of the DER encoding: 32 bytes."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    """The 32-byte raw Ed25519 public key."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def secp256k1_scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The private scalar of a secp256k1 key as 32 big-endian bytes (the Ethereum private key)."""
    return key.private_numbers().private_value.to_bytes(32, "big")


def eth_address(private_key: bytes) -> str:
    """The EIP-55 checksum address of a 32-byte secp256k1 private key."""
    from eth_keys.datatypes import PrivateKey as EthPrivateKey

    return str(EthPrivateKey(private_key).public_key.to_checksum_address())


def encrypt(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, passphrase: bytes, iterations: int | None = None
) -> bytes:
    """PKCS#8 PEM encrypted with ``passphrase`` (``-----BEGIN ENCRYPTED PRIVATE KEY-----``): PBES2, AES-256-CBC
    under PBKDF2-HMAC-SHA256 of ``iterations`` rounds, by default the operator's setting
    (``suite.sm4.iterations_setting``: 200,000 unless ``$CONSORTIUM_KDF_ITERATIONS`` says otherwise)."""
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    info = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    rounds = sm4.iterations_setting() if iterations is None else iterations
    body = base64.encodebytes(_pkcs8.encrypt_aes(info, passphrase, rounds)).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return ENCRYPTED_PEM_HEADER + b"\n" + lines + b"\n-----END ENCRYPTED PRIVATE KEY-----\n"


# ---------------------------------------------------------------------------------------------- checks


def check_display_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= MAX_DISPLAY_NAME
        or name != name.strip()
        or not name.isprintable()
    ):
        raise MalformedError(
            f"invalid display name {name!r}: use 1-{MAX_DISPLAY_NAME} printable characters,"
            " without leading or trailing spaces"
        )


def check_address(account: str) -> None:
    from eth_utils.address import is_checksum_address

    if not isinstance(account, str) or _ADDRESS.fullmatch(account) is None or not is_checksum_address(account):
        raise MalformedError(f"account {account!r} is not an EIP-55 checksum address")


def hex32(text: str, what: str) -> bytes:
    if _HEX32.fullmatch(text) is None:
        raise MalformedError(f"{what} must be 64 hex digits (32 bytes, no 0x)")
    return bytes.fromhex(text)


# ---------------------------------------------------------------------------------------------- files


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (and missing parents) exclusively, write, set exactly ``mode``, fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.chmod(path, mode)  # exact mode, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)

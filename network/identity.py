"""Identities of member firms: an MSP-like folder per org, as in Hyperledger Fabric.

For each member org :func:`create_org_identity` generates, under ``ROOT/orgs/<org id>/``::

    ca/ca-cert.pem                                  self-signed ECDSA P-256 CA, 10 years, CA:true pathlen 0
    ca/ca-key.pem                                   its private key (encrypted)
    msp/cacerts/ca-cert.pem                         copy of the CA certificate
    msp/admincerts/Admin@<org>.pem                  the admin identity certificate
    users/Admin@<org>/msp/signcerts/cert.pem        the admin identity certificate (same bytes)
    users/Admin@<org>/msp/keystore/key.pem          its ECDSA P-256 private key (encrypted)
    users/Admin@<org>/msp/cacerts/ca-cert.pem       copy of the CA certificate
    keys/account.pem   keys/account.address         secp256k1 Ethereum account key (encrypted), address
    keys/witness.pem   keys/witness.pub             Ed25519 witness key (encrypted), raw public key in hex
    keys/gateway.pem   keys/gateway.pub             Ed25519 gateway signing key (encrypted), public key in hex
    keys/notary.pem    keys/notary.pub              Ed25519 log key, used if the org runs the notary (encrypted), hex

The CA's subject is ``O=<display name>, OU=<org id>, CN=ca.<org id>``. The admin certificate
(``CN=Admin@<org id>``, CA:false, digitalSignature, clientAuth, SAN ``consortium://<org id>/Admin``) is issued
by that CA for 2 years. Its fingerprint, the SHA-256 of its DER encoding, is what goes on chain.

Every private key is PKCS#8 PEM encrypted with the consortium passphrase (``ENCRYPTED PRIVATE KEY``), mode
0o600; the directories holding private keys (``ca``, ``keys``, ``msp/keystore``) are 0o700; public files are
0o644. Passphrases never appear in messages or reprs.

Times: the public functions take ``now`` (default: the current UTC time, read once at the call). A naive
``datetime`` is taken to be UTC. Certificates hold whole seconds, so creation truncates ``now`` to the second.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from chain.errors import MalformedError
from chain.ids import OrgId, check_name
from network._pem import (
    ADMIN_VALIDITY_YEARS,
    CA_VALIDITY_YEARS,
    ENCRYPTED_PEM_HEADER,
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    PUBLIC_DIR_MODE,
    PUBLIC_FILE_MODE,
    OrgPaths,
    build_admin_cert,
    build_ca_cert,
    canonical_pem,
    cert_pem,
    check_address,
    check_display_name,
    der_fingerprint,
    encrypt,
    eth_address,
    fsync_dir,
    hex32,
    is_ca,
    org_units,
    parse_cert,
    raw_public,
    secp256k1_scalar,
    write_file,
)

__all__ = [
    "ADMIN_VALIDITY_YEARS",
    "CA_VALIDITY_YEARS",
    "MIN_PASSPHRASE_BYTES",
    "PASSPHRASE_ENV",
    "CertificateError",
    "IdentityError",
    "OrgPaths",
    "OrgPublic",
    "PassphraseError",
    "VerificationError",
    "certificate_fingerprint",
    "create_org_identity",
    "load_account_key",
    "load_gateway_key",
    "load_identity_key",
    "load_notary_key",
    "load_org_public",
    "load_passphrase",
    "load_witness_key",
    "verify_identity_certificate",
]

PASSPHRASE_ENV: Final = "CONSORTIUM_PASSPHRASE"
MIN_PASSPHRASE_BYTES: Final = 8
_FINGERPRINT = re.compile(r"0x[0-9a-fA-F]{64}")
_FIX_PASSPHRASE = f"set {PASSPHRASE_ENV} or pass --passphrase-file FILE"


class IdentityError(Exception):
    """Root of the errors of this module (bad input raises :class:`chain.errors.MalformedError`)."""


class PassphraseError(IdentityError):
    """A private key file could not be decrypted with the given passphrase."""


class CertificateError(IdentityError):
    """A certificate failed verification: wrong issuer, bad signature, outside its validity, a CA."""


VerificationError = CertificateError  # the same class under its other name


@dataclass(frozen=True, slots=True)
class OrgPublic:
    """The public identity of one org, as listed in the public ``consortium.json``.

    Construction checks every field and raises :class:`MalformedError`: the PEMs hold one certificate each,
    both with ``OU=<org id>``; ``cert_fingerprint`` is the SHA-256 of the DER of ``admin_cert_pem``;
    ``account`` is an EIP-55 checksum address; the public keys are 32 bytes.
    """

    org_id: OrgId
    ca_cert_pem: str
    admin_cert_pem: str
    cert_fingerprint: bytes
    account: str
    witness_public_key: bytes
    gateway_public_key: bytes
    notary_public_key: bytes

    def __post_init__(self) -> None:
        check_name(self.org_id, "org id")
        for what, pem in (("CA certificate", self.ca_cert_pem), ("admin certificate", self.admin_cert_pem)):
            if not isinstance(pem, str):
                raise MalformedError(f"{what} must be PEM text")
            if org_units(parse_cert(pem, what)) != [self.org_id]:
                raise MalformedError(f"{what} is not for org {self.org_id!r} (its subject lacks OU={self.org_id})")
        for what, value in (
            ("cert_fingerprint", self.cert_fingerprint),
            ("witness_public_key", self.witness_public_key),
            ("gateway_public_key", self.gateway_public_key),
            ("notary_public_key", self.notary_public_key),
        ):
            if not isinstance(value, bytes) or len(value) != 32:
                raise MalformedError(f"{what} must be 32 bytes")
        if self.cert_fingerprint != certificate_fingerprint(self.admin_cert_pem):
            raise MalformedError("cert_fingerprint is not the SHA-256 of the admin certificate's DER encoding")
        check_address(self.account)

    def to_json(self) -> dict[str, str]:
        """JSON form: PEMs as text; ``cert_fingerprint`` as ``0x`` and 64 lower-case hex digits (like the
        ``bytes32`` on chain); the public keys as 64 lower-case hex digits without ``0x`` (like the ``.pub``
        files); ``account`` as the checksum address."""
        return {
            "org_id": self.org_id,
            "ca_cert_pem": self.ca_cert_pem,
            "admin_cert_pem": self.admin_cert_pem,
            "cert_fingerprint": "0x" + self.cert_fingerprint.hex(),
            "account": self.account,
            "witness_public_key": self.witness_public_key.hex(),
            "gateway_public_key": self.gateway_public_key.hex(),
            "notary_public_key": self.notary_public_key.hex(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> OrgPublic:
        """Parse the :meth:`to_json` form (hex of either case; PEMs re-encoded canonically; other keys
        ignored). Anything else raises :class:`MalformedError`."""
        if not isinstance(d, Mapping):
            raise MalformedError(f"org identity must be a JSON object, not {type(d).__name__}")

        def text(key: str) -> str:
            value = d.get(key)
            if not isinstance(value, str):
                raise MalformedError(f"org identity: {key!r} must be a string")
            return value

        fingerprint = text("cert_fingerprint")
        if _FINGERPRINT.fullmatch(fingerprint) is None:
            raise MalformedError("cert_fingerprint must be '0x' followed by 64 hex digits")
        return cls(
            org_id=OrgId(check_name(text("org_id"), "org id")),
            ca_cert_pem=canonical_pem(text("ca_cert_pem"), "CA certificate"),
            admin_cert_pem=canonical_pem(text("admin_cert_pem"), "admin certificate"),
            cert_fingerprint=bytes.fromhex(fingerprint[2:]),
            account=text("account"),
            witness_public_key=hex32(text("witness_public_key"), "witness_public_key"),
            gateway_public_key=hex32(text("gateway_public_key"), "gateway_public_key"),
            notary_public_key=hex32(text("notary_public_key"), "notary_public_key"),
        )


def load_passphrase(env: Mapping[str, str] | None = None, file: Path | None = None) -> bytes:
    """The consortium passphrase: the contents of ``file`` with one trailing newline stripped if ``file`` is
    given, else the UTF-8 of ``$CONSORTIUM_PASSPHRASE`` (``env`` defaults to ``os.environ``).

    Missing, empty or shorter than 8 bytes raises :class:`IdentityError`."""
    if file is not None:
        try:
            raw = Path(file).read_bytes()
        except OSError as exc:
            raise IdentityError(f"cannot read passphrase file {file}: {exc.strerror or exc}") from None
        if raw.endswith(b"\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n"):
            raw = raw[:-1]
        source = f"passphrase file {file}"
    else:
        value = (os.environ if env is None else env).get(PASSPHRASE_ENV)
        if value is None:
            raise IdentityError(f"no passphrase: {_FIX_PASSPHRASE}")
        raw = value.encode("utf-8")
        source = PASSPHRASE_ENV
    _check_passphrase(raw, source)
    return raw


def create_org_identity(
    root: Path, org_id: OrgId, display_name: str, passphrase: bytes, now: datetime | None = None
) -> OrgPublic:
    """Generate the identity of ``org_id`` in ``root/orgs/<org id>`` and return its public part.

    The passphrase must be at least 8 bytes. Refuses (:class:`IdentityError`) if the org directory exists,
    leaving it untouched. Files are written into a hidden directory next to it (``.<org id>.*.tmp``, never a
    valid org id), which is then renamed into place: a failure leaves no partial identity."""
    paths = OrgPaths.of(root, org_id)
    check_display_name(display_name)
    _check_passphrase(passphrase, f"new identity of org {org_id!r}")
    when = _utc(now).replace(microsecond=0)
    if os.path.lexists(paths.org_dir):
        raise _exists(paths)
    public, files = _generate(paths, display_name, passphrase, when)
    orgs = paths.org_dir.parent
    try:
        orgs.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{org_id}.", suffix=".tmp", dir=orgs))
    except OSError as exc:
        raise IdentityError(f"cannot create a directory in {orgs}: {exc.strerror or exc}") from None
    staged = OrgPaths.at(tmp, paths.org_id)
    try:
        for path, data, private in files:
            mode = PRIVATE_FILE_MODE if private else PUBLIC_FILE_MODE
            write_file(tmp / path.relative_to(paths.org_dir), data, mode)
        for private_dir in staged.private_dirs():
            os.chmod(private_dir, PRIVATE_DIR_MODE)
        os.chmod(tmp, PUBLIC_DIR_MODE)
        if os.path.lexists(paths.org_dir):
            raise _exists(paths)
        os.rename(tmp, paths.org_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.lexists(paths.org_dir):
            raise _exists(paths) from None
        raise IdentityError(f"cannot write the identity of org {org_id!r}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(orgs)
    return public


def load_org_public(root: Path, org_id: OrgId) -> OrgPublic:
    """Read the public identity of ``org_id`` from ``root/orgs/<org id>`` (no passphrase needed)."""
    paths = OrgPaths.of(root, org_id)
    ca_pem = _read(paths, paths.ca_cert).decode("ascii", errors="replace")
    admin_pem = _read(paths, paths.admin_cert).decode("ascii", errors="replace")
    address = _read_line(paths, paths.account_address)
    witness = _read_line(paths, paths.witness_pub)
    gateway = _read_line(paths, paths.gateway_pub)
    notary = _read_line(paths, paths.notary_pub)
    try:
        return OrgPublic(
            org_id=paths.org_id,
            ca_cert_pem=canonical_pem(ca_pem, str(paths.ca_cert)),
            admin_cert_pem=canonical_pem(admin_pem, str(paths.admin_cert)),
            cert_fingerprint=certificate_fingerprint(admin_pem),
            account=address,
            witness_public_key=hex32(witness, str(paths.witness_pub)),
            gateway_public_key=hex32(gateway, str(paths.gateway_pub)),
            notary_public_key=hex32(notary, str(paths.notary_pub)),
        )
    except MalformedError as exc:
        raise MalformedError(f"identity of org {org_id!r} in {paths.org_dir}: {exc}") from None


def load_account_key(root: Path, org_id: OrgId, passphrase: bytes) -> bytes:
    """The org's Ethereum account private key: 32 bytes (secp256k1 scalar, big-endian)."""
    paths = OrgPaths.of(root, org_id)
    key = _load_private(paths, paths.account_key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256K1):
        raise IdentityError(f"{paths.account_key} does not hold a secp256k1 key")
    return secp256k1_scalar(key)


def load_witness_key(root: Path, org_id: OrgId, passphrase: bytes) -> ed25519.Ed25519PrivateKey:
    """The org's Ed25519 witness key."""
    paths = OrgPaths.of(root, org_id)
    return _load_ed25519(paths, paths.witness_key, passphrase)


def load_gateway_key(root: Path, org_id: OrgId, passphrase: bytes) -> ed25519.Ed25519PrivateKey:
    """The org's Ed25519 gateway signing key."""
    paths = OrgPaths.of(root, org_id)
    return _load_ed25519(paths, paths.gateway_key, passphrase)


def load_notary_key(root: Path, org_id: OrgId, passphrase: bytes) -> ed25519.Ed25519PrivateKey:
    """The org's Ed25519 log key: signs checkpoints and receipts when the org runs the notary."""
    paths = OrgPaths.of(root, org_id)
    return _load_ed25519(paths, paths.notary_key, passphrase)


def load_identity_key(root: Path, org_id: OrgId, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 private key of the org's admin identity certificate."""
    paths = OrgPaths.of(root, org_id)
    key = _load_private(paths, paths.identity_key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"{paths.identity_key} does not hold an ECDSA P-256 key")
    return key


def verify_identity_certificate(
    cert_pem: str | bytes, ca_cert_pem: str | bytes, now: datetime | None = None
) -> x509.Certificate:
    """Check that ``cert_pem`` is an identity (non-CA) certificate issued and signed by the CA of
    ``ca_cert_pem`` and that both are valid at ``now``; return the parsed certificate.

    Unparsable PEM raises :class:`MalformedError`; each failed check raises :class:`CertificateError`."""
    cert = parse_cert(cert_pem, "certificate")
    ca = parse_cert(ca_cert_pem, "CA certificate")
    when = _utc(now)
    subject, ca_subject = cert.subject.rfc4514_string(), ca.subject.rfc4514_string()
    if not is_ca(ca):
        raise CertificateError(f"{ca_subject} is not a CA certificate (basicConstraints CA:true missing)")
    if cert.issuer != ca.subject:
        raise CertificateError(
            f"certificate {subject} was issued by {cert.issuer.rfc4514_string()}, not by {ca_subject}"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except InvalidSignature:
        raise CertificateError(
            f"the signature of certificate {subject} does not verify with the key of {ca_subject}"
        ) from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"cannot check the signature of certificate {subject}: {exc}") from None
    if is_ca(cert):
        raise CertificateError(f"certificate {subject} is a CA certificate, not an identity certificate")
    _check_validity(cert, f"certificate {subject}", when)
    _check_validity(ca, f"CA certificate {ca_subject}", when)
    return cert


def certificate_fingerprint(cert_pem: str | bytes) -> bytes:
    """SHA-256 of the certificate's DER encoding: the 32 bytes recorded on chain."""
    return der_fingerprint(parse_cert(cert_pem))


# ---------------------------------------------------------------------------------------------- helpers


def _generate(
    paths: OrgPaths, display_name: str, passphrase: bytes, now: datetime
) -> tuple[OrgPublic, list[tuple[Path, bytes, bool]]]:
    """Fresh keys and certificates: the public part and the files to write, as (path, data, private)."""
    org_id = paths.org_id
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build_ca_cert(ca_key, display_name, org_id, now)
    identity_key = ec.generate_private_key(ec.SECP256R1())
    admin_cert = build_admin_cert(ca_key, ca_cert, identity_key, display_name, org_id, now)
    account_key = ec.generate_private_key(ec.SECP256K1())
    address = eth_address(secp256k1_scalar(account_key))
    witness_key = ed25519.Ed25519PrivateKey.generate()
    gateway_key = ed25519.Ed25519PrivateKey.generate()
    notary_key = ed25519.Ed25519PrivateKey.generate()

    ca_pem, admin_pem = cert_pem(ca_cert), cert_pem(admin_cert)
    public = OrgPublic(
        org_id=org_id,
        ca_cert_pem=ca_pem,
        admin_cert_pem=admin_pem,
        cert_fingerprint=der_fingerprint(admin_cert),
        account=address,
        witness_public_key=raw_public(witness_key),
        gateway_public_key=raw_public(gateway_key),
        notary_public_key=raw_public(notary_key),
    )
    files: list[tuple[Path, bytes, bool]] = [
        (paths.ca_cert, ca_pem.encode("ascii"), False),
        (paths.ca_key, encrypt(ca_key, passphrase), True),
        (paths.msp_ca_cert, ca_pem.encode("ascii"), False),
        (paths.admin_cert, admin_pem.encode("ascii"), False),
        (paths.sign_cert, admin_pem.encode("ascii"), False),
        (paths.identity_key, encrypt(identity_key, passphrase), True),
        (paths.user_ca_cert, ca_pem.encode("ascii"), False),
        (paths.account_key, encrypt(account_key, passphrase), True),
        (paths.account_address, f"{address}\n".encode("ascii"), False),
        (paths.witness_key, encrypt(witness_key, passphrase), True),
        (paths.witness_pub, f"{public.witness_public_key.hex()}\n".encode("ascii"), False),
        (paths.gateway_key, encrypt(gateway_key, passphrase), True),
        (paths.gateway_pub, f"{public.gateway_public_key.hex()}\n".encode("ascii"), False),
        (paths.notary_key, encrypt(notary_key, passphrase), True),
        (paths.notary_pub, f"{public.notary_public_key.hex()}\n".encode("ascii"), False),
    ]
    return public, files


def _exists(paths: OrgPaths) -> IdentityError:
    return IdentityError(
        f"an identity for org {paths.org_id!r} already exists at {paths.org_dir}: refusing to overwrite it"
    )


def _read(paths: OrgPaths, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not paths.org_dir.is_dir():
            raise IdentityError(
                f"no identity for org {paths.org_id!r}: {paths.org_dir} does not exist (create it first)"
            ) from None
        raise IdentityError(f"identity of org {paths.org_id!r} is incomplete: {path} is missing") from None
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_line(paths: OrgPaths, path: Path) -> str:
    data = _read(paths, path)
    try:
        return data.decode("ascii").removesuffix("\n")
    except UnicodeDecodeError:
        raise MalformedError(f"{path}: not ASCII text") from None


def _load_private(paths: OrgPaths, path: Path, passphrase: bytes) -> PrivateKeyTypes:
    data = _read(paths, path)
    if not data.lstrip().startswith(ENCRYPTED_PEM_HEADER):
        raise IdentityError(f"{path} is not an encrypted PKCS#8 private key (ENCRYPTED PRIVATE KEY PEM)")
    if not isinstance(passphrase, bytes) or not passphrase:
        raise PassphraseError(f"cannot decrypt {path}: no passphrase given; {_FIX_PASSPHRASE}")
    try:
        return serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        raise PassphraseError(
            f"cannot decrypt {path}: wrong passphrase or damaged file; {_FIX_PASSPHRASE}"
            " to the passphrase this identity was created with"
        ) from None
    except UnsupportedAlgorithm:
        raise IdentityError(f"{path}: unsupported key type or key encryption") from None


def _load_ed25519(paths: OrgPaths, path: Path, passphrase: bytes) -> ed25519.Ed25519PrivateKey:
    key = _load_private(paths, path, passphrase)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise IdentityError(f"{path} does not hold an Ed25519 key")
    return key


def _check_passphrase(passphrase: bytes, source: str) -> None:
    if not isinstance(passphrase, bytes):
        raise IdentityError(f"{source}: the passphrase must be bytes")
    if not passphrase:
        raise IdentityError(f"{source}: the passphrase is empty; use at least {MIN_PASSPHRASE_BYTES} bytes")
    if len(passphrase) < MIN_PASSPHRASE_BYTES:
        raise IdentityError(f"{source}: the passphrase is too short; use at least {MIN_PASSPHRASE_BYTES} bytes")


def _check_validity(cert: x509.Certificate, what: str, when: datetime) -> None:
    if when < cert.not_valid_before_utc:
        raise CertificateError(f"{what} is not valid before {cert.not_valid_before_utc.isoformat()}")
    if when > cert.not_valid_after_utc:
        raise CertificateError(f"{what} expired at {cert.not_valid_after_utc.isoformat()}")


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

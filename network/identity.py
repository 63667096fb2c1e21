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
    keys/witness.pem   keys/witness.pub             witness key (encrypted), raw public key in hex
    keys/gateway.pem   keys/gateway.pub             gateway signing key (encrypted), public key in hex
    keys/notary.pem    keys/notary.pub              log key, used if the org runs the notary (encrypted), hex

Under the ``sm`` suite an org also holds an SM2 identity CA (``network._sm2ca``), beside the P-256 CA that keeps
issuing the TLS certificates (OpenSSL's TLS takes no SM2 certificate)::

    ca/sm2-ca.pem                                   self-signed SM2 CA (suite.x509), 10 years, CA:true pathlen 0
    ca/sm2-ca.key                                   its key (PKCS#8, PBKDF2-HMAC-SM3 and SM4-CBC, encrypted)
    ca/sm2-crl.pem                                  its CRL (SM2-with-SM3), from the first revocation on

Its subject is ``O=<display name>, OU=<org id>, CN=sm2-ca.<org id>``; its certificate is the member's optional
``sm2_ca_cert_pem`` in ``consortium.json`` (absent for an ``intl`` member, and for an ``sm`` member created before
the SM2 CAs, whose people keep P-256 certificates). It issues the people's certificates (see People below).

The witness, gateway and log keys are the keys of the consortium's log, so their type is the consortium's
suite (``consortium.json``'s ``crypto``, ``docs/national-suite.md``): Ed25519 under ``intl`` (32-byte public
keys), SM2 under ``sm`` (65-byte public keys ``04 ‖ x ‖ y``; the key files are PKCS#8 encrypted with PBES2,
PBKDF2-HMAC-SM3 and SM4-CBC, ``suite.sm2``). The CA, identity, TLS and account keys are the same under both.

The CA's subject is ``O=<display name>, OU=<org id>, CN=ca.<org id>``. The admin certificate
(``CN=Admin@<org id>``, CA:false, digitalSignature, clientAuth, SAN ``consortium://<org id>/Admin``) is issued
by that CA for 2 years. Its fingerprint, the SHA-256 of its DER encoding, is what goes on chain.

Every private key is PKCS#8 PEM encrypted with the consortium passphrase (``ENCRYPTED PRIVATE KEY``), mode
0o600; the directories holding private keys (``ca``, ``keys``, ``msp/keystore``) are 0o700; public files are
0o644. Passphrases never appear in messages or reprs.

Beyond the founding identity, the org's CA issues and revokes certificates later, in the same folder::

    users/<name>@<org>/msp/signcerts/cert.pem       an identity certificate (issue_identity), 1 year by default
    users/<name>@<org>/msp/keystore/key.pem         its ECDSA P-256 private key (encrypted)
    users/<name>@<org>/msp/cacerts/ca-cert.pem      copy of the CA certificate
    gateway/tls/cert.pem   gateway/tls/key.pem      the gateway's TLS server certificate and key (encrypted)
    msp/crls/crl.pem                                the org's X.509 CRL, signed by its CA (revoke_identity)

An identity certificate looks like the admin's: ``CN=<name>@<org id>, O=<display name>, OU=<org id>``,
CA:false, digitalSignature, clientAuth, SAN ``consortium://<org id>/<name>``. It is what a caller presents to
a gateway over mutual TLS (see ``docs/gateway.md``).

People. An identity issued for a person (``issue_identity(..., role=...)``, ``consortium user add``) carries the
person's role in its subject, as one X.520 ``title`` attribute (OID 2.5.4.12) between ``OU`` and ``CN``::

    O=<display name>, OU=<org id>, title=<role>, CN=<name>@<org id>

(OpenSSL prints it as ``title = compliance``; RFC 4514 strings as ``CN=alice@acme,2.5.4.12=compliance,...``).
The roles are :data:`PERSON_ROLES`: ``compliance`` (a member firm's compliance officer), ``operator`` (a member
firm's operator) and ``regulator`` (a person of the regulator), and ``regulator`` is issued only for an org whose
consortium roles, passed in by the caller from ``consortium.toml`` or ``consortium.json``, include the regulator
role. Because the org's CA signs the subject, the role is as trustworthy as the certificate: it cannot be
changed without invalidating the signature, and a revocation withdraws it too. Everything else is unchanged:
the SAN URI stays ``consortium://<org id>/<name>``, the certificate is still a clientAuth identity that
gateways accept for calls. :func:`certificate_role` reads the role back (None for an identity without one:
the admin, the demo's callers). A title is a subject attribute rather than another ``OU`` because ``OU`` is the
org id, checked by the gateway to be exactly one; and rather than a private extension, because it needs no
registered OID and every X.509 tool shows it.

The gateway's server certificate is ``CN=gateway.<org id>`` with serverAuth and the DNS names and IP addresses
callers reach it by; clients trust it through the bundle of every member's CA certificate
(``network.certificates.ca_bundle_pem``).

Issuing an identity stages its folder next to the others (``.<name>@<org>.*.tmp``) and renames it into place,
refusing to overwrite one that exists. The server certificate and key are replaced file by file, each
atomically (the gateway reads them at start). Revocation rewrites the CRL atomically under an exclusive lock
(``msp/crls/.lock``): it keeps every earlier entry, increments the CRL number, sets nextUpdate
``CRL_VALIDITY_DAYS`` ahead and refuses to build on a CRL whose signature does not verify. Revoking a
certificate twice leaves the CRL unchanged. A gateway rereads the CRL when the file changes.

Times: the public functions take ``now`` (default: the current UTC time, read once at the call). A naive
``datetime`` is taken to be UTC. Certificates hold whole seconds, so creation truncates ``now`` to the second.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: revocations are not serialised between processes
    fcntl = None  # type: ignore[assignment]

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from chain.errors import MalformedError
from chain.ids import OrgId, Role, check_name
from network._pem import (
    ADMIN_VALIDITY_YEARS,
    CA_VALIDITY_YEARS,
    ENCRYPTED_PEM_HEADER,
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    PUBLIC_DIR_MODE,
    PUBLIC_FILE_MODE,
    OrgPaths,
    UserPaths,
    add_years,
    build_admin_cert,
    build_ca_cert,
    build_client_cert,
    build_crl,
    build_server_cert,
    canonical_pem,
    cert_pem,
    check_address,
    check_display_name,
    crl_number,
    der_fingerprint,
    display_name_of,
    encrypt,
    eth_address,
    is_ca,
    org_units,
    parse_cert,
    secp256k1_scalar,
    titles,
    write_file,
)
from network.errors import NetworkError
from notary.durable import fsync_dir, replace_file

if TYPE_CHECKING:  # the SM2 binding and the log suites load at first use: commands without log keys skip them
    from notary.logsuite import PrivateKey
    from suite.sm2 import SM2PrivateKey
    from suite.x509 import CRL as SM2CRL
    from suite.x509 import Certificate as SM2Certificate

__all__ = [
    "ADMIN_VALIDITY_YEARS",
    "CA_VALIDITY_YEARS",
    "CRL_VALIDITY_DAYS",
    "IDENTITY_VALIDITY_DAYS",
    "MIN_PASSPHRASE_BYTES",
    "NOTARY_SERVICE",
    "PASSPHRASE_ENV",
    "PERSON_ROLES",
    "SERVER_VALIDITY_DAYS",
    "CertificateError",
    "IdentityError",
    "OrgPaths",
    "OrgPublic",
    "PassphraseError",
    "UserPaths",
    "VerificationError",
    "certificate_fingerprint",
    "certificate_role",
    "check_log_key_suite",
    "check_person_role",
    "check_sm2_ca_pem",
    "check_user_name",
    "create_org_identity",
    "create_sm2_ca",
    "encrypted_log_key",
    "is_own_sm2_ca",
    "issue_identity",
    "issue_node_certificate",
    "issue_server_certificate",
    "issue_service_certificate",
    "key_suite",
    "load_account_key",
    "load_account_key_file",
    "load_crl",
    "load_gateway_key",
    "load_identity_key",
    "load_notary_key",
    "load_org_public",
    "load_passphrase",
    "load_person_key",
    "load_previous_gateway_key",
    "load_private_key",
    "load_sm2_ca_key",
    "load_sm2_crl",
    "load_user_key",
    "load_witness_key",
    "new_log_key",
    "read_certificate",
    "read_leaf_certificate",
    "revoke_identity",
    "sm2_ca_lineage",
    "sm2_certificate",
    "user_paths",
    "verify_crl",
    "verify_identity_certificate",
]

PASSPHRASE_ENV: Final = "CONSORTIUM_PASSPHRASE"
MIN_PASSPHRASE_BYTES: Final = 8
IDENTITY_VALIDITY_DAYS: Final = 365
SERVER_VALIDITY_DAYS: Final = 365
#: The notary's service name: its TLS certificate is ``orgs/<notary member>/notary/tls/cert.pem``.
NOTARY_SERVICE: Final = "notary"
#: A service's name: ``orgs/<org>/<service>/tls/`` holds its certificate, ``CN=<service>.<org>`` names it.
_SERVICE = re.compile(r"[a-z][a-z0-9-]{0,31}")
#: Directories of an org that hold no service's TLS files.
_NOT_SERVICES: Final = frozenset({"ca", "msp", "users", "keys"})
CRL_VALIDITY_DAYS: Final = 30
#: The roles a person's identity certificate may carry (its subject's ``title``).
PERSON_ROLES: Final = ("compliance", "operator", "regulator")
_FINGERPRINT = re.compile(r"0x[0-9a-fA-F]{64}")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOSTNAME = re.compile(r"(?:\*\.)?(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
_CRL_PEM_HEADER = b"-----BEGIN X509 CRL-----"
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}|04[0-9a-fA-F]{128}")
#: The size of a log-side public key (witness, gateway, log key) under each suite.
_PUBLIC_KEY_SIZE: Final = {"intl": 32, "sm": 65}
_FIX_PASSPHRASE = f"set {PASSPHRASE_ENV} or pass --passphrase-file FILE"


class IdentityError(NetworkError):
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
    ``account`` is an EIP-55 checksum address; the witness, gateway and log public keys are all of one suite:
    32-byte Ed25519 keys (``intl``) or 65-byte SM2 points (``sm``). ``sm2_ca_cert_pem``, the member's SM2
    identity CA (``sm`` only; None for a member of an ``intl`` consortium and one created before the SM2 CAs),
    must be a self-signed SM2 CA certificate with ``OU=<org id>``.
    """

    org_id: OrgId
    ca_cert_pem: str
    admin_cert_pem: str
    cert_fingerprint: bytes
    account: str
    witness_public_key: bytes
    gateway_public_key: bytes
    notary_public_key: bytes
    sm2_ca_cert_pem: str | None = None

    def __post_init__(self) -> None:
        check_name(self.org_id, "org id")
        for what, pem in (("CA certificate", self.ca_cert_pem), ("admin certificate", self.admin_cert_pem)):
            if not isinstance(pem, str):
                raise MalformedError(f"{what} must be PEM text")
            if org_units(parse_cert(pem, what)) != [self.org_id]:
                raise MalformedError(f"{what} is not for org {self.org_id!r} (its subject lacks OU={self.org_id})")
        if not isinstance(self.cert_fingerprint, bytes) or len(self.cert_fingerprint) != 32:
            raise MalformedError("cert_fingerprint must be 32 bytes")
        suites = {
            _check_public_key(what, value)
            for what, value in (
                ("witness_public_key", self.witness_public_key),
                ("gateway_public_key", self.gateway_public_key),
                ("notary_public_key", self.notary_public_key),
            )
        }
        if len(suites) != 1:
            raise MalformedError(
                "the witness, gateway and notary public keys must be of one suite (all Ed25519 or all SM2)"
            )
        if self.sm2_ca_cert_pem is not None:
            if suites != {"sm"}:
                raise MalformedError(
                    "an SM2 identity CA (sm2_ca_cert_pem) belongs to a member of an 'sm' consortium, but this "
                    "member's witness, gateway and log keys are Ed25519 ('intl')"
                )
            check_sm2_ca_pem(self.sm2_ca_cert_pem, self.org_id)
        if self.cert_fingerprint != certificate_fingerprint(self.admin_cert_pem):
            raise MalformedError("cert_fingerprint is not the SHA-256 of the admin certificate's DER encoding")
        check_address(self.account)

    def to_json(self) -> dict[str, str]:
        """JSON form: PEMs as text; ``cert_fingerprint`` as ``0x`` and 64 lower-case hex digits (like the
        ``bytes32`` on chain); the public keys as 64 lower-case hex digits without ``0x`` (like the ``.pub``
        files); ``account`` as the checksum address; ``sm2_ca_cert_pem`` only when there is one."""
        return {
            "org_id": self.org_id,
            "ca_cert_pem": self.ca_cert_pem,
            "admin_cert_pem": self.admin_cert_pem,
            "cert_fingerprint": "0x" + self.cert_fingerprint.hex(),
            "account": self.account,
            "witness_public_key": self.witness_public_key.hex(),
            "gateway_public_key": self.gateway_public_key.hex(),
            "notary_public_key": self.notary_public_key.hex(),
            **({"sm2_ca_cert_pem": self.sm2_ca_cert_pem} if self.sm2_ca_cert_pem is not None else {}),
        }

    @property
    def suite(self) -> str:
        """The suite of the org's witness, gateway and log keys: ``intl`` (Ed25519) or ``sm`` (SM2)."""
        return "sm" if len(self.notary_public_key) == _PUBLIC_KEY_SIZE["sm"] else "intl"

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
        sm2_ca = None if d.get("sm2_ca_cert_pem") is None else text("sm2_ca_cert_pem")
        return cls(
            org_id=OrgId(check_name(text("org_id"), "org id")),
            ca_cert_pem=canonical_pem(text("ca_cert_pem"), "CA certificate"),
            admin_cert_pem=canonical_pem(text("admin_cert_pem"), "admin certificate"),
            cert_fingerprint=bytes.fromhex(fingerprint[2:]),
            account=text("account"),
            witness_public_key=_hex_key(text("witness_public_key"), "witness_public_key"),
            gateway_public_key=_hex_key(text("gateway_public_key"), "gateway_public_key"),
            notary_public_key=_hex_key(text("notary_public_key"), "notary_public_key"),
            sm2_ca_cert_pem=None if sm2_ca is None else _canonical_sm2_pem(sm2_ca, "SM2 CA certificate"),
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
    root: Path,
    org_id: OrgId,
    display_name: str,
    passphrase: bytes,
    now: datetime | None = None,
    *,
    crypto: str = "intl",
) -> OrgPublic:
    """Generate the identity of ``org_id`` in ``root/orgs/<org id>`` and return its public part.

    ``crypto`` is the consortium's suite, ``intl`` or ``sm``: the type of the witness, gateway and log keys.

    The passphrase must be at least 8 bytes. Refuses (:class:`IdentityError`) if the org directory exists,
    leaving it untouched. Files are written into a hidden directory next to it (``.<org id>.*.tmp``, never a
    valid org id), which is then renamed into place: a failure leaves no partial identity."""
    paths = OrgPaths.of(root, org_id)
    check_display_name(display_name)
    _check_passphrase(passphrase, f"new identity of org {org_id!r}")
    if crypto not in _PUBLIC_KEY_SIZE:
        raise MalformedError(f"unknown suite {crypto[:40]!r}: a consortium's suite is 'intl' or 'sm'")
    when = _utc(now).replace(microsecond=0)
    if os.path.lexists(paths.org_dir):
        raise _exists(paths)
    public, files = _generate(paths, display_name, passphrase, when, crypto)
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
    sm2_ca = _read(paths, paths.sm2_ca_cert).decode("ascii", errors="replace") if paths.sm2_ca_cert.is_file() else None
    try:
        return OrgPublic(
            org_id=paths.org_id,
            ca_cert_pem=canonical_pem(ca_pem, str(paths.ca_cert)),
            admin_cert_pem=canonical_pem(admin_pem, str(paths.admin_cert)),
            cert_fingerprint=certificate_fingerprint(admin_pem),
            account=address,
            witness_public_key=_hex_key(witness, str(paths.witness_pub)),
            gateway_public_key=_hex_key(gateway, str(paths.gateway_pub)),
            notary_public_key=_hex_key(notary, str(paths.notary_pub)),
            sm2_ca_cert_pem=None if sm2_ca is None else _canonical_sm2_pem(sm2_ca, str(paths.sm2_ca_cert)),
        )
    except MalformedError as exc:
        raise MalformedError(f"identity of org {org_id!r} in {paths.org_dir}: {exc}") from None


def load_account_key(root: Path, org_id: OrgId, passphrase: bytes) -> bytes:
    """The org's Ethereum account private key: 32 bytes (secp256k1 scalar, big-endian)."""
    paths = OrgPaths.of(root, org_id)
    return _account_scalar(_load_private(paths, paths.account_key, passphrase), paths.account_key)


def load_account_key_file(path: Path, passphrase: bytes) -> bytes:
    """An account private key from the encrypted PKCS#8 PEM file ``path`` (a rotation's staged one, ``identity
    rotate-account``): as :func:`load_account_key`, :class:`IdentityError` or :class:`PassphraseError` if not."""
    return _account_scalar(load_private_key(path, passphrase), path)


def _account_scalar(key: PrivateKeyTypes, path: Path) -> bytes:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256K1):
        raise IdentityError(f"{path} does not hold a secp256k1 key")
    return secp256k1_scalar(key)


def load_private_key(path: Path, passphrase: bytes) -> PrivateKeyTypes:
    """The private key of the encrypted PKCS#8 PEM file ``path`` (a CA's key, ``identity rotate-ca``'s staged one):
    :class:`IdentityError` if it cannot be read, :class:`PassphraseError` if the passphrase does not open it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _decrypt_private(Path(path), data, passphrase)


def load_witness_key(root: Path, org_id: OrgId, passphrase: bytes, crypto: str | None = None) -> PrivateKey:
    """The org's witness key: Ed25519 (``intl``) or SM2 (``sm``). With ``crypto``, a key of the other suite
    raises :class:`IdentityError`."""
    paths = OrgPaths.of(root, org_id)
    return _load_log_key(paths, paths.witness_key, passphrase, crypto)


def load_gateway_key(root: Path, org_id: OrgId, passphrase: bytes, crypto: str | None = None) -> PrivateKey:
    """The org's gateway signing key (batches and signed reads): Ed25519 (``intl``) or SM2 (``sm``). With
    ``crypto``, a key of the other suite raises :class:`IdentityError`."""
    paths = OrgPaths.of(root, org_id)
    return _load_log_key(paths, paths.gateway_key, passphrase, crypto)


def load_previous_gateway_key(
    root: Path, org_id: OrgId, passphrase: bytes, crypto: str | None = None
) -> PrivateKey | None:
    """The org's gateway key before its last rotation, kept beside the new one until it is retired on chain
    (``keys/gateway.previous.pem``, ``network.gatewaykeys``); None when there is none."""
    paths = OrgPaths.of(root, org_id)
    if not paths.gateway_key_previous.is_file():
        return None
    return _load_log_key(paths, paths.gateway_key_previous, passphrase, crypto)


def load_ed25519_gateway_key(root: Path, org_id: OrgId, passphrase: bytes) -> ed25519.Ed25519PrivateKey:
    """The org's gateway key where only Ed25519 will do (the signatures of a privacy job's record); an SM2 key
    (a consortium on the ``sm`` suite) raises :class:`IdentityError`."""
    key = load_gateway_key(root, org_id, passphrase)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise IdentityError(
            f"{org_id}'s gateway key is SM2 (the consortium runs the sm suite), not Ed25519: load it with "
            "load_gateway_key and the consortium's suite"
        )
    return key


def load_notary_key(root: Path, org_id: OrgId, passphrase: bytes, crypto: str | None = None) -> PrivateKey:
    """The org's log key, which signs checkpoints and receipts when the org runs the notary: Ed25519 (``intl``)
    or SM2 (``sm``). With ``crypto``, a key of the other suite raises :class:`IdentityError`."""
    paths = OrgPaths.of(root, org_id)
    return _load_log_key(paths, paths.notary_key, passphrase, crypto)


def key_suite(key: PrivateKey) -> str:
    """The suite a witness, gateway or log key belongs to: ``sm`` for SM2, ``intl`` for Ed25519."""
    return "intl" if isinstance(key, ed25519.Ed25519PrivateKey) else "sm"


def check_log_key_suite(key: PrivateKey, crypto: str, path: Path | str, expected_public: bytes | None = None) -> None:
    """Refuse (:class:`IdentityError`) a key of ``path`` that is not of the consortium's suite ``crypto``, or,
    given ``expected_public``, whose public key is not that one (the one ``consortium.json`` lists)."""
    found = key_suite(key)
    if found != crypto:
        kind = {"intl": "an Ed25519", "sm": "an SM2"}
        raise IdentityError(
            f"{path} holds {kind[found]} key of the {found!r} suite, but this consortium runs the {crypto!r} suite "
            f'(consortium.json "crypto"): its witness, gateway and log keys must be {kind[crypto][3:]} keys; '
            "a consortium keeps the suite it was created with (consortium init --crypto)"
        )
    from notary.logsuite import public_bytes

    if expected_public is not None and public_bytes(key) != expected_public:
        raise IdentityError(f"{path} is not the key whose public key consortium.json lists for it")


def load_identity_key(root: Path, org_id: OrgId, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 private key of the org's admin identity certificate."""
    paths = OrgPaths.of(root, org_id)
    key = _load_private(paths, paths.identity_key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"{paths.identity_key} does not hold an ECDSA P-256 key")
    return key


def load_user_key(root: Path, org_id: OrgId, name: str, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-256 private key of identity ``name`` of ``org_id`` (``users/<name>@<org>/msp/keystore``)."""
    paths = OrgPaths.of(root, org_id)
    user = user_paths(root, org_id, name)
    if not user.user_dir.is_dir() and paths.org_dir.is_dir():
        raise IdentityError(f"no identity {name}@{org_id}: {user.user_dir} does not exist")
    key = _load_private(paths, user.key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"{user.key} does not hold an ECDSA P-256 key")
    return key


def load_person_key(
    root: Path, org_id: OrgId, name: str, passphrase: bytes
) -> ec.EllipticCurvePrivateKey | SM2PrivateKey:
    """The private key of person ``name`` of ``org_id``: an SM2 key when the person's certificate is SM2 (an ``sm``
    member's people since the SM2 identity CAs), else the ECDSA P-256 key of :func:`load_user_key`; the key matches
    the certificate (else :class:`IdentityError`)."""

    paths = OrgPaths.of(root, org_id)
    user = user_paths(root, org_id, name)
    if not user.user_dir.is_dir() and paths.org_dir.is_dir():
        raise IdentityError(f"no identity {name}@{org_id}: {user.user_dir} does not exist")
    cert = _sm2_certificate(_read(paths, user.cert))
    if cert is None:
        return load_user_key(root, org_id, name, passphrase)
    return _sm2_key_of(paths, user.key, passphrase, cert, f"the certificate {user.cert}")


def sm2_certificate(pem: str | bytes) -> SM2Certificate | None:
    """The SM2 certificate (:class:`suite.x509.Certificate`) that ``pem`` holds, or None when it holds something
    else (an ECDSA P-256 certificate, for one): how a person's certificate says which suite it is of."""
    return _sm2_certificate(pem)


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


def certificate_role(cert: x509.Certificate) -> str | None:
    """The person's role that ``cert`` carries (its one subject ``title``, one of :data:`PERSON_ROLES`), or None
    when its subject has no title. Several titles, or one that is not a role, raise :class:`MalformedError`.

    This reads the certificate only: whoever relies on the role checks the certificate itself (its CA, its
    validity, the CRL) and, for ``regulator``, that the org has the regulator role."""
    found = titles(cert)
    if not found:
        return None
    subject = cert.subject.rfc4514_string()
    if len(found) != 1:
        raise MalformedError(f"certificate {subject} carries {len(found)} roles (title attributes); expected one")
    if found[0] not in PERSON_ROLES:
        raise MalformedError(
            f"certificate {subject} carries an unknown role {found[0]!r}; roles are {', '.join(PERSON_ROLES)}"
        )
    return found[0]


def check_person_role(role: str, org_id: str, org_roles: Role | None) -> str:
    """Return ``role`` if the CA of ``org_id`` may put it in a person's certificate: one of
    :data:`PERSON_ROLES` (else :class:`MalformedError`), and ``regulator`` only if ``org_roles`` (the org's
    roles in the consortium) include :attr:`Role.REGULATOR` (else :class:`IdentityError`)."""
    if not isinstance(role, str) or role not in PERSON_ROLES:
        raise MalformedError(f"invalid role {role!r}: use one of {', '.join(PERSON_ROLES)}")
    if role == "regulator":
        if org_roles is None:
            raise IdentityError(
                f"role 'regulator' for org {org_id!r}: the org's consortium roles were not given, so it cannot be"
                " checked that the org is a regulator"
            )
        if Role.REGULATOR not in org_roles:
            held = ", ".join(n.lower() for n in org_roles.names()) or "none"
            raise IdentityError(
                f"role 'regulator' is only for a person of an org with the regulator role; org {org_id!r} has"
                f" roles: {held}"
            )
    return role


# ---------------------------------------------------------------------------------------------- issuing


def check_user_name(name: str) -> str:
    """Return ``name`` if it may name an identity (``<name>@<org>``), else raise :class:`MalformedError`."""
    if not isinstance(name, str) or _USER_NAME.fullmatch(name) is None:
        raise MalformedError(
            f"invalid identity name {name!r}: use 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def user_paths(root: Path, org_id: OrgId, name: str) -> UserPaths:
    """Where identity ``name`` of ``org_id`` lives: ``root/orgs/<org>/users/<name>@<org>/msp/...``."""
    return UserPaths.of(OrgPaths.of(root, org_id), check_user_name(name))


def issue_identity(
    root: Path,
    org_id: OrgId,
    name: str,
    passphrase: bytes,
    *,
    now: datetime | None = None,
    days: int = IDENTITY_VALIDITY_DAYS,
    not_before: datetime | None = None,
    role: str | None = None,
    org_roles: Role | None = None,
) -> Path:
    """Issue the identity certificate ``CN=<name>@<org id>`` with the org's CA and return its MSP folder
    (``users/<name>@<org>/msp``: ``signcerts/cert.pem``, ``keystore/key.pem``, ``cacerts/ca-cert.pem``; see
    :func:`user_paths`).

    Valid from ``not_before`` (default ``now``) for ``days`` days, never beyond the CA. The new key is
    encrypted with ``passphrase``, which must also decrypt the CA key. Refuses (:class:`IdentityError`) an
    existing identity of that name, a missing org, an expired CA; a wrong passphrase raises
    :class:`PassphraseError`. A failure leaves nothing behind.

    With ``role`` (one of :data:`PERSON_ROLES`) the certificate is a person's: its subject carries
    ``title=<role>`` (see the module docstring). A person of an org with an SM2 identity CA (``ca/sm2-ca.pem``, an
    ``sm`` consortium's) that ``root/consortium.json`` lists as the member's ``sm2_ca_cert_pem`` (where the explorer
    learns it) gets an SM2 certificate of that CA and an SM2 key (encrypted as the suite's other SM2 key files; the
    folder's ``cacerts/ca-cert.pem`` is then the SM2 CA); any other identity an ECDSA P-256 one.
    ``org_roles`` are the org's roles in the consortium (from its config or ``consortium.json``); ``regulator`` is
    refused (:class:`IdentityError`) unless they include the regulator role. Both are checked
    before anything is read or written."""
    paths = OrgPaths.of(root, org_id)
    user = user_paths(root, org_id, name)
    if role is not None:
        check_person_role(role, org_id, org_roles)
    _check_passphrase(passphrase, f"new identity {name}@{org_id}")
    _check_days(days)
    when = _utc(now).replace(microsecond=0)
    start = when if not_before is None else _utc(not_before).replace(microsecond=0)
    if os.path.lexists(user.user_dir):
        raise _user_exists(user)
    if role is not None and _sm2_ca_published(root, paths):
        files = _sm2_person_files(root, paths, user, passphrase, role, when, start, days)
    else:
        ca_cert, ca_key = _load_ca(paths, passphrase, when)
        end = min(start + timedelta(days=days), ca_cert.not_valid_after_utc)
        if end <= start:
            raise IdentityError(f"the CA of org {org_id!r} expires at {ca_cert.not_valid_after_utc.isoformat()}")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build_client_cert(ca_key, ca_cert, key, display_name_of(ca_cert), org_id, name, start, end, role=role)
        ca_pem = cert_pem(ca_cert).encode("ascii")
        files = [
            (user.cert, cert_pem(cert).encode("ascii"), False),
            (user.key, encrypt(key, passphrase), True),
            (user.ca_cert, ca_pem, False),
        ]
    users = paths.users_dir
    try:
        users.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{user.user_dir.name}.", suffix=".tmp", dir=users))
    except OSError as exc:
        raise IdentityError(f"cannot create a directory in {users}: {exc.strerror or exc}") from None
    try:
        for path, data, private in files:
            write_file(tmp / path.relative_to(user.user_dir), data, PRIVATE_FILE_MODE if private else PUBLIC_FILE_MODE)
        os.chmod(tmp / user.key.parent.relative_to(user.user_dir), PRIVATE_DIR_MODE)
        os.chmod(tmp, PUBLIC_DIR_MODE)
        if os.path.lexists(user.user_dir):
            raise _user_exists(user)
        os.rename(tmp, user.user_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.lexists(user.user_dir):
            raise _user_exists(user) from None
        raise IdentityError(f"cannot write identity {name}@{org_id}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(users)
    return user.msp_dir


def issue_server_certificate(
    root: Path,
    org_id: OrgId,
    passphrase: bytes,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    now: datetime | None = None,
    days: int = SERVER_VALIDITY_DAYS,
) -> tuple[Path, Path]:
    """Issue the gateway's TLS server certificate (``CN=gateway.<org id>``, serverAuth, SAN ``hostnames`` and
    ``ips``) with the org's CA; return ``(cert path, key path)`` under ``gateway/tls/``.

    The key is a fresh ECDSA P-256 key encrypted with ``passphrase``. Re-issuing replaces both files, each
    atomically: the key first, then the certificate."""
    return _issue_tls(root, org_id, passphrase, "gateway", hostnames, ips, now, days)


def issue_node_certificate(
    root: Path,
    org_id: OrgId,
    passphrase: bytes,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    now: datetime | None = None,
    days: int = SERVER_VALIDITY_DAYS,
) -> tuple[Path, Path]:
    """Issue the TLS certificate of the org's chain node (``CN=node.<org id>``, serverAuth and clientAuth, SAN
    ``hostnames`` and ``ips``) with the org's CA, for the mutual TLS links between nodes; return ``(cert path,
    key path)`` under ``node/tls/``. Otherwise as :func:`issue_server_certificate`."""
    return _issue_tls(root, org_id, passphrase, "node", hostnames, ips, now, days)


def issue_service_certificate(
    root: Path,
    org_id: OrgId,
    service: str,
    passphrase: bytes,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    now: datetime | None = None,
    days: int = SERVER_VALIDITY_DAYS,
) -> tuple[Path, Path]:
    """Issue the TLS server certificate of ``org_id``'s ``service`` (``CN=<service>.<org id>``, serverAuth, SAN
    ``hostnames`` and ``ips``) with the org's CA; return ``(cert path, key path)`` under ``<service>/tls/``: the
    notary's (``notary``), the explorer's, any HTTP service the member runs. ``gateway`` and ``node`` are those of
    :func:`issue_server_certificate` and :func:`issue_node_certificate`. A bad service name, host name or IP
    address raises :class:`MalformedError`, a missing CA or a wrong passphrase :class:`IdentityError`, each before
    anything is written; otherwise as :func:`issue_server_certificate`."""
    if not isinstance(service, str) or _SERVICE.fullmatch(service) is None or service in _NOT_SERVICES:
        reserved = ", ".join(sorted(_NOT_SERVICES))
        raise MalformedError(
            f"invalid service name {service!r}: use 1-32 lower-case letters, digits and '-', starting with a "
            f"letter, other than {reserved}"
        )
    return _issue_tls(root, org_id, passphrase, service, hostnames, ips, now, days)


def _issue_tls(
    root: Path,
    org_id: OrgId,
    passphrase: bytes,
    service: str,
    hostnames: Sequence[str],
    ips: Sequence[str],
    now: datetime | None,
    days: int,
) -> tuple[Path, Path]:
    paths = OrgPaths.of(root, org_id)
    cert_path, key_path = paths.service_tls(service)
    _check_passphrase(passphrase, f"{service} TLS key of org {org_id!r}")
    _check_days(days)
    if isinstance(hostnames, str) or isinstance(ips, str):
        raise MalformedError("hostnames and ips must be sequences of strings, not one string")
    for host in hostnames:
        if not isinstance(host, str) or len(host) > 253 or _HOSTNAME.fullmatch(host) is None:
            raise MalformedError(f"invalid host name {host!r}")
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for ip in ips:
        try:
            addresses.append(ipaddress.ip_address(ip))
        except ValueError:
            raise MalformedError(f"invalid IP address {ip!r}") from None
    if not hostnames and not addresses:
        raise MalformedError("a server certificate needs at least one host name or IP address")
    when = _utc(now).replace(microsecond=0)
    ca_cert, ca_key = _load_ca(paths, passphrase, when)
    end = min(when + timedelta(days=days), ca_cert.not_valid_after_utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_server_cert(
        ca_key, ca_cert, key, display_name_of(ca_cert), org_id, list(hostnames), addresses, when, end, service
    )
    tls_dir = cert_path.parent
    try:
        tls_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(tls_dir, PRIVATE_DIR_MODE)
        replace_file(key_path, encrypt(key, passphrase), PRIVATE_FILE_MODE)
        replace_file(cert_path, (cert_pem(cert) + _cross_chain(paths, ca_cert)).encode("ascii"), PUBLIC_FILE_MODE)
    except OSError as exc:
        raise IdentityError(f"cannot write the {service} certificate in {tls_dir}: {exc.strerror or exc}") from None
    return cert_path, key_path


def _cross_chain(paths: OrgPaths, ca_cert: x509.Certificate) -> str:
    """The cross certificates a TLS certificate of the org's CA is served with after a rotation (``ca/ca-cross.pem``,
    ``network.carotation``): the path back to the CA callers hold from ``consortium.json``. Empty before any rotation,
    and when the file is not the current CA's."""
    try:
        data = paths.ca_cross.read_bytes()
        chain = x509.load_pem_x509_certificates(data)
    except (OSError, ValueError):
        return ""
    if not chain or chain[0].public_key() != ca_cert.public_key():
        return ""
    return "".join(cert_pem(c) for c in chain)


def revoke_identity(
    root: Path, org_id: OrgId, cert_pem: bytes | str, passphrase: bytes, *, now: datetime | None = None
) -> Path:
    """Add the serial of ``cert_pem`` to the CRL of ``org_id`` (``msp/crls/crl.pem``) and return its path.

    The certificate must be an end-entity certificate issued and signed by that org's CA (or, after a rotation,
    the CA before it, ``ca/ca-cert.previous.pem``), else :class:`CertificateError`. The new CRL keeps every earlier
    entry, has the next CRL number, lastUpdate ``now`` and nextUpdate ``CRL_VALIDITY_DAYS`` later, and is signed
    by the CA (``passphrase`` decrypts its key). An existing CRL that fails verification is refused, not
    overwritten. A serial already listed leaves the CRL as it is.

    An SM2 certificate (a person of an ``sm`` member with an SM2 identity CA) goes to the SM2 CRL instead,
    ``ca/sm2-crl.pem``, signed by the SM2 CA, with the same rules; that CRL's path is returned."""
    paths = OrgPaths.of(root, org_id)
    sm2 = _sm2_certificate(cert_pem)
    if sm2 is not None:
        return _revoke_sm2(root, paths, sm2, passphrase, _utc(now).replace(microsecond=0))
    cert = parse_cert(cert_pem, "certificate to revoke")
    ca_cert = parse_cert(_read(paths, paths.ca_cert), str(paths.ca_cert))
    if paths.ca_previous.is_file() and cert.issuer == ca_cert.subject:  # after a rotation, the CA before's too
        previous = parse_cert(_read(paths, paths.ca_previous), str(paths.ca_previous))
        with contextlib.suppress(InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            cert.verify_directly_issued_by(previous)
            ca_cert = previous
    _check_issued_by(cert, ca_cert, org_id)
    when = _utc(now).replace(microsecond=0)
    ca_cert, ca_key = _load_ca(paths, passphrase, None)
    try:
        paths.crl.parent.mkdir(parents=True, exist_ok=True)
        with _locked(paths.crl.parent / ".lock"):
            current = load_crl(root, org_id)
            entries = [] if current is None else [(r.serial_number, r.revocation_date_utc) for r in current]
            if any(serial == cert.serial_number for serial, _ in entries):
                return paths.crl
            entries.append((cert.serial_number, when))
            number = 1 if current is None else crl_number(current) + 1
            crl = build_crl(ca_key, ca_cert, entries, number, when, when + timedelta(days=CRL_VALIDITY_DAYS))
            replace_file(paths.crl, crl.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)
    except OSError as exc:
        raise IdentityError(f"cannot write the CRL of org {org_id!r} at {paths.crl}: {exc.strerror or exc}") from None
    return paths.crl


def read_certificate(path: Path, what: str = "certificate file") -> x509.Certificate:
    """The one certificate in the PEM file ``path``: unreadable raises :class:`IdentityError`, not one PEM
    certificate :class:`MalformedError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return parse_cert(data, f"{what} {path}")


def read_leaf_certificate(path: Path, what: str = "certificate file") -> x509.Certificate:
    """The first certificate in the PEM file ``path``, which may be followed by others: a TLS certificate of a CA
    rotated since ``consortium init`` is followed by the rotation's cross certificates (``identity rotate-ca``).
    Unreadable raises :class:`IdentityError`, no PEM certificate :class:`MalformedError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        raise MalformedError(f"{what} {path}: not a PEM-encoded X.509 certificate") from None


def load_crl(root: Path, org_id: OrgId) -> x509.CertificateRevocationList | None:
    """The CRL of ``org_id``, its signature verified against the org's CA certificate; None if the org has
    none yet. An unparsable CRL raises :class:`MalformedError`, one that does not verify
    :class:`CertificateError`: never "no CRL"."""
    paths = OrgPaths.of(root, org_id)
    try:
        data = paths.crl.read_bytes()
    except FileNotFoundError:
        if not paths.org_dir.is_dir():
            raise IdentityError(
                f"no identity for org {org_id!r}: {paths.org_dir} does not exist (create it first)"
            ) from None
        return None
    except OSError as exc:
        raise IdentityError(f"cannot read {paths.crl}: {exc.strerror or exc}") from None
    ca_cert = parse_cert(_read(paths, paths.ca_cert), str(paths.ca_cert))
    return verify_crl(data, ca_cert, str(paths.crl))


def verify_crl(data: bytes, ca_cert: x509.Certificate, what: str = "CRL") -> x509.CertificateRevocationList:
    """Parse a PEM CRL and check that ``ca_cert`` issued and signed it; return it.

    Not a PEM CRL: :class:`MalformedError`; another issuer or a bad signature: :class:`CertificateError`."""
    if not isinstance(data, bytes) or not data.lstrip().startswith(_CRL_PEM_HEADER):
        raise MalformedError(f"{what}: not a PEM-encoded X.509 CRL")
    try:
        crl = x509.load_pem_x509_crl(data)
        issuer = crl.issuer
    except ValueError:
        raise MalformedError(f"{what}: not a PEM-encoded X.509 CRL") from None
    ca_subject = ca_cert.subject.rfc4514_string()
    if issuer != ca_cert.subject:
        raise CertificateError(f"{what} was issued by {issuer.rfc4514_string()}, not by {ca_subject}")
    key = ca_cert.public_key()
    if not isinstance(
        key,
        ec.EllipticCurvePublicKey
        | rsa.RSAPublicKey
        | dsa.DSAPublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        raise CertificateError(f"{what}: the key of {ca_subject} cannot sign a CRL")
    try:
        valid = crl.is_signature_valid(key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise CertificateError(f"the signature of {what} does not verify with the key of {ca_subject}")
    return crl


def check_sm2_ca_pem(pem: str, org_id: str) -> str:
    """Return ``pem`` if it holds one self-signed SM2 CA certificate of the profile (:mod:`suite.x509`) with
    ``OU=<org id>``: a member's SM2 identity CA. Anything else raises :class:`MalformedError`."""
    from network import _sm2ca
    from suite.errors import SuiteError
    from suite.x509 import Certificate

    if not isinstance(pem, str):
        raise MalformedError("SM2 CA certificate must be PEM text")
    try:
        _sm2ca.check_ca(Certificate.from_pem(pem.encode("ascii")), org_id)
    except UnicodeEncodeError:
        raise MalformedError("SM2 CA certificate: PEM text must be ASCII") from None
    except SuiteError as exc:
        raise MalformedError(f"SM2 CA certificate: {exc}") from None
    return pem


def load_sm2_ca_key(root: Path, org_id: OrgId, passphrase: bytes) -> SM2PrivateKey:
    """The key of the org's SM2 identity CA (``ca/sm2-ca.key``), checked to be the key of ``ca/sm2-ca.pem``.

    An org without an SM2 CA (an ``intl`` consortium's, or one created before them) raises :class:`IdentityError`;
    a passphrase that does not open the file :class:`PassphraseError`."""

    paths = OrgPaths.of(root, org_id)
    ca = _sm2_ca(paths)
    return _sm2_key_of(paths, paths.sm2_ca_key, passphrase, ca, f"the SM2 CA certificate {paths.sm2_ca_cert}")


def _sm2_key_of(paths: OrgPaths, path: Path, passphrase: bytes, cert: SM2Certificate, what: str) -> SM2PrivateKey:
    """The SM2 key in the encrypted file ``path``, checked to be the key of ``cert`` (``what`` names it):
    :class:`PassphraseError` when the passphrase is missing or does not open the file, :class:`IdentityError` when
    the key is another's."""
    from suite.errors import SuiteError
    from suite.sm2 import SM2PrivateKey

    data = _read(paths, path)
    if not isinstance(passphrase, bytes) or not passphrase:
        raise PassphraseError(f"cannot decrypt {path}: no passphrase given; {_FIX_PASSPHRASE}")
    try:
        key = SM2PrivateKey.from_pem(data, passphrase)
    except SuiteError:
        raise PassphraseError(
            f"cannot decrypt {path}: wrong passphrase or damaged file; {_FIX_PASSPHRASE}"
            " to the passphrase this identity was created with"
        ) from None
    if key.public_key() != cert.public_key:
        raise IdentityError(f"{path} is not the key of {what}")
    return key


def load_sm2_crl(root: Path, org_id: OrgId) -> SM2CRL | None:
    """The SM2 CRL of ``org_id`` (``ca/sm2-crl.pem``), its signature verified against the org's SM2 identity CA;
    None if the org has none yet (nothing revoked). An unparsable CRL raises :class:`MalformedError`, one that does
    not verify, or a CRL without the SM2 CA beside it, :class:`CertificateError`: never "no CRL"."""
    from suite.errors import SuiteError
    from suite.x509 import CRL

    paths = OrgPaths.of(root, org_id)
    try:
        data = paths.sm2_crl.read_bytes()
    except FileNotFoundError:
        if not paths.org_dir.is_dir():
            raise IdentityError(
                f"no identity for org {org_id!r}: {paths.org_dir} does not exist (create it first)"
            ) from None
        return None
    except OSError as exc:
        raise IdentityError(f"cannot read {paths.sm2_crl}: {exc.strerror or exc}") from None
    try:
        crl = CRL.from_pem(data)
    except SuiteError as exc:
        raise MalformedError(f"{paths.sm2_crl}: not an SM2 CRL of the profile: {exc}") from None
    if not paths.sm2_ca_cert.is_file():
        raise CertificateError(f"{paths.sm2_crl} has no SM2 CA beside it to verify it ({paths.sm2_ca_cert})")
    return _checked_sm2_crl(crl, _sm2_ca(paths), str(paths.sm2_crl))


def create_sm2_ca(root: Path, org_id: OrgId, passphrase: bytes, now: datetime | None = None) -> str:
    """Give ``org_id``, a member of an ``sm`` consortium created before the SM2 identity CAs, its SM2 identity CA
    (``ca/sm2-ca.pem`` and ``ca/sm2-ca.key``, the key encrypted with ``passphrase`` at the operator's KDF count), of
    the profile :func:`create_org_identity` gives under ``sm``, named after its P-256 CA's display name and valid
    from ``now`` for ``CA_VALIDITY_YEARS``; return its PEM. Who lists it where (``consortium.json``, the chain) is
    the caller's.

    Refuses, writing nothing: an org with no identity (:class:`IdentityError`), one that has either file already
    (:class:`IdentityError`), a passphrase that does not open the org's CA key (:class:`PassphraseError`). A failure
    while writing removes what it wrote."""
    from network import _sm2ca
    from suite.sm2 import SM2PrivateKey
    from suite.x509 import Certificate

    paths = OrgPaths.of(root, org_id)
    when = _utc(now).replace(microsecond=0)
    existing = [p for p in (paths.sm2_ca_cert, paths.sm2_ca_key) if os.path.lexists(p)]
    if existing:
        raise IdentityError(
            f"org {org_id!r} already has an SM2 identity CA ({', '.join(str(p) for p in existing)}): nothing was"
            " changed"
        )
    ca_cert, _ = _load_ca(paths, passphrase, None)  # the passphrase is the identity's: it opens the P-256 CA's key
    key = SM2PrivateKey.generate()
    der = _sm2ca.build_ca(key, display_name_of(ca_cert), org_id, when, add_years(when, CA_VALIDITY_YEARS))
    pem = Certificate.from_der(der).to_pem()
    written: list[Path] = []
    try:
        for path, data, mode in ((paths.sm2_ca_key, key.to_pem(passphrase), PRIVATE_FILE_MODE),
                                 (paths.sm2_ca_cert, pem, PUBLIC_FILE_MODE)):  # fmt: skip
            write_file(path, data, mode)
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise IdentityError(
                f"org {org_id!r} already has an SM2 identity CA ({exc.filename}): nothing was changed"
            ) from None
        raise IdentityError(f"cannot write the SM2 identity CA of org {org_id!r}: {exc.strerror or exc}") from None
    return pem.decode("ascii")


# ---------------------------------------------------------------------------------------------- helpers


def _sm2_ca(paths: OrgPaths) -> SM2Certificate:
    """The org's SM2 identity CA certificate, checked (:func:`check_sm2_ca_pem`); IdentityError without one."""
    from suite.x509 import Certificate

    if not paths.sm2_ca_cert.is_file() and paths.org_dir.is_dir():
        raise IdentityError(
            f"org {paths.org_id!r} has no SM2 identity CA ({paths.sm2_ca_cert}): its people hold ECDSA P-256"
            " certificates (a member of an 'sm' consortium created before the SM2 identity CAs, or of an 'intl' one)"
        )
    text = _read(paths, paths.sm2_ca_cert).decode("ascii", errors="replace")
    try:
        check_sm2_ca_pem(text, paths.org_id)
    except MalformedError as exc:
        raise MalformedError(f"{paths.sm2_ca_cert}: {exc}") from None
    return Certificate.from_pem(text.encode("ascii"))


def _checked_sm2_crl(crl: SM2CRL, ca: SM2Certificate, what: str) -> SM2CRL:
    from network import _sm2ca
    from suite.errors import SuiteError

    try:
        return _sm2ca.check_crl(crl, ca)
    except SuiteError as exc:
        raise CertificateError(f"{what} does not verify with the SM2 CA {ca.subject!r}: {exc}") from None


def _sm2_certificate(pem: str | bytes) -> SM2Certificate | None:
    from suite.errors import SuiteError
    from suite.x509 import Certificate

    try:
        return Certificate.from_pem(pem.encode("ascii") if isinstance(pem, str) else pem)
    except (SuiteError, UnicodeEncodeError, TypeError, AttributeError):
        return None


def _sm2_ca_published(root: Path, paths: OrgPaths) -> bool:
    """Whether the org has an SM2 identity CA that the verifiers can learn, so that an SM2 person could log in: a
    founder's that ``root/consortium.json`` lists as its ``sm2_ca_cert_pem``; a joined firm's (``root`` holds its
    admission request) that the request carries, or any when the request carries none (a firm that joined before
    the SM2 CAs and made one with ``identity sm2-ca``): the firm puts it on chain with ``member keys publish``. Not
    a member from before the SM2 CAs that made none."""
    from network.admission import joined_sm2_ca
    from network.errors import NetworkError

    if not paths.sm2_ca_cert.is_file():
        return False
    try:
        joined, requested = joined_sm2_ca(Path(root), paths.org_id)
        if joined:
            return requested is None or is_own_sm2_ca(root, paths.org_id, requested)
        data = json.loads((Path(root) / "consortium.json").read_text(encoding="utf-8"))
        listed = [m.get("sm2_ca_cert_pem") for m in data["members"] if m.get("org") == paths.org_id]
        return len(listed) == 1 and isinstance(listed[0], str) and is_own_sm2_ca(root, paths.org_id, listed[0])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, NetworkError):  # MalformedError: ValueError
        return False


def sm2_ca_lineage(root: Path, org_id: OrgId) -> list[SM2Certificate]:
    """The org's SM2 identity CA (``ca/sm2-ca.pem``) and those it replaced by rotations (``ca/sm2-ca.previous.pem``,
    ``identity rotate-ca --sm2``), newest first, each checked to be a self-signed SM2 CA of the org. No SM2 CA
    raises :class:`IdentityError`, a file that holds anything else :class:`MalformedError`."""
    from suite.errors import SuiteError
    from suite.x509 import certificates_from_pem

    paths = OrgPaths.of(root, org_id)
    lineage = [_sm2_ca(paths)]
    if paths.sm2_ca_previous.is_file():
        try:
            previous = certificates_from_pem(_read(paths, paths.sm2_ca_previous))
            for cert in previous:
                check_sm2_ca_pem(cert.to_pem().decode("ascii"), org_id)
        except (SuiteError, MalformedError) as exc:
            raise MalformedError(f"{paths.sm2_ca_previous}: {exc}") from None
        lineage += previous
    return lineage


def is_own_sm2_ca(root: Path, org_id: OrgId, pem: str) -> bool:
    """Whether ``pem`` (what ``consortium.json`` or the admission request lists) is the org's SM2 identity CA or one
    it rotated from (:func:`sm2_ca_lineage`): the SM2 CA the other members know it by, which the chain's records
    of the rotation (``identity rotate-ca --sm2``) lead to the current one. :class:`MalformedError` when ``pem`` is
    not one SM2 certificate."""
    from suite.x509 import Certificate

    der = Certificate.from_pem(_canonical_sm2_pem(pem, "SM2 CA").encode("ascii")).der
    return any(c.der == der for c in sm2_ca_lineage(root, org_id))


def _sm2_person_files(
    root: Path,
    paths: OrgPaths,
    user: UserPaths,
    passphrase: bytes,
    role: str | None,
    when: datetime,
    start: datetime,
    days: int,
) -> list[tuple[Path, bytes, bool]]:
    """The files of an SM2 person (or, without ``role``, a caller's SM2 identity: ``network.sm2callers``) issued by
    the org's SM2 identity CA: certificate, encrypted key, CA."""
    from network import _sm2ca
    from suite.sm2 import SM2PrivateKey
    from suite.x509 import Certificate

    ca = _sm2_ca(paths)
    ca_key = load_sm2_ca_key(root, paths.org_id, passphrase)
    what = f"the SM2 CA of org {paths.org_id!r}"
    if when < ca.not_before:
        raise CertificateError(f"{what} is not valid before {ca.not_before.isoformat()}")
    if when > ca.not_after:
        raise CertificateError(f"{what} expired at {ca.not_after.isoformat()}")
    end = min(start + timedelta(days=days), ca.not_after)
    if end <= start:
        raise IdentityError(f"{what} expires at {ca.not_after.isoformat()}")
    key = SM2PrivateKey.generate()
    der = _sm2ca.issue_person(ca, ca_key, key.public_key(), user.name, paths.org_id, role, start, end)
    return [
        (user.cert, Certificate.from_der(der).to_pem(), False),
        (user.key, key.to_pem(passphrase), True),
        (user.ca_cert, ca.to_pem(), False),
    ]


def _revoke_sm2(root: Path, paths: OrgPaths, cert: SM2Certificate, passphrase: bytes, when: datetime) -> Path:
    """:func:`revoke_identity` of an SM2 certificate: its serial into the SM2 CRL."""
    from network import _sm2ca
    from suite.errors import SuiteError
    from suite.sm2 import DEFAULT_ID

    org_id = paths.org_id
    lineage = sm2_ca_lineage(root, org_id)  # after a rotation, a certificate of the CA before goes on the list too
    ca = lineage[0]
    if all(cert.issuer_der != c.subject_der for c in lineage):
        raise CertificateError(
            f"certificate {cert.subject} was not issued by the SM2 CA of org {org_id!r} (its issuer is {cert.issuer})"
        )
    for issuer in lineage:
        try:
            issuer.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
            break
        except SuiteError:
            continue
    else:
        raise CertificateError(
            f"certificate {cert.subject} was not issued by the SM2 CA of org {org_id!r} (its signature does not verify)"
        )
    if cert.is_ca:
        raise CertificateError(
            f"certificate {cert.subject} is a CA certificate, not an identity: refusing to revoke it"
        )
    ca_key = load_sm2_ca_key(root, org_id, passphrase)
    try:
        with _locked(paths.sm2_crl.with_name(".sm2-crl.lock")):
            current = load_sm2_crl(root, org_id)
            entries = [] if current is None else list(current.revoked.items())
            if cert.serial in dict(entries):
                return paths.sm2_crl
            entries.append((cert.serial, when))
            number = 1 if current is None else current.crl_number + 1
            pem = _sm2ca.build_crl(ca, ca_key, entries, when, when + timedelta(days=CRL_VALIDITY_DAYS), number)
            replace_file(paths.sm2_crl, pem, PUBLIC_FILE_MODE)
    except OSError as exc:
        raise IdentityError(
            f"cannot write the SM2 CRL of org {org_id!r} at {paths.sm2_crl}: {exc.strerror or exc}"
        ) from None
    return paths.sm2_crl


def _canonical_sm2_pem(pem: str, what: str) -> str:
    """One SM2 certificate's PEM re-encoded canonically; MalformedError if it is not one."""
    from suite.errors import SuiteError
    from suite.x509 import Certificate

    try:
        return Certificate.from_pem(pem.encode("ascii")).to_pem().decode("ascii")
    except (SuiteError, UnicodeEncodeError) as exc:
        raise MalformedError(f"{what}: not one SM2 certificate: {exc}") from None


def _generate(
    paths: OrgPaths, display_name: str, passphrase: bytes, now: datetime, crypto: str = "intl"
) -> tuple[OrgPublic, list[tuple[Path, bytes, bool]]]:
    """Fresh keys and certificates: the public part and the files to write, as (path, data, private)."""
    org_id = paths.org_id
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build_ca_cert(ca_key, display_name, org_id, now)
    identity_key = ec.generate_private_key(ec.SECP256R1())
    admin_cert = build_admin_cert(ca_key, ca_cert, identity_key, display_name, org_id, now)
    account_key = ec.generate_private_key(ec.SECP256K1())
    address = eth_address(secp256k1_scalar(account_key))
    from notary.logsuite import public_bytes

    witness_key, gateway_key, notary_key = (_new_log_key(crypto) for _ in range(3))
    sm2_files: list[tuple[Path, bytes, bool]] = []
    sm2_ca_pem = None
    if crypto == "sm":
        from network import _sm2ca
        from suite.sm2 import SM2PrivateKey
        from suite.x509 import Certificate

        sm2_ca_key = SM2PrivateKey.generate()
        sm2_ca_der = _sm2ca.build_ca(sm2_ca_key, display_name, org_id, now, add_years(now, CA_VALIDITY_YEARS))
        sm2_ca_pem = Certificate.from_der(sm2_ca_der).to_pem().decode("ascii")
        sm2_files = [
            (paths.sm2_ca_cert, sm2_ca_pem.encode("ascii"), False),
            (paths.sm2_ca_key, sm2_ca_key.to_pem(passphrase), True),
        ]

    ca_pem, admin_pem = cert_pem(ca_cert), cert_pem(admin_cert)
    public = OrgPublic(
        org_id=org_id,
        ca_cert_pem=ca_pem,
        admin_cert_pem=admin_pem,
        cert_fingerprint=der_fingerprint(admin_cert),
        account=address,
        witness_public_key=public_bytes(witness_key),
        gateway_public_key=public_bytes(gateway_key),
        notary_public_key=public_bytes(notary_key),
        sm2_ca_cert_pem=sm2_ca_pem,
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
        (paths.witness_key, _encrypt_log_key(witness_key, passphrase), True),
        (paths.witness_pub, f"{public.witness_public_key.hex()}\n".encode("ascii"), False),
        (paths.gateway_key, _encrypt_log_key(gateway_key, passphrase), True),
        (paths.gateway_pub, f"{public.gateway_public_key.hex()}\n".encode("ascii"), False),
        (paths.notary_key, _encrypt_log_key(notary_key, passphrase), True),
        (paths.notary_pub, f"{public.notary_public_key.hex()}\n".encode("ascii"), False),
        *sm2_files,
    ]
    return public, files


def new_log_key(crypto: str) -> PrivateKey:
    """A fresh witness, gateway or log key of the suite ``crypto``: Ed25519 (``intl``) or SM2 (``sm``)."""
    return _new_log_key(crypto)


def encrypted_log_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """``key`` as its key file holds it: PKCS#8 PEM encrypted with ``passphrase``."""
    return _encrypt_log_key(key, passphrase)


def _new_log_key(crypto: str) -> PrivateKey:
    if crypto == "sm":
        from suite.sm2 import SM2PrivateKey

        return SM2PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.generate()


def _encrypt_log_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 PEM encrypted with ``passphrase``: an SM2 key with PBES2, PBKDF2-HMAC-SM3 and SM4-CBC."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return encrypt(key, passphrase)
    return key.to_pem(passphrase)


def _check_public_key(what: str, value: object) -> str:
    """The suite of a raw witness, gateway or log public key; MalformedError for a key of neither."""
    if not isinstance(value, bytes) or len(value) not in _PUBLIC_KEY_SIZE.values():
        raise MalformedError(f"{what} must be 32 bytes (Ed25519) or 65 bytes (an SM2 point 04 ‖ x ‖ y)")
    if len(value) == _PUBLIC_KEY_SIZE["intl"]:
        return "intl"
    from suite.errors import SM2Error
    from suite.sm2 import SM2PublicKey

    try:
        SM2PublicKey.from_bytes(value)
    except SM2Error as exc:
        raise MalformedError(f"{what} is not an SM2 public key: {exc}") from None
    return "sm"


def _hex_key(text: str, what: str) -> bytes:
    if _HEX_KEY.fullmatch(text) is None:
        raise MalformedError(
            f"{what} must be 64 hex digits (an Ed25519 key) or 130 starting with 04 (an SM2 point), no 0x"
        )
    return bytes.fromhex(text)


def _exists(paths: OrgPaths) -> IdentityError:
    return IdentityError(
        f"an identity for org {paths.org_id!r} already exists at {paths.org_dir}: refusing to overwrite it"
    )


def _user_exists(user: UserPaths) -> IdentityError:
    return IdentityError(
        f"identity {user.name}@{user.org_id} already exists at {user.user_dir}: refusing to overwrite it"
    )


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise MalformedError(f"days must be a whole number of days, at least 1, not {days!r}")


def _load_ca(
    paths: OrgPaths, passphrase: bytes, when: datetime | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The org's CA certificate and its key (checked to belong together); with ``when``, the CA must be valid
    then."""
    ca_cert = parse_cert(_read(paths, paths.ca_cert), str(paths.ca_cert))
    key = _load_private(paths, paths.ca_key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != ca_cert.public_key():
        raise IdentityError(f"{paths.ca_key} is not the key of the CA certificate {paths.ca_cert}")
    if when is not None:
        _check_validity(ca_cert, f"the CA of org {paths.org_id!r}", when)
    return ca_cert, key


def _check_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate, org_id: str) -> None:
    subject = cert.subject.rfc4514_string()
    if cert.issuer != ca_cert.subject:
        raise CertificateError(
            f"certificate {subject} was not issued by the CA of org {org_id!r}"
            f" (its issuer is {cert.issuer.rfc4514_string()})"
        )
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        raise CertificateError(
            f"certificate {subject} was not issued by the CA of org {org_id!r} (its signature does not verify)"
        ) from None
    if is_ca(cert):
        raise CertificateError(f"certificate {subject} is a CA certificate, not an identity: refusing to revoke it")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing) for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    return _decrypt_private(path, _read(paths, path), passphrase)


def _decrypt_private(path: Path, data: bytes, passphrase: bytes) -> PrivateKeyTypes:
    """The private key of the encrypted PKCS#8 PEM ``data``, read from ``path``."""
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


#: The log keys this process has unlocked, by file, its bytes and the passphrase (a digest of both): a key file read
#: again unchanged (a holder's first read and its rotation watcher's, ``up``'s check and a component's) costs no
#: second PBKDF2, which under ``sm`` is 200,000 rounds of HMAC-SM3 by default. A changed file, or another passphrase,
#: is read again; a key that does not open is not remembered.
_UNLOCKED: dict[tuple[str, bytes], PrivateKey] = {}
_UNLOCKED_MAX = 32


def _load_log_key(paths: OrgPaths, path: Path, passphrase: bytes, crypto: str | None) -> PrivateKey:
    """An Ed25519 or SM2 key; with ``crypto``, refused unless of that suite."""
    data = _read(paths, path)
    if not isinstance(passphrase, bytes):
        return _checked(_unlock_log_key(path, data, passphrase), crypto, path)
    memo = (str(path.absolute()), hashlib.sha256(len(passphrase).to_bytes(4, "big") + passphrase + data).digest())
    key = _UNLOCKED.get(memo)
    if key is None:
        key = _unlock_log_key(path, data, passphrase)
        if len(_UNLOCKED) >= _UNLOCKED_MAX:
            _UNLOCKED.pop(next(iter(_UNLOCKED)), None)
        _UNLOCKED[memo] = key
    return _checked(key, crypto, path)


def _checked(key: PrivateKey, crypto: str | None, path: Path) -> PrivateKey:
    if crypto is not None:
        check_log_key_suite(key, crypto, path)
    return key


def _unlock_log_key(path: Path, data: bytes, passphrase: bytes) -> PrivateKey:
    key: PrivateKey
    try:
        loaded = _decrypt_private(path, data, passphrase)  # the bytes the memo is keyed by, not read again
    except (PassphraseError, IdentityError) as first:
        # cryptography reads no SM2 key, nor the SM4 and HMAC-SM3 of an sm key file's encryption
        from suite.errors import SM2Error
        from suite.sm2 import SM2PrivateKey

        try:
            key = SM2PrivateKey.from_pem(data, passphrase)
        except SM2Error:
            raise first from None
    else:
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise IdentityError(f"{path} holds neither an Ed25519 nor an SM2 key")
        key = loaded
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

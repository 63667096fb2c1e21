"""Rotating a member's CA (``consortium identity rotate-ca``) with no call refused: a new CA key and certificate for
the org, published in the TrustDirectory as a CA_CERT valid from a block, the old CA retired some blocks later, and
the org's certificates re-issued by the new CA (``docs/trust.md``, "Rotating a CA").

Two steps, which one run takes when the new CA is valid at once (the default, ``from_block`` None):

1. :func:`stage_ca_rotation`: the new CA (a fresh key on the old CA's curve, ``O=<display name>, OU=<org>,
   CN=ca.<org>`` as :func:`network._pem.build_ca_cert` makes every CA) and the *cross certificate*, the new CA's
   subject and key certified by the old CA (RFC 4210 §4.4, "newWithOld"), are staged in ``ca/`` (``ca-key.next.pem``
   encrypted, 0600; ``ca-cert.next.pem``; ``ca-cross.next.pem``); the new CA is added on chain valid from
   ``from_block`` and the old CA's record retired ``overlap_blocks`` blocks after that.
2. :func:`install_ca_rotation`, once the new CA is valid at the chain's head: every certificate in the org's folder
   that the old CA issued is issued again by the new one (:func:`reissued`: the same subject, key and extensions,
   a new serial, valid from now until its own end): the people's identities (``users/*/msp/signcerts/cert.pem``,
   the admin's copy in ``msp/admincerts``) and the services' TLS certificates (``<service>/tls/cert.pem``: the
   gateway's, the notary's, the node's...). A TLS certificate's file holds the cross certificates after it, back
   to the CA ``consortium.json`` lists (``ca/ca-cross.pem``), so a caller that trusts only that CA (the
   ``ca-bundle.pem`` of every SDK client) still verifies it: OpenSSL builds the path through them (each is
   self-issued, so the old CA's ``pathlen:0`` allows it). The org's CRL is signed again by the new CA with the same
   entries. Then the CA files are replaced: the old certificate kept as ``ca/ca-cert.previous.pem`` (to revoke a
   certificate it issued), the new key and certificate in ``ca/ca-key.pem`` and ``ca/ca-cert.pem``.

Each file is replaced atomically and keeps its mode (0600 for keys). The re-issued certificates keep their private
keys, so no key file changes and a reader never finds a certificate beside a key that is not its own. The old CA's
key is not kept: once the cross certificate is signed nothing needs it (the re-issued certificates and the CRL are
the new CA's), and kept it would sign certificates the chain accepts until the retirement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts.trust import KeyKind
from chain.ids import MemberStatus, OrgId
from network._pem import (
    PRIVATE_FILE_MODE,
    PUBLIC_FILE_MODE,
    OrgPaths,
    build_ca_cert,
    build_crl,
    cert_pem,
    crl_number,
    display_name_of,
    encrypt,
    is_ca,
    key_usage,
    org_units,
    parse_cert,
)
from network.identity import CRL_VALIDITY_DAYS, CertificateError, IdentityError, load_private_key, verify_crl
from network.keyrotation import DEFAULT_OVERLAP_BLOCKS, KeyRotationError
from notary.durable import replace_file

if TYPE_CHECKING:
    from chain.contracts.registry import ConsortiumRegistryClient
    from chain.contracts.trust import KeyRecord, TrustDirectoryClient
    from chain.tx import Signer

__all__ = [
    "DEFAULT_OVERLAP_BLOCKS",
    "CaFiles",
    "CaRotation",
    "CaRotationError",
    "chain_head",
    "check_member",
    "cross_certificate",
    "install_ca_rotation",
    "installed",
    "links_to",
    "open_ca_record",
    "publish_new_ca",
    "read_cross_chain",
    "reissue_folder",
    "reissued",
    "resume_staged_ca",
    "retire_left_open",
    "rotate_ca",
    "stage_ca_rotation",
    "staged_and_installed",
    "staged_ca_record",
]

#: Directories of an org's folder that hold no service's TLS files (``network.identity``'s).
_NOT_SERVICES = frozenset({"ca", "msp", "users", "keys"})


class CaRotationError(KeyRotationError):
    """A CA cannot be rotated as asked; nothing was written or sent."""


@dataclass(frozen=True, slots=True)
class CaFiles:
    """Where an org's CA and its rotation live, under ``orgs/<org>/ca/``."""

    cert: Path
    key: Path
    cross: Path  # the cross certificates from the CA back to the one consortium.json lists (none: that CA)
    previous: Path  # the CA before the last rotation (its certificate only, to revoke what it issued)
    next_cert: Path
    next_key: Path
    next_cross: Path

    @classmethod
    def of(cls, directory: Path, org: str) -> CaFiles:
        paths = OrgPaths.of(directory, OrgId(org))
        ca = paths.ca_cert.parent
        return cls(
            paths.ca_cert,
            paths.ca_key,
            paths.ca_cross,
            paths.ca_previous,
            ca / "ca-cert.next.pem",
            ca / "ca-key.next.pem",
            ca / "ca-cross.next.pem",
        )

    def staged(self) -> bool:
        return self.next_cert.is_file() and self.next_key.is_file()


@dataclass(frozen=True, slots=True)
class CaRotation:
    org: str
    old_index: int | None  # None when resumed: the old record was retired by the run that staged it
    new_index: int
    old_fingerprint: bytes  # SHA-256 of the CA certificates' DER
    new_fingerprint: bytes
    valid_from: int
    old_valid_until: int | None
    installed: bool = False  # False while the new CA is not valid yet (a later run installs it)
    reissued: tuple[Path, ...] = ()  # the files written by the installation


# ---------------------------------------------------------------------------------------------- certificates


def new_ca(old: x509.Certificate, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh CA for the org of ``old``: its display name and org, a key on its curve, valid 10 years from ``now``."""
    public = old.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CaRotationError(f"the CA {old.subject.rfc4514_string()} is not an ECDSA CA: not rotated here")
    key = ec.generate_private_key(type(public.curve)())
    units = org_units(old)
    if len(units) != 1:
        raise CaRotationError(f"the CA {old.subject.rfc4514_string()} names {len(units)} orgs (OU), not one")
    return key, build_ca_cert(key, display_name_of(old), units[0], now)


def cross_certificate(
    old_key: ec.EllipticCurvePrivateKey, old: x509.Certificate, new: x509.Certificate, now: datetime
) -> x509.Certificate:
    """The new CA's subject and public key certified by the old CA (RFC 4210 §4.4's newWithOld): CA:true pathlen 0,
    keyCertSign and cRLSign, the new CA's key identifier and the old CA's as its authority, valid from ``now`` until
    the earlier end of the two CAs. Subject and issuer are the same name, so it is self-issued and counts for no
    path length."""
    old_ski = old.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(new.subject)
        .issuer_name(old.subject)
        .public_key(new.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(new.not_valid_after_utc, old.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(new.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(old_ski), critical=False)
        .sign(old_key, hashes.SHA256())
    )


def reissued(
    cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: datetime
) -> x509.Certificate | None:
    """``cert`` issued again by ``ca``: its subject, public key and extensions (the authority key identifier the new
    CA's), a new serial, valid from ``now`` until its own end, never beyond the CA's; None for one already expired."""
    end = min(cert.not_valid_after_utc, ca.not_valid_after_utc)
    if end <= now:
        return None
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(ca.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(end)
    )
    for extension in cert.extensions:
        if isinstance(extension.value, x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(extension.value, critical=extension.critical)
    authority = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    return builder.add_extension(authority, critical=False).sign(ca_key, hashes.SHA256())


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` issued ``cert`` (its name and its signature)."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def links_to(ca: x509.Certificate, cross: Sequence[x509.Certificate], anchor: x509.Certificate) -> bool:
    """Whether ``ca`` is ``anchor``, or the cross certificates ``cross`` (from ``ca`` back) certify its key, each
    issued by the next and the last by ``anchor``: what a caller trusting only ``anchor`` needs to verify what
    ``ca`` issues."""
    if not cross:
        return ca == anchor
    expected = ca.public_key()
    for link, issuer in zip(cross, [*cross[1:], anchor], strict=True):
        if link.public_key() != expected or not issued_by(link, issuer):
            return False
        expected = issuer.public_key()
    return expected == anchor.public_key()


def read_cross_chain(path: Path) -> list[x509.Certificate]:
    """The cross certificates in ``path`` (none if it is absent)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise IdentityError(f"{path} holds no readable certificate") from None


def _fingerprint(cert: x509.Certificate) -> bytes:
    return _sha256(_der(cert))


def _sha256(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------------------- on chain


def check_member(registry: ConsortiumRegistryClient, org: str) -> None:
    info = registry.member(org)
    if info is None or info.status is MemberStatus.NONE:
        raise CaRotationError(f"{org!r} is not a member on chain: it has no CA to rotate")
    if info.status is not MemberStatus.ACTIVE:
        raise CaRotationError(
            f"{org!r} is {info.status.name.lower()} on chain: a member adds no key while suspended, and a removed one "
            "none at all"
        )


def _load_ca(files: CaFiles, org: str, passphrase: bytes) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if not files.key.is_file() or not files.cert.is_file():
        raise CaRotationError(
            f"no CA key of {org} in {files.key.parent}: a CA is rotated from the directory that holds its key"
        )
    cert = parse_cert(files.cert.read_bytes(), str(files.cert))
    key = load_private_key(files.key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CaRotationError(f"{files.key} is not the key of the CA certificate {files.cert}")
    return cert, key


def stage_ca_rotation(
    directory: Path,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    registry: ConsortiumRegistryClient,
    signer: Signer,
    org: str,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
    now: datetime | None = None,
) -> CaRotation:
    """Step 1 (module docstring): the new CA staged, added on chain valid from ``from_block`` (None: the block that
    records it), the old CA retired ``overlap_blocks`` after. Raises :class:`CaRotationError` (or an
    :class:`IdentityError` for a wrong passphrase) before anything is written or sent when it cannot."""
    if overlap_blocks < 1:
        raise CaRotationError("the overlap must be at least one block (both CAs valid while the certificates move)")
    files = CaFiles.of(directory, org)
    check_member(registry, org)
    old, old_key = _load_ca(files, org, passphrase)
    head = chain_head(trust, from_block)
    record = open_ca_record(trust, org, _der(old), head)
    if record is None:
        raise CaRotationError(
            f"the CA in {files.cert} is no open CA_CERT of {org} valid now on chain: nothing to rotate from "
            "(`consortium member keys list` shows its records)"
        )
    when = _utc(now)
    key, new = new_ca(old, when)
    cross = [cross_certificate(old_key, old, new, when), *read_cross_chain(files.cross)]
    replace_file(files.next_key, encrypt(key, passphrase), PRIVATE_FILE_MODE)
    replace_file(files.next_cross, "".join(cert_pem(c) for c in cross).encode("ascii"), PUBLIC_FILE_MODE)
    replace_file(files.next_cert, cert_pem(new).encode("ascii"), PUBLIC_FILE_MODE)
    return publish_new_ca(trust, signer, org, record.index, _der(old), _der(new), head, from_block, overlap_blocks)


def chain_head(trust: TrustDirectoryClient, from_block: int | None) -> int:
    """The chain's head, once ``from_block`` (None: the block that records the new CA) is checked not to be before
    it."""
    head = int(trust.backend.web3.eth.block_number)
    if from_block is not None and from_block < head:
        raise CaRotationError(f"--from-block {from_block} is in the past (the chain is at block {head})")
    return head


def open_ca_record(trust: TrustDirectoryClient, org: str, der: bytes, head: int) -> KeyRecord | None:
    """``org``'s open ``CA_CERT`` record of the certificate ``der``, valid at ``head``: the CA a rotation retires."""
    records = [
        r
        for r in trust.records(org)
        if r.kind is KeyKind.CA_CERT and r.value == der and r.valid_until is None and r.valid_at(head)
    ]
    return records[0] if records else None


def publish_new_ca(
    trust: TrustDirectoryClient,
    signer: Signer,
    org: str,
    old_index: int,
    old_der: bytes,
    new_der: bytes,
    head: int,
    from_block: int | None,
    overlap_blocks: int,
) -> CaRotation:
    """The new CA ``new_der`` added on chain as a ``CA_CERT`` of ``org`` valid from ``from_block`` (None: the block
    that records it), the old CA's record ``old_index`` retired ``overlap_blocks`` blocks after that: the chain's
    half of a rotation (staged, not installed)."""
    new_index = trust.add_key(signer, KeyKind.CA_CERT, new_der, from_block)
    record = trust.record(org, new_index)
    valid_from = record.valid_from if record is not None else (from_block or head)
    until = valid_from + overlap_blocks
    trust.retire_key(signer, old_index, until)
    return CaRotation(org, old_index, new_index, _sha256(old_der), _sha256(new_der), valid_from, until)


def retire_left_open(
    trust: TrustDirectoryClient, signer: Signer, org: str, old_der: bytes, new: KeyRecord, overlap_blocks: int
) -> None:
    """The old CA ``old_der`` retired ``overlap_blocks`` after the first block of the new one's record ``new`` (at
    once if that has passed), if its record is still open: a run that stopped between recording the new CA and
    retiring the old one (:func:`publish_new_ca`) left it so, and installing the new CA would otherwise leave the
    old one trusted with no end."""
    old = open_ca_record(trust, org, old_der, int(trust.backend.web3.eth.block_number))
    if old is not None:
        trust.retire_key(signer, old.index, new.valid_from + overlap_blocks)


def install_ca_rotation(
    directory: Path,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    org: str,
    *,
    now: datetime | None = None,
) -> CaRotation:
    """Step 2 (module docstring): the staged CA, valid on chain at the head, becomes the org's and every certificate
    the old CA issued in the org's folder is issued again by it. Raises :class:`CaRotationError` before anything is
    written when the staged CA is not on chain or not valid yet."""
    files = CaFiles.of(directory, org)
    if not files.staged():
        raise CaRotationError(f"no CA of {org} staged in {files.next_cert.parent}: nothing to install")
    new = parse_cert(files.next_cert.read_bytes(), str(files.next_cert))
    key = load_private_key(files.next_key, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != new.public_key():
        raise CaRotationError(f"{files.next_key} is not the key of the staged CA {files.next_cert}")
    new_der = _der(new)
    record = staged_ca_record(trust, org, new_der, files.next_cert, f"consortium identity rotate-ca --as {org}")
    current = parse_cert(files.cert.read_bytes(), str(files.cert))
    old = current
    if _der(current) == new_der:  # a run that stopped after replacing the CA files: the old one was kept before
        old = parse_cert(files.previous.read_bytes(), str(files.previous))
    cross = read_cross_chain(files.next_cross)
    revoked = {int.from_bytes(r.value, "big") for r in trust.records(org) if r.kind is KeyKind.REVOKED_SERIAL}
    written = list(reissue_folder(directory, org, old, key, new, cross, _utc(now), revoked))
    replace_file(files.previous, cert_pem(old).encode("ascii"), PUBLIC_FILE_MODE)
    replace_file(files.cross, files.next_cross.read_bytes(), PUBLIC_FILE_MODE)
    replace_file(files.key, files.next_key.read_bytes(), PRIVATE_FILE_MODE)
    replace_file(files.cert, files.next_cert.read_bytes(), PUBLIC_FILE_MODE)
    for staged in (files.next_cross, files.next_key, files.next_cert):
        staged.unlink(missing_ok=True)
    return installed(trust, org, _der(old), record, tuple(written))


def staged_ca_record(trust: TrustDirectoryClient, org: str, new_der: bytes, staged: Path, command: str) -> KeyRecord:
    """The record of the staged CA ``new_der`` (its file ``staged``), valid at the chain's head: what installing it
    needs. :class:`CaRotationError` when it is not on chain, ended, or not valid yet (run ``command`` again then)."""
    index = trust.find(org, KeyKind.CA_CERT, new_der)
    record = None if index is None else trust.record(org, index)
    if record is None:
        raise CaRotationError(f"the CA staged in {staged} is not on chain: run the rotation again")
    head = int(trust.backend.web3.eth.block_number)
    if record.valid_until is not None and record.valid_until <= head:
        raise CaRotationError(
            f"the CA staged in {staged} (record #{record.index} of {org}) ended on chain at block "
            f"{record.valid_until}: it is not installed; remove the staged {staged.parent.name}/*.next.* files and "
            "rotate again"
        )
    if not record.valid_at(head):
        raise CaRotationError(
            f"the new CA of {org} (record #{record.index}) is valid from block {record.valid_from}, the chain is at "
            f"block {head}: run `{command}` again from that block, before the old CA retires"
        )
    return record


def installed(
    trust: TrustDirectoryClient, org: str, old_der: bytes, record: KeyRecord, written: tuple[Path, ...]
) -> CaRotation:
    """The rotation from the CA ``old_der`` to the one of ``record``, installed: the old CA's retired record as the
    chain holds it (None when it has none)."""
    retired = [r for r in trust.records(org) if r.kind is KeyKind.CA_CERT and r.value == old_der and r.valid_until]
    until = retired[0].valid_until if retired else None
    old_index = retired[0].index if retired else None
    return CaRotation(
        org, old_index, record.index, _sha256(old_der), _sha256(record.value), record.valid_from, until, True, written
    )


def rotate_ca(
    directory: Path,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    registry: ConsortiumRegistryClient,
    signer: Signer,
    org: str,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
    now: datetime | None = None,
) -> CaRotation:
    """``consortium identity rotate-ca``: a staged CA already on chain is installed (refused while not valid yet);
    otherwise a new CA is staged and published, and installed at once if it is valid at the head. The admin's
    re-issued certificate's fingerprint goes on chain too (``ConsortiumRegistry.set_certificate``)."""
    files = CaFiles.of(directory, org)
    new_der = _staged_der(files)
    resumed = new_der is not None and (
        resume_staged_ca(trust, registry, signer, org, new_der, lambda: _old_der(files, new_der), overlap_blocks)
        is not None
    )
    if resumed:
        staged = None
    else:
        staged = stage_ca_rotation(
            directory, passphrase, trust, registry, signer, org,
            from_block=from_block, overlap_blocks=overlap_blocks, now=now,
        )  # fmt: skip
        head = int(trust.backend.web3.eth.block_number)
        if staged.valid_from > head:
            return staged
    done = install_ca_rotation(directory, passphrase, trust, org, now=now)
    admin = OrgPaths.of(directory, OrgId(org)).admin_cert
    if admin in done.reissued or (staged is None and admin.is_file()):
        # a resumed run: the admin's certificate may have been issued again by the run that stopped
        admin_cert = parse_cert(admin.read_bytes(), str(admin))
        fingerprint = _fingerprint(admin_cert)
        member = registry.member(org)
        if admin in done.reissued or (
            member is not None
            and member.cert_fingerprint != fingerprint
            and issued_by(admin_cert, parse_cert(files.cert.read_bytes(), str(files.cert)))
        ):
            registry.set_certificate(signer, fingerprint)
    return done if staged is None else staged_and_installed(staged, done)


def staged_and_installed(staged: CaRotation, done: CaRotation) -> CaRotation:
    """The rotation one run staged (its old record and retirement) and then installed (the files it wrote)."""
    return dataclasses.replace(staged, installed=True, reissued=done.reissued)


def resume_staged_ca(
    trust: TrustDirectoryClient,
    registry: ConsortiumRegistryClient,
    signer: Signer,
    org: str,
    new_der: bytes,
    old_der: Callable[[], bytes | None],
    overlap_blocks: int,
) -> KeyRecord | None:
    """The resumption step of both suites' ``rotate-ca`` (this module's and :mod:`network.sm2rotation`'s): the
    chain's record of the staged CA ``new_der``, None when it is not on chain (nothing to resume: a rotation is
    staged again, or refused). Once found, ``org`` is checked to be a member and, while that record is open, the
    old CA's record is retired if the run that recorded the staged CA stopped before retiring it
    (:func:`retire_left_open`); ``old_der`` reads the old CA then (None: there is none to retire). The caller
    installs the record's CA, or refuses it while it is not valid yet."""
    index = trust.find(org, KeyKind.CA_CERT, new_der)
    record = None if index is None else trust.record(org, index)
    if record is None:
        return None
    check_member(registry, org)
    if record.valid_until is None:
        old = old_der()
        if old is not None:
            retire_left_open(trust, signer, org, old, record, overlap_blocks)
    return record


def _staged_der(files: CaFiles) -> bytes | None:
    """The DER of the CA staged in ``files`` (None: none staged, or its certificate unreadable)."""
    if not files.staged():
        return None
    try:
        return _der(parse_cert(files.next_cert.read_bytes(), str(files.next_cert)))
    except (OSError, ValueError):
        return None


def _old_der(files: CaFiles, new_der: bytes) -> bytes:
    """The CA a staged rotation to ``new_der`` retires: the one in ``ca-cert.pem``, or in ``ca-cert.previous.pem``
    once a run that stopped later replaced it."""
    old = _der(parse_cert(files.cert.read_bytes(), str(files.cert)))
    if old == new_der and files.previous.is_file():
        return _der(parse_cert(files.previous.read_bytes(), str(files.previous)))
    return old


# ---------------------------------------------------------------------------------------------- files


def reissue_folder(
    directory: Path,
    org: str,
    old: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    new: x509.Certificate,
    cross: Sequence[x509.Certificate],
    now: datetime,
    revoked: Collection[int] = (),
) -> Iterator[Path]:
    """Re-issue with ``new`` (its key ``key``), file by file, every certificate of the org's folder that ``old``
    issued, a TLS certificate followed by ``cross`` (module docstring), and sign the org's CRL again; the paths
    written (lazily: each once written). A certificate revoked (its serial in ``revoked``, the chain's, or in the
    org's CRL) is not issued again: a new serial would revoke nothing."""
    paths = OrgPaths.of(directory, OrgId(org))
    crl = _org_crl(paths.crl, old, new) if paths.crl.is_file() else None
    skip = frozenset(revoked) | frozenset(() if crl is None else (r.serial_number for r in crl))
    new_pem = cert_pem(new).encode("ascii")
    tail = "".join(cert_pem(c) for c in cross)
    admin_name = paths.admin_cert.name.removesuffix(".pem")
    for cert_file in sorted(paths.users_dir.glob("*/msp/signcerts/cert.pem")):
        again = _again(cert_file, old, key, new, now, skip)
        if again is None:
            continue
        issued = cert_pem(again).encode("ascii")
        # the copies before the certificate: a run stopped in between finds the certificate the old CA's and
        # writes them again, where one stopped after the certificate would skip it and leave them stale
        replace_file(cert_file.parent.parent / "cacerts" / "ca-cert.pem", new_pem, PUBLIC_FILE_MODE)
        admin = cert_file.parents[2].name == admin_name
        if admin:  # the admin's copy the MSP lists
            replace_file(paths.admin_cert, issued, PUBLIC_FILE_MODE)
        replace_file(cert_file, issued, PUBLIC_FILE_MODE)
        yield cert_file
        if admin:
            yield paths.admin_cert
    for cert_file in sorted(paths.org_dir.glob("*/tls/cert.pem")):
        if cert_file.parents[1].name in _NOT_SERVICES:
            continue
        again = _again(cert_file, old, key, new, now, skip)
        if again is not None:
            replace_file(cert_file, (cert_pem(again) + tail).encode("ascii"), _mode(cert_file))
            yield cert_file
    replace_file(paths.msp_ca_cert, new_pem, PUBLIC_FILE_MODE)
    if crl is not None:  # the entries of the CRL the old CA signed, signed again by the new one
        entries = [(r.serial_number, r.revocation_date_utc) for r in crl]
        signed = build_crl(key, new, entries, crl_number(crl) + 1, now, now + timedelta(days=CRL_VALIDITY_DAYS))
        replace_file(paths.crl, signed.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)
        yield paths.crl


def _org_crl(path: Path, old: x509.Certificate, new: x509.Certificate) -> x509.CertificateRevocationList:
    """The org's CRL, signed by ``old``, or by ``new`` when a run that stopped after signing it again (before
    replacing the CA files) left it so; one neither signed raises the old CA's
    :class:`~network.identity.CertificateError`."""
    data = path.read_bytes()
    try:
        return verify_crl(data, old, str(path))
    except CertificateError as exc:
        try:
            return verify_crl(data, new, str(path))
        except CertificateError:
            raise exc from None


def _again(
    cert_file: Path,
    old: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    new: x509.Certificate,
    now: datetime,
    revoked: frozenset[int],
) -> x509.Certificate | None:
    """The certificate of ``cert_file`` (its first) issued again by ``new`` if ``old`` issued it and it is not
    revoked; None otherwise."""
    try:
        first = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return None
    if is_ca(first) or first.serial_number in revoked or not issued_by(first, old):
        return None
    return reissued(first, key, new, now)


def _mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return PUBLIC_FILE_MODE


def _utc(now: datetime | None) -> datetime:
    when = datetime.now(UTC) if now is None else (now.replace(tzinfo=UTC) if now.tzinfo is None else now)
    return when.astimezone(UTC).replace(microsecond=0)

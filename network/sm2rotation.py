"""Rotating a member's SM2 identity CA (``consortium identity rotate-ca --sm2``, an ``sm`` consortium's): the chain
steps of :mod:`network.carotation` (``docs/national-suite.md``, "Rotating an SM2 identity CA").

1. :func:`stage_sm2_ca_rotation`: a new SM2 CA (a fresh SM2 key; the old CA's display name, ``OU=<org>,
   CN=sm2-ca.<org>`` as :func:`network._sm2ca.build_ca` makes every SM2 CA, 10 years) is staged in ``ca/``
   (``sm2-ca.next.key``, PKCS#8 encrypted with PBKDF2-HMAC-SM3 and SM4-CBC, 0600; ``sm2-ca.next.pem``), added on chain
   as a ``CA_CERT`` of the org valid from ``from_block``, and the old SM2 CA's record retired ``overlap_blocks`` blocks
   after that (:func:`network.carotation.publish_new_ca`). A founder's SM2 CA that counts by its listing in
   ``consortium.json`` (never recorded on chain) is recorded first, in the same run: from then on its records decide
   (``network.sm2callers.Sm2IdentityCas``), so the retirement ends it for every verifier that follows the chain.
2. :func:`install_sm2_ca_rotation`, once the new CA is valid at the chain's head: every SM2 certificate of the org's
   folder that the old SM2 CA issued, still valid and not revoked (on the SM2 CRL or on chain), is issued again by the
   new one with the same key, subject and validity end: the people's (``users/*/msp/signcerts/cert.pem``, ``user
   add``) and the SM2 callers' (``signcerts/sm2-cert.pem``, ``identity issue --sm2``), each folder's copy of the CA
   replaced. The SM2 CRL is signed again by the new CA with the old one's entries, so that one list holds for the
   people of both CAs through the overlap (the verifiers take it from any SM2 CA of the org trusted now). Then the
   CA files are replaced: the old certificate put first in ``ca/sm2-ca.previous.pem`` (to revoke what it issued, and
   to know the CA ``consortium.json`` lists as this one's predecessor: ``user add`` and ``identity issue --sm2`` go
   on issuing), the new key and certificate in ``ca/sm2-ca.key`` and ``ca/sm2-ca.pem``.

An SM2 CA needs no cross certificate: the SM2 certificates never go over OpenSSL's TLS, and their verifiers learn the
new CA from its record on chain. ``consortium.json`` is left as it is (every member holds a copy): the chain's records
of the rotation are what the verifiers follow. The old CA's key is not kept, as in :mod:`network.carotation`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from chain.contracts.trust import KeyKind
from chain.errors import MalformedError
from chain.ids import OrgId
from network import _sm2ca
from network._pem import PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, OrgPaths, add_years
from network.admission import AdmissionError, joined_sm2_ca
from network.carotation import (
    DEFAULT_OVERLAP_BLOCKS,
    CaRotation,
    CaRotationError,
    chain_head,
    check_member,
    installed,
    open_ca_record,
    publish_new_ca,
    resume_staged_ca,
    staged_and_installed,
    staged_ca_record,
)
from network.description import FILENAME, ConsortiumDescription
from network.identity import (
    CA_VALIDITY_YEARS,
    CRL_VALIDITY_DAYS,
    CertificateError,
    _sm2_key_of,
    _utc,
    load_sm2_ca_key,
    load_sm2_crl,
    sm2_ca_lineage,
)
from notary.durable import replace_file
from suite.errors import SuiteError
from suite.sm2 import SM2PrivateKey
from suite.x509 import Certificate

if TYPE_CHECKING:
    from chain.contracts.registry import ConsortiumRegistryClient
    from chain.contracts.trust import TrustDirectoryClient
    from chain.tx import Signer
    from suite.x509 import CRL as SM2CRL

__all__ = [
    "Sm2CaFiles",
    "check_sm2_rotation",
    "install_sm2_ca_rotation",
    "reissue_sm2_folder",
    "rotate_sm2_ca",
    "stage_sm2_ca_rotation",
]


@dataclass(frozen=True, slots=True)
class Sm2CaFiles:
    """Where an org's SM2 identity CA and its rotation live, under ``orgs/<org>/ca/``."""

    cert: Path
    key: Path
    previous: Path  # the SM2 CAs before, newest first
    crl: Path
    next_cert: Path
    next_key: Path

    @classmethod
    def of(cls, directory: Path, org: str) -> Sm2CaFiles:
        paths = OrgPaths.of(directory, OrgId(org))
        ca = paths.sm2_ca_cert.parent
        return cls(
            paths.sm2_ca_cert, paths.sm2_ca_key, paths.sm2_ca_previous, paths.sm2_crl,
            ca / "sm2-ca.next.pem", ca / "sm2-ca.next.key",
        )  # fmt: skip

    def staged(self) -> bool:
        return self.next_cert.is_file() or self.next_key.is_file()


def check_sm2_rotation(directory: Path, description: ConsortiumDescription, org: str) -> str | None:
    """The checks that need neither the chain nor the passphrase, in the order a refusal names them: the consortium
    runs ``sm``, ``org`` is a founder of ``consortium.json`` or the firm that joined from ``directory``, and has an
    SM2 identity CA in ``directory``. Returns the SM2 CA ``consortium.json`` lists for a founder (None for a joined
    firm); raises :class:`CaRotationError`."""
    if description.crypto != "sm":
        raise CaRotationError(
            f"{directory / FILENAME} runs the {description.crypto!r} suite: only a member of an 'sm' consortium has an "
            "SM2 identity CA to rotate (`identity rotate-ca` without --sm2 rotates the P-256 CA)"
        )
    founder = next((m for m in description.members if m.org == org), None)
    try:
        joined = founder is None and joined_sm2_ca(directory, org)[0]
    except AdmissionError as exc:
        raise CaRotationError(str(exc)) from None
    if founder is None and not joined:
        known = ", ".join(m.org for m in description.members)
        raise CaRotationError(
            f"no member {org!r} in {FILENAME} (members: {known}), and {directory} holds no admission request of "
            f"{org!r} (`consortium member join`)"
        )
    files = Sm2CaFiles.of(directory, org)
    if not files.cert.is_file() or not files.key.is_file():
        raise CaRotationError(
            f"{org} has no SM2 identity CA in {files.cert.parent} to rotate: create one with `consortium identity "
            f"sm2-ca --org {org}`"
        )
    return None if founder is None else founder.identity.sm2_ca_cert_pem


def stage_sm2_ca_rotation(
    directory: Path,
    passphrase: bytes,
    description: ConsortiumDescription,
    trust: TrustDirectoryClient,
    registry: ConsortiumRegistryClient,
    signer: Signer,
    org: str,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
    now: datetime | None = None,
) -> CaRotation:
    """Step 1 (module docstring): the new SM2 CA staged, added on chain valid from ``from_block`` (None: the block
    that records it), the old one (recorded first if it counted by its listing only) retired ``overlap_blocks``
    after. Raises :class:`CaRotationError` (or an :class:`~network.identity.IdentityError` for a wrong passphrase)
    before anything is written or sent when it cannot."""
    if overlap_blocks < 1:
        raise CaRotationError("the overlap must be at least one block (both CAs valid while the certificates move)")
    listed = check_sm2_rotation(directory, description, org)
    files = Sm2CaFiles.of(directory, org)
    if files.staged():
        raise CaRotationError(
            f"a rotation of the SM2 identity CA of {org} is staged already ({files.next_cert}): run `consortium "
            f"identity rotate-ca --sm2 --as {org}` again once its CA is valid on chain, or remove ca/sm2-ca.next.* "
            "if it never reached the chain"
        )
    check_member(registry, org)
    load_sm2_ca_key(directory, OrgId(org), passphrase)  # the passphrase opens the old key: a wrong one sends nothing
    old = sm2_ca_lineage(directory, OrgId(org))[0]
    head = chain_head(trust, from_block)
    record = open_ca_record(trust, org, old.der, head)
    old_index = None if record is None else record.index
    if record is None:
        if trust.find(org, KeyKind.CA_CERT, old.der) is not None:
            raise CaRotationError(
                f"the SM2 CA in {files.cert} is retired on chain (or not valid yet): nothing to rotate from "
                "(`consortium member keys list` shows its records)"
            )
        if listed is None or Certificate.from_pem(listed.encode("ascii")).der != old.der:
            raise CaRotationError(
                f"the SM2 CA in {files.cert} is neither on chain nor the one {FILENAME} lists for {org}: record it "
                f"with `consortium member keys publish --as {org}` first"
            )
    when = _utc(now).replace(microsecond=0)
    key = SM2PrivateKey.generate()
    names = _sm2ca.attributes(old, "organization_name")
    new = Certificate.from_der(
        _sm2ca.build_ca(key, names[0] if names else org, org, when, add_years(when, CA_VALIDITY_YEARS))
    )
    replace_file(files.next_key, key.to_pem(passphrase), PRIVATE_FILE_MODE)
    replace_file(files.next_cert, new.to_pem(), PUBLIC_FILE_MODE)
    if old_index is None:  # a founder's, counted by its listing: recorded now, so that its retirement ends it
        old_index = trust.add_key(signer, KeyKind.CA_CERT, old.der)
    return publish_new_ca(trust, signer, org, old_index, old.der, new.der, head, from_block, overlap_blocks)


def install_sm2_ca_rotation(
    directory: Path, passphrase: bytes, trust: TrustDirectoryClient, org: str, *, now: datetime | None = None
) -> CaRotation:
    """Step 2 (module docstring): the staged SM2 CA, valid on chain at the head, becomes the org's and every SM2
    certificate the old one issued in the org's folder is issued again by it. Raises :class:`CaRotationError` before
    anything is written when the staged CA is not on chain or not valid yet."""
    files = Sm2CaFiles.of(directory, org)
    if not (files.next_cert.is_file() and files.next_key.is_file()):
        raise CaRotationError(f"no SM2 CA of {org} staged in {files.next_cert.parent}: nothing to install")
    new = _read_sm2(files.next_cert)
    paths = OrgPaths.of(directory, OrgId(org))
    key = _sm2_key_of(paths, files.next_key, passphrase, new, f"the staged SM2 CA {files.next_cert}")
    record = staged_ca_record(trust, org, new.der, files.next_cert, f"consortium identity rotate-ca --sm2 --as {org}")
    lineage = sm2_ca_lineage(directory, OrgId(org))
    old = lineage[0]
    if old.der == new.der:  # a run that stopped after replacing the CA files: the old one was kept first
        lineage = lineage[1:]
        old = lineage[0]
    revoked = {int.from_bytes(r.value, "big") for r in trust.records(org) if r.kind is KeyKind.REVOKED_SERIAL}
    written = list(reissue_sm2_folder(directory, org, old, key, new, _utc(now).replace(microsecond=0), revoked))
    previous = [old, *(c for c in lineage[1:] if c.der != old.der)]
    replace_file(files.previous, b"".join(c.to_pem() for c in previous), PUBLIC_FILE_MODE)
    replace_file(files.key, files.next_key.read_bytes(), PRIVATE_FILE_MODE)
    replace_file(files.cert, files.next_cert.read_bytes(), PUBLIC_FILE_MODE)
    for staged in (files.next_key, files.next_cert):
        staged.unlink(missing_ok=True)
    return installed(trust, org, old.der, record, tuple(written))


def rotate_sm2_ca(
    directory: Path,
    passphrase: bytes,
    description: ConsortiumDescription,
    trust: TrustDirectoryClient,
    registry: ConsortiumRegistryClient,
    signer: Signer,
    org: str,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
    now: datetime | None = None,
) -> CaRotation:
    """``consortium identity rotate-ca --sm2``: a staged SM2 CA valid on chain is installed; one staged and not valid
    yet is refused (a rotation is staged already); otherwise a new SM2 CA is staged and published, and installed at
    once if it is valid at the head."""
    check_sm2_rotation(directory, description, org)
    files = Sm2CaFiles.of(directory, org)
    if files.next_cert.is_file():
        new = _read_sm2(files.next_cert)
        head = int(trust.backend.web3.eth.block_number)  # before the retirement the step may send
        record = resume_staged_ca(
            trust, registry, signer, org, new.der, lambda: _old_der(directory, org, new.der), overlap_blocks
        )
        if record is not None and record.valid_from <= head:  # valid now, or ended: the installation says which
            return install_sm2_ca_rotation(directory, passphrase, trust, org, now=now)
        if record is not None:
            raise CaRotationError(
                f"a rotation of the SM2 identity CA of {org} is staged already: its new CA (record #{record.index}) "
                f"is valid from block {record.valid_from}; run `consortium identity rotate-ca --sm2 --as {org}` again "
                "from that block, before the old CA retires"
            )
    staged = stage_sm2_ca_rotation(
        directory, passphrase, description, trust, registry, signer, org,
        from_block=from_block, overlap_blocks=overlap_blocks, now=now,
    )  # fmt: skip
    if staged.valid_from > int(trust.backend.web3.eth.block_number):
        return staged
    return staged_and_installed(staged, install_sm2_ca_rotation(directory, passphrase, trust, org, now=now))


def _old_der(directory: Path, org: str, new_der: bytes) -> bytes | None:
    """The SM2 CA a staged rotation to ``new_der`` retires: the newest of the org's SM2 CAs that is not the staged
    one (``sm2-ca.pem``, or the first of ``sm2-ca.previous.pem`` once a run that stopped later replaced it)."""
    return next((c.der for c in sm2_ca_lineage(directory, OrgId(org)) if c.der != new_der), None)


# ---------------------------------------------------------------------------------------------- files


def reissue_sm2_folder(
    directory: Path,
    org: str,
    old: Certificate,
    key: SM2PrivateKey,
    new: Certificate,
    now: datetime,
    revoked: frozenset[int] | set[int] = frozenset(),
) -> Iterator[Path]:
    """Re-issue with ``new`` (its key ``key``), file by file, every SM2 certificate of the org's folder that ``old``
    issued, still valid and not revoked (its serial in ``revoked``, the chain's, or on the SM2 CRL), each folder's
    copy of the CA replaced, and sign the SM2 CRL again with the same entries; the paths written (lazily)."""
    paths = OrgPaths.of(directory, OrgId(org))
    crl = _sm2_crl_of(directory, org, new)
    entries = [] if crl is None else sorted(crl.revoked.items())
    skip = frozenset(revoked) | frozenset(serial for serial, _ in entries)
    for cert_name, ca_name in (("cert.pem", "ca-cert.pem"), ("sm2-cert.pem", "sm2-ca.pem")):
        for cert_file in sorted(paths.users_dir.glob(f"*/msp/signcerts/{cert_name}")):
            again = _again(cert_file, org, old, key, new, now, skip)
            if again is None:
                continue
            # the CA's copy before the certificate: a run stopped in between finds the certificate the old CA's
            # and writes both again, where one stopped after it would skip it and leave the copy stale
            replace_file(cert_file.parent.parent / "cacerts" / ca_name, new.to_pem(), PUBLIC_FILE_MODE)
            replace_file(cert_file, again, PUBLIC_FILE_MODE)
            yield cert_file
    if crl is not None:
        number = crl.crl_number + 1
        signed = _sm2ca.build_crl(new, key, entries, now, now + timedelta(days=CRL_VALIDITY_DAYS), number)
        replace_file(paths.sm2_crl, signed, PUBLIC_FILE_MODE)
        yield paths.sm2_crl


def _sm2_crl_of(directory: Path, org: str, new: Certificate) -> SM2CRL | None:
    """The org's SM2 CRL, checked against the CA in ``sm2-ca.pem`` (the old one until the CA files are replaced),
    or else against ``new``: a run that stopped after signing the CRL again, before replacing the CA files, left
    it signed by the new CA. A CRL neither verifies raises :class:`~network.identity.CertificateError`."""
    from suite.x509 import CRL

    try:
        return load_sm2_crl(directory, OrgId(org))
    except CertificateError as exc:
        path = OrgPaths.of(directory, OrgId(org)).sm2_crl
        try:
            return _sm2ca.check_crl(CRL.from_pem(path.read_bytes()), new)
        except (OSError, SuiteError):
            raise exc from None


def _again(
    cert_file: Path,
    org: str,
    old: Certificate,
    key: SM2PrivateKey,
    new: Certificate,
    now: datetime,
    revoked: frozenset[int],
) -> bytes | None:
    """The SM2 certificate of ``cert_file`` issued again by ``new`` (PEM) if ``old`` issued it, it is an identity
    of ``org``, valid at ``now`` and not revoked; None otherwise (a P-256 certificate, another CA's, expired)."""
    from suite.sm2 import DEFAULT_ID

    try:
        cert = Certificate.from_pem(cert_file.read_bytes())
        old.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
    except (OSError, SuiteError):
        return None
    if cert.issuer_der != old.subject_der or cert.is_ca or cert.serial in revoked:
        return None
    end = min(cert.not_after, new.not_after)
    names = _sm2ca.attributes(cert, "common_name")
    if end <= now or len(names) != 1 or not names[0].endswith(f"@{org}"):
        return None
    roles = _sm2ca.attributes(cert, "title")
    der = _sm2ca.issue_person(
        new, key, cert.public_key, names[0].removesuffix(f"@{org}"), org, roles[0] if roles else None, now, end
    )
    return Certificate.from_der(der).to_pem()


def _read_sm2(path: Path) -> Certificate:
    try:
        return Certificate.from_pem(path.read_bytes())
    except OSError as exc:
        raise CaRotationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except SuiteError as exc:
        raise MalformedError(f"{path}: not an SM2 certificate of the profile: {exc}") from None

"""Path validation of SM2 certificates, RFC 5280 §6 as far as the profile goes (see ``suite.x509``)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from suite.errors import CertificateError, CertificateRevokedError, PathValidationError, SM2Error
from suite.sm2 import DEFAULT_ID
from suite.x509._certs import CRL, MAX_PATH, Certificate


def verify_chain(
    leaf: bytes,
    intermediates: Sequence[bytes],
    roots: Sequence[bytes],
    *,
    at: datetime,
    usage: Literal["client", "server"] | None,
    crls: Sequence[bytes] = (),
) -> list[Certificate]:
    """The path [leaf, intermediates..., root] from `leaf` to one of `roots`, every check passed at `at`.

    Raises `CertificateError` for malformed input and `PathValidationError` (`CertificateRevokedError` for a
    revocation) naming the certificate that failed. When `crls` are given, every certificate below the root must be
    covered by a current CRL of its issuer.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise CertificateError("`at` has no time zone; give an aware datetime")
    path = _build_path(Certificate.from_der(leaf), [Certificate.from_der(c) for c in intermediates],
                       [Certificate.from_der(c) for c in roots])  # fmt: skip
    for cert in path:
        _check_validity(cert, at)
    for depth, issuer in enumerate(path[1:], start=1):
        _check_issuer(issuer, path[depth - 1], intermediates_below=depth - 1)
    _check_usage(path[0], usage)
    if crls:
        parsed = [CRL.from_der(c) for c in crls]
        for cert, issuer in itertools.pairwise(path):
            _check_revocation(cert, issuer, parsed, at)
    return path


def _fail(cert: Certificate, message: str) -> PathValidationError:
    return PathValidationError(f"{cert.describe()} {message}", cert.subject, cert.serial)


def _build_path(leaf: Certificate, intermediates: list[Certificate], roots: list[Certificate]) -> list[Certificate]:
    """Issuer by issuer, matching names byte for byte and key identifiers, until a root; every link's signature."""
    path = [leaf]
    if leaf in roots:
        return path
    while len(path) <= MAX_PATH:
        cert = path[-1]
        candidates = [
            c
            for c in roots + intermediates
            if c.subject_der == cert.issuer_der and (cert.aki is None or c.ski is None or c.ski == cert.aki)
            and c not in path
        ]  # fmt: skip
        if not candidates:
            raise _fail(cert, f"has no issuer among the given certificates (issuer {cert.issuer!r})")
        for issuer in candidates:
            try:
                issuer.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
            except SM2Error:
                continue
            path.append(issuer)
            if issuer in roots:
                return path
            break
        else:
            raise _fail(cert, f"has a signature that does not verify under the key of its issuer {cert.issuer!r}")
    raise _fail(leaf, f"has no path to a root within {MAX_PATH} certificates")


def _check_validity(cert: Certificate, at: datetime) -> None:
    if at < cert.not_before:
        raise _fail(cert, f"is not valid until {cert.not_before.isoformat()} (checked at {at.isoformat()})")
    if at > cert.not_after:
        raise _fail(cert, f"expired at {cert.not_after.isoformat()} (checked at {at.isoformat()})")


def _check_issuer(issuer: Certificate, issued: Certificate, *, intermediates_below: int) -> None:
    if not issuer.is_ca:
        raise _fail(issuer, f"is not a CA (basicConstraints CA:FALSE or absent) but issued {issued.describe()}")
    if "key_cert_sign" not in issuer.key_usage:
        raise _fail(issuer, f"lacks the keyCertSign key usage but issued {issued.describe()}")
    if issuer.path_length is not None and intermediates_below > issuer.path_length:
        raise _fail(
            issuer,
            f"allows {issuer.path_length} intermediate CAs below it (pathLenConstraint), the path has "
            f"{intermediates_below}",
        )


def _check_usage(leaf: Certificate, usage: Literal["client", "server"] | None) -> None:
    if usage is None:
        return
    wanted = {"client": "client_auth", "server": "server_auth"}[usage]
    if leaf.ext_key_usage is None or wanted not in leaf.ext_key_usage:
        found = "none" if leaf.ext_key_usage is None else ", ".join(sorted(leaf.ext_key_usage))
        raise _fail(leaf, f"is not for {usage} authentication (extendedKeyUsage {found}, needs {wanted})")
    if "digital_signature" not in leaf.key_usage:
        raise _fail(leaf, f"lacks the digitalSignature key usage needed for {usage} authentication")


def _check_revocation(cert: Certificate, issuer: Certificate, crls: list[CRL], at: datetime) -> None:
    mine = [c for c in crls if c.issuer_der == issuer.subject_der and (c.aki is None or c.aki == issuer.ski)]
    if not mine:
        raise _fail(cert, f"has no CRL of its issuer {issuer.subject!r} among the CRLs given")
    crl = max(mine, key=lambda c: c.crl_number)
    try:
        issuer.public_key.verify_der(crl.signature, crl.tbs, DEFAULT_ID)
    except SM2Error as e:
        raise _fail(cert, f"has a CRL (number {crl.crl_number}) not signed by its issuer {issuer.subject!r}") from e
    if "crl_sign" not in issuer.key_usage:
        raise _fail(cert, f"has a CRL from {issuer.subject!r}, which lacks the cRLSign key usage")
    if not crl.this_update <= at < crl.next_update:
        raise _fail(
            cert,
            f"has no current CRL: number {crl.crl_number} of {issuer.subject!r} covers "
            f"{crl.this_update.isoformat()} to {crl.next_update.isoformat()}, checked at {at.isoformat()}",
        )
    revoked_at = crl.revoked.get(cert.serial)
    if revoked_at is not None:
        raise CertificateRevokedError(
            f"{cert.describe()} was revoked at {revoked_at.isoformat()} (CRL number {crl.crl_number} of "
            f"{issuer.subject!r})",
            cert.subject,
            cert.serial,
            revoked_at,
        )

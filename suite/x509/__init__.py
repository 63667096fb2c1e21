"""SM2 X.509 certificates and CRLs of the national suite: issue, parse, verify a path.

The profile is a subset of RFC 5280 as GM/T 0015-2012 constrains it: v3 certificates and v2 CRLs signed with
SM2-with-SM3 (OID 1.2.156.10197.1.501, no parameters; NULL is accepted on reading), subject keys id-ecPublicKey on
the SM2 curve (1.2.156.10197.1.301), signatures the GM/T 0009-2012 DER `SEQUENCE { r, s }` over the DER of the
TBSCertificate or TBSCertList, always under GB/T 35276-2017's signer ID `1234567812345678`.

Issued certificates carry, besides the names, validity and key:
- a CA: basicConstraints CA:TRUE (critical, pathLenConstraint when asked), keyUsage keyCertSign | cRLSign (critical);
- an end entity: basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical; also nonRepudiation for
  "signing"), extendedKeyUsage clientAuth and/or serverAuth (none for "signing"), subjectAltName if names are given;
- every certificate: subjectKeyIdentifier = SM3 of the subjectPublicKey BIT STRING's value (the 65-byte point)
  truncated to 160 bits (RFC 5280 §4.2.1.2 method 1 with SM3 in place of SHA-1), and authorityKeyIdentifier with
  the issuer's key identifier;
- a serial number of 128 random bits, positive (RFC 5280 §4.1.2.2).

`verify_chain` follows RFC 5280 §6 for what the profile uses: names and key identifiers link the path, every
signature is checked, every certificate must be valid at an instant the caller gives (never the clock), issuers must
be CAs with keyCertSign and within their pathLenConstraint, the leaf's extendedKeyUsage must allow the usage, and
given CRLs must be signed by the issuer, current, and not list the certificate. Unrecognised critical extensions are
refused when a certificate or CRL is parsed. Policies and name constraints are not processed.

Malformed or non-profile input raises `CertificateError`; a failed check `PathValidationError` (or
`CertificateRevokedError`), naming the certificate.

The package keeps the parts apart: ``_certs`` (names, certificates and CRLs parsed, PEM), ``_issue`` (issuing
certificates and CRLs) and ``_path`` (path validation).
"""

from suite.x509._certs import CRL, OID_SM2_CURVE, OID_SM2_WITH_SM3, Certificate, Name, Usage, certificates_from_pem
from suite.x509._issue import issue, issue_ca, issue_crl, key_identifier
from suite.x509._path import verify_chain

__all__ = [
    "CRL",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "Certificate",
    "Name",
    "Usage",
    "certificates_from_pem",
    "issue",
    "issue_ca",
    "issue_crl",
    "key_identifier",
    "verify_chain",
]
